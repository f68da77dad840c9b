//! The grace period is what keeps consumers working while they pick up a new token: in both
//! migration modes, on every instance of the test fleet, every migrated credential (the legacy
//! key itself in recreate mode, its migrated token in place) still authenticates at the start
//! of the grace period and one second before its end, next to the new AWSCURRENT, and no longer
//! authenticates once the execution has revoked it. The expired key never authenticates and
//! the excluded one always does.

use std::cell::Cell;

use keyshift_e2e::{AMG, Harness, SELF_HOSTED, StoreKind};
use serde_json::json;

/// The seeded keys the test fleet migrates (the others are expired or excluded).
const MIGRATED_KEYS: [&str; 3] = ["ci-deploy", "status-page", "terraform-admin"];

/// Both migration modes.
const MODES: [&str; 2] = ["in-place", "recreate"];

/// Checks one instance in one mode; returns how many times the grace-period check ran.
async fn old_credentials_live_through_the_grace_period_only(
    harness: &Harness,
    instance: &str,
    mode: &str,
) -> u32 {
    let label = format!("{instance} ({mode})");
    let seeded = harness.state().seeded_secrets(Some(instance));
    let key_of = |name: &str| -> String {
        match seeded.iter().find(|secret| secret.name == name) {
            Some(secret) => secret.key.clone(),
            None => panic!("{label}: the fleet seeds {name}"),
        }
    };
    let migrated: Vec<(&str, String)> = MIGRATED_KEYS
        .iter()
        .map(|name| (*name, key_of(name)))
        .collect();
    let expired = key_of("old-exporter");
    let excluded = key_of("break-glass");
    assert!(
        migrated
            .iter()
            .all(|(_, key)| harness.authenticates(instance, key)),
        "{label}: every migrated key works before the run"
    );

    let checks = Cell::new(0u32);
    let workspace = harness.workspace(instance);
    let policy = harness.policy(json!({"migrationMode": mode}));
    let record = harness
        .run_execution_around_grace(
            &workspace,
            &policy,
            "ks-grace-1",
            |harness| {
                for (name, key) in &migrated {
                    assert!(
                        harness.authenticates(instance, key),
                        "{label}: {name} still authenticates during the grace period"
                    );
                }
                assert!(
                    !harness.authenticates(instance, &expired),
                    "{label}: expired"
                );
                assert!(
                    harness.authenticates(instance, &excluded),
                    "{label}: excluded"
                );
                checks.set(checks.get() + 1);
            },
            |_| {},
        )
        .await
        .unwrap_or_else(|error| panic!("{label}: {} {error}", error.asl_name()));

    let planned = record.planned_credentials();
    assert_eq!(planned.len(), MIGRATED_KEYS.len(), "{label}: planned");
    for credential in planned {
        let value = harness.current_value(&credential.secret_id).await;
        assert!(
            harness.authenticates(instance, value.token.expose()),
            "{label}: the new AWSCURRENT of {} authenticates",
            credential.secret_id
        );
    }
    for (name, key) in &migrated {
        assert!(
            !harness.authenticates(instance, key),
            "{label}: {name} is revoked once the grace period is over"
        );
    }
    assert!(
        harness.authenticates(instance, &excluded),
        "{label}: the excluded key is never touched"
    );
    checks.get()
}

#[tokio::test]
async fn migrated_credentials_authenticate_during_the_grace_period_and_not_after_it_on_every_instance_in_both_modes()
 {
    let mut runs = 0;
    for mode in MODES {
        let harness = Harness::start(StoreKind::Memory)
            .await
            .expect("the in-memory harness needs no tools");
        for (instance, _) in SELF_HOSTED.iter().chain(AMG.iter()) {
            let checks =
                old_credentials_live_through_the_grace_period_only(&harness, instance, mode).await;
            assert_eq!(
                checks, 2,
                "{instance} ({mode}): both edges of the grace period"
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 2 * (SELF_HOSTED.len() + AMG.len()));
}
