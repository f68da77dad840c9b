//! The fleet's legacy keys migrate in both modes on every simulated Grafana version, with the
//! in-memory store and with Secrets Manager on moto; afterwards every AWSCURRENT authenticates,
//! migrated keys are revoked, excluded keys survive and expired keys are only cleaned up.

use keyshift_core::plan::CredentialAction;
use keyshift_e2e::{AMG, Harness, SELF_HOSTED, StoreKind, assert_no_leak};
use serde_json::json;

/// The accounts a run must end with, per version line and mode.
fn expected_accounts(version: &str, mode: &str) -> Vec<String> {
    let auto_migrated =
        !(version.starts_with("9.") || version.starts_with("10.") || version.starts_with("11.5"));
    let names = ["ci-deploy", "status-page", "terraform-admin"];
    names
        .iter()
        .map(|name| {
            if auto_migrated || mode == "in-place" {
                format!("sa-autogen-{name}")
            } else {
                format!("keyshift-{name}")
            }
        })
        .collect()
}

async fn migrate_instance(harness: &Harness, instance: &str, version: &str, mode: &str) {
    let workspace = harness.workspace(instance);
    let policy = harness.policy(json!({"migrationMode": mode}));
    let record = match harness
        .run_execution(&workspace, &policy, "ks-migrate-1")
        .await
    {
        Ok(record) => record,
        Err(error) => panic!(
            "{instance} ({version}, {mode}): {} {error}",
            error.asl_name()
        ),
    };
    let discovered = record.discovered.as_ref().unwrap();
    let mut planned: Vec<String> = discovered
        .plan
        .credentials
        .iter()
        .map(|credential| credential.service_account.name.clone())
        .collect();
    planned.sort();
    let expected = expected_accounts(version, mode);
    assert_eq!(planned, expected, "{instance} {mode}: planned accounts");
    let plan = &discovered.plan;
    assert!(
        plan.excluded_keys
            .iter()
            .any(|key| key.key_name == "break-glass"),
        "{instance}: break-glass must be excluded"
    );
    let actions: Vec<&CredentialAction> = plan.credentials.iter().map(|c| &c.action).collect();
    if discovered.version.has_legacy_key_endpoints() && !discovered.version.auto_migrates_keys() {
        assert!(
            plan.expired_keys
                .iter()
                .any(|key| key.key_name == "old-exporter"),
            "{instance}: the expired key is planned for deletion"
        );
        assert!(
            actions
                .iter()
                .all(|action| matches!(action, CredentialAction::MigrateKey { .. })),
            "{instance}: keys are migrated"
        );
    } else {
        assert!(
            actions
                .iter()
                .all(|action| matches!(action, CredentialAction::TakeOver { .. })),
            "{instance}: auto-migrated accounts are taken over"
        );
    }

    let seeded = harness.state().seeded_secrets(Some(instance));
    for credential in &discovered.plan.credentials {
        let value = harness.current_value(&credential.secret_id).await;
        assert!(
            harness.authenticates(instance, value.token.expose()),
            "{instance}: AWSCURRENT of {} authenticates",
            credential.secret_id
        );
        assert!(
            value.token_name.starts_with("keyshift-ks-migrate-1-"),
            "{}",
            value.token_name
        );
        assert_eq!(value.service_account_name, credential.service_account.name);
        let accounts = harness.state().list_service_accounts(instance, 1).unwrap();
        let account = accounts
            .iter()
            .find(|account| account.row.name == credential.service_account.name)
            .unwrap();
        let expected_role = if credential.service_account.name.ends_with("terraform-admin") {
            "Editor"
        } else {
            ""
        };
        if !expected_role.is_empty() {
            assert_eq!(
                account.row.role.as_str(),
                expected_role,
                "{instance}: Admin is capped to Editor by default"
            );
        }
    }
    for secret in &seeded {
        let still_works = harness.authenticates(instance, &secret.key);
        match secret.name.as_str() {
            "break-glass" => assert!(still_works, "{instance}: the excluded key keeps working"),
            _ => assert!(
                !still_works,
                "{instance}: {} no longer authenticates",
                secret.name
            ),
        }
    }
    let live = harness.live_tokens(instance);
    for account in &expected {
        let on_account: Vec<_> = live.iter().filter(|(owner, _)| owner == account).collect();
        assert_eq!(
            on_account.len(),
            1,
            "{instance}: exactly one live token on {account}: {live:?}"
        );
        assert!(on_account[0].1.starts_with("keyshift-ks-migrate-1-"));
    }
    if discovered.version.has_legacy_key_endpoints() {
        let remaining = harness.plain_keys(instance);
        let allowed: Vec<String> = if discovered.version.auto_migrates_keys() {
            Vec::new()
        } else {
            vec!["break-glass".to_owned()]
        };
        assert_eq!(
            remaining, allowed,
            "{instance}: only the excluded key is left as a legacy key"
        );
    }
    let workspace_revoke = record.workspace_revoke.as_ref().unwrap();
    assert_eq!(
        workspace_revoke.bootstrap_revoked,
        instance.starts_with("g-")
    );
    assert_no_leak(
        &record.payload_text(),
        &harness.seeded_credentials(),
        "step payloads",
    );
}

async fn migrate_every_version(kind: StoreKind, mode: &str) {
    let Some(harness) = Harness::start(kind).await else {
        return;
    };
    for (instance, version) in SELF_HOSTED {
        migrate_instance(&harness, instance, version, mode).await;
    }
}

/// Both migration modes, each run on a fresh harness.
const MODES: [&str; 2] = ["in-place", "recreate"];

#[tokio::test]
async fn in_place_and_recreate_migration_on_every_self_hosted_version_with_the_memory_store() {
    for mode in MODES {
        migrate_every_version(StoreKind::Memory, mode).await;
    }
}

#[tokio::test]
async fn in_place_and_recreate_migration_on_every_self_hosted_version_with_secrets_manager() {
    for mode in MODES {
        migrate_every_version(StoreKind::Moto, mode).await;
    }
}

#[tokio::test]
async fn amg_workspaces_migrate_through_a_bootstrap_token_that_is_revoked() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    for (workspace_id, version) in AMG {
        migrate_instance(&harness, workspace_id, version, "in-place").await;
        let bootstrap_live = harness.live_bootstrap_tokens(workspace_id);
        assert!(
            bootstrap_live.is_empty(),
            "{workspace_id}: bootstrap token revoked: {bootstrap_live:?}"
        );
    }
}
