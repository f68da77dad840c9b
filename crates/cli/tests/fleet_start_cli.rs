//! `keyshift fleet start` through the binary: Step Functions and STS on the moto server, the
//! AMG control plane on grafana-sim (moto has no `grafana` service).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;

mod common;

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{AwsContext, EndpointOverrides};
use keyshift_test_support::aws::{PASSING_MACHINE, create_state_machine};
use serde_json::{Value, json};

async fn start_sim() -> RunningSim {
    let tagged = json!({"keyshift": "managed"});
    let fleet = json!({"workspaces": [
        {"kind": "amg", "id": "g-00000000d1", "region": "us-east-1", "version": "10.4", "tags": tagged},
        {"kind": "amg", "id": "g-00000000d2", "region": "us-east-1", "version": "8.4", "tags": tagged},
        {"kind": "amg", "id": "g-00000000e1", "region": "eu-west-1", "version": "10.4", "tags": tagged}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

/// The binary with dummy credentials, every AWS service on moto and AMG on the simulator.
/// The simulator answers from this test's runtime, so tests run on a multi-thread runtime.
fn keyshift(args: &[&str], moto: &str, sim: &RunningSim) -> Output {
    common::keyshift_on_moto(moto)
        .args(args)
        .env("KEYSHIFT_AMG_ENDPOINT", sim.amg_endpoint_url())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_start_dry_runs_starts_and_repeats_without_starting_twice() {
    let moto = keyshift_test_support::moto_or_skip!(
        fleet_start_dry_runs_starts_and_repeats_without_starting_twice
    );
    let sim = start_sim().await;
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(moto.clone())).await;
    let machine = create_state_machine(&aws.sfn_client(), "rotate", PASSING_MACHINE).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fleet.json");
    std::fs::write(
        &config,
        json!({
            "amg": {"regions": ["us-east-1"], "tags": {"keyshift": "managed"}},
            "accounts": [{"roleArn": "arn:aws:iam::210987654321:role/keyshift",
                          "regions": ["eu-west-1"], "tags": {"keyshift": "managed"}}]
        })
        .to_string(),
    )
    .unwrap();
    let config = config.display().to_string();
    let base = [
        "fleet",
        "start",
        "--config",
        &config,
        "--state-machine-arn",
        &machine,
        "--time",
        "2025-03-01T06:30:00Z",
    ];

    let dry = keyshift(
        &[&base[..], &["--dry-run", "--output", "json"]].concat(),
        &moto,
        &sim,
    );
    common::assert_exit_code(&dry, 0);
    let report: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["listed"], 3);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["executions"].as_array().unwrap().len(), 2);
    assert_eq!(report["started"], 0);

    let first = keyshift(&base, &moto, &sim);
    common::assert_exit_code(&first, 0);
    let table = stdout(&first);
    assert!(
        table.starts_with("slot 2025-03-01T06:30:00Z: listed 3, not selected 0, started 2, already running 0, skipped 1, failed 0"),
        "{table}"
    );
    assert!(
        table.contains("ks-g-00000000e1-1-20250301-0630  started"),
        "{table}"
    );
    assert!(
        table.contains("skipped workspace g-00000000d2 in us-east-1: Grafana 8.4"),
        "{table}"
    );

    let again = keyshift(&[&base[..], &["--output", "json"]].concat(), &moto, &sim);
    assert_eq!(again.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(
        (
            report["started"].as_u64(),
            report["alreadyRunning"].as_u64()
        ),
        (Some(0), Some(2))
    );

    let executions = aws
        .sfn_client()
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 2);
    sim.shutdown().await;
}
