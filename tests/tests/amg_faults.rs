//! The AMG control-plane calls of discover-keys (bootstrap service account and token) and of
//! the workspace-scope revoke-old (bootstrap token delete), against grafana-sim's AMG endpoint
//! through the real aws-sdk-grafana client: each injected fault gives its named error, transient
//! ones are retried within bounds (by the SDK where it is configured to, otherwise by the state
//! machine's Retry, which [`Harness::attempt`] plays), and a permanent failure leaves no extra
//! service account or token behind.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use grafana_sim::state::{NewServiceAccount, Role as SimRole};
use grafana_sim::{FaultKind, FaultSpec};
use keyshift_core::KeyshiftError;
use keyshift_core::naming::BOOTSTRAP_NAME_PREFIX;
use keyshift_core::steps::io::{Bootstrap, RevokeOldInput, WorkspaceRevokeInput};
use keyshift_core::steps::revoke_old;
use keyshift_e2e::{Harness, HarnessOptions, expect_error, fault_on, hop, status_fault};
use serde_json::json;

const WORKSPACE: &str = "g-0000000104";
const DESCRIBE: &str = "DescribeWorkspace";
const CREATE_ACCOUNT: &str = "CreateWorkspaceServiceAccount";
const LIST_ACCOUNTS: &str = "ListWorkspaceServiceAccounts";
const LIST_TOKENS: &str = "ListWorkspaceServiceAccountTokens";
const MINT: &str = "CreateWorkspaceServiceAccountToken";
const DELETE_TOKEN: &str = "DeleteWorkspaceServiceAccountToken";
const EXECUTION: &str = "ks-amg-faults";

/// A harness on the in-memory store. It needs no external tool, so it always starts; if it
/// does not, the test fails rather than passing without having run.
async fn start(options: HarnessOptions) -> Harness {
    Harness::start_options(options)
        .await
        .expect("the in-memory harness needs no external tool")
}

fn fault(operation: &str, kind: FaultKind, times: u32) -> FaultSpec {
    fault_on(WORKSPACE, operation, kind, times)
}

/// Arms the injection `fault(endpoint, kind, times)` describes.
fn arm(harness: &Harness, endpoint: &str, kind: FaultKind, times: u32) {
    harness
        .state()
        .faults()
        .add(fault(endpoint, kind, times))
        .unwrap();
}

/// What an AMG workspace holds that a failed call must not have changed: every service account
/// of org 1 by name, and every live token as (account, token).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    accounts: Vec<String>,
    live_tokens: Vec<(String, String)>,
}

fn snapshot(harness: &Harness) -> Snapshot {
    let mut accounts: Vec<String> = harness
        .state()
        .list_service_accounts(WORKSPACE, 1)
        .unwrap()
        .into_iter()
        .map(|account| account.row.name)
        .collect();
    accounts.sort();
    Snapshot {
        accounts,
        live_tokens: harness.live_tokens(WORKSPACE),
    }
}

fn bootstrap_tokens(harness: &Harness) -> Vec<String> {
    harness
        .live_tokens(WORKSPACE)
        .into_iter()
        .filter(|(account, _)| account == BOOTSTRAP_NAME_PREFIX)
        .map(|(_, token)| token)
        .collect()
}

fn calls(harness: &Harness, operation: &str) -> u64 {
    harness
        .state()
        .request_counts(Some(WORKSPACE))
        .get(operation)
        .copied()
        .unwrap_or(0)
}

/// Runs discover-keys once (no state-machine retry) with `spec` armed; returns the error and
/// how often the faulted operation reached the simulator.
async fn discover_error(harness: &Harness, spec: FaultSpec) -> (KeyshiftError, u64) {
    let operation = spec.endpoint.clone();
    harness.state().faults().clear(None);
    harness.state().clear_request_counts();
    harness.state().faults().add(spec).unwrap();
    let workspace = harness.workspace(WORKSPACE);
    let error = expect_error(
        harness
            .discover(&workspace, &harness.policy(json!({})), EXECUTION)
            .await,
    );
    harness.state().faults().clear(None);
    (error, calls(harness, &operation))
}

#[tokio::test]
async fn each_amg_fault_gives_its_named_error_and_changes_nothing() {
    let harness = start(HarnessOptions::default()).await;
    let untouched = snapshot(&harness);
    assert!(
        !untouched
            .accounts
            .iter()
            .any(|name| name == BOOTSTRAP_NAME_PREFIX),
        "the fleet starts without a bootstrap account: {untouched:?}"
    );
    // Before the bootstrap account exists: a failed create leaves no account behind, whatever
    // the failure (the SDK makes one attempt here; the state machine's Retry does the rest).
    let before_account = [
        (status_fault(429), "Aws.Throttled"),
        (status_fault(500), "Aws.Unavailable"),
        (status_fault(503), "Aws.Unavailable"),
        (status_fault(402), "Aws.Failed"),
        (status_fault(403), "Aws.Failed"),
        (FaultKind::Drop, "Aws.Unavailable"),
    ];
    for (kind, expected) in before_account {
        let (error, attempts) =
            discover_error(&harness, fault(CREATE_ACCOUNT, kind.clone(), 10)).await;
        assert_eq!(error.asl_name(), expected, "{kind:?}: {error}");
        assert_eq!(error.is_retryable(), expected != "Aws.Failed", "{kind:?}");
        assert_eq!(attempts, 1, "{kind:?}: no SDK retries in this harness");
        assert_eq!(
            snapshot(&harness),
            untouched,
            "{kind:?} changed the workspace"
        );
    }
    // Reads before the mint: a broken answer is a named error and nothing is minted.
    for operation in [DESCRIBE, LIST_ACCOUNTS] {
        let (error, _) =
            discover_error(&harness, fault(operation, FaultKind::MalformedJson, 10)).await;
        assert_eq!(error.asl_name(), "Aws.Failed", "{operation}: {error}");
        assert!(!error.is_retryable(), "{operation}: {error}");
        assert_eq!(snapshot(&harness), untouched, "{operation}");
    }
    // At the mint: the bootstrap account exists from here on (found by name, no token), and no
    // failed mint leaves a live token.
    let at_mint = [
        (status_fault(429), "Aws.Throttled"),
        (status_fault(500), "Aws.Unavailable"),
        (status_fault(402), "Aws.Failed"),
        (FaultKind::Drop, "Aws.Unavailable"),
    ];
    let mut with_account = untouched.clone();
    with_account.accounts.push(BOOTSTRAP_NAME_PREFIX.to_owned());
    with_account.accounts.sort();
    for (kind, expected) in at_mint {
        let (error, attempts) = discover_error(&harness, fault(MINT, kind.clone(), 10)).await;
        assert_eq!(error.asl_name(), expected, "{kind:?}: {error}");
        assert_eq!(attempts, 1, "{kind:?}");
        assert_eq!(snapshot(&harness), with_account, "{kind:?} left a token");
    }
    // A malformed token listing fails before anything is minted.
    let (error, _) =
        discover_error(&harness, fault(LIST_TOKENS, FaultKind::MalformedJson, 10)).await;
    assert_eq!(error.asl_name(), "Aws.Failed", "{error}");
    assert_eq!(snapshot(&harness), with_account);
    // The error names the operation, never the key.
    assert!(error.to_string().contains(LIST_TOKENS), "{error}");
}

#[tokio::test]
async fn a_throttle_carries_the_retry_after_the_control_plane_asked_for() {
    let harness = start(HarnessOptions::default()).await;
    let throttle = FaultKind::Status {
        status: 429,
        retry_after_seconds: Some(7),
    };
    let (error, _) = discover_error(&harness, fault(MINT, throttle, 10)).await;
    assert_eq!(error.asl_name(), "Aws.Throttled", "{error}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_malformed_answer_to_the_mint_is_permanent_and_a_rerun_keeps_one_bootstrap_token() {
    let harness = start(HarnessOptions::default()).await;
    // The simulator serves the mint, then breaks the answer: the token exists but its key never
    // reached keyshift. A re-run of the same execution (a redrive) must replace it, not add one.
    let (error, attempts) =
        discover_error(&harness, fault(MINT, FaultKind::MalformedJson, 1)).await;
    assert_eq!(error.asl_name(), "Aws.Failed", "{error}");
    assert_eq!(attempts, 1);
    let lost = bootstrap_tokens(&harness);
    assert_eq!(lost.len(), 1, "the mint was performed: {lost:?}");
    let workspace = harness.workspace(WORKSPACE);
    let discovered = harness
        .discover(&workspace, &harness.policy(json!({})), EXECUTION)
        .await
        .unwrap();
    assert_eq!(bootstrap_tokens(&harness), lost, "one token, same name");
    let token_id = match &discovered.bootstrap {
        keyshift_core::steps::io::Bootstrap::AmgServiceAccountToken { token_id, .. } => {
            token_id.clone()
        }
        other => panic!("AMG discovery uses a service-account token: {other:?}"),
    };
    let account = harness
        .state()
        .list_service_accounts(WORKSPACE, 1)
        .unwrap()
        .into_iter()
        .find(|account| account.row.name == BOOTSTRAP_NAME_PREFIX)
        .unwrap();
    let live: Vec<String> = harness
        .state()
        .list_tokens(WORKSPACE, 1, account.row.id)
        .unwrap()
        .into_iter()
        .filter(|token| !token.has_expired && !token.is_revoked)
        .map(|token| token.id.to_string())
        .collect();
    assert_eq!(
        live,
        vec![token_id],
        "the live bootstrap token is the re-minted one"
    );
}

#[tokio::test]
async fn the_sdk_retries_transient_faults_within_its_bounds_and_never_permanent_ones() {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(50));
    let harness = start(HarnessOptions {
        amg_retry: Some(retry),
        ..HarnessOptions::default()
    })
    .await;
    let untouched = snapshot(&harness);
    let table = [
        (status_fault(429), "Aws.Throttled", 3),
        (status_fault(500), "Aws.Unavailable", 3),
        (status_fault(503), "Aws.Unavailable", 3),
        (status_fault(402), "Aws.Failed", 1),
        (status_fault(403), "Aws.Failed", 1),
    ];
    for (kind, expected, attempts) in table {
        let (error, made) = discover_error(&harness, fault(CREATE_ACCOUNT, kind.clone(), 10)).await;
        assert_eq!(error.asl_name(), expected, "{kind:?}: {error}");
        assert_eq!(made, attempts, "{kind:?}: attempts made");
        assert_eq!(snapshot(&harness), untouched, "{kind:?}");
    }
    // A fault that clears within the budget is absorbed: one account, one bootstrap token.
    harness.state().clear_request_counts();
    arm(&harness, MINT, status_fault(503), 2);
    let workspace = harness.workspace(WORKSPACE);
    harness
        .discover(&workspace, &harness.policy(json!({})), EXECUTION)
        .await
        .unwrap();
    assert_eq!(calls(&harness, MINT), 3);
    assert_eq!(bootstrap_tokens(&harness).len(), 1);
}

#[tokio::test]
async fn a_slow_control_plane_times_out_as_aws_unavailable() {
    let timeout = TimeoutConfig::builder()
        // Generous against a loaded machine: only the injected latency may exceed it.
        .operation_attempt_timeout(Duration::from_millis(1_000))
        .build();
    let harness = start(HarnessOptions {
        amg_timeout: Some(timeout),
        ..HarnessOptions::default()
    })
    .await;
    let untouched = snapshot(&harness);
    let (error, attempts) = discover_error(
        &harness,
        fault(DESCRIBE, FaultKind::Latency { ms: 4_000 }, 10),
    )
    .await;
    assert_eq!(error.asl_name(), "Aws.Unavailable", "{error}");
    assert!(error.is_retryable());
    assert_eq!(attempts, 1);
    assert_eq!(snapshot(&harness), untouched);
}

#[tokio::test]
async fn the_state_machine_retry_absorbs_a_transient_fault_and_stops_at_a_permanent_one() {
    let harness = start(HarnessOptions::default()).await;
    let workspace = harness.workspace(WORKSPACE);
    let policy = harness.policy(json!({}));
    // Permanent: one attempt, then the failure goes to the DLQ path.
    arm(&harness, MINT, status_fault(402), 1);
    let input = harness
        .discover_input(&workspace, &policy, EXECUTION)
        .unwrap();
    let error = expect_error(
        harness
            .attempt(input.clone(), |input| {
                keyshift_core::steps::discover_keys(&harness.deps, input)
            })
            .await,
    );
    assert_eq!(error.asl_name(), "Aws.Failed", "{error}");
    assert_eq!(calls(&harness, MINT), 1);
    assert!(bootstrap_tokens(&harness).is_empty());
    // Transient: retried with the same input, converging on one bootstrap token.
    harness.state().clear_request_counts();
    arm(&harness, MINT, status_fault(429), 1);
    harness
        .attempt(input, |input| {
            keyshift_core::steps::discover_keys(&harness.deps, input)
        })
        .await
        .unwrap();
    assert_eq!(calls(&harness, MINT), 2);
    assert_eq!(bootstrap_tokens(&harness).len(), 1);
}

#[tokio::test]
async fn revoke_old_bootstrap_delete_faults_are_named_and_a_transient_one_is_retried() {
    // Permanent: the run fails at the workspace-scope revoke-old, and the bootstrap token (the
    // only thing that delete would have removed) is still live; nothing else was lost.
    let harness = start(HarnessOptions::default()).await;
    let workspace = harness.workspace(WORKSPACE);
    let policy = harness.policy(json!({}));
    arm(&harness, DELETE_TOKEN, status_fault(402), 10);
    let error = expect_error(harness.run_execution(&workspace, &policy, EXECUTION).await);
    assert_eq!(error.asl_name(), "Aws.Failed", "{error}");
    assert!(error.to_string().contains(DELETE_TOKEN), "{error}");
    assert_eq!(calls(&harness, DELETE_TOKEN), 1, "permanent: not retried");
    assert_eq!(bootstrap_tokens(&harness).len(), 1);

    // Transient (throttled, then unavailable): retried by the state machine, then revoked.
    let harness = start(HarnessOptions::default()).await;
    arm(&harness, DELETE_TOKEN, status_fault(429), 1);
    arm(&harness, DELETE_TOKEN, status_fault(500), 1);
    let record = harness
        .run_execution(&workspace, &policy, EXECUTION)
        .await
        .unwrap();
    assert_eq!(calls(&harness, DELETE_TOKEN), 3);
    assert!(record.workspace_revoke.unwrap().bootstrap_revoked);
    assert!(bootstrap_tokens(&harness).is_empty());
}

#[tokio::test]
async fn revoke_old_refuses_a_bootstrap_naming_another_account_and_deletes_nothing() {
    let harness = start(HarnessOptions::default()).await;
    let workspace = harness.workspace(WORKSPACE);
    let policy = harness.policy(json!({}));
    let discovered = harness
        .discover(&workspace, &policy, EXECUTION)
        .await
        .unwrap();
    let other = harness
        .state()
        .create_service_account(
            WORKSPACE,
            1,
            NewServiceAccount {
                name: "someone-elses".to_owned(),
                role: SimRole::Admin,
                is_disabled: false,
            },
        )
        .unwrap();
    let Bootstrap::AmgServiceAccountToken {
        service_account_id, ..
    } = &discovered.bootstrap
    else {
        panic!("an AMG discover mints a bootstrap token");
    };
    assert_ne!(*service_account_id, other.row.id.to_string());
    let mut tampered = discovered.bootstrap.clone();
    if let Bootstrap::AmgServiceAccountToken {
        service_account_id, ..
    } = &mut tampered
    {
        *service_account_id = other.row.id.to_string();
    }
    let before = snapshot(&harness);
    let input: RevokeOldInput = hop(
        &WorkspaceRevokeInput {
            execution_name: discovered.execution_name.clone(),
            workspace: discovered.workspace.clone(),
            grafana_url: discovered.grafana_url.clone(),
            bootstrap: tampered,
            policy: discovered.policy.clone(),
            plan: discovered.plan.clone(),
        },
        json!({"scope": "workspace"}),
    )
    .unwrap();
    let error = expect_error(revoke_old(&harness.deps, input).await);
    assert_eq!(error.asl_name(), "Input.Invalid", "{error}");
    assert!(
        error
            .to_string()
            .contains("not keyshift's bootstrap service account"),
        "{error}"
    );
    assert_eq!(snapshot(&harness), before, "nothing was deleted");
    assert_eq!(
        bootstrap_tokens(&harness).len(),
        1,
        "the real bootstrap token is live"
    );
}

#[tokio::test]
async fn the_workspace_revoke_deletes_expired_bootstrap_tokens_and_spares_live_ones() {
    let harness = start(HarnessOptions::default()).await;
    let workspace = harness.workspace(WORKSPACE);
    let policy = harness.policy(json!({}));
    harness
        .run_execution(&workspace, &policy, "ks-amg-first")
        .await
        .unwrap();
    let account = harness
        .state()
        .list_service_accounts(WORKSPACE, 1)
        .unwrap()
        .into_iter()
        .find(|account| account.row.name == BOOTSTRAP_NAME_PREFIX)
        .expect("the first run created keyshift's bootstrap account");
    // An earlier execution's token that has expired, and another execution's that is live
    // (it may still be using it): only the first is keyshift's to clean up.
    let stale = format!("{BOOTSTRAP_NAME_PREFIX}-ks-amg-stale");
    let other = format!("{BOOTSTRAP_NAME_PREFIX}-ks-amg-other");
    harness
        .state()
        .create_token(WORKSPACE, 1, account.row.id, &stale, 60)
        .unwrap();
    harness.state().clock().advance_seconds(120);
    harness
        .state()
        .create_token(WORKSPACE, 1, account.row.id, &other, 86_400 * 2)
        .unwrap();
    harness
        .run_execution(&workspace, &policy, "ks-amg-second")
        .await
        .unwrap();
    let names: Vec<String> = harness
        .state()
        .list_tokens(WORKSPACE, 1, account.row.id)
        .unwrap()
        .into_iter()
        .map(|token| token.name)
        .collect();
    assert!(
        !names.contains(&stale),
        "the expired token is deleted: {names:?}"
    );
    assert!(
        names.contains(&other),
        "the live token is spared: {names:?}"
    );
    assert_eq!(
        bootstrap_tokens(&harness),
        vec![other],
        "and it is still live"
    );
}
