//! dlq-replay is deployed: it must link the SDKs it calls and nothing local or simulated.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn links_sqs_and_sfn_and_no_simulator_or_local_engine() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "dlq-replay",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let crates: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    for needed in ["aws-sdk-sfn", "aws-sdk-sqs", "keyshift-core"] {
        assert!(crates.contains(needed), "{needed} missing from {crates:?}");
    }
    for forbidden in [
        "grafana-sim",
        "local-sfn",
        "keyshift-local",
        "keyshift-test-support",
    ] {
        assert!(!crates.contains(forbidden), "dlq-replay links {forbidden}");
    }
}
