//! After migration, only tokens that are due rotate, and revoke-old removes exactly the
//! superseded token (never AWSCURRENT or AWSPREVIOUS), on every self-hosted version and AMG
//! workspace of the test fleet, with the in-memory store and on moto.

use grafana_sim::state::{Role as SimRole, StateError};
use keyshift_core::plan::CredentialAction;
use keyshift_e2e::{AMG, Harness, SELF_HOSTED, StoreKind};
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

/// The accounts the test fleet's three migrated keys end up on in in-place mode.
const MIGRATED: [&str; 3] = [
    "sa-autogen-ci-deploy",
    "sa-autogen-status-page",
    "sa-autogen-terraform-admin",
];

/// Every instance of the test fleet, self-hosted and AMG, with its version label.
fn every_instance() -> Vec<(&'static str, &'static str)> {
    SELF_HOSTED.iter().chain(AMG.iter()).copied().collect()
}

/// Runs the due-only scenario on every instance of the test fleet and asserts that each ran.
async fn rotation_of_due_tokens_only_everywhere(kind: StoreKind) {
    let mut covered = 0;
    let mut late_keys = 0;
    for (instance, version) in every_instance() {
        // A fresh fleet per instance: the scenario moves the shared clock by seven weeks, and
        // the seeded keys of the next instance must still be live when it starts.
        let Some(harness) = Harness::start(kind).await else {
            return;
        };
        if rotation_of_due_tokens_only(&harness, instance, version).await {
            late_keys += 1;
        }
        covered += 1;
    }
    assert_eq!(covered, SELF_HOSTED.len() + AMG.len(), "every instance ran");
    // Legacy keys can still be created everywhere but on Grafana 12 (sh-121 and AMG 12.1).
    assert_eq!(
        late_keys,
        covered - 2,
        "instances where a late legacy key was migrated"
    );
}

/// One instance: migrate, a late key (where the version still has legacy keys) is worked on
/// alone, the due tokens and only they rotate, and a later run revokes exactly the superseded
/// tokens. Returns whether the late-key phase ran.
async fn rotation_of_due_tokens_only(harness: &Harness, instance: &str, version: &str) -> bool {
    let workspace = harness.workspace(instance);
    let policy = harness.policy(json!({}));
    let label = format!("{instance} ({version})");
    if let Err(error) = harness.run_execution(&workspace, &policy, "ks-run-1").await {
        panic!("{label}: migration failed: {} {error}", error.asl_name());
    }

    // Ten days later a new key appears and is migrated; the first three tokens are not due.
    harness.state().clock().advance_seconds(10 * DAY);
    let late_key =
        match harness
            .state()
            .create_legacy_key(instance, 1, "late-key", SimRole::Viewer, 0)
        {
            Ok(_) => true,
            Err(StateError::LegacyKeysRemoved) => {
                assert!(version.starts_with("12."), "{label}: legacy keys removed");
                false
            }
            Err(error) => panic!("{label}: cannot add the late key: {error}"),
        };
    let second = harness
        .run_execution(&workspace, &policy, "ks-run-2")
        .await
        .unwrap_or_else(|error| panic!("{label}: run 2: {error}"));
    let plan = &second.discovered.as_ref().unwrap().plan;
    let names: Vec<&str> = plan
        .credentials
        .iter()
        .map(|c| c.service_account.name.as_str())
        .collect();
    let expected_late: Vec<&str> = if late_key {
        vec!["sa-autogen-late-key"]
    } else {
        Vec::new()
    };
    assert_eq!(
        names, expected_late,
        "{label}: only the new key is worked on"
    );
    assert_eq!(
        plan.up_to_date.len(),
        3,
        "{label}: the three migrated accounts are up to date: {:?}",
        plan.up_to_date
    );

    // At day 24 the first tokens expire within the 7-day window; late-key's is 13 days old.
    harness.state().clock().advance_seconds(12 * DAY);
    let third = harness
        .run_execution(&workspace, &policy, "ks-run-3")
        .await
        .unwrap_or_else(|error| panic!("{label}: run 3: {error}"));
    let plan = &third.discovered.as_ref().unwrap().plan;
    let mut rotated: Vec<&str> = plan
        .credentials
        .iter()
        .map(|c| c.service_account.name.as_str())
        .collect();
    rotated.sort_unstable();
    assert_eq!(
        rotated, MIGRATED,
        "{label}: exactly the due accounts rotate"
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
            "{label}: {}",
            value.token_name
        );
        assert!(
            harness.authenticates(instance, value.token.expose()),
            "{label}: AWSCURRENT authenticates"
        );
    }
    let live = harness.live_tokens(instance);
    for account in &rotated {
        let on_account = tokens_of(&live, account);
        assert_eq!(
            on_account.len(),
            2,
            "{label} {account}: AWSCURRENT and AWSPREVIOUS stay live: {on_account:?}"
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
        .unwrap_or_else(|error| panic!("{label}: run 4: {error}"));
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
        "{label}: {revoked:?}"
    );
    assert!(
        revoked
            .iter()
            .all(|name| name.starts_with("keyshift-ks-run-1-")
                || name.starts_with("keyshift-ks-run-2-")),
        "{label}: only superseded tokens are revoked: {revoked:?}"
    );
    let live = harness.live_tokens(instance);
    for account in MIGRATED {
        let on_account = tokens_of(&live, account);
        assert_eq!(on_account.len(), 2, "{label} {account}: {on_account:?}");
        assert!(
            on_account[0].starts_with("keyshift-ks-run-3-")
                && on_account[1].starts_with("keyshift-ks-run-4-"),
            "{label} {account}: {on_account:?}"
        );
    }
    late_key
}

#[tokio::test]
async fn only_due_tokens_rotate_and_exactly_the_superseded_ones_are_revoked_on_every_instance_in_memory()
 {
    rotation_of_due_tokens_only_everywhere(StoreKind::Memory).await;
}

#[tokio::test]
async fn only_due_tokens_rotate_and_exactly_the_superseded_ones_are_revoked_on_every_instance_on_secrets_manager()
 {
    rotation_of_due_tokens_only_everywhere(StoreKind::Moto).await;
}
