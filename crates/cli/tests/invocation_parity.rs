//! A local run and a Lambda run of the same failing step report the same error: the same ASL
//! name and the same message, scrubbed of credential-shaped text in both.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use keyshift_cli::asl::Step;
use keyshift_cli::local::invoke_step;
use keyshift_core::model::{GrafanaCredential, OrgId};
use keyshift_core::ports::{GrafanaApi, GrafanaConnector, SecretStore, SystemClock};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::{StepDeps, discover_keys};
use keyshift_core::{KeyshiftError, Result};
use keyshift_local::{InMemorySecretStore, LocalSealer};
use serde_json::{Value, json};

const LEAKED: &str = "glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d";

/// A Grafana that refuses every connection with a complaint echoing a token, as a hostile or
/// careless proxy might.
struct EchoingGrafana;

#[async_trait]
impl GrafanaConnector for EchoingGrafana {
    async fn connect(
        &self,
        _base_url: &str,
        _org_id: OrgId,
        _credential: GrafanaCredential,
    ) -> Result<Arc<dyn GrafanaApi>> {
        Err(KeyshiftError::GrafanaUnauthorized {
            operation: "GET /api/health".into(),
            detail: format!("HTTP 401: token {LEAKED} is not valid"),
        })
    }
}

async fn deps() -> StepDeps {
    let secrets = InMemorySecretStore::new();
    secrets
        .ensure_secret("grafana/admin", "self-hosted admin", &BTreeMap::new())
        .await
        .unwrap();
    secrets
        .put_secret_value(
            "grafana/admin",
            "00000000-0000-4000-8000-000000000001",
            &SecretString::new(r#"{"username":"admin","password":"admin-password"}"#),
            &["AWSCURRENT"],
            Utc::now(),
        )
        .unwrap();
    StepDeps {
        grafana: Arc::new(EchoingGrafana),
        secrets: Arc::new(secrets),
        sealer: Arc::new(LocalSealer::random()),
        amg: None,
        clock: Arc::new(SystemClock),
        amg_url_template: None,
        metrics: Arc::new(keyshift_core::ports::NoMetrics),
        events: Arc::new(keyshift_core::ports::NoEvents),
    }
}

fn payload() -> Value {
    json!({
        "executionName": "ks-parity-1",
        "workspace": {
            "kind": "selfHosted",
            "url": "http://grafana.example.invalid:3000",
            "adminSecretId": "grafana/admin"
        },
        "policy": {}
    })
}

#[tokio::test]
async fn local_and_lambda_runs_report_the_same_scrubbed_error() {
    let deps = deps().await;
    let local = invoke_step(Step::DiscoverKeys, &deps, payload())
        .await
        .unwrap_err();
    let handler = |input| discover_keys(&deps, input);
    let lambda = keyshift_lambda::invoke(&handler, payload())
        .await
        .unwrap_err();

    assert_eq!(local.error, "Grafana.Unauthorized");
    assert_eq!(lambda.error_type, local.error);
    assert_eq!(lambda.error_message, local.cause);
    assert!(local.cause.contains("GET /api/health"), "{}", local.cause);
    assert!(local.cause.contains("is not valid"), "{}", local.cause);
    assert!(!local.cause.contains("glsa_"), "{}", local.cause);
}

#[tokio::test]
async fn local_and_lambda_runs_report_the_same_invalid_payload() {
    let deps = deps().await;
    let mut bad = payload();
    bad["workspace"]["kind"] = Value::String(LEAKED.to_owned());
    let local = invoke_step(Step::DiscoverKeys, &deps, bad.clone())
        .await
        .unwrap_err();
    let handler = |input| discover_keys(&deps, input);
    let lambda = keyshift_lambda::invoke(&handler, bad).await.unwrap_err();

    assert_eq!(local.error, "Input.Invalid");
    assert_eq!(lambda.error_type, local.error);
    assert_eq!(lambda.error_message, local.cause);
    assert!(!local.cause.contains("glsa_"), "{}", local.cause);
}
