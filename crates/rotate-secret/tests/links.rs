//! rotate-secret is deployed: it links the SDK clients it calls (Secrets Manager, KMS, the AMG
//! control plane) and nothing local, simulated or orchestration-only.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn links_its_clients_and_no_simulator_local_engine_or_orchestration_sdk() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--package", "rotate-secret", "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let linked: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let needed = [
        "aws-sdk-secretsmanager",
        "aws-sdk-kms",
        "aws-sdk-grafana",
        "keyshift-core",
    ];
    for name in needed {
        assert!(linked.contains(name), "{name} missing from {linked:?}");
    }
    let forbidden = [
        "grafana-sim",
        "local-sfn",
        "keyshift-local",
        "keyshift-test-support",
        "aws-sdk-sfn",
        "aws-sdk-sqs",
    ];
    for name in forbidden {
        assert!(!linked.contains(name), "rotate-secret links {name}");
    }
}
