//! Usage-aware revocation (`policy.revokeWhenUnusedFor`): a superseded token a consumer keeps
//! using past the grace period is kept and reported as a straggler, and the next run revokes it
//! once it is unused, or at `policy.maxGracePeriod` even while it is still in use.
//!
//! Timeline (maxAge 5d, so every 6 days rotates; grace 1d): run 1 migrates on day 0 (token T1),
//! run 2 rotates on day 6 (T1 becomes AWSPREVIOUS), run 3 rotates on day 12: T1 is superseded.
//! Grafana 10.4 (sh-104) refreshes a token's `lastUsedAt` on use.

use keyshift_core::model::{
    ManagedSecretValue, Policy, STRAGGLERS_TAG, StragglerRecord, WorkspaceRef,
};
use keyshift_core::ports::RotationMetric;
use keyshift_core::steps::io::{RevokeOldOutput, Straggler};
use keyshift_e2e::{ExecutionRecord, Harness, StoreKind};
use serde_json::{Value, json};

const DAY: i64 = 86_400;
const INSTANCE: &str = "sh-104";
const CONSUMER_ACCOUNT: &str = "sa-autogen-ci-deploy";

/// Every revoke-old output of a run, credential and workspace scope.
fn revoke_outputs(record: &ExecutionRecord) -> Vec<&RevokeOldOutput> {
    record
        .credential_revokes
        .iter()
        .chain(record.workspace_revoke.iter())
        .collect()
}

fn stragglers(record: &ExecutionRecord) -> Vec<&Straggler> {
    revoke_outputs(record)
        .into_iter()
        .flat_map(|output| output.stragglers.iter())
        .collect()
}

fn revoked_ids(record: &ExecutionRecord) -> Vec<i64> {
    revoke_outputs(record)
        .into_iter()
        .flat_map(|output| output.revoked_tokens.iter().map(|token| token.token_id))
        .collect()
}

/// (secret, count) of the non-zero `StragglerTokens` datapoints recorded so far.
fn straggler_datapoints(harness: &Harness) -> Vec<(String, u32)> {
    harness
        .metrics
        .recorded()
        .into_iter()
        .filter_map(|recorded| match recorded.metric {
            RotationMetric::StragglerTokens {
                secret_name, count, ..
            } if count > 0 => Some((secret_name, count)),
            _ => None,
        })
        .collect()
}

/// The token ids the consumer's secret's `keyshift:stragglers` tag records (what `keyshift
/// status` lists).
async fn tagged_stragglers(scenario: &Scenario) -> Vec<i64> {
    let workspace = scenario.harness.workspace(INSTANCE);
    let secret_id = scenario
        .policy
        .secret_name_for(&workspace, CONSUMER_ACCOUNT)
        .unwrap();
    let description = scenario.harness.store.describe(&secret_id).await.unwrap();
    description
        .tags
        .get(STRAGGLERS_TAG)
        .map(|value| {
            StragglerRecord::parse(value)
                .unwrap()
                .entries
                .iter()
                .map(|entry| entry.token_id)
                .collect()
        })
        .unwrap_or_default()
}

fn is_live(harness: &Harness, token_name: &str) -> bool {
    harness
        .live_tokens(INSTANCE)
        .iter()
        .any(|(account, token)| account == CONSUMER_ACCOUNT && token == token_name)
}

struct Scenario {
    harness: Harness,
    policy: Policy,
    /// T1 of the consumer's account, superseded by run 3.
    old: ManagedSecretValue,
    /// Run 3.
    superseding: ExecutionRecord,
}

/// Migrates, rotates twice; the consumer keeps authenticating with T1 until the end of run 3's
/// grace period.
async fn superseded_while_in_use(kind: StoreKind, usage: Value) -> Option<Scenario> {
    let harness = Harness::start(kind).await?;
    let workspace = harness.workspace(INSTANCE);
    let mut extra = json!({"maxAge": "5d"});
    if let (Some(target), Value::Object(usage)) = (extra.as_object_mut(), usage) {
        target.extend(usage);
    }
    let policy = harness.policy(extra);
    let secret_id = policy
        .secret_name_for(&workspace, CONSUMER_ACCOUNT)
        .unwrap();
    let first = harness
        .run_execution(&workspace, &policy, "ks-usage-1")
        .await
        .unwrap();
    assert_eq!(first.planned_credentials().len(), 3);
    assert!(
        stragglers(&first).is_empty(),
        "nobody uses the migrated keys"
    );
    let old = harness.current_value(&secret_id).await;

    harness.state().clock().advance_seconds(5 * DAY);
    let second = harness
        .run_execution(&workspace, &policy, "ks-usage-2")
        .await
        .unwrap();
    assert_eq!(
        second.planned_credentials().len(),
        3,
        "every account rotates"
    );
    assert!(
        stragglers(&second).is_empty(),
        "T1 is AWSPREVIOUS, not superseded"
    );

    harness.state().clock().advance_seconds(5 * DAY);
    let consumer_token = old.token.expose().to_owned();
    let superseding = harness
        .run_execution_with(&workspace, &policy, "ks-usage-3", |harness| {
            assert!(harness.authenticates(INSTANCE, &consumer_token));
        })
        .await
        .unwrap();
    assert_eq!(superseding.planned_credentials().len(), 3);
    Some(Scenario {
        harness,
        policy,
        old,
        superseding,
    })
}

/// The scenario's workspace, once its superseded token is checked to be the one straggler its
/// last execution kept.
fn workspace_with_one_straggler(scenario: &Scenario) -> WorkspaceRef {
    let workspace = scenario.harness.workspace(INSTANCE);
    let secret_id = scenario
        .policy
        .secret_name_for(&workspace, CONSUMER_ACCOUNT)
        .unwrap();
    assert_kept_as_the_one_straggler(scenario, &secret_id);
    workspace
}

/// Run 3 keeps exactly the consumer's T1 and revokes the other accounts' T1s.
fn assert_kept_as_the_one_straggler(scenario: &Scenario, secret_id: &str) {
    let Scenario {
        harness,
        old,
        superseding,
        ..
    } = scenario;
    let kept = stragglers(superseding);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].token_id, old.token_id);
    assert_eq!(kept[0].token_name, old.token_name);
    assert_eq!(kept[0].service_account_name, CONSUMER_ACCOUNT);
    assert_eq!(kept[0].service_account_id, old.service_account_id);
    assert!(kept[0].last_used_at <= harness.state().now());
    assert!(kept[0].kept_until > harness.state().now());
    assert!(is_live(harness, &old.token_name), "the straggler is alive");
    assert!(!revoked_ids(superseding).contains(&old.token_id));
    assert_eq!(
        revoked_ids(superseding).len(),
        2,
        "the other two accounts' superseded tokens are revoked"
    );
    assert_eq!(
        straggler_datapoints(harness),
        vec![(secret_id.to_owned(), 1)]
    );
    let summary = superseding.payload_text();
    assert!(summary.contains("\"stragglers\":[{"), "the output lists it");
    assert!(
        !summary.contains(old.token.expose()),
        "never the token value"
    );
}

async fn unused_straggler_is_revoked_by_the_next_run(kind: StoreKind) {
    let Some(scenario) = superseded_while_in_use(kind, json!({"revokeWhenUnusedFor": "1d"})).await
    else {
        return;
    };
    let workspace = workspace_with_one_straggler(&scenario);
    assert_eq!(
        tagged_stragglers(&scenario).await,
        vec![scenario.old.token_id]
    );
    let Scenario {
        harness,
        policy,
        old,
        ..
    } = &scenario;

    // The consumer stops; two days later (past the 1-day window) the next tick, which rotates
    // nothing, revokes T1.
    harness.state().clock().advance_seconds(2 * DAY);
    let next = harness
        .run_execution(&workspace, policy, "ks-usage-4")
        .await
        .unwrap();
    assert!(next.planned_credentials().is_empty(), "nothing is due");
    assert!(stragglers(&next).is_empty());
    assert_eq!(revoked_ids(&next), vec![old.token_id]);
    assert!(!is_live(harness, &old.token_name));
    assert!(!harness.authenticates(INSTANCE, old.token.expose()));
    assert_eq!(
        straggler_datapoints(harness).len(),
        1,
        "no new non-zero datapoint"
    );
    assert!(
        tagged_stragglers(&scenario).await.is_empty(),
        "the tag goes with the straggler"
    );
}

#[tokio::test]
async fn a_token_used_past_the_grace_period_is_kept_then_revoked_once_unused_in_memory() {
    unused_straggler_is_revoked_by_the_next_run(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_token_used_past_the_grace_period_is_kept_then_revoked_once_unused_on_secrets_manager() {
    unused_straggler_is_revoked_by_the_next_run(StoreKind::Moto).await;
}

#[tokio::test]
async fn a_straggler_still_in_use_is_revoked_at_the_maximum_grace_period() {
    let scenario = superseded_while_in_use(
        StoreKind::Memory,
        json!({"revokeWhenUnusedFor": "1d", "maxGracePeriod": "3d"}),
    )
    .await
    .expect("the memory-store harness needs no external tool");
    let workspace = workspace_with_one_straggler(&scenario);
    let Scenario {
        harness,
        policy,
        old,
        ..
    } = &scenario;
    let token = old.token.expose().to_owned();
    let consumer = |harness: &Harness| {
        assert!(harness.authenticates(INSTANCE, &token), "still usable");
    };

    // Day 14.5: still in use and under the cap (day 15): the next tick keeps it again.
    harness.state().clock().advance_seconds(DAY / 2);
    let kept_again = harness
        .run_execution_with(&workspace, policy, "ks-usage-4", consumer)
        .await
        .unwrap();
    assert!(
        kept_again.planned_credentials().is_empty(),
        "nothing is due"
    );
    let kept = stragglers(&kept_again);
    assert_eq!(
        kept.len(),
        1,
        "{:?} {:?}",
        kept_again.workspace_revoke,
        kept_again
            .discovered
            .as_ref()
            .map(|d| &d.plan.token_cleanups)
    );
    assert_eq!(kept[0].token_id, old.token_id);
    assert!(revoked_ids(&kept_again).is_empty());
    assert!(is_live(harness, &old.token_name));
    assert_eq!(tagged_stragglers(&scenario).await, vec![old.token_id]);
    assert_eq!(straggler_datapoints(harness).len(), 2);

    // Day 16.5: used a moment ago, but past the cap: revoked regardless.
    harness.state().clock().advance_seconds(DAY);
    let capped = harness
        .run_execution_with(&workspace, policy, "ks-usage-5", consumer)
        .await
        .unwrap();
    assert!(stragglers(&capped).is_empty());
    assert_eq!(revoked_ids(&capped), vec![old.token_id]);
    assert!(!harness.authenticates(INSTANCE, old.token.expose()));
    assert_eq!(straggler_datapoints(harness).len(), 2);
    assert!(tagged_stragglers(&scenario).await.is_empty());
}
