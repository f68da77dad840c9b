//! `keyshift validate` through the binary: the shipped definition passes, broken definitions
//! and configs are reported with their location and exit code 1.

use std::process::Command;

fn validate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn shipped_definition_and_a_good_config_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fleet.json");
    std::fs::write(
        &config,
        r#"{"amg": {"regions": ["eu-west-1"], "tags": {"keyshift": "managed"}},
            "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin"}],
            "policy": {"gracePeriod": "12h"}}"#,
    )
    .unwrap();
    let output = validate(&["--config", config.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn broken_definition_and_config_are_reported_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let mut definition: serde_json::Value = serde_json::from_str(include_str!(
        "../../../statemachine/rotate-workspace.asl.json"
    ))
    .unwrap();
    let retry = definition
        .pointer_mut("/States/DiscoverKeys/Retry/0/ErrorEquals")
        .unwrap();
    *retry = serde_json::json!(["Grafana.Throttled", "Verify.Failed"]);
    let definition_path = dir.path().join("broken.asl.json");
    std::fs::write(&definition_path, definition.to_string()).unwrap();
    let config = dir.path().join("fleet.json");
    std::fs::write(&config, r#"{"selfHosted": [{"url": "ftp://nope", "adminSecretId": "a"}], "policy": {"gracePeriod": "40d"}}"#).unwrap();

    let output = validate(&[
        "--definition",
        definition_path.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().unwrap();
    let text = serde_json::to_string(problems).unwrap();
    assert!(
        problems.iter().any(|p| p["location"] == "DiscoverKeys"
            && p["message"].as_str().unwrap().contains("Verify.Failed")),
        "{text}"
    );
    assert!(text.contains("gracePeriod"), "{text}");
    assert!(text.contains("selfHosted[0]"), "{text}");
}

#[test]
fn unreadable_files_exit_with_3() {
    let output = validate(&["--definition", "/nonexistent/definition.json"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/definition.json"));
}
