//! The demo scenario end to end: the sample fleet on grafana-sim migrated and rotated by the
//! real state machine with the core steps, and the invariants checked against the simulator
//! and the secret store themselves, not only against the report.

use std::collections::BTreeSet;
use std::process::Command;

use keyshift_cli::demo::{DemoFleet, DemoOptions, census, run_demo};
use keyshift_core::model::ManagedSecretValue;
use keyshift_core::ports::{AWSCURRENT, SecretStore, VersionSelector};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_migrates_every_key_rotates_and_keeps_every_secret_working() {
    let options = DemoOptions {
        fleet: DemoFleet::Sample,
        max_concurrency: 3,
        progress: false,
    };
    let (report, world) = run_demo(&options).await.unwrap();
    let state = world.sim.state().clone();

    assert!(
        report.executions.iter().all(|e| e.status == "SUCCEEDED"),
        "{:#?}",
        report.executions
    );
    assert_eq!(report.executions.len(), 2 * world.workspaces.len());
    for execution in &report.executions {
        assert_eq!(
            execution.states_path.last().map(String::as_str),
            Some("Done")
        );
        assert!(
            execution
                .states_path
                .contains(&"WaitGracePeriod".to_owned())
        );
    }
    assert!(
        report.migration.keys_migrated >= 10,
        "{:?}",
        report.migration
    );
    assert_eq!(
        report.migration.tokens_minted,
        report.migration.keys_migrated
    );
    assert_eq!(
        report.rotation.tokens_rotated, report.migration.keys_migrated,
        "every migrated account is rotated once"
    );
    assert!(report.dead_letters.is_empty(), "{:?}", report.dead_letters);

    // Every legacy key migrated then revoked: no key or migrated key string still works on any
    // instance (on 12.1 a key that was never migrated no longer authenticates at all).
    let before = &report.before;
    assert!(
        before
            .iter()
            .map(|c| c.live_legacy_keys + c.live_migrated_keys)
            .sum::<usize>()
            > 5
    );
    for instance in census(&state) {
        assert_eq!(instance.live_legacy_keys, 0, "{}", instance.id);
        assert_eq!(instance.live_migrated_keys, 0, "{}", instance.id);
    }

    // Every managed secret's AWSCURRENT authenticates on the simulator, checked here directly.
    let log = world.runtime.log();
    let secret_ids: BTreeSet<String> = log.promoted.iter().map(|p| p.secret_id.clone()).collect();
    assert_eq!(secret_ids.len(), report.migration.keys_migrated);
    let base_url = world.sim.base_url();
    let port = base_url.trim_end_matches('/').rsplit(':').next().unwrap();
    for secret_id in &secret_ids {
        assert!(
            !secret_id.contains("127-0-0-1") && !secret_id.contains(port),
            "{secret_id}: demo secret names must not carry the simulator's address {base_url}"
        );
    }
    let mut tokens_in_secrets = Vec::new();
    for secret_id in &secret_ids {
        let stored = world
            .secrets
            .get(secret_id, &VersionSelector::current())
            .await
            .unwrap();
        assert!(stored.stages.contains(&AWSCURRENT.to_owned()));
        let value = ManagedSecretValue::parse(&stored.value, secret_id).unwrap();
        let instance = value.grafana_url.rsplit('/').next().unwrap().to_owned();
        let identity = state
            .authenticate_credential(&instance, value.token.expose())
            .unwrap();
        assert!(
            identity.is_ok(),
            "{secret_id}: AWSCURRENT must authenticate"
        );
        tokens_in_secrets.push(value.token.expose().to_owned());
    }

    // No extra live tokens: the report's own check, and the simulator's count matches the
    // secrets (current + previous per account at most).
    for check in &report.checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }

    // No plaintext token in histories, DLQ, logs or output.
    let report_json = serde_json::to_string(&report).unwrap();
    let rendered = keyshift_cli::report::render_demo(&report);
    let log_json = serde_json::to_string(&log).unwrap();
    let dlq = world.runtime.dlq().bodies().join("\n");
    let seeded: Vec<String> = state
        .seeded_secrets(None)
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert!(!seeded.is_empty());
    for secret in tokens_in_secrets.iter().chain(seeded.iter()) {
        for (name, text) in [
            ("report json", &report_json),
            ("report text", &rendered),
            ("run log", &log_json),
            ("dlq", &dlq),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "a token leaked into the {name}"
            );
        }
    }
    world.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_histories_carry_no_plaintext_token() {
    use keyshift_core::steps::io::ExecutionInput;
    let options = DemoOptions {
        fleet: DemoFleet::Sample,
        max_concurrency: 2,
        progress: false,
    };
    let (_, world) = run_demo(&options).await.unwrap();
    let state = world.sim.state().clone();
    // Run one more execution (a no-op rotation) and inspect its whole history.
    let workspace = world.workspaces[0].clone();
    let input = ExecutionInput {
        workspace,
        policy: world.policy.clone(),
    };
    let result = world.runtime.execute("history-check", &input, 2).await;
    assert_eq!(result.status.as_str(), "SUCCEEDED", "{:?}", result.cause);
    let history = serde_json::to_string(&result.history).unwrap();
    let mut secrets: Vec<String> = state
        .seeded_secrets(None)
        .into_iter()
        .map(|s| s.key)
        .collect();
    for promoted in world.runtime.log().promoted {
        let stored = world
            .secrets
            .get(
                &promoted.secret_id,
                &VersionSelector::Id(promoted.version_id.clone()),
            )
            .await
            .unwrap();
        let value = ManagedSecretValue::parse(&stored.value, &promoted.secret_id).unwrap();
        secrets.push(value.token.expose().to_owned());
    }
    assert!(secrets.len() > 10);
    for secret in &secrets {
        assert!(
            !history.contains(secret.as_str()),
            "a token leaked into an execution history"
        );
    }
    world.sim.shutdown().await;
}

#[test]
fn keyshift_demo_binary_exits_0_and_prints_the_report() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .arg("demo")
        .env("KEYSHIFT_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for expected in [
        "keys migrated",
        "tokens minted",
        "tokens revoked",
        "AWSCURRENT authenticates: yes",
        "WaitGracePeriod",
        "[ok] every managed secret's AWSCURRENT authenticates",
        "time taken",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    assert!(!stdout.contains("[FAIL]"), "{stdout}");
    assert!(
        !stdout.contains("glsa_"),
        "a token-looking string in the output"
    );
    assert!(
        !stderr.contains("glsa_"),
        "a token-looking string in the logs"
    );
}

#[test]
fn every_verb_has_help() {
    for verb in [
        &["demo"][..],
        &["plan"],
        &["run"],
        &["validate"],
        &["asl", "test"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
            .args(verb)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{verb:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("Exit codes"),
            "{verb:?} --help lacks the exit codes"
        );
    }
}
