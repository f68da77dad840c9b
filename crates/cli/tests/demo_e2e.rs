//! The demo scenario end to end: the sample fleet on grafana-sim migrated and rotated by the
//! real state machine with the core steps, and the invariants checked against the simulator
//! and the secret store themselves, not only against the report.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Mutex};

use keyshift_cli::demo::{DemoFleet, DemoOptions, DemoReport, DemoWorld, census, run_demo};
use keyshift_cli::local::ExecutionObserver;
use keyshift_core::model::ManagedSecretValue;
use keyshift_core::ports::{
    AWSCURRENT, AWSPREVIOUS, ROLLBACK_REFUSED, ROTATION_FAILED, SecretStore, VersionSelector,
};
use keyshift_test_support::leaks::KnownCredentials;

/// The managed secrets each instance of the sample fleet (grafana-sim's fleets/sample.json)
/// must end with, read off the fleet file: one per legacy key still live when the demo starts
/// (expired keys are only deleted), none for an unmigrated key on self-hosted 12.1 (it no longer
/// authenticates, so there is nothing to move), and none for the service accounts the fleet
/// seeds with their own tokens (keyshift leaves accounts it did not create alone).
const SAMPLE_MANAGED: [(&str, usize); 6] = [
    ("g-0a1b2c3d4e", 3),
    ("g-1f2e3d4c5b", 3),
    ("g-9e8d7c6b5a", 1),
    ("ops-grafana-115", 3),
    ("ops-grafana-116", 2),
    ("lab-grafana-121", 0),
];

/// [`SAMPLE_MANAGED`]'s count for `instance` (an unknown instance fails the test).
fn expected_managed(instance: &str) -> usize {
    match SAMPLE_MANAGED.iter().find(|(id, _)| *id == instance) {
        Some((_, count)) => *count,
        None => panic!("{instance} is not in the sample fleet"),
    }
}

/// Checks every instance of the simulator on its own, counted here from the simulator and the
/// store rather than from the demo's census or checks: the token ids each instance's managed
/// secrets hold (AWSCURRENT and AWSPREVIOUS), then every live token of every org: a managed
/// account holds its AWSCURRENT token and nothing but its AWSPREVIOUS one, no other account
/// holds a live keyshift token, no seeded legacy key still authenticates, and each instance has
/// `expected` managed secrets. Returns (instances, managed accounts) checked.
async fn check_every_instance(
    world: &DemoWorld,
    secret_ids: &BTreeSet<String>,
    expected: impl Fn(&str) -> usize,
) -> (usize, usize) {
    let state = world.sim.state();
    let mut held: BTreeMap<String, BTreeMap<i64, (i64, Option<i64>)>> = BTreeMap::new();
    for secret_id in secret_ids {
        let current = world
            .secrets
            .get(secret_id, &VersionSelector::current())
            .await
            .unwrap();
        let current = ManagedSecretValue::parse(&current.value, secret_id).unwrap();
        let previous = match world
            .secrets
            .get(secret_id, &VersionSelector::Stage(AWSPREVIOUS.to_owned()))
            .await
        {
            Ok(stored) => ManagedSecretValue::parse(&stored.value, secret_id)
                .ok()
                .map(|value| value.token_id),
            Err(error) if error.is_not_found() => None,
            Err(error) => panic!("{secret_id}: {error}"),
        };
        let instance = current.grafana_url.rsplit('/').next().unwrap().to_owned();
        held.entry(instance)
            .or_default()
            .insert(current.service_account_id, (current.token_id, previous));
    }
    let mut instances_checked = 0;
    let mut accounts_checked = 0;
    for view in state.workspaces() {
        let instance = view.record.id.clone();
        let managed = held.get(&instance).cloned().unwrap_or_default();
        assert_eq!(
            managed.len(),
            expected(&instance),
            "{instance}: managed secrets"
        );
        let orgs: Vec<i64> = state
            .with_instance(&instance, |grafana, _| {
                grafana.orgs.keys().copied().collect()
            })
            .unwrap();
        // Every org's accounts with their live tokens: (org, account, live token ids, names).
        let mut accounts = Vec::new();
        for org in orgs {
            for account in state.list_service_accounts(&instance, org).unwrap() {
                let tokens = state.list_tokens(&instance, org, account.row.id).unwrap();
                accounts.push((account.row, tokens));
            }
        }
        for (account, tokens) in &accounts {
            let live: BTreeSet<i64> = tokens
                .iter()
                .filter(|token| !token.has_expired && !token.is_revoked)
                .map(|token| token.id)
                .collect();
            let Some((current, previous)) = managed.get(&account.id) else {
                // Not managed: keyshift minted nothing live here (its bootstrap accounts hold
                // no live token after a run).
                let minted: Vec<&str> = tokens
                    .iter()
                    .filter(|token| !token.has_expired && !token.is_revoked)
                    .map(|token| token.name.as_str())
                    .filter(|name| name.starts_with("keyshift-"))
                    .collect();
                assert!(
                    minted.is_empty(),
                    "{instance} {}: orphans {minted:?}",
                    account.name
                );
                continue;
            };
            // A managed account holds its AWSCURRENT token live, and nothing else but its
            // AWSPREVIOUS one (no orphan, no extra token).
            assert!(
                live.contains(current),
                "{instance} {}: AWSCURRENT live",
                account.name
            );
            let allowed: BTreeSet<i64> = std::iter::once(*current).chain(*previous).collect();
            assert!(
                live.is_subset(&allowed),
                "{instance} {}: live {live:?}, held {allowed:?}",
                account.name
            );
            accounts_checked += 1;
        }
        assert_eq!(
            accounts
                .iter()
                .filter(|(account, _)| managed.contains_key(&account.id))
                .count(),
            managed.len(),
            "{instance}: every managed account exists"
        );
        // No seeded legacy key still authenticates, and a seeded token only on an account
        // keyshift does not manage (it never touches those).
        let unmanaged_tokens: BTreeSet<&str> = accounts
            .iter()
            .filter(|(account, _)| !managed.contains_key(&account.id))
            .flat_map(|(_, tokens)| tokens.iter().map(|token| token.name.as_str()))
            .collect();
        let still_working: Vec<String> = state
            .seeded_secrets(Some(&instance))
            .into_iter()
            .filter(|seeded| {
                matches!(
                    state.authenticate_credential(&instance, &seeded.key),
                    Ok(Ok(_))
                )
            })
            .filter(|seeded| {
                seeded.kind == "apiKey" || !unmanaged_tokens.contains(seeded.name.as_str())
            })
            .map(|seeded| seeded.name)
            .collect();
        assert!(still_working.is_empty(), "{instance}: {still_working:?}");
        instances_checked += 1;
    }
    (instances_checked, accounts_checked)
}

/// Runs the demo on `fleet` without progress lines, `faulted` workspaces failing on purpose.
async fn demo(fleet: DemoFleet, max_concurrency: u32, faulted: usize) -> (DemoReport, DemoWorld) {
    let (report, world, _) = demo_with_histories(fleet, max_concurrency, faulted).await;
    (report, world)
}

/// [`demo`], keeping every execution's whole history (migration, rotation and replay rounds)
/// as JSON text, one entry per execution, for the leak scan.
async fn demo_with_histories(
    fleet: DemoFleet,
    max_concurrency: u32,
    faulted: usize,
) -> (DemoReport, DemoWorld, Vec<String>) {
    let histories = Arc::new(Mutex::new(Vec::new()));
    let sink = histories.clone();
    let options = DemoOptions {
        fleet,
        max_concurrency,
        progress: false,
        faulted,
        observer: Some(ExecutionObserver::new(move |result| {
            let text = serde_json::to_string(&result.history).unwrap_or_default();
            sink.lock().unwrap().push(text);
        })),
    };
    let (report, world) = run_demo(&options).await.unwrap();
    let histories = std::mem::take(&mut *histories.lock().unwrap());
    (report, world, histories)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_migrates_every_key_rotates_and_keeps_every_secret_working() {
    let (report, world, histories) = demo_with_histories(DemoFleet::Sample, 3, 1).await;
    let state = world.sim.state().clone();
    assert_eq!(
        histories.len(),
        report.executions.len(),
        "every execution's history was seen"
    );

    // One workspace was faulted on purpose: its migration failed into the DLQ, its replay
    // succeeded; every other execution succeeded.
    assert_eq!(report.faulted.len(), 1, "{:?}", report.faulted);
    let faulted = &report.faulted[0];
    assert!(report.all_good(), "{:#?}", report.checks);
    let failed: Vec<_> = report
        .executions
        .iter()
        .filter(|e| e.status != "SUCCEEDED")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(
        (failed[0].round.as_str(), &failed[0].workspace),
        ("migration", faulted)
    );
    let replays: Vec<_> = report
        .executions
        .iter()
        .filter(|e| e.round == "replay")
        .collect();
    assert_eq!(replays.len(), 1);
    assert_eq!(
        (&replays[0].workspace, replays[0].status.as_str()),
        (faulted, "SUCCEEDED")
    );
    assert_eq!(report.dead_letters.len(), 1, "{:?}", report.dead_letters);
    assert_eq!(report.replays.len(), 1);
    assert_eq!(
        (report.replays[0].started, report.replays[0].deleted),
        (1, 1)
    );
    assert!(world.runtime.dlq().queue().is_empty());
    assert_eq!(report.executions.len(), 2 * world.workspaces.len() + 1);
    let recovery = report.checks.last().unwrap();
    assert!(
        recovery.name.contains("replay converged"),
        "{}",
        recovery.name
    );
    assert_eq!(recovery.checked, 1);
    let report = {
        let mut report = report;
        report.executions.retain(|e| e.status == "SUCCEEDED");
        report
    };
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
    let grace = world.policy.grace_period.as_secs() as i64;
    // The migration round and the replay round after it: two grace periods, not one per
    // workspace.
    assert!(
        report.migration.virtual_seconds >= 2 * grace
            && report.migration.virtual_seconds < 3 * grace,
        "the round's executions overlap: {} s for a grace period of {grace} s",
        report.migration.virtual_seconds
    );

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

    let (instances, accounts) = check_every_instance(&world, &secret_ids, expected_managed).await;
    assert_eq!(
        instances,
        SAMPLE_MANAGED.len(),
        "every instance of the sample fleet"
    );
    assert_eq!(accounts, secret_ids.len(), "one managed account per secret");

    // No extra live tokens: the report's own check, and the simulator's count matches the
    // secrets (current + previous per account at most).
    for check in &report.checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }

    // Consumers got one Secret Rotated event per promotion, naming no token; the rollback of a
    // secret whose AWSPREVIOUS token revoke-old revoked was refused and changed nothing.
    let promotions = world.runtime.log().promoted.len();
    assert!(promotions > 10, "{promotions}");
    assert_eq!(report.operate.rotated_events, promotions);
    // Each faulted workspace's failed execution told consumers once, and the refused rollback
    // below was published too: nothing else went on the bus.
    assert!(!report.dead_letters.is_empty());
    assert_eq!(report.operate.failed_events, report.dead_letters.len());
    assert_eq!(
        world.events.count(ROTATION_FAILED),
        report.dead_letters.len()
    );
    assert_eq!(world.events.count(ROLLBACK_REFUSED), 1);
    assert_eq!(
        world.events.published().len(),
        promotions + report.dead_letters.len() + 1
    );
    let event = report.operate.sample_event.as_ref().unwrap();
    assert_eq!(event["source"], "keyshift");
    assert_eq!(event["detail-type"], "Secret Rotated");
    for field in [
        "secretArn",
        "versionId",
        "workspace",
        "serviceAccount",
        "execution",
    ] {
        assert!(event["detail"][field].is_string(), "{field} in {event}");
    }
    let refusal = report.operate.rollback_refusal.as_deref().unwrap();
    assert!(refusal.starts_with("Rollback.Refused"), "{refusal}");
    assert!(refusal.contains("fresh rotation"), "{refusal}");
    let rolled = report.operate.rollback_secret.as_deref().unwrap();
    let summary = report
        .secrets
        .iter()
        .find(|s| s.secret_id == rolled)
        .unwrap();
    let current = world
        .secrets
        .get(rolled, &VersionSelector::current())
        .await
        .unwrap();
    let current_value = ManagedSecretValue::parse(&current.value, rolled).unwrap();
    assert_eq!(Some(current_value.token_id), summary.current_token_id);
    let events_json = serde_json::to_string(&world.events.published()).unwrap();

    // No credential that existed during the runs, in any execution's history (migration,
    // rotation and replay), the DLQ, the run log, the events or the report as printed.
    let report_json = serde_json::to_string(&report).unwrap();
    let rendered = keyshift_cli::report::render_demo(&report);
    let log_json = serde_json::to_string(&log).unwrap();
    let dlq = world.runtime.dlq().bodies().join("\n");
    let known = KnownCredentials::of(&state);
    // Bounds on what the scan searched: every token keyshift minted (the run log's count,
    // AWSCURRENT, AWSPREVIOUS and revoked alike), every seeded credential, and one bootstrap
    // admin token per AMG execution that reached its Grafana.
    assert_eq!(
        known.minted.len(),
        log.minted.len(),
        "minted tokens searched"
    );
    assert!(known.minted.len() >= tokens_in_secrets.len() * 2);
    assert_eq!(
        known.seeded.len(),
        state.seeded_secrets(None).len(),
        "seeded credentials searched"
    );
    assert!(!known.bootstrap.is_empty(), "bootstrap tokens searched");
    let histories = histories.join("\n");
    let scanned = [
        ("execution histories", &histories),
        ("report json", &report_json),
        ("report text", &rendered),
        ("run log", &log_json),
        ("dlq", &dlq),
        ("events", &events_json),
    ];
    let mut searched = 0;
    for secret in known.all_with(&[]) {
        for (name, text) in scanned {
            assert!(
                !text.contains(secret.as_str()),
                "a credential leaked into the {name}"
            );
        }
        searched += 1;
    }
    assert_eq!(
        searched,
        known.seeded.len() + known.bootstrap.len() + known.minted.len() + known.created_keys.len()
    );
    world.sim.shutdown().await;
}

/// Workspaces in the generated fleet the next test migrates.
const FLEET_SIZE: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_fleet_migrates_in_one_grace_period_and_passes_every_check_per_instance() {
    let (report, world) = demo(DemoFleet::Generated(FLEET_SIZE), 4, 0).await;
    assert_eq!(report.before.len(), FLEET_SIZE);
    assert_eq!(world.workspaces.len(), FLEET_SIZE);
    assert_eq!(report.executions.len(), 2 * FLEET_SIZE);
    let failed: Vec<_> = report
        .executions
        .iter()
        .filter(|e| e.status != "SUCCEEDED")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Four invariants and the refused rollback of a revoked token.
    assert_eq!(report.checks.len(), 5);
    for check in &report.checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }
    // Every instance was looked at by the per-instance checks, every secret by the others, and
    // one secret by the rollback check.
    let checked: Vec<usize> = report.checks.iter().map(|c| c.checked).collect();
    let secrets = report.secrets.len();
    assert_eq!(checked, vec![FLEET_SIZE, secrets, secrets, FLEET_SIZE, 1]);
    // Three live keys per workspace (the fourth expired before the run), each its own secret.
    assert_eq!(secrets, 3 * FLEET_SIZE);
    assert_eq!(report.migration.keys_migrated, 3 * FLEET_SIZE);
    assert_eq!(report.rotation.tokens_rotated, 3 * FLEET_SIZE);
    assert!(report.secrets.iter().all(|s| s.current_authenticates));
    // The same per instance, counted independently of the report.
    let promoted: BTreeSet<String> = world
        .runtime
        .log()
        .promoted
        .iter()
        .map(|p| p.secret_id.clone())
        .collect();
    let (instances, accounts) = check_every_instance(&world, &promoted, |_| 3).await;
    assert_eq!(
        (instances, accounts),
        (FLEET_SIZE, 3 * FLEET_SIZE),
        "instances and managed accounts checked"
    );
    let instances: BTreeSet<&str> = report.secrets.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(instances.len(), FLEET_SIZE);
    // The same account names and token ids recur on different instances: exactly what a
    // check matching across instances would confuse.
    let names: BTreeSet<&str> = report
        .secrets
        .iter()
        .map(|s| s.service_account.as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let log = world.runtime.log();
    let ids: BTreeSet<i64> = log.minted.iter().map(|m| m.token_id).collect();
    assert!(
        ids.len() < log.minted.len(),
        "token ids should repeat across instances"
    );
    // The fleet clock: the migration took one grace period, not one per workspace.
    let grace = world.policy.grace_period.as_secs() as i64;
    for round in [&report.migration, &report.rotation] {
        assert!(
            round.virtual_seconds >= grace && round.virtual_seconds < 2 * grace,
            "{} s of virtual time for {FLEET_SIZE} workspaces, grace {grace} s",
            round.virtual_seconds
        );
    }
    world.sim.shutdown().await;
}

#[test]
fn keyshift_demo_runs_on_a_fleet_file() {
    let fleet = keyshift_cli::demo::generated_fleet(3).unwrap();
    let dir = std::env::temp_dir().join(format!("keyshift-demo-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&fleet).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(["demo", "--output", "json", "--fleet"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    // Four invariants, the refused rollback and the recovery of the one workspace faulted by
    // default.
    assert_eq!(checks.len(), 6);
    for check in checks {
        assert_eq!(check["passed"], true, "{check}");
    }
    assert_eq!(checks[0]["checked"], 3);
    assert_eq!(checks[4]["checked"], 1);
    assert_eq!(report["faulted"].as_array().unwrap().len(), 1);
    // Migration and rotation of three workspaces, and the faulted one's replay.
    assert_eq!(report["executions"].as_array().unwrap().len(), 7);
}

#[test]
fn generate_fleet_refuses_zero_workspaces() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(["demo", "--generate-fleet", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--generate-fleet"));
}

#[test]
fn faulting_more_workspaces_than_the_fleet_has_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(["demo", "--generate-fleet", "2", "--faulted", "3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--faulted"), "{stderr}");
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
        "recovery: faulted on purpose",
        "dlq replay: 1 received, 1 started afresh",
        "[ok] each faulted workspace failed into the DLQ once and its replay converged",
        "Secret Rotated events on the local queue",
        "\"detail-type\":\"Secret Rotated\"",
        "Rollback.Refused: rollback of",
        "[ok] a rollback to a revoked AWSPREVIOUS token is refused",
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
