//! What the CLI tests that drive the binary against moto share: the command with dummy AWS
//! credentials and its output for assertion messages.

#![allow(dead_code)]

use std::process::{Command, Output};

/// The binary with dummy credentials, no profile or log filter from the caller's shell, and
/// every AWS service on `endpoint` (the moto server).
pub fn keyshift_on_moto(endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyshift"));
    command
        .env_remove("KEYSHIFT_LOG")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYSHIFT_AWS_ENDPOINT_URL", endpoint)
        .env("KEYSHIFT_ALLOW_LOOPBACK_HTTP", "1");
    command
}

/// Stdout, and stderr after it, for assertion messages.
pub fn stdout_and_stderr(output: &Output) -> String {
    format!(
        "{}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts the exit code, showing stdout and stderr when it is another.
pub fn assert_exit_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        stdout_and_stderr(output)
    );
}

/// The target flags of AMG workspace `workspace` in `region` on grafana-sim at `sim_base_url`
/// (its control plane and its workspaces' Grafana API).
pub fn amg_target(sim_base_url: &str, workspace: &str, region: &str) -> Vec<String> {
    vec![
        "--workspace".into(),
        workspace.into(),
        "--region".into(),
        region.into(),
        "--amg-endpoint".into(),
        sim_base_url.into(),
        "--amg-url-template".into(),
        format!("{sim_base_url}/g/{{workspace_id}}"),
    ]
}
