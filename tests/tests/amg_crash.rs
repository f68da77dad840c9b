//! Every AMG control-plane call of discover-keys (bootstrap account and token) and of the
//! workspace-scope revoke-old (bootstrap token delete), performed and then reported as lost:
//! the step is re-run (as the state machine's Retry would), the run finishes, and the
//! workspace converges: one live keyshift token per managed account, the one AWSCURRENT holds,
//! and no live bootstrap token left.

use std::collections::BTreeSet;

use keyshift_core::naming::BOOTSTRAP_NAME_PREFIX;
use keyshift_e2e::{AMG, Harness};

const EXECUTION: &str = "ks-amg-crash-1";

/// The AMG operations discover-keys and revoke-old make on a workspace whose bootstrap account
/// does not exist yet; every one of them must have been crashed at least once.
const EXPECTED_OPERATIONS: [&str; 6] = [
    "DescribeWorkspace",
    "ListWorkspaceServiceAccounts",
    "CreateWorkspaceServiceAccount",
    "ListWorkspaceServiceAccountTokens",
    "CreateWorkspaceServiceAccountToken",
    "DeleteWorkspaceServiceAccountToken",
];

async fn assert_converged(harness: &Harness, workspace_id: &str, label: &str) {
    let before: BTreeSet<(String, String)> =
        harness.live_tokens(workspace_id).into_iter().collect();
    let record = harness
        .assert_execution_converges(workspace_id, EXECUTION, label)
        .await;
    let plan = &record.discovered.as_ref().unwrap().plan;
    let live = harness.live_tokens(workspace_id);
    let bootstrap_live: Vec<&(String, String)> = live
        .iter()
        .filter(|(owner, _)| owner == BOOTSTRAP_NAME_PREFIX)
        .collect();
    assert!(
        bootstrap_live.is_empty(),
        "{label}: the bootstrap token is revoked: {bootstrap_live:?}"
    );
    assert!(
        record.workspace_revoke.as_ref().unwrap().bootstrap_revoked,
        "{label}: revoke-old reports the bootstrap revoked"
    );
    let managed: BTreeSet<&str> = plan
        .credentials
        .iter()
        .map(|credential| credential.service_account.name.as_str())
        .collect();
    let strays: Vec<&(String, String)> = live
        .iter()
        .filter(|entry| !managed.contains(entry.0.as_str()) && !before.contains(*entry))
        .collect();
    assert!(
        strays.is_empty(),
        "{label}: no new live token outside the managed accounts: {strays:?}"
    );
}

#[tokio::test]
async fn a_lost_answer_at_any_amg_call_converges() {
    let mut points = 0;
    for (workspace_id, _) in AMG {
        let clean = Harness::start_crashing_amg(0)
            .await
            .expect("the memory-store harness needs no external tool");
        assert_converged(&clean, workspace_id, &format!("{workspace_id} clean run")).await;
        let switch = clean.crash_switch.as_ref().unwrap();
        let operations = switch.operations();
        let total = switch.calls();
        let made: BTreeSet<&str> = operations.iter().map(String::as_str).collect();
        for expected in EXPECTED_OPERATIONS {
            assert!(
                made.contains(expected),
                "{workspace_id}: a run calls {expected}: {operations:?}"
            );
        }
        for crash_at in 1..=total {
            let harness = Harness::start_crashing_amg(crash_at)
                .await
                .expect("the memory-store harness needs no external tool");
            let operation = usize::try_from(crash_at - 1)
                .ok()
                .and_then(|index| operations.get(index))
                .unwrap();
            let label =
                format!("{workspace_id} crash after AMG call {crash_at}/{total} ({operation})");
            assert_converged(&harness, workspace_id, &label).await;
            let switch = harness.crash_switch.as_ref().unwrap();
            assert!(switch.crashed(), "{label}: the crash was injected");
            assert_eq!(
                switch
                    .operations()
                    .get(usize::try_from(crash_at - 1).unwrap()),
                Some(operation),
                "{label}: the crashed call is the same call as in the clean run"
            );
            switch.assert_watched(&label);
            points += 1;
        }
    }
    eprintln!(
        "{points} AMG control-plane crash points over {} workspaces",
        AMG.len()
    );
}
