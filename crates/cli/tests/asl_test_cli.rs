//! `keyshift asl test` on the shipped example mocks: happy path, transient retry, verification
//! failure (no promote, no revoke) and the DLQ paths, through the real binary.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_case(case: &str, expect: &str) -> Value {
    let repo = repo();
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .arg("asl")
        .arg("test")
        .arg(repo.join("statemachine/rotate-workspace.asl.json"))
        .arg("--input")
        .arg(r#"{"workspace": {"kind": "selfHosted", "url": "https://grafana.example.com", "adminSecretId": "grafana/admin"}}"#)
        .arg("--mocks")
        .arg(repo.join("statemachine/examples/mocks.json"))
        .arg("--case")
        .arg(case)
        .arg("--expect")
        .arg(expect)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{case}: exit {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

/// The states path of an execution: the opening every execution takes (defaults merged,
/// then discover-keys), then `rest`.
fn after_opening(rest: &[&str]) -> Vec<String> {
    ["ApplyDefaults", "MergeDefaults", "DiscoverKeys"]
        .iter()
        .chain(rest)
        .map(|state| (*state).to_owned())
        .collect()
}

#[test]
fn happy_path_runs_every_state_of_each_credential() {
    let report = run_case("HappyPath", "succeeded");
    assert_eq!(
        strings(&report["statesPath"]),
        after_opening(&[
            "RotateCredentials",
            "WaitGracePeriod",
            "RevokeSupersededCredentials",
            "RevokeWorkspaceLeftovers",
            "Summarize",
            "Done"
        ])
    );
    let entered = strings(&report["allStatesEntered"]);
    for state in [
        "CreateServiceAccount",
        "MintToken",
        "StageSecret",
        "VerifyToken",
        "PromoteSecret",
        "RevokeSuperseded",
    ] {
        assert_eq!(
            entered.iter().filter(|name| *name == state).count(),
            2,
            "{state} once per credential"
        );
    }
    assert_eq!(
        report["output"]["credentials"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(report["queueMessages"].as_array().unwrap().is_empty());
}

#[test]
fn transient_errors_are_retried_to_success() {
    let report = run_case("TransientRetry", "succeeded");
    let entered = strings(&report["allStatesEntered"]);
    assert!(!entered.iter().any(|name| name.ends_with("Failed")));
    assert_eq!(report["status"], "SUCCEEDED");
}

#[test]
fn verify_failure_skips_promote_and_revoke() {
    let report = run_case("VerifyFailure", "failed");
    assert_eq!(report["error"], "Verify.Failed");
    let entered = strings(&report["allStatesEntered"]);
    for state in [
        "PromoteSecret",
        "WaitGracePeriod",
        "RevokeSuperseded",
        "RevokeWorkspaceLeftovers",
    ] {
        assert!(
            !entered.contains(&state.to_owned()),
            "{state} must not run: {entered:?}"
        );
    }
    let messages = report["queueMessages"].as_array().unwrap();
    assert!(!messages.is_empty());
    assert!(
        messages
            .iter()
            .all(|message| message["failedState"] == "VerifyToken")
    );
}

#[test]
fn permanent_error_goes_to_the_dlq_then_fails() {
    let report = run_case("PermanentErrorToDlq", "failed");
    assert_eq!(
        strings(&report["statesPath"]),
        after_opening(&[
            "DiscoverKeysFailed",
            "NotifyDeadLetterQueue",
            "AnnounceFailure",
            "FailureEventsEnabled",
            "PublishRotationFailed",
            "ExecutionFailed"
        ])
    );
    let messages = report["queueMessages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["error"], "Grafana.Unauthorized");
    assert_eq!(message["failedState"], "DiscoverKeys");
    assert_eq!(message["workspace"]["adminSecretId"], "grafana/admin");
    assert_eq!(message["execution"], "test-PermanentErrorToDlq");
    let events = report["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "one Rotation Failed per failed execution: {events:?}"
    );
    let event = &events[0];
    assert_eq!(event["source"], "keyshift");
    assert_eq!(event["detail-type"], "Rotation Failed");
    assert_eq!(event["detail"]["error"], "Grafana.Unauthorized");
    assert_eq!(event["detail"]["failedState"], "DiscoverKeys");
    assert_eq!(event["detail"]["execution"], "test-PermanentErrorToDlq");
    assert_eq!(
        event["detail"]["workspace"]["adminSecretId"],
        "grafana/admin"
    );
}

#[test]
fn a_failed_credential_publishes_one_rotation_failed_naming_the_map() {
    let report = run_case("VerifyFailure", "failed");
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Rotation Failed");
    assert_eq!(events[0]["detail"]["failedState"], "RotateCredentials");
    assert_eq!(events[0]["detail"]["error"], "Verify.Failed");
    assert!(
        !report["events"].to_string().contains("\"token\""),
        "no token field in an event"
    );
}

#[test]
fn a_successful_run_publishes_no_failure_event() {
    let report = run_case("HappyPath", "succeeded");
    assert_eq!(report["events"], serde_json::json!([]));
}

#[test]
fn exhausted_retries_go_to_the_dlq() {
    let report = run_case("RetriesExhaustedToDlq", "failed");
    assert_eq!(report["error"], "Aws.Unavailable");
    let entered = strings(&report["allStatesEntered"]);
    assert!(!entered.contains(&"VerifyToken".to_owned()));
    assert!(entered.contains(&"NotifyCredentialFailure".to_owned()));
}

#[test]
fn a_wrong_expectation_exits_with_1_and_an_unknown_case_with_3() {
    let repo = repo();
    let run = |case: &str| {
        Command::new(env!("CARGO_BIN_EXE_keyshift"))
            .args(["asl", "test"])
            .arg(repo.join("statemachine/rotate-workspace.asl.json"))
            .arg("--mocks")
            .arg(repo.join("statemachine/examples/mocks.json"))
            .args(["--case", case, "--expect", "succeeded"])
            .arg("--input")
            .arg(r#"{"workspace": {"kind": "selfHosted", "url": "https://grafana.example.com", "adminSecretId": "grafana/admin"}}"#)
            .output()
            .unwrap()
    };
    assert_eq!(run("VerifyFailure").status.code(), Some(1));
    let unknown = run("NoSuchCase");
    assert_eq!(unknown.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("NoSuchCase"));
}
