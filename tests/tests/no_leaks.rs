//! Captures every log line and every step payload of complete runs (AMG and self-hosted, a
//! migration and a rotation, plus failing steps) and checks that no credential appears: not
//! the minted tokens, not the legacy keys, not the admin password.

use grafana_sim::{FaultKind, FaultSpec};
use keyshift_core::ports::VersionSelector;
use keyshift_e2e::{ADMIN_PASSWORD, Harness, LogCapture, StoreKind, assert_no_leak};
use serde_json::json;

#[tokio::test]
async fn no_credential_appears_in_logs_outputs_or_errors() {
    let (capture, _guard) = LogCapture::install();

    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let mut texts = Vec::new();
    let mut secret_ids = Vec::new();
    for instance in ["sh-94", "sh-116", "g-0000000104"] {
        let workspace = harness.workspace(instance);
        let policy = harness.policy(json!({}));
        let migration = harness
            .run_execution(&workspace, &policy, "ks-leak-1")
            .await
            .unwrap();
        texts.push(migration.payload_text());
        secret_ids.extend(
            migration
                .planned_credentials()
                .iter()
                .map(|c| c.secret_id.clone()),
        );
        harness.state().clock().advance_seconds(24 * 86_400);
        let rotation = harness
            .run_execution(&workspace, &policy, "ks-leak-2")
            .await
            .unwrap();
        texts.push(rotation.payload_text());
        // A failing step: its error must not carry the token either.
        harness
            .state()
            .faults()
            .add(FaultSpec {
                workspace: instance.to_owned(),
                endpoint: "*".to_owned(),
                kind: FaultKind::Status {
                    status: 401,
                    retry_after_seconds: None,
                },
                times: Some(1),
                probability: None,
                seed: None,
            })
            .unwrap();
        harness.state().clock().advance_seconds(24 * 86_400);
        let failed = harness
            .run_execution(&workspace, &policy, "ks-leak-3")
            .await;
        texts.push(format!("{failed:?}"));
        if let Err(error) = failed {
            texts.push(error.to_string());
        }
    }
    let mut credentials = harness.seeded_credentials();
    credentials.push(ADMIN_PASSWORD.to_owned());
    for secret_id in &secret_ids {
        let description = harness.store.describe(secret_id).await.unwrap();
        for version in description.versions {
            let stored = harness
                .store
                .get(secret_id, &VersionSelector::Id(version.version_id))
                .await
                .unwrap();
            let value =
                keyshift_core::model::ManagedSecretValue::parse(&stored.value, secret_id).unwrap();
            credentials.push(value.token.expose().to_owned());
        }
    }
    assert!(
        credentials.len() > 20,
        "the scan covers the minted tokens ({})",
        credentials.len()
    );
    drop(_guard);
    let logs = capture.text();
    assert!(logs.contains("minted token"), "logs were captured");
    assert_no_leak(&logs, &credentials, "logs");
    assert_no_leak(&texts.join("\n"), &credentials, "step payloads and errors");
}
