//! AMG's per-account token cap on grafana-sim (99 tokens, expired ones counted until deleted;
//! ../shared/reference/aws-services.md §1.5): the simulator refuses the 100th token of an AMG
//! account and not of a self-hosted one, and a managed AMG account filled to the cap with
//! expired keyshift tokens (no slot left for its next token) rotates cleanly on a daily
//! schedule for a whole simulated year: the revoke pass deletes what still counts.

use grafana_sim::AMG_TOKENS_PER_ACCOUNT;
use keyshift_e2e::{Harness, StoreKind};

const AMG: &str = "g-0000000104";
const SELF_HOSTED: &str = "sh-104";

/// Tokens (any state) on `account` of `instance`, org 1.
fn held(harness: &Harness, instance: &str, account: i64) -> usize {
    harness
        .state()
        .list_tokens(instance, 1, account)
        .expect("the account lists its tokens")
        .len()
}

/// Migrates `instance` once and returns the harness, the policy, the first managed secret and
/// its service account (id, name).
async fn migrated(instance: &str) -> (Harness, keyshift_core::model::Policy, String, i64, String) {
    let harness = Harness::start(StoreKind::Memory)
        .await
        .expect("the memory-store harness needs no external tool");
    let workspace = harness.workspace(instance);
    let policy = harness.policy(serde_json::json!({}));
    let record = harness
        .run_execution(&workspace, &policy, "ks-cap-0")
        .await
        .unwrap_or_else(|error| panic!("{instance}: the migration failed: {error}"));
    let secret_id = record.planned_credentials()[0].secret_id.clone();
    let value = harness.current_value(&secret_id).await;
    (
        harness,
        policy,
        secret_id,
        value.service_account_id,
        value.service_account_name,
    )
}

/// Adds keyshift-named tokens of past executions living one second until `account` holds
/// `until` tokens, then lets them expire; returns how many were added.
fn fill_with_expired(
    harness: &Harness,
    instance: &str,
    policy: &keyshift_core::model::Policy,
    (account, account_name): (i64, &str),
    until: usize,
) -> usize {
    let mut added = 0;
    while held(harness, instance, account) < until {
        let name = policy.token_name_for(&format!("ks-past-{added}"), account_name);
        harness
            .state()
            .create_token(instance, 1, account, &name, 1)
            .unwrap_or_else(|error| panic!("token {added}: {error}"));
        added += 1;
    }
    harness.state().clock().advance_seconds(2);
    added
}

#[tokio::test]
async fn the_hundredth_token_of_an_amg_account_is_refused_and_self_hosted_has_no_cap() {
    let (amg, policy, _, account, name) = migrated(AMG).await;
    fill_with_expired(&amg, AMG, &policy, (account, &name), AMG_TOKENS_PER_ACCOUNT);
    assert_eq!(held(&amg, AMG, account), 99);
    let refused = amg
        .state()
        .create_token(AMG, 1, account, "one-too-many", 3600)
        .unwrap_err();
    assert!(
        refused.to_string().contains("limit of 99 tokens"),
        "{refused}"
    );

    let (self_hosted, policy, _, account, name) = migrated(SELF_HOSTED).await;
    fill_with_expired(
        &self_hosted,
        SELF_HOSTED,
        &policy,
        (account, &name),
        AMG_TOKENS_PER_ACCOUNT,
    );
    self_hosted
        .state()
        .create_token(SELF_HOSTED, 1, account, "one-more", 3600)
        .expect("self-hosted Grafana has no token cap");
    assert_eq!(held(&self_hosted, SELF_HOSTED, account), 100);
}

#[tokio::test]
async fn an_amg_account_at_the_cap_rotates_cleanly_for_a_year() {
    let (harness, policy, secret_id, account, name) = migrated(AMG).await;
    let added = fill_with_expired(
        &harness,
        AMG,
        &policy,
        (account, &name),
        AMG_TOKENS_PER_ACCOUNT,
    );
    assert!(
        added >= 96,
        "the account was filled to the cap ({added} added)"
    );
    assert!(
        harness
            .state()
            .create_token(AMG, 1, account, "no-room", 3600)
            .is_err(),
        "no slot is left for a new token"
    );
    let workspace = harness.workspace(AMG);
    let mut rotations = 0;
    let mut peak = 0;
    // Each execution lets its grace period (one day) pass on the simulator's clock: one
    // execution per simulated day, as a daily schedule would start them.
    for day in 1..=365 {
        let record = harness
            .run_execution(&workspace, &policy, &format!("ks-cap-day-{day}"))
            .await
            .unwrap_or_else(|error| panic!("day {day}: {} {error}", error.asl_name()));
        rotations += record
            .planned_credentials()
            .iter()
            .filter(|credential| credential.secret_id == secret_id)
            .count();
        let now_held = held(&harness, AMG, account);
        peak = peak.max(now_held);
        if day == 1 {
            assert!(
                now_held <= 2,
                "day 1 cleared the expired tokens: {now_held} left"
            );
        }
        let current = harness.current_value(&secret_id).await;
        assert!(
            harness.authenticates(AMG, current.token.expose()),
            "day {day}: AWSCURRENT authenticates"
        );
    }
    // Due when 7 of the token's 30 days remain, so every 23 to 25 days: 14 to 16 in a year.
    assert!(
        (14..=16).contains(&rotations),
        "{rotations} rotations in a year"
    );
    assert!(
        peak <= 3,
        "never more than current, previous and a new token: peak {peak}"
    );
    let live = harness.live_tokens(AMG);
    assert_eq!(
        live.iter().filter(|(owner, _)| *owner == name).count(),
        1,
        "one live token on {name} at the end: {live:?}"
    );
    eprintln!("{rotations} rotations over 365 daily executions; peak {peak} tokens held");
}
