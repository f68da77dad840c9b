//! The bench's own Lambda Runtime API emulator: hands one function process exactly one
//! invocation and records the instants a cold start is made of, as the Lambda service sees
//! them from outside the process: the first `GET …/invocation/next` (init is over) and the
//! first `POST …/response` or `…/error` (the first invocation is answered).
//!
//! Only what a function's runtime client needs is served: the invocation's headers on the
//! first poll, and later polls held until the bench stops the emulator (as Lambda freezes an
//! idle environment), so a function never sees a second event.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

/// The request id of the one invocation.
const REQUEST_ID: &str = "keyshift-bench-cold-start-0001";

/// How the function answered its first invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST …/response`.
    Response,
    /// `POST …/error`, with the `errorType` it reported (body first, header otherwise).
    Error(Option<String>),
    /// `POST /runtime/init/error`: the function could not start.
    InitError(Option<String>),
}

/// What the emulator saw of one function process.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The first poll for an invocation.
    pub first_poll: Option<Instant>,
    /// The first answer (response or error) to it.
    pub answered: Option<Instant>,
    /// What that answer was.
    pub outcome: Option<Outcome>,
}

struct Emulator {
    body: String,
    function_arn: String,
    handed_out: AtomicBool,
    probe: Mutex<Probe>,
    answered: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
}

impl Emulator {
    fn record(&self, outcome: Outcome) {
        let now = Instant::now();
        let mut probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        if probe.answered.is_none() {
            probe.answered = Some(now);
            probe.outcome = Some(outcome);
        }
        drop(probe);
        self.answered.send_replace(true);
    }
}

type Shared = Arc<Emulator>;

/// A running emulator serving one invocation to one function process.
pub struct RuntimeApi {
    address: SocketAddr,
    emulator: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves on an ephemeral loopback port; the one invocation carries `body` (raw, as the
    /// Lambda service passes an event) to the function named `function`.
    pub async fn start(function: &str, body: String) -> std::io::Result<Self> {
        let (answered, _) = watch::channel(false);
        let (shutdown, _) = watch::channel(false);
        let emulator: Shared = Arc::new(Emulator {
            body,
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
            handed_out: AtomicBool::new(false),
            probe: Mutex::new(Probe::default()),
            answered,
            shutdown,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&emulator));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let mut stop = emulator.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await;
        });
        Ok(RuntimeApi {
            address,
            emulator,
            server,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function: `host:port`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// What was seen so far.
    pub fn probe(&self) -> Probe {
        self.emulator
            .probe
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the function answered, at most `timeout`; `false` when it did not.
    pub async fn wait_answered(&self, timeout: std::time::Duration) -> bool {
        let mut answered = self.emulator.answered.subscribe();
        tokio::time::timeout(timeout, answered.wait_for(|done| *done))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    /// Releases held polls and stops serving.
    pub async fn stop(self) {
        self.emulator.shutdown.send_replace(true);
        let _ = self.server.await;
    }
}

async fn next_invocation(State(emulator): State<Shared>) -> Response {
    let now = Instant::now();
    emulator
        .probe
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .first_poll
        .get_or_insert(now);
    if emulator.handed_out.swap(true, Ordering::SeqCst) {
        // Lambda would freeze the environment here; hold the poll until the bench is done.
        let mut stop = emulator.shutdown.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
        return StatusCode::GONE.into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static(REQUEST_ID),
    );
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_millis() + 60_000)
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&deadline.to_string()) {
        headers.insert("lambda-runtime-deadline-ms", value);
    }
    if let Ok(value) = HeaderValue::from_str(&emulator.function_arn) {
        headers.insert("lambda-runtime-invoked-function-arn", value);
    }
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    (StatusCode::OK, headers, emulator.body.clone()).into_response()
}

async fn response(State(emulator): State<Shared>) -> StatusCode {
    emulator.record(Outcome::Response);
    StatusCode::ACCEPTED
}

/// The `errorType` of an error report: the body's, else the header's.
fn error_type(headers: &HeaderMap, body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["errorType"].as_str().map(str::to_owned))
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
}

async fn error(State(emulator): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    emulator.record(Outcome::Error(error_type(&headers, &body)));
    StatusCode::ACCEPTED
}

async fn init_error(
    State(emulator): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    emulator.record(Outcome::InitError(error_type(&headers, &body)));
    StatusCode::ACCEPTED
}
