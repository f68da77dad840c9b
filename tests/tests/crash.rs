//! Every step re-run after a crash at each of its remote calls converges without a second live
//! token: with the call performed and its answer lost, and with the call failed before it
//! leaves (every Grafana, secret-store and sealer call of a whole execution, one crash per
//! run), while a watcher checks before every call that each managed secret's AWSCURRENT
//! authenticates; and once with the connection dropped before Grafana acts (sim `drop` fault
//! on every endpoint that changes something).

use grafana_sim::{FaultKind, FaultSpec};
use keyshift_e2e::crash::CrashTiming;
use keyshift_e2e::{AMG, Harness, SELF_HOSTED, StoreKind};
use serde_json::json;

const EXECUTION: &str = "ks-crash-1";

/// Every instance of the test fleet (each self-hosted version line, and AMG workspaces on their
/// Grafana-side, Secrets Manager and KMS calls) in both migration modes: the clean run's remote
/// calls are counted, then each one in turn crashes at `timing`; returns the crash points run,
/// each asserted to have fired.
async fn crash_every_call(instance: &str, mode: &str, timing: CrashTiming) -> u64 {
    let extra = json!({"migrationMode": mode});
    let clean = Harness::start_crashing_timed(0, timing)
        .await
        .expect("the memory-store harness needs no external tool");
    clean
        .assert_converges_under(instance, extra.clone(), EXECUTION, "clean run")
        .await;
    let clean_switch = clean.crash_switch.as_ref().unwrap();
    let total = clean_switch.calls();
    assert!(
        total > 0,
        "{instance} {mode}: the clean run made remote calls"
    );
    let operations = clean_switch.operations();
    for kms in ["Encrypt", "Decrypt"] {
        assert!(
            operations.iter().any(|operation| operation == kms),
            "{instance} {mode}: the sealer's {kms} calls are crash points: {operations:?}"
        );
    }
    clean_switch.assert_watched(&format!("{instance} {mode} clean run"));
    assert!(
        clean_switch.watcher().unwrap().secrets_checked() > 0,
        "{instance} {mode}: the watcher saw the managed secrets"
    );
    for crash_at in 1..=total {
        let harness = Harness::start_crashing_timed(crash_at, timing)
            .await
            .expect("the memory-store harness needs no external tool");
        let switch = harness.crash_switch.as_ref().unwrap();
        let label = format!("{instance} {mode} crash {timing:?} call {crash_at}/{total}");
        harness
            .assert_converges_under(instance, extra.clone(), EXECUTION, &label)
            .await;
        assert!(switch.crashed(), "{label}: the crash fired");
        switch.assert_watched(&label);
    }
    total
}

/// Every instance x mode at `timing`; returns (crash points, combinations).
async fn crash_the_whole_matrix(timing: CrashTiming) -> (u64, u32) {
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
            points += crash_every_call(instance, mode, timing).await;
            combinations += 1;
        }
    }
    (points, combinations)
}

#[tokio::test]
async fn a_lost_answer_at_any_remote_call_converges() {
    let (points, combinations) = crash_the_whole_matrix(CrashTiming::AfterCall).await;
    assert_eq!(combinations, 16);
    eprintln!(
        "{points} crash points (answer lost) over {combinations} instance x mode combinations"
    );
}

#[tokio::test]
async fn a_crash_before_any_remote_call_converges() {
    let (points, combinations) = crash_the_whole_matrix(CrashTiming::BeforeCall).await;
    assert_eq!(combinations, 16);
    eprintln!(
        "{points} crash points (call never sent) over {combinations} instance x mode combinations"
    );
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
            let harness = Harness::start(StoreKind::Memory)
                .await
                .expect("the memory-store harness needs no external tool");
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
