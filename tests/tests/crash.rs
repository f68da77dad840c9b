//! Every step re-run after a crash at each of its remote calls converges without a second live
//! token: once with the call performed and its answer lost (every call of a whole execution,
//! one crash per run), once with the connection dropped before Grafana acts (sim `drop` fault
//! on every endpoint that changes something).

use grafana_sim::{FaultKind, FaultSpec};
use keyshift_e2e::{AMG, Harness, SELF_HOSTED, StoreKind};
use serde_json::json;

const EXECUTION: &str = "ks-crash-1";

/// Every instance of the test fleet (each self-hosted version line, and AMG workspaces on their
/// Grafana-side and Secrets Manager calls) in both migration modes: the clean run's remote calls
/// are counted, then each one in turn is performed and its answer lost; returns the crash
/// points run, each asserted to have fired.
async fn crash_every_call(instance: &str, mode: &str) -> u64 {
    let extra = json!({"migrationMode": mode});
    let clean = Harness::start_crashing(0)
        .await
        .expect("the memory-store harness needs no external tool");
    clean
        .assert_converges_under(instance, extra.clone(), EXECUTION, "clean run")
        .await;
    let total = clean.crash_switch.as_ref().unwrap().calls();
    assert!(
        total > 0,
        "{instance} {mode}: the clean run made remote calls"
    );
    for crash_at in 1..=total {
        let harness = Harness::start_crashing(crash_at)
            .await
            .expect("the memory-store harness needs no external tool");
        let switch = harness.crash_switch.as_ref().unwrap();
        let label = format!("{instance} {mode} crash after call {crash_at}/{total}");
        harness
            .assert_converges_under(instance, extra.clone(), EXECUTION, &label)
            .await;
        assert!(switch.crashed(), "{label}: the crash fired");
    }
    total
}

#[tokio::test]
async fn a_lost_answer_at_any_remote_call_converges() {
    let instances: Vec<&str> = SELF_HOSTED
        .iter()
        .chain(AMG.iter())
        .map(|(instance, _)| *instance)
        .collect();
    assert_eq!(
        instances.len(),
        8,
        "five self-hosted version lines and three AMG ones"
    );
    let mut points = 0;
    let mut combinations = 0;
    for instance in &instances {
        for mode in ["in-place", "recreate"] {
            points += crash_every_call(instance, mode).await;
            combinations += 1;
        }
    }
    assert_eq!(combinations, 16);
    eprintln!("{points} crash points over {combinations} instance x mode combinations");
}

#[tokio::test]
async fn a_dropped_connection_at_any_changing_endpoint_converges() {
    let endpoints = [
        "POST /api/serviceaccounts/migrate/:keyId",
        "POST /api/serviceaccounts",
        "PATCH /api/serviceaccounts/:id",
        "POST /api/serviceaccounts/:id/tokens",
        "DELETE /api/serviceaccounts/:id/tokens/:tokenId",
        "DELETE /api/auth/keys/:id",
        "GET /api/serviceaccounts/:id/tokens",
    ];
    for (instance, mode) in [("sh-104", "in-place"), ("sh-94", "recreate")] {
        for endpoint in endpoints {
            let Some(harness) = Harness::start(StoreKind::Memory).await else {
                return;
            };
            harness
                .state()
                .faults()
                .add(FaultSpec {
                    workspace: instance.to_owned(),
                    endpoint: endpoint.to_owned(),
                    kind: FaultKind::Drop,
                    times: Some(1),
                    probability: None,
                    seed: None,
                })
                .unwrap();
            let workspace = harness.workspace(instance);
            let policy = harness.policy(json!({"migrationMode": mode}));
            let label = format!("{instance} {mode} drop at {endpoint}");
            let record = match harness.run_execution(&workspace, &policy, EXECUTION).await {
                Ok(record) => record,
                Err(error) => panic!("{label}: {} {error}", error.asl_name()),
            };
            let live = harness.live_tokens(instance);
            for credential in &record.discovered.as_ref().unwrap().plan.credentials {
                let account = &credential.service_account.name;
                let count = live.iter().filter(|(owner, _)| owner == account).count();
                assert_eq!(count, 1, "{label}: one live token on {account}: {live:?}");
                let value = harness.current_value(&credential.secret_id).await;
                assert!(
                    harness.authenticates(instance, value.token.expose()),
                    "{label}"
                );
            }
            assert_eq!(
                harness.plain_keys(instance),
                vec!["break-glass".to_owned()],
                "{label}"
            );
        }
    }
}
