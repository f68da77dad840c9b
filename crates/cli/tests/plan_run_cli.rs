//! `keyshift plan` and `keyshift run` through the binary against grafana-sim on loopback:
//! a self-hosted Grafana with the in-memory secret store, and an AMG workspace through the
//! real aws-sdk-grafana client pointed at the simulator's control plane.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use serde_json::Value;

async fn start_sim() -> RunningSim {
    let sim = Simulator::from_fleet(FleetSpec::sample().unwrap()).unwrap();
    sim.serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

fn keyshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(args)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "DEMO_ADMIN",
            r#"{"username": "admin", "password": "admin-pass-116"}"#,
        )
        .output()
        .unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: stdout {} stderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The simulator's state minus what only the passing of time changes (the current time and
/// each token's countdown), so a comparison across a second boundary still means "nothing
/// was written".
fn state_without_clock(sim: &RunningSim) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("now");
                map.remove("secondsUntilExpiration");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut state = sim.state().snapshot();
    strip(&mut state);
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_run_a_self_hosted_grafana_with_the_memory_store() {
    let sim = start_sim().await;
    let url = sim.instance_url("ops-grafana-116");
    let target = [
        "--url",
        url.as_str(),
        "--admin-secret-id",
        "grafana/admin",
        "--secret-store",
        "memory",
        "--admin-credential-env",
        "DEMO_ADMIN",
    ];
    let before = state_without_clock(&sim);

    let mut plan_args = vec!["plan"];
    plan_args.extend(target);
    plan_args.extend(["--output", "json", "--detailed-exitcode"]);
    let plan = keyshift(&plan_args);
    assert_eq!(
        plan.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plans = json(&plan);
    let credentials = plans[0]["plan"]["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 2, "{plans:#}");
    assert_eq!(
        state_without_clock(&sim),
        before,
        "plan must not change a self-hosted Grafana"
    );

    let mut run_args = vec!["run"];
    run_args.extend(target);
    run_args.extend(["--grace-period", "0s", "--output", "json"]);
    let run = keyshift(&run_args);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let report = json(&run);
    assert_eq!(report["executions"][0]["status"], "SUCCEEDED");
    assert!(report["deadLetters"].as_array().unwrap().is_empty());
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(!text.contains("glsa_") && !text.contains("admin-pass-116"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_an_amg_workspace_through_the_control_plane_and_revoke_the_planning_credential() {
    let sim = start_sim().await;
    let base = sim.base_url();
    let template = format!("{base}/g/{{workspace_id}}");
    let output = keyshift(&[
        "plan",
        "--workspace",
        "g-0a1b2c3d4e",
        "--region",
        "eu-west-1",
        "--amg-endpoint",
        &base,
        "--amg-url-template",
        &template,
        "--secret-store",
        "memory",
        "--output",
        "json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plans = json(&output);
    assert!(plans[0]["error"].is_null(), "{plans:#}");
    assert!(
        !plans[0]["plan"]["credentials"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let keys = sim
        .state()
        .with_instance("g-0a1b2c3d4e", |instance, _| {
            instance
                .credentials
                .values()
                .filter(|row| row.name.contains("bootstrap"))
                .count()
        })
        .unwrap();
    assert_eq!(keys, 0, "the planning admin credential must be gone");
    sim.shutdown().await;
}

#[test]
fn missing_targets_are_a_usage_error() {
    let output = keyshift(&["plan", "--secret-store", "memory"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("no workspace selected"));
}
