//! The Grafana HTTP adapter against a deliberately hostile server: oversized bodies, wrong
//! shapes, lying pagination, redirects. Every case must be a named error, never a panic.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaConnector};
use keyshift_core::model::GrafanaCredential;
use keyshift_core::ports::GrafanaConnector;
use keyshift_core::secret::SecretString;

const TOKEN: &str = "glsa_hostileServerTestToken012345_0a1b2c3d";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{address}")
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
                // Claims a million accounts, delivers the same one forever.
                r#"{"totalCount": 50, "page": 1, "perPage": 10, "serviceAccounts": [{"id": 1, "name": "a", "orgId": 1, "role": "Admin"}]}"#
            }),
        )
        .route(
            "/api/auth/keys",
            get(|| async { r#"[{"id": 1, "name": "k", "role": "Superuser"}]"# }),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens",
            get(|| async { r#"{"not": "a list"}"# }),
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
    let settings = GrafanaHttpSettings {
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_secs(5),
        ..GrafanaHttpSettings::default()
    };
    let api = HttpGrafanaConnector::new(settings)
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
    assert_eq!(
        api.list_legacy_keys(true).await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );
    assert_eq!(
        api.list_tokens(1).await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );

    // Redirects are not followed (they would carry the Authorization header elsewhere).
    let redirected = api.permissions().await.unwrap_err();
    assert_eq!(
        redirected.asl_name(),
        "Grafana.BadRequest",
        "{redirected:?}"
    );

    let echoed = api.get_service_account(1).await.unwrap_err();
    assert_eq!(echoed.asl_name(), "Grafana.BadRequest");
    assert!(!format!("{echoed} {echoed:?}").contains(TOKEN), "{echoed}");
}

#[tokio::test]
async fn unreachable_and_invalid_base_urls() {
    let connector = HttpGrafanaConnector::new(GrafanaHttpSettings {
        connect_timeout: Duration::from_millis(500),
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
