//! `keyshift plan` and `keyshift run` through the binary against grafana-sim on loopback:
//! a self-hosted Grafana with the in-memory secret store, and an AMG workspace through the
//! real aws-sdk-grafana client pointed at the simulator's control plane.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_test_support::leaks::KnownCredentials;
use serde_json::Value;

async fn start_sim() -> RunningSim {
    let sim = Simulator::from_fleet(FleetSpec::sample().unwrap()).unwrap();
    sim.serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

/// The AWS settings the environment of a test process may carry, removed so a run sees a
/// machine outside AWS (no region, no credentials, no profile).
const AWS_VARIABLES: [&str; 9] = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_EC2_METADATA_DISABLED",
    "KEYSHIFT_AWS_ENDPOINT_URL",
    "KEYSHIFT_ADMIN_CREDENTIAL",
];

/// The admin of the simulator's `ops-grafana-116`.
const ADMIN_116: &str = r#"{"username": "admin", "password": "admin-pass-116"}"#;

/// The binary with dummy AWS credentials and region (for AMG on the simulator) and the
/// admin credential of `ops-grafana-116` in KEYSHIFT_ADMIN_CREDENTIAL.
fn keyshift(args: &[&str]) -> Output {
    keyshift_in(
        args,
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("KEYSHIFT_ADMIN_CREDENTIAL", ADMIN_116),
        ],
    )
}

/// [`keyshift`] with debug logs on stderr, so a leak scan reads every log line too.
fn keyshift_logging(args: &[&str]) -> Output {
    keyshift_in(
        args,
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("KEYSHIFT_ADMIN_CREDENTIAL", ADMIN_116),
            ("KEYSHIFT_LOG", "debug"),
        ],
    )
}

/// Asserts that no credential the simulator seeded or issued (every token the binary minted,
/// AMG bootstrap tokens included), nor the admin password, appears in any output's stdout or
/// stderr; returns what was searched so the caller can bound it.
fn assert_outputs_leak_nothing(sim: &RunningSim, outputs: &[&Output]) -> KnownCredentials {
    let known = KnownCredentials::of(sim.state());
    let texts: Vec<String> = outputs
        .iter()
        .map(|output| common::stdout_and_stderr(output))
        .collect();
    assert!(
        texts.iter().any(|text| !text.is_empty()),
        "nothing was printed"
    );
    for credential in known.all_with(&[ADMIN_116, "admin-pass-116"]) {
        for text in &texts {
            assert!(
                !text.contains(credential.as_str()),
                "a credential appears in the CLI's output or logs"
            );
        }
    }
    known
}

/// The binary as a new user outside AWS runs it: no AWS variables and an empty home (no
/// `~/.aws`), plus only `envs`. Instance metadata (IMDS) is not disabled, so a probe would show.
fn keyshift_in(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyshift"));
    command
        .args(args)
        .env_remove("KEYSHIFT_LOG")
        .env("KEYSHIFT_ALLOW_LOOPBACK_HTTP", "1");
    for variable in AWS_VARIABLES {
        command.env_remove(variable);
    }
    let home = tempfile::tempdir().unwrap();
    command
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env("HOME", home.path())
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// `keyshift plan` of a self-hosted Grafana nobody listens on (admin secret `x`), plus `extra`
/// arguments, run as [`keyshift_in`] runs it.
fn plan_unreachable(extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let plan = [
        "plan",
        "--url",
        "http://127.0.0.1:1",
        "--admin-secret-id",
        "x",
    ];
    keyshift_in(&[&plan[..], extra].concat(), envs)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails when stderr carries the AWS SDK's instance-metadata chatter or a Rust `Debug` dump
/// instead of keyshift's own sentences.
fn assert_no_aws_noise(stderr: &str) {
    for noise in [
        "IMDS",
        "imds",
        "aws_config",
        "aws_smithy",
        "HttpResponse",
        "StatusCode",
        " { ",
    ] {
        assert!(!stderr.contains(noise), "{noise:?} on stderr:\n{stderr}");
    }
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
    ];
    let before = state_without_clock(&sim);

    let mut plan_args = vec!["plan"];
    plan_args.extend(target);
    plan_args.extend(["--output", "json", "--detailed-exitcode"]);
    let plan = keyshift_logging(&plan_args);
    common::assert_exit_code(&plan, 10);
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
    let run = keyshift_logging(&run_args);
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
    assert!(
        stderr(&run).contains("staged token as AWSPENDING"),
        "the run's debug logs are part of the scan"
    );
    // Both credentials were minted by this run and searched for, with the seeded keys.
    let known = assert_outputs_leak_nothing(&sim, &[&plan, &run]);
    assert_eq!(known.minted.len(), 2, "tokens minted by the run");
    assert!(!known.seeded.is_empty());
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
    common::assert_exit_code(&output, 0);
    let plans = json(&output);
    assert!(plans[0]["error"].is_null(), "{plans:#}");
    assert_eq!(
        plans[0]["target"], "workspace g-0a1b2c3d4e in eu-west-1 (org 1)",
        "{plans:#}"
    );
    assert_no_aws_noise(&stderr(&output));
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
    let known = assert_outputs_leak_nothing(&sim, &[&output]);
    assert_eq!(
        known.bootstrap.len(),
        1,
        "the planning credential was searched for"
    );
    sim.shutdown().await;
}

#[test]
fn missing_targets_are_a_usage_error() {
    let output = keyshift(&["plan", "--secret-store", "memory"]);
    common::assert_exit_code(&output, 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no workspace selected"));
}

#[test]
fn a_trial_outside_aws_without_a_credential_says_how_to_give_one() {
    let output = plan_unreachable(&["--secret-store", "memory"], &[]);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_no_aws_noise(&stderr);
    assert_eq!(stderr.lines().count(), 1, "one sentence:\n{stderr}");
    let traced = keyshift_in(
        &[
            "--log",
            "trace",
            "plan",
            "--url",
            "http://127.0.0.1:1",
            "--admin-secret-id",
            "x",
            "--secret-store",
            "memory",
        ],
        &[],
    );
    let traced = String::from_utf8_lossy(&traced.stderr);
    assert!(
        !traced.contains("aws_config") && !traced.contains("aws_smithy"),
        "nothing of AWS is even built for the memory store on self-hosted Grafana:\n{traced}"
    );
    assert!(
        stderr.contains("no admin credential for http://127.0.0.1:1 (org 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("KEYSHIFT_ADMIN_CREDENTIAL") && stderr.contains("--admin-credential-file"),
        "{stderr}"
    );
    assert!(!stderr.contains("self:"), "{stderr}");
}

#[test]
fn secrets_manager_without_a_region_is_one_sentence() {
    let output = plan_unreachable(&[], &[]);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_no_aws_noise(&stderr);
    assert_eq!(
        stderr.trim(),
        "keyshift: no AWS region: pass --region or set AWS_REGION"
    );
}

#[test]
fn aws_without_credentials_is_one_sentence() {
    let output = plan_unreachable(
        &["--region", "eu-west-1"],
        &[("AWS_EC2_METADATA_DISABLED", "true")],
    );
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_no_aws_noise(&stderr);
    assert!(
        stderr.starts_with("keyshift: no AWS credentials: set AWS_PROFILE"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_takes_the_admin_credential_from_a_file_and_names_targets_by_url() {
    let sim = start_sim().await;
    let url = sim.instance_url("ops-grafana-116");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{ADMIN_116}\n")).unwrap();
    let path = file.path().to_str().unwrap();
    let output = keyshift_in(
        &[
            "plan",
            "--url",
            &url,
            "--admin-secret-id",
            "grafana/admin",
            "--secret-store",
            "memory",
            "--admin-credential-file",
            path,
            "--secret-name",
            "ops-116",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_no_aws_noise(&stderr);
    assert_eq!(
        stdout.lines().next(),
        Some(format!("{url} (org 1)").as_str()),
        "{stdout}"
    );
    assert!(!stdout.contains("self:"), "{stdout}");
    assert!(
        stdout.contains("-> keyshift/ops-116/1/"),
        "secrets are named after --secret-name:\n{stdout}"
    );
    assert!(!stdout.contains("127-0-0-1"), "{stdout}");
    assert!(!stdout.contains("admin-pass-116") && !stderr.contains("admin-pass-116"));
    sim.shutdown().await;
}

#[test]
fn a_bad_credential_file_is_named_without_echoing_it() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"{"user": "admin", "pass": "hunter2-secret"}"#,
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let output = plan_unreachable(
        &["--secret-store", "memory", "--admin-credential-file", path],
        &[],
    );
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(path), "{stderr}");
    assert!(stderr.contains("not an admin credential"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_credential_file_is_refused_with_secrets_manager() {
    let output = plan_unreachable(&["--admin-credential-file", "/nonexistent/admin.json"], &[]);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--admin-credential-file: only with --secret-store memory"),
        "{stderr}"
    );
}
