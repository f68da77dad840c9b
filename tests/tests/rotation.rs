//! After migration, only tokens that are due rotate, and revoke-old removes exactly the
//! superseded token (never AWSCURRENT or AWSPREVIOUS), on the in-memory store and on moto.

use grafana_sim::state::Role as SimRole;
use keyshift_core::plan::CredentialAction;
use keyshift_e2e::{Harness, StoreKind};
use serde_json::json;

const DAY: i64 = 86_400;

/// The names of `account`'s live tokens in `live` (owner, token name), sorted.
fn tokens_of<'a>(live: &'a [(String, String)], account: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = live
        .iter()
        .filter(|(owner, _)| owner == account)
        .map(|(_, token)| token.as_str())
        .collect();
    names.sort_unstable();
    names
}

async fn rotation_of_due_tokens_only(kind: StoreKind) {
    let Some(harness) = Harness::start(kind).await else {
        return;
    };
    let instance = "sh-104";
    let workspace = harness.workspace(instance);
    let policy = harness.policy(json!({}));
    harness
        .run_execution(&workspace, &policy, "ks-run-1")
        .await
        .unwrap();

    // Ten days later a new key appears and is migrated; the first three tokens are not due.
    harness.state().clock().advance_seconds(10 * DAY);
    harness
        .state()
        .create_legacy_key(instance, 1, "late-key", SimRole::Viewer, 0)
        .unwrap();
    let second = harness
        .run_execution(&workspace, &policy, "ks-run-2")
        .await
        .unwrap();
    let plan = &second.discovered.as_ref().unwrap().plan;
    let names: Vec<&str> = plan
        .credentials
        .iter()
        .map(|c| c.service_account.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["sa-autogen-late-key"],
        "only the new key is worked on"
    );
    assert_eq!(
        plan.up_to_date.len(),
        3,
        "the three migrated accounts are up to date: {:?}",
        plan.up_to_date
    );

    // At day 24 the first tokens expire within the 7-day window; late-key's is 13 days old.
    harness.state().clock().advance_seconds(12 * DAY);
    let third = harness
        .run_execution(&workspace, &policy, "ks-run-3")
        .await
        .unwrap();
    let plan = &third.discovered.as_ref().unwrap().plan;
    let mut rotated: Vec<&str> = plan
        .credentials
        .iter()
        .map(|c| c.service_account.name.as_str())
        .collect();
    rotated.sort_unstable();
    assert_eq!(
        rotated,
        vec![
            "sa-autogen-ci-deploy",
            "sa-autogen-status-page",
            "sa-autogen-terraform-admin"
        ]
    );
    assert!(
        plan.credentials
            .iter()
            .all(|c| matches!(c.action, CredentialAction::Rotate { .. }))
    );
    for credential in &plan.credentials {
        let value = harness.current_value(&credential.secret_id).await;
        assert!(
            value.token_name.starts_with("keyshift-ks-run-3-"),
            "{}",
            value.token_name
        );
        assert!(harness.authenticates(instance, value.token.expose()));
    }
    let live = harness.live_tokens(instance);
    for account in &rotated {
        let on_account = tokens_of(&live, account);
        assert_eq!(
            on_account.len(),
            2,
            "{account}: AWSCURRENT and AWSPREVIOUS stay live: {on_account:?}"
        );
        assert!(
            on_account[0].starts_with("keyshift-ks-run-1-")
                && on_account[1].starts_with("keyshift-ks-run-3-")
        );
    }

    // Another rotation supersedes run-1's token (it was AWSPREVIOUS): exactly it is revoked.
    harness.state().clock().advance_seconds(23 * DAY);
    let fourth = harness
        .run_execution(&workspace, &policy, "ks-run-4")
        .await
        .unwrap();
    let revoked: Vec<String> = fourth
        .credential_revokes
        .iter()
        .flat_map(|output| {
            output
                .revoked_tokens
                .iter()
                .map(|token| token.token_name.clone())
        })
        .collect();
    assert!(
        revoked
            .iter()
            .any(|name| name.starts_with("keyshift-ks-run-1-")),
        "{revoked:?}"
    );
    assert!(
        revoked
            .iter()
            .all(|name| name.starts_with("keyshift-ks-run-1-")
                || name.starts_with("keyshift-ks-run-2-")),
        "only superseded tokens are revoked: {revoked:?}"
    );
    let live = harness.live_tokens(instance);
    for account in [
        "sa-autogen-ci-deploy",
        "sa-autogen-status-page",
        "sa-autogen-terraform-admin",
    ] {
        let on_account = tokens_of(&live, account);
        assert_eq!(on_account.len(), 2, "{account}: {on_account:?}");
        assert!(
            on_account[0].starts_with("keyshift-ks-run-3-")
                && on_account[1].starts_with("keyshift-ks-run-4-")
        );
    }
}

#[tokio::test]
async fn only_due_tokens_rotate_and_exactly_the_superseded_ones_are_revoked_in_memory() {
    rotation_of_due_tokens_only(StoreKind::Memory).await;
}

#[tokio::test]
async fn only_due_tokens_rotate_and_exactly_the_superseded_ones_are_revoked_on_secrets_manager() {
    rotation_of_due_tokens_only(StoreKind::Moto).await;
}
