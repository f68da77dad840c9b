//! Captures every log line, every step payload and every error of complete runs (AMG and
//! self-hosted, a migration, a rotation and a failing run per instance) and checks that no
//! credential that existed during them appears: not the seeded keys, not the AMG bootstrap
//! admin tokens, not any token keyshift minted (AWSCURRENT, AWSPREVIOUS or revoked), not the
//! admin password. The scan list comes from the simulator, which knows every credential it
//! issued, and its size is asserted exactly.

use keyshift_core::model::ManagedSecretValue;
use keyshift_core::ports::VersionSelector;
use keyshift_e2e::{
    ADMIN_PASSWORD, Harness, KnownCredentials, LogCapture, StoreKind, assert_no_leak, fault_on,
    status_fault,
};
use serde_json::json;

/// The instances scanned: two self-hosted version lines and one AMG workspace.
const INSTANCES: [&str; 3] = ["sh-94", "sh-116", "g-0000000104"];

#[tokio::test]
async fn no_credential_appears_in_logs_outputs_or_errors() {
    let (capture, guard) = LogCapture::install();

    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let mut texts = Vec::new();
    let mut secret_ids = Vec::new();
    let mut planned = 0;
    let mut bootstraps_revoked = 0;
    let mut failures = 0;
    // One shared clock: every instance migrates, then all rotate 24 days later, then each has
    // a failing run.
    for (execution, days_before) in [("ks-leak-1", 0), ("ks-leak-2", 24)] {
        harness
            .state()
            .clock()
            .advance_seconds(days_before * 86_400);
        for instance in INSTANCES {
            let workspace = harness.workspace(instance);
            let policy = harness.policy(json!({}));
            let record = harness
                .run_execution(&workspace, &policy, execution)
                .await
                .unwrap();
            assert_eq!(
                record.planned_credentials().len(),
                3,
                "{instance} {execution}"
            );
            planned += record.planned_credentials().len();
            bootstraps_revoked += usize::from(
                record
                    .workspace_revoke
                    .as_ref()
                    .is_some_and(|revoke| revoke.bootstrap_revoked),
            );
            texts.push(record.payload_text());
            if execution == "ks-leak-1" {
                secret_ids.extend(
                    record
                        .planned_credentials()
                        .iter()
                        .map(|c| c.secret_id.clone()),
                );
            }
        }
    }
    harness.state().clock().advance_seconds(24 * 86_400);
    for instance in INSTANCES {
        let workspace = harness.workspace(instance);
        let policy = harness.policy(json!({}));
        // A failing run: its error must not carry a credential either.
        let rule = harness
            .state()
            .faults()
            .add(fault_on(instance, "*", status_fault(401), 1))
            .unwrap();
        let failed = harness
            .run_execution(&workspace, &policy, "ks-leak-3")
            .await;
        // A one-shot rule retires once it fired.
        let pending = harness
            .state()
            .faults()
            .list()
            .iter()
            .any(|listed| listed.id == rule);
        assert!(!pending, "{instance}: the injected 401 fired");
        texts.push(format!("{failed:?}"));
        let error = failed.expect_err("the faulted run fails");
        // Self-hosted: Grafana's 401; AMG: the control plane's first call refused.
        let expected = if instance.starts_with("g-") {
            "Input.Invalid"
        } else {
            "Grafana.Unauthorized"
        };
        assert_eq!(error.asl_name(), expected, "{instance}: {error}");
        texts.push(error.to_string());
        failures += 1;
    }
    assert_eq!(failures, INSTANCES.len());
    assert_eq!(
        bootstraps_revoked, 2,
        "both AMG runs revoked their bootstrap"
    );

    let known = KnownCredentials::of(harness.state());
    // Every token keyshift minted was planned by a run that succeeded: the failing runs
    // stopped before minting.
    assert_eq!(known.minted.len(), planned, "minted tokens searched");
    assert_eq!(planned, 18, "3 instances × 2 runs × 3 credentials");
    // One bootstrap token per AMG execution that got past its first call.
    assert_eq!(known.bootstrap.len(), 2, "bootstrap tokens searched");
    assert_eq!(
        known.seeded.len(),
        5 * 8,
        "seeded keys: 5 per instance of the fleet"
    );
    assert!(known.created_keys.is_empty());

    // Every stored version (AWSCURRENT and AWSPREVIOUS of each secret) holds a token the scan
    // list has: the list is the superset of what the store saw.
    let mut versions = 0;
    for secret_id in &secret_ids {
        let description = harness.store.describe(secret_id).await.unwrap();
        for version in description.versions {
            let stored = harness
                .store
                .get(secret_id, &VersionSelector::Id(version.version_id))
                .await
                .unwrap();
            let value = ManagedSecretValue::parse(&stored.value, secret_id).unwrap();
            assert!(known.minted.iter().any(|t| t == value.token.expose()));
            versions += 1;
        }
    }
    assert_eq!(versions, planned, "every minted token was stored once");

    drop(guard);
    let credentials = known.all_with(&[ADMIN_PASSWORD]);
    assert_eq!(credentials.len(), 18 + 2 + 40 + 1);
    let logs = capture.text();
    assert!(logs.contains("minted token"), "logs were captured");
    assert_no_leak(&logs, &credentials, "logs");
    assert_no_leak(&texts.join("\n"), &credentials, "step payloads and errors");
}
