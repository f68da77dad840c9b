//! What the hostile-transport tests share: servers that count every request they receive
//! and record whether it carried a credential, so a test can assert exact retry counts and
//! that no credential reached a host other than the target.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaApi, HttpGrafanaConnector, RetryPolicy};
use keyshift_core::model::GrafanaCredential;
use keyshift_core::secret::SecretString;
use tokio::io::AsyncReadExt;

/// The credential every test client carries; no server may see it except the target.
pub const TOKEN: &str = "glsa_hostileServerTestToken012345_0a1b2c3d";

/// The retry budget of the test settings: the exact number of requests a transient failure
/// of a repeatable call must produce.
pub const ATTEMPTS: usize = 3;

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The `Authorization` header, if the request carried one.
    pub authorization: Option<String>,
}

/// Every request one listener received, in order.
#[derive(Debug, Default)]
pub struct Seen(Mutex<Vec<SeenRequest>>);

impl Seen {
    /// Records a request and returns its 0-based index (the attempt number).
    fn record(&self, request: SeenRequest) -> usize {
        let mut requests = self.0.lock().unwrap();
        requests.push(request);
        requests.len() - 1
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// A copy of every request.
    pub fn all(&self) -> Vec<SeenRequest> {
        self.0.lock().unwrap().clone()
    }
}

/// A listening test server.
pub struct Server {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// What it received.
    pub seen: Arc<Seen>,
}

/// Serves `answer(attempt)` to every request on any path, counting them.
pub async fn serve_answers<F, Fut>(answer: F) -> Server
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let seen = Arc::new(Seen::default());
    let recorder = Arc::clone(&seen);
    let router = Router::new().fallback(move |request: Request| {
        let recorder = Arc::clone(&recorder);
        let answer = answer.clone();
        async move {
            let attempt = recorder.record(SeenRequest {
                method: request.method().to_string(),
                target: request.uri().to_string(),
                authorization: request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
            });
            answer(attempt).await
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        base: format!("http://{address}"),
        seen,
    }
}

/// Serves the same answer to every request.
pub async fn serve_always(status: StatusCode, content_type: &'static str, body: &str) -> Server {
    let body = body.to_owned();
    serve_answers(move |_| {
        let body = body.clone();
        async move { (status, [(header::CONTENT_TYPE, content_type)], body).into_response() }
    })
    .await
}

/// A listener that reads each request's head and then closes the connection without a byte of
/// answer, as a crashing proxy or a reset does; every request it read is recorded.
pub async fn serve_resets() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let recorder = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let recorder = Arc::clone(&recorder);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                recorder.record(parse_head(&head));
                drop(stream);
            });
        }
    });
    Server {
        base: format!("http://{address}"),
        seen,
    }
}

/// Method, target and Authorization of a raw HTTP/1.1 request head.
fn parse_head(head: &[u8]) -> SeenRequest {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    SeenRequest {
        method,
        target,
        authorization,
    }
}

/// A body that sends one byte every `every`, `bytes` times: a server too slow to finish.
pub fn trickling_body(bytes: usize, every: Duration) -> Body {
    let stream = futures::stream::unfold(0usize, move |sent| async move {
        if sent == bytes {
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(vec![b' ']), sent + 1))
    });
    Body::from_stream(stream)
}

/// Test settings: a fast retry budget of [`ATTEMPTS`], loopback http allowed, a small body
/// limit, and `request_timeout`.
pub fn settings(request_timeout: Duration) -> GrafanaHttpSettings {
    GrafanaHttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout,
        retry: RetryPolicy {
            max_attempts: u32::try_from(ATTEMPTS).unwrap(),
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
        },
        max_body_bytes: 64 * 1024,
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    }
}

/// A client of `base` carrying [`TOKEN`].
pub fn client(base: &str, settings: GrafanaHttpSettings) -> HttpGrafanaApi {
    HttpGrafanaConnector::new(settings)
        .unwrap()
        .open(base, 1, GrafanaCredential::Bearer(SecretString::new(TOKEN)))
        .unwrap()
}

/// The JSON answer of `GET /api/org`, for scenarios that eventually succeed.
pub fn org_answer() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"id": 1, "name": "Main Org."}"#,
    )
        .into_response()
}
