//! The Grafana HTTP adapter against a deliberately hostile or broken server: throttling,
//! server errors, timeouts, resets, slow bodies, malformed and mistyped answers, oversized
//! bodies, lying pagination. Every case is a named error, never a panic; each server counts
//! the requests it received, so transient failures of repeatable calls are shown retried
//! exactly up to the budget and everything else sent exactly once.

mod hostile_support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use hostile_support::{
    ATTEMPTS, TOKEN, client, org_answer, serve_always, serve_answers, serve_resets, settings,
    trickling_body,
};
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaConnector};
use keyshift_core::model::GrafanaCredential;
use keyshift_core::ports::{GrafanaApi, GrafanaConnector};
use keyshift_core::secret::SecretString;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{address}")
}

/// A body declared as JSON, so the case tests its shape and not its content type.
fn json(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn hostile() -> Router {
    Router::new()
        .route("/api/org", get(|| async { "x".repeat(300_000) }))
        .route(
            "/api/health",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"version": 12}"#) }),
        )
        .route(
            "/api/serviceaccounts/search",
            get(|| async {
                // Claims fifty accounts, delivers the same one forever.
                json(
                    r#"{"totalCount": 50, "page": 1, "perPage": 10, "serviceAccounts": [{"id": 1, "name": "a", "orgId": 1, "role": "Admin"}]}"#,
                )
            }),
        )
        .route(
            "/api/auth/keys",
            get(|| async { json(r#"[{"id": 1, "name": "k", "role": "Superuser"}]"#) }),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens",
            get(|| async { json(r#"{"not": "a list"}"#) }),
        )
        .route(
            "/api/access-control/user/permissions",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "http://example.invalid/steal")], "")
                    .into_response()
            }),
        )
        .route(
            "/api/serviceaccounts/{id}",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!(r#"{{"message": "your token {TOKEN} is bad"}}"#),
                )
            }),
        )
}

#[tokio::test]
async fn hostile_answers_become_named_errors() {
    let base = serve(hostile()).await;
    let api = HttpGrafanaConnector::new(settings(Duration::from_secs(5)))
        .unwrap()
        .connect(
            &base,
            1,
            GrafanaCredential::Bearer(SecretString::new(TOKEN)),
        )
        .await
        .unwrap();

    let too_big = api.org().await.unwrap_err();
    assert_eq!(too_big.asl_name(), "Grafana.BadResponse");
    assert!(too_big.to_string().contains("larger than"), "{too_big}");

    assert_eq!(
        api.health().await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );
    let lying = api.search_service_accounts("").await.unwrap_err();
    assert_eq!(lying.asl_name(), "Grafana.BadResponse", "{lying}");
    assert!(lying.to_string().contains("does not converge"), "{lying}");
    assert_eq!(
        api.list_legacy_keys(true).await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );
    assert_eq!(
        api.list_tokens(1).await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );

    // Redirects are not followed (they would carry the Authorization header elsewhere);
    // grafana_http_transport.rs shows the other host never hears of it.
    let redirected = api.permissions().await.unwrap_err();
    assert_eq!(
        redirected.asl_name(),
        "Grafana.BadRequest",
        "{redirected:?}"
    );
    assert!(
        redirected.to_string().contains("redirect refused"),
        "{redirected}"
    );

    let echoed = api.get_service_account(1).await.unwrap_err();
    assert_eq!(echoed.asl_name(), "Grafana.BadRequest");
    assert!(!format!("{echoed} {echoed:?}").contains(TOKEN), "{echoed}");
}

#[tokio::test]
async fn unreachable_and_invalid_base_urls() {
    let connector = HttpGrafanaConnector::new(GrafanaHttpSettings {
        connect_timeout: Duration::from_millis(500),
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    })
    .unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let api = connector
        .connect(
            &format!("http://{closed}"),
            1,
            GrafanaCredential::Bearer(SecretString::new(TOKEN)),
        )
        .await
        .unwrap();
    let error = api.org().await.unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Unavailable");

    for bad in [
        "ftp://grafana",
        "https://user:pw@grafana",
        "https://grafana/?x=1",
        "::",
    ] {
        let result = connector
            .connect(bad, 1, GrafanaCredential::Bearer(SecretString::new(TOKEN)))
            .await;
        assert_eq!(
            result.err().map(|e| e.asl_name()),
            Some("Input.Invalid"),
            "{bad}"
        );
    }
}

/// A repeatable read (`GET /api/org`) and a once-only write (`POST …/tokens`) against the same
/// failing server: the read is retried exactly up to the budget, the write is sent once.
async fn read_then_write(
    server: &hostile_support::Server,
    timeout: Duration,
) -> (keyshift_core::KeyshiftError, keyshift_core::KeyshiftError) {
    let api = client(&server.base, settings(timeout));
    let read = api.org().await.unwrap_err();
    assert_eq!(
        server.seen.count(),
        ATTEMPTS,
        "read retried up to the budget"
    );
    let write = api.create_token(1, "t", 60, Utc::now()).await.unwrap_err();
    assert_eq!(server.seen.count(), ATTEMPTS + 1, "the write is sent once");
    (read, write)
}

#[tokio::test]
async fn throttling_without_retry_after_is_retried_up_to_the_budget() {
    let server = serve_always(StatusCode::TOO_MANY_REQUESTS, "application/json", "{}").await;
    let (read, write) = read_then_write(&server, Duration::from_secs(5)).await;
    for error in [&read, &write] {
        assert_eq!(error.asl_name(), "Grafana.Throttled", "{error}");
        assert_eq!(error.retry_after(), None);
    }
}

#[tokio::test]
async fn retry_after_is_honoured_within_its_bound() {
    // The back-off of the test settings is at most 40 ms; only the header explains a 1 s wait.
    let server = serve_answers(|attempt| async move {
        if attempt == 0 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "",
            )
                .into_response()
        } else {
            org_answer()
        }
    })
    .await;
    let started = Instant::now();
    let org = client(&server.base, settings(Duration::from_secs(5)))
        .org()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(org.name, "Main Org.");
    assert_eq!(server.seen.count(), 2);
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");

    // Beyond max_retry_after (2 s) the error goes back at once, with the server's wish kept.
    let patient = serve_answers(|_| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "3600")],
            "",
        )
            .into_response()
    })
    .await;
    let started = Instant::now();
    let error = client(&patient.base, settings(Duration::from_secs(5)))
        .org()
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Throttled");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(
        patient.seen.count(),
        1,
        "an over-long Retry-After is not slept"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_are_retried_up_to_the_budget_and_recoveries_succeed() {
    let statuses = [500u16, 502, 503, 504];
    for status in statuses {
        let code = StatusCode::from_u16(status).unwrap();
        let server = serve_always(code, "text/html", "<html>bad gateway</html>").await;
        let (read, write) = read_then_write(&server, Duration::from_secs(5)).await;
        for error in [&read, &write] {
            assert_eq!(error.asl_name(), "Grafana.Unavailable", "{status}: {error}");
            assert!(error.to_string().contains(&status.to_string()), "{error}");
        }
    }
    // Two failures then an answer: the third attempt, inside the budget, is the result.
    let flaky = serve_answers(|attempt| async move {
        if attempt < ATTEMPTS - 1 {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        } else {
            org_answer()
        }
    })
    .await;
    let org = client(&flaky.base, settings(Duration::from_secs(5)))
        .org()
        .await
        .unwrap();
    assert_eq!(org.id, 1);
    assert_eq!(flaky.seen.count(), ATTEMPTS);
}

#[tokio::test]
async fn timeouts_are_retried_up_to_the_budget() {
    let server = serve_answers(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        org_answer()
    })
    .await;
    let started = Instant::now();
    let (read, write) = read_then_write(&server, Duration::from_millis(300)).await;
    for error in [&read, &write] {
        assert_eq!(error.asl_name(), "Grafana.Unavailable");
        assert!(error.to_string().contains("timed out"), "{error}");
    }
    // Four timed-out requests of 300 ms plus back-off, not the server's 30 s.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn connection_resets_are_retried_up_to_the_budget() {
    let server = serve_resets().await;
    let (read, write) = read_then_write(&server, Duration::from_secs(5)).await;
    for error in [&read, &write] {
        assert_eq!(error.asl_name(), "Grafana.Unavailable", "{error}");
    }
    let seen = server.seen.all();
    assert!(
        seen[..ATTEMPTS]
            .iter()
            .all(|request| request.method == "GET")
    );
    assert_eq!(seen[ATTEMPTS].method, "POST");
}

#[tokio::test]
async fn slow_bodies_hit_the_request_timeout_and_are_retried_up_to_the_budget() {
    // Headers at once, then one byte every 100 ms for 10 s: only the whole-request timeout
    // (500 ms) stops it.
    let server = serve_answers(|_| async {
        (
            [(header::CONTENT_TYPE, "application/json")],
            trickling_body(100, Duration::from_millis(100)),
        )
            .into_response()
    })
    .await;
    let started = Instant::now();
    let (read, write) = read_then_write(&server, Duration::from_millis(500)).await;
    for error in [&read, &write] {
        assert_eq!(error.asl_name(), "Grafana.Unavailable", "{error}");
    }
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn malformed_and_mistyped_answers_are_named_and_sent_once() {
    let cases: [(&str, &'static str, &str); 8] = [
        ("malformed JSON", "application/json", r#"{"id": 1, "name":"#),
        (
            "wrong shape",
            "application/json",
            r#"{"id": "one", "name": 2}"#,
        ),
        ("a list", "application/json", r#"[{"id": 1, "name": "x"}]"#),
        ("empty body", "application/json", ""),
        ("binary", "application/json", "\u{0}\u{1}\u{fffd}"),
        (
            "HTML login page",
            "text/html",
            "<html><form>log in</form></html>",
        ),
        (
            "valid JSON declared as HTML",
            "text/html; charset=utf-8",
            r#"{"id": 1, "name": "Main Org."}"#,
        ),
        (
            "valid JSON declared as text",
            "text/plain",
            r#"{"id": 1, "name": "Main Org."}"#,
        ),
    ];
    let mut checked = 0;
    for (case, content_type, body) in cases {
        let server = serve_always(StatusCode::OK, content_type, body).await;
        let api = client(&server.base, settings(Duration::from_secs(5)));
        let error = api.org().await.unwrap_err();
        assert_eq!(error.asl_name(), "Grafana.BadResponse", "{case}: {error}");
        assert_eq!(
            server.seen.count(),
            1,
            "{case}: a bad answer is not retried"
        );
        checked += 1;
    }
    assert_eq!(checked, cases.len());

    // A JSON subtype with parameters is JSON.
    let problem = serve_always(
        StatusCode::OK,
        "application/problem+json; charset=utf-8",
        r#"{"id": 1, "name": "Main Org."}"#,
    )
    .await;
    let api = client(&problem.base, settings(Duration::from_secs(5)));
    assert_eq!(api.org().await.unwrap().id, 1);
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_sent_once() {
    let limit = settings(Duration::from_secs(5)).max_body_bytes;
    let declared = "x".repeat(limit * 16);
    let cases = [
        ("declared length", StatusCode::OK, true),
        ("streamed without a length", StatusCode::OK, false),
        (
            "oversized error page",
            StatusCode::SERVICE_UNAVAILABLE,
            true,
        ),
    ];
    for (case, status, with_length) in cases {
        let declared = declared.clone();
        let server = serve_answers(move |_| {
            let declared = declared.clone();
            async move {
                let body = if with_length {
                    axum::body::Body::from(declared)
                } else {
                    let chunks = (0..64)
                        .map(|_| Ok::<_, std::io::Error>(vec![b'x'; limit / 8]))
                        .collect::<Vec<_>>();
                    axum::body::Body::from_stream(futures::stream::iter(chunks))
                };
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        })
        .await;
        let api = client(&server.base, settings(Duration::from_secs(5)));
        let error = api.org().await.unwrap_err();
        assert_eq!(error.asl_name(), "Grafana.BadResponse", "{case}: {error}");
        assert!(error.to_string().contains("larger than"), "{case}: {error}");
        assert_eq!(server.seen.count(), 1, "{case}");
    }
}

#[tokio::test]
async fn every_request_carried_the_credential_to_the_target_only() {
    // The positive control of grafana_http_transport.rs's "other host sees nothing": the
    // recorder does see the Authorization header when a request does carry it.
    let server = serve_always(StatusCode::OK, "application/json", r#"{"id":1,"name":"o"}"#).await;
    client(&server.base, settings(Duration::from_secs(5)))
        .org()
        .await
        .unwrap();
    let seen = server.seen.all();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/api/org");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}
