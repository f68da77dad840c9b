//! `keyshift fleet start` through the binary: Step Functions and STS on the moto server, the
//! AMG control plane on grafana-sim (moto has no `grafana` service).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{AwsContext, EndpointOverrides};
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
    Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(args)
        .env_remove("KEYSHIFT_LOG")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYSHIFT_AWS_ENDPOINT_URL", moto)
        .env("KEYSHIFT_AMG_ENDPOINT", sim.amg_endpoint_url())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_start_dry_runs_starts_and_repeats_without_starting_twice() {
    let Some(moto) = keyshift_test_support::moto_endpoint(
        "fleet_start_dry_runs_starts_and_repeats_without_starting_twice",
    ) else {
        return;
    };
    let sim = start_sim().await;
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(moto.clone())).await;
    let definition = json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    let machine = aws
        .sfn_client()
        .create_state_machine()
        .name(format!("rotate-{}", uuid::Uuid::new_v4().simple()))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/keyshift-sfn")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
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
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let report: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["listed"], 3);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["executions"].as_array().unwrap().len(), 2);
    assert_eq!(report["started"], 0);

    let first = keyshift(&base, &moto, &sim);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
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
