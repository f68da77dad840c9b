//! Workspaces of other AWS accounts: every AMG control-plane call of an execution goes to the
//! workspace's own account, under the role its input carries.
//!
//! With moto, roles are assumed for real: STS on moto issues the credentials, grafana-sim
//! records the access key id every AMG call was signed with, and moto says whose key it is.
//! Without moto, grafana-sim is the only account and the single-account connector shows which
//! role each step asked for.

use std::collections::{BTreeMap, BTreeSet};

use grafana_sim::SignedCall;
use keyshift_core::model::{AssumeRole, WorkspaceRef};
use keyshift_core::steps::{BootstrapCleanup, revoke_bootstrap_credential};
use keyshift_e2e::{AmgAccounts, E2E_SESSION, Harness, HarnessOptions};
use keyshift_test_support::aws::caller_arn_on_moto;
use serde_json::json;

/// Reached through [`role`]: its executions' AMG calls must carry that role's credentials.
const ROLED: &str = "g-0000000104";
/// Reached with the harness's own credentials.
const OWN: &str = "g-0000000121";
const TARGET_ACCOUNT: &str = "210987654321";
/// The access key id of the harness's own (emulator) credentials.
const BASE_KEY: &str = "testing";

fn role() -> AssumeRole {
    AssumeRole {
        role_arn: format!("arn:aws:iam::{TARGET_ACCOUNT}:role/keyshift-target"),
        external_id: Some("keyshift-prod".to_owned()),
    }
}

fn through_role(harness: &Harness, instance: &str) -> WorkspaceRef {
    harness
        .workspace(instance)
        .with_assume_role(Some(role()))
        .unwrap()
}

/// The AMG calls grafana-sim served about `workspace`, checked against its own request
/// counts, so no call escapes the check.
fn amg_calls(harness: &Harness, workspace: &str) -> Vec<SignedCall> {
    let calls = harness.sim.amg_signers().unwrap().calls_about(workspace);
    let counted: u64 = harness
        .state()
        .request_counts(Some(workspace))
        .iter()
        .filter(|(endpoint, _)| !endpoint.contains('/'))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(calls.len() as u64, counted, "every AMG call is in the log");
    calls
}

fn operations(calls: &[SignedCall]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_through_a_role_signs_every_amg_call_with_the_assumed_key_and_one_without_with_the_base_key()
 {
    let test = "an_execution_through_a_role_signs_every_amg_call_with_the_assumed_key_and_one_without_with_the_base_key";
    let Some(moto) = keyshift_test_support::moto_endpoint(test) else {
        return;
    };
    let harness = Harness::start_options(HarnessOptions {
        assume_roles_on_moto: true,
        ..HarnessOptions::default()
    })
    .await
    .expect("moto is available");
    let AmgAccounts::AssumedOnMoto(connector) = &harness.amg_accounts else {
        panic!("the harness assumes roles on moto");
    };
    let policy = harness.policy(json!({}));
    let roled = through_role(&harness, ROLED);
    let record = harness
        .run_execution(&roled, &policy, "ks-accounts-roled")
        .await
        .unwrap();
    assert_eq!(
        record.discovered.as_ref().unwrap().workspace.assume_role,
        Some(role()),
        "the role travels in the payloads"
    );
    harness
        .run_execution(&harness.workspace(OWN), &policy, "ks-accounts-own")
        .await
        .unwrap();
    assert_eq!(connector.assumed_roles().await, 1);

    let roled_calls = amg_calls(&harness, ROLED);
    let own_calls = amg_calls(&harness, OWN);
    // discover-keys: describe, find or create the bootstrap account, look for a stale token,
    // mint one; workspace-scope revoke-old: is the token still there, check the account,
    // delete the token, sweep expired ones.
    let expected = BTreeMap::from([
        ("CreateWorkspaceServiceAccount", 1),
        ("CreateWorkspaceServiceAccountToken", 1),
        ("DeleteWorkspaceServiceAccountToken", 1),
        ("DescribeWorkspace", 1),
        ("ListWorkspaceServiceAccountTokens", 3),
        ("ListWorkspaceServiceAccounts", 2),
    ]);
    assert_eq!(operations(&roled_calls), expected, "{roled_calls:#?}");
    assert_eq!(operations(&own_calls), expected, "{own_calls:#?}");

    let mut keys = BTreeSet::new();
    for call in &roled_calls {
        let key = call
            .access_key_id
            .clone()
            .expect("every SDK call is signed");
        assert_ne!(
            key, BASE_KEY,
            "{} ran with the base credentials",
            call.operation
        );
        keys.insert(key);
    }
    let mut identities = BTreeSet::new();
    for key in &keys {
        identities.insert(caller_arn_on_moto(&moto, key).await);
    }
    let session =
        format!("arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/keyshift-target/{E2E_SESSION}");
    assert_eq!(identities, BTreeSet::from([session]), "{keys:?}");
    assert!(
        own_calls
            .iter()
            .all(|call| call.access_key_id.as_deref() == Some(BASE_KEY)),
        "{own_calls:#?}"
    );
    assert_eq!(
        (roled_calls.len(), own_calls.len()),
        (9, 9),
        "calls checked per execution"
    );
    harness.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_single_simulated_account_each_amg_step_asks_for_the_workspaces_role() {
    let harness = Harness::start_options(HarnessOptions::default())
        .await
        .unwrap();
    let policy = harness.policy(json!({}));
    let roled = through_role(&harness, ROLED);
    let AmgAccounts::Single(single) = &harness.amg_accounts else {
        panic!("the default harness has one account");
    };
    let discovered = harness
        .discover(&roled, &policy, "ks-accounts-plan")
        .await
        .unwrap();
    assert_eq!(
        single.requests(),
        BTreeMap::from([(Some(role()), 1)]),
        "discover-keys"
    );
    let revoked = revoke_bootstrap_credential(
        &harness.deps,
        BootstrapCleanup {
            execution_name: discovered.execution_name.clone(),
            workspace: discovered.workspace.clone(),
            bootstrap: discovered.bootstrap.clone(),
            policy: discovered.policy.clone(),
        },
    )
    .await
    .unwrap();
    assert!(revoked);
    assert_eq!(
        single.requests(),
        BTreeMap::from([(Some(role()), 2)]),
        "the plan's bootstrap clean-up"
    );

    harness
        .run_execution(&roled, &policy, "ks-accounts-run")
        .await
        .unwrap();
    harness
        .run_execution(&harness.workspace(OWN), &policy, "ks-accounts-own")
        .await
        .unwrap();
    assert_eq!(
        single.requests(),
        BTreeMap::from([(None, 3), (Some(role()), 5)]),
        "per execution: discover-keys once, the workspace-scope revoke-old twice (is the \
         bootstrap token gone, then its clean-up)"
    );
    harness.sim.shutdown().await;
}
