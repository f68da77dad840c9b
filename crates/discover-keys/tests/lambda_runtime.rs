//! The discover-keys binary Cargo built for this test answers a Lambda Runtime API: a tiny emulator written
//! here hands it invocations and records the success and error payloads it posts back.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use keyshift_e2e::{Harness, StoreKind, moto_endpoint};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Emulator {
    /// Invocation ids and raw bodies, in order (a body need not be JSON).
    pending: Mutex<VecDeque<(String, String)>>,
    responses: Mutex<Vec<(String, Value)>>,
    errors: Mutex<Vec<(String, Value, Option<String>)>>,
    answered: Notify,
}

type Shared = Arc<Emulator>;

async fn next_invocation(State(emulator): State<Shared>) -> impl IntoResponse {
    loop {
        let next = emulator.pending.lock().unwrap().pop_front();
        if let Some((id, event)) = next {
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).unwrap(),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_static("9999999999999"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static(
                    "arn:aws:lambda:us-east-1:000000000000:function:discover-keys",
                ),
            );
            return (StatusCode::OK, headers, event);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn response(
    State(emulator): State<Shared>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    emulator.responses.lock().unwrap().push((id, value));
    emulator.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(
    State(emulator): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    emulator.errors.lock().unwrap().push((id, value, kind));
    emulator.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn start_emulator(emulator: Shared) -> SocketAddr {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(emulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The step binary Cargo built for this test run (no nested `cargo build`).
const BINARY: &str = env!("CARGO_BIN_EXE_discover-keys");

/// Runs the binary to completion with exactly `env` (plus `PATH`) and returns its exit
/// status and stderr.
async fn run_to_exit(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = tokio::process::Command::new(BINARY);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the binary exits by itself when misconfigured")
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Serves `bodies` (raw, one invocation each) to a discover-keys process configured with
/// `env` on top of the runtime variables, until every one is answered or a minute passed;
/// returns the emulator and the process's logs.
async fn serve_bodies(bodies: &[String], env: &[(&str, &str)]) -> (Shared, String) {
    let emulator: Shared = Arc::default();
    emulator.pending.lock().unwrap().extend(
        bodies
            .iter()
            .enumerate()
            .map(|(index, body)| (format!("req-{index}"), body.clone())),
    );
    let addr = start_emulator(Arc::clone(&emulator)).await;
    let mut command = tokio::process::Command::new(BINARY);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "discover-keys")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = emulator.responses.lock().unwrap().len() + emulator.errors.lock().unwrap().len();
        if done == bodies.len() || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (emulator, logs)
}

/// What the function needs besides the runtime variables to start (no call reaches AWS
/// unless an endpoint is added).
const AWS_ENV: [(&str, &str); 5] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_MAX_ATTEMPTS", "1"),
    ("KEYSHIFT_KMS_KEY_ID", "alias/keyshift-e2e"),
];

const RUNTIME_ENV: [(&str, &str); 4] = [
    ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
    ("AWS_LAMBDA_FUNCTION_NAME", "discover-keys"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
];

#[tokio::test]
async fn outside_lambda_the_binary_names_the_missing_runtime_variable_first() {
    let (status, stderr) = run_to_exit(&[]).await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr
            .trim()
            .starts_with("AWS_LAMBDA_RUNTIME_API is required: the Lambda service sets it"),
        "{stderr}"
    );
    assert!(!stderr.contains("Missing {"), "{stderr}");
    assert!(!stderr.contains("KEYSHIFT_KMS_KEY_ID"), "{stderr}");
}

#[tokio::test]
async fn a_missing_kms_key_is_one_sentence_naming_the_variable() {
    let (status, stderr) = run_to_exit(&RUNTIME_ENV).await;
    assert!(!status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "KEYSHIFT_KMS_KEY_ID is required: set it to the KMS key (id, ARN or alias) that seals tokens"
    );
}

#[tokio::test]
async fn a_bad_timeout_is_one_sentence_naming_the_variable() {
    let mut env = RUNTIME_ENV.to_vec();
    env.extend([
        ("KEYSHIFT_KMS_KEY_ID", "alias/keyshift"),
        ("KEYSHIFT_GRAFANA_TIMEOUT_SECONDS", "soon"),
    ]);
    let (status, stderr) = run_to_exit(&env).await;
    assert!(!status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "KEYSHIFT_GRAFANA_TIMEOUT_SECONDS is invalid: set it to a whole number of seconds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_discover_keys_binary_answers_the_runtime_api() {
    let Some(moto) = moto_endpoint() else {
        return;
    };
    let Some(harness) = Harness::start(StoreKind::Moto).await else {
        return;
    };
    let workspace = harness.workspace("sh-104");
    let policy = harness.policy(json!({}));
    let bodies = [
        json!({"executionName": "ks-lambda-1", "workspace": workspace, "policy": policy}),
        json!({"workspace": "not a workspace"}),
        json!({
            "executionName": "ks-lambda-2",
            "workspace": {"kind": "selfHosted", "url": harness.sim.instance_url("sh-104"), "adminSecretId": "no/such/admin"},
            "policy": policy
        }),
    ]
    .map(|body| body.to_string());
    let mut env = AWS_ENV.to_vec();
    env.push(("KEYSHIFT_AWS_ENDPOINT_URL", moto.as_str()));
    env.push(("KEYSHIFT_ALLOW_LOOPBACK_HTTP", "1"));
    let (emulator, logs) = serve_bodies(&bodies, &env).await;

    let responses = emulator.responses.lock().unwrap().clone();
    assert_eq!(responses.len(), 1, "one success; logs:\n{logs}");
    let (id, body) = &responses[0];
    assert_eq!(id, "req-0");
    assert_eq!(body["executionName"], "ks-lambda-1");
    assert_eq!(
        body["plan"]["credentials"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );

    let errors = emulator.errors.lock().unwrap().clone();
    let by_id = |wanted: &str| {
        errors
            .iter()
            .find(|(id, _, _)| id == wanted)
            .cloned()
            .unwrap()
    };
    let (_, malformed, _) = by_id("req-1");
    assert_eq!(malformed["errorType"], "Input.Invalid", "{malformed}");
    let (_, missing, _) = by_id("req-2");
    assert_eq!(missing["errorType"], "Secret.NotFound", "{missing}");
    assert!(
        missing["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("no/such/admin"))
    );

    assert!(
        logs.contains("req-0"),
        "JSON logs carry the request id:\n{logs}"
    );
    assert!(!logs.contains(keyshift_e2e::ADMIN_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_the_binary_cannot_read_are_input_invalid_with_a_sentence() {
    let deep = "[".repeat(300) + &"]".repeat(300);
    let bodies = [
        (
            "not json, with glsa_looksLikeAToken0123456789_abcdef01".to_owned(),
            "expected",
        ),
        (deep, "recursion limit"),
        (
            "{\"executionName\": 1e400}".to_owned(),
            "number out of range",
        ),
        ("{\"executionName\": \"ks\"".to_owned(), "EOF"),
        (String::new(), "EOF"),
    ];
    let raw: Vec<String> = bodies.iter().map(|(body, _)| body.clone()).collect();
    let (emulator, logs) = serve_bodies(&raw, &AWS_ENV).await;
    assert!(emulator.responses.lock().unwrap().is_empty(), "{logs}");
    let errors = emulator.errors.lock().unwrap().clone();
    assert_eq!(
        errors.len(),
        bodies.len(),
        "every body answered; logs:\n{logs}"
    );
    for (index, (_, expected)) in bodies.iter().enumerate() {
        let id = format!("req-{index}");
        let (_, error, _) = errors.iter().find(|(seen, _, _)| *seen == id).unwrap();
        assert_eq!(error["errorType"], "Input.Invalid", "{id}: {error}");
        let message = error["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("the payload is not JSON this function can read")
                && message.contains(expected),
            "{id}: {message}"
        );
        assert!(!message.contains("lambda_runtime"), "{id}: {message}");
    }
    assert!(!logs.contains("glsa_looksLikeAToken"), "{logs}");
}
