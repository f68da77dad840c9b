//! `keyshift status` and the steps' metrics on the simulator: the demo's local run (the real
//! state machine on local-sfn, grafana-sim in-process, the memory store) rotates the sample
//! fleet, then status judges its secrets at moving points in time, and the metrics the steps
//! recorded are counted.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyshift_cli::demo::{DemoOptions, DemoWorld, run_demo};
use keyshift_cli::exit::{STATUS_ATTENTION, SUCCESS};
use keyshift_cli::status::{
    ExecutionResult, Health, SecretStatus, StatusReport, Thresholds, collect_status, render_status,
};
use keyshift_core::model::{
    ManagedSecretValue, RecordedStraggler, STRAGGLERS_TAG, StragglerRecord, WorkspaceRef,
};
use keyshift_core::naming::client_request_token_for;
use keyshift_core::ports::metrics::{DAYS_TO_EXPIRY, EXECUTION_SUCCEEDED};
use keyshift_core::ports::{RotationMetric, SecretStore, VersionSelector};
use keyshift_core::steps::store_secret::WORKSPACE_TAG;
use serde_json::Value;

/// The report's last row, after checking it is `workspace`'s (the one just added) and has
/// `health`.
fn last_row_of<'a>(
    report: &'a StatusReport,
    workspace: &WorkspaceRef,
    health: Health,
) -> &'a SecretStatus {
    let row = report.secrets.last().unwrap();
    assert_eq!(row.workspace, workspace.key());
    assert_eq!(row.health, health);
    row
}

async fn status_at(
    world: &DemoWorld,
    workspaces: &[WorkspaceRef],
    now: DateTime<Utc>,
) -> StatusReport {
    collect_status(
        world.secrets.as_ref(),
        workspaces,
        Thresholds::from_policy(&world.policy),
        now,
    )
    .await
}

/// How many managed secrets (rows with a secret) have each health.
fn healths(report: &StatusReport) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for row in report
        .secrets
        .iter()
        .filter(|row| row.secret_name.is_some())
    {
        *counts.entry(row.health.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_after_a_local_run() {
    let options = DemoOptions {
        fleet: keyshift_cli::demo::DemoFleet::Sample,
        max_concurrency: 3,
        progress: false,
        faulted: 0,
        observer: None,
    };
    let (report, world) = run_demo(&options).await.unwrap();
    assert!(report.all_good(), "{:#?}", report.checks);
    let now = world.sim.state().now();
    let managed: BTreeSet<&str> = report
        .secrets
        .iter()
        .map(|s| s.secret_id.as_str())
        .collect();
    assert!(managed.len() >= 10, "{managed:?}");

    // Metrics: one success per execution, one days-to-expiry per promoted version.
    let recorded = world.metrics.recorded();
    let succeeded = report
        .executions
        .iter()
        .filter(|execution| execution.status == "SUCCEEDED")
        .count();
    assert_eq!(succeeded, 2 * world.workspaces.len());
    assert_eq!(world.metrics.count(EXECUTION_SUCCEEDED), succeeded);
    let mut successes_per_workspace: BTreeMap<&str, usize> = BTreeMap::new();
    for recorded in &recorded {
        if let RotationMetric::ExecutionSucceeded { workspace } = &recorded.metric {
            *successes_per_workspace
                .entry(workspace.as_str())
                .or_default() += 1;
        }
    }
    let expected: BTreeMap<&str, usize> = report
        .executions
        .iter()
        .map(|execution| (execution.workspace.as_str(), 2))
        .collect();
    assert_eq!(successes_per_workspace, expected);
    let promoted = report.migration.versions_promoted + report.rotation.versions_promoted;
    assert_eq!(world.metrics.count(DAYS_TO_EXPIRY), promoted);
    assert_eq!(recorded.len(), succeeded + promoted, "no other metric");
    let ttl_days = world.policy.token_ttl.as_secs_f64() / 86_400.0;
    let mut promoted_secrets = BTreeSet::new();
    for recorded in &recorded {
        if let RotationMetric::DaysToExpiry {
            secret_name, days, ..
        } = &recorded.metric
        {
            assert!(managed.contains(secret_name.as_str()), "{secret_name}");
            assert!((ttl_days - 1.0..=ttl_days).contains(days), "{days}");
            promoted_secrets.insert(secret_name.as_str());
        }
    }
    assert_eq!(
        promoted_secrets, managed,
        "every managed secret reported its expiry"
    );
    let shown = serde_json::to_string(&recorded).unwrap();
    assert!(!shown.contains("glsa_"), "metrics never carry tokens");

    // A fresh fleet: every secret rotated just now, none expiring soon. Workspaces with
    // nothing to manage are reported as never rotated without failing the watch.
    let fresh = status_at(&world, &world.workspaces, now).await;
    assert_eq!(fresh.exit_code(), SUCCESS, "{}", render_status(&fresh));
    let unmanaged: Vec<_> = fresh
        .secrets
        .iter()
        .filter(|row| row.secret_name.is_none())
        .collect();
    assert!(
        unmanaged
            .iter()
            .all(|row| row.health == Health::NeverRotated),
        "{unmanaged:?}"
    );
    let workspaces_with_secrets: BTreeSet<&str> = fresh
        .secrets
        .iter()
        .filter(|row| row.secret_name.is_some())
        .map(|row| row.workspace.as_str())
        .collect();
    assert_eq!(
        unmanaged.len() + workspaces_with_secrets.len(),
        world.workspaces.len()
    );
    let fresh_rows: Vec<_> = fresh
        .secrets
        .iter()
        .filter(|row| row.secret_name.is_some())
        .collect();
    assert_eq!(fresh_rows.len(), managed.len());
    let rotation_names: BTreeSet<&str> = report
        .executions
        .iter()
        .filter(|execution| execution.round == "rotation")
        .map(|execution| execution.name.as_str())
        .collect();
    for row in &fresh_rows {
        assert_eq!(row.health, Health::Ok, "{row:?}");
        assert!(managed.contains(row.secret_name.as_deref().unwrap_or_default()));
        let expires_at = row.expires_at.unwrap();
        let days = row.days_left.unwrap();
        let expected = ((expires_at - now).num_seconds() as f64 / 864.0).round() / 100.0;
        assert_eq!(days, expected);
        assert!(days > 7.0 && days <= ttl_days, "{days}");
        assert!(row.last_rotation.unwrap() <= now);
        let last = row.last_execution.as_ref().unwrap();
        assert_eq!(last.result, ExecutionResult::Promoted);
        assert!(rotation_names.contains(last.name.as_str()), "{}", last.name);
        assert!(row.service_account.is_some() && row.token_name.is_some());
    }

    // The clock moved near expiry: a day before the first token expires, it (at least) is
    // within the policy's rotateBefore window, and every row agrees with its own days left.
    let expiries: Vec<DateTime<Utc>> = fresh_rows.iter().filter_map(|row| row.expires_at).collect();
    let first_expiry = expiries.iter().min().copied().unwrap();
    let last_expiry = expiries.iter().max().copied().unwrap();
    let soon = status_at(
        &world,
        &world.workspaces,
        first_expiry - chrono::Duration::days(1),
    )
    .await;
    assert_eq!(
        soon.exit_code(),
        STATUS_ATTENTION,
        "{}",
        render_status(&soon)
    );
    let mut expiring = 0;
    for row in soon.secrets.iter().filter(|row| row.secret_name.is_some()) {
        let days = row.days_left.unwrap();
        let expected = if days < 7.0 {
            Health::ExpiresSoon
        } else {
            Health::Ok
        };
        assert_eq!(row.health, expected, "{row:?}");
        expiring += usize::from(row.health == Health::ExpiresSoon);
    }
    assert!(expiring >= 1);
    assert_eq!(
        healths(&soon).values().sum::<usize>(),
        managed.len(),
        "one row per managed secret"
    );

    // Past every expiry, and a rotation overdue with the expiry warning switched off.
    let expired = status_at(
        &world,
        &world.workspaces,
        last_expiry + chrono::Duration::days(1),
    )
    .await;
    assert_eq!(expired.exit_code(), STATUS_ATTENTION);
    assert_eq!(
        healths(&expired),
        BTreeMap::from([("expired", managed.len())])
    );
    let overdue = collect_status(
        world.secrets.as_ref(),
        &world.workspaces,
        Thresholds {
            warn: Duration::ZERO,
            rotation_period: Duration::from_secs(86_400),
        },
        first_expiry - chrono::Duration::hours(1),
    )
    .await;
    assert_eq!(overdue.exit_code(), STATUS_ATTENTION);
    assert_eq!(
        healths(&overdue),
        BTreeMap::from([("rotationOverdue", managed.len())])
    );

    // A target keyshift never rotated is reported without changing the exit code; one whose
    // execution staged a token and never promoted it needs attention.
    let never =
        WorkspaceRef::self_hosted("http://never-rotated.example.invalid", "grafana/admin", 1)
            .unwrap();
    let stalled =
        WorkspaceRef::self_hosted("http://stalled.example.invalid", "grafana/admin", 1).unwrap();
    let template = fresh_rows[0].secret_name.clone().unwrap();
    let mut value = ManagedSecretValue::parse(
        &world
            .secrets
            .get(&template, &VersionSelector::current())
            .await
            .unwrap()
            .value,
        &template,
    )
    .unwrap();
    value.workspace = stalled.clone();
    value.execution_name = "ks-stalled-1".to_owned();
    let stalled_secret = world.policy.secret_name_for(&stalled, "ci").unwrap();
    world
        .secrets
        .ensure_secret(
            &stalled_secret,
            "staged by an execution that failed",
            &BTreeMap::from([(WORKSPACE_TAG.to_owned(), stalled.key())]),
        )
        .await
        .unwrap();
    world
        .secrets
        .put_pending(
            &stalled_secret,
            &client_request_token_for("ks-stalled-1", &stalled_secret),
            &value.to_secret_string().unwrap(),
        )
        .await
        .unwrap();
    let mut extended = world.workspaces.clone();
    extended.push(never.clone());
    let only_never = status_at(&world, &extended, now).await;
    assert_eq!(only_never.exit_code(), SUCCESS);
    let never_row = last_row_of(&only_never, &never, Health::NeverRotated);
    assert_eq!(never_row.secret_name, None);
    extended.push(stalled.clone());
    let with_stalled = status_at(&world, &extended, now).await;
    assert_eq!(with_stalled.exit_code(), STATUS_ATTENTION);
    let stalled_row = last_row_of(&with_stalled, &stalled, Health::NeverPromoted);
    assert_eq!(
        stalled_row.secret_name.as_deref(),
        Some(stalled_secret.as_str())
    );
    let last = stalled_row.last_execution.as_ref().unwrap();
    assert_eq!(
        (last.name.as_str(), last.result),
        ("ks-stalled-1", ExecutionResult::StagedNotPromoted)
    );

    // The JSON shape scripts read.
    let json = serde_json::to_value(&with_stalled).unwrap();
    assert_eq!(json["thresholds"]["warnSeconds"], Value::from(7 * 86_400));
    let rows = json["secrets"].as_array().unwrap();
    let first = rows
        .iter()
        .find(|row| row["secretName"].is_string())
        .unwrap();
    for field in [
        "workspace",
        "target",
        "secretName",
        "serviceAccount",
        "tokenName",
        "expiresAt",
        "daysLeft",
        "lastRotation",
        "health",
        "why",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(first["health"], "ok");
    assert_eq!(first["lastExecution"]["result"], "promoted");
    assert_eq!(rows[rows.len() - 2]["health"], "neverRotated");
    assert_eq!(rows[rows.len() - 1]["health"], "neverPromoted");
    assert_eq!(
        rows[rows.len() - 1]["lastExecution"]["result"],
        "stagedNotPromoted"
    );
    assert!(
        !json.to_string().contains("glsa_"),
        "status never shows tokens"
    );
    assert!(!render_status(&with_stalled).contains("glsa_"));

    // Stragglers revoke-old kept, as its tag records them, are listed on their secret's row
    // only; a tag keyshift cannot read is said so without hiding the token's health.
    let tagged = first["secretName"].as_str().unwrap().to_owned();
    let untidy = rows
        .iter()
        .filter_map(|row| row["secretName"].as_str())
        .find(|name| *name != tagged)
        .unwrap()
        .to_owned();
    let kept = StragglerRecord {
        entries: vec![RecordedStraggler {
            token_id: 4242,
            last_used_at: now - chrono::Duration::hours(3),
            kept_until: now + chrono::Duration::days(6),
        }],
        omitted: 0,
    };
    world
        .secrets
        .set_tag(&tagged, STRAGGLERS_TAG, kept.render().as_deref())
        .await
        .unwrap();
    world
        .secrets
        .set_tag(&untidy, STRAGGLERS_TAG, Some("not-a-straggler"))
        .await
        .unwrap();
    let with_stragglers = status_at(&world, &world.workspaces, now).await;
    let row_of = |name: &str| {
        with_stragglers
            .secrets
            .iter()
            .find(|row| row.secret_name.as_deref() == Some(name))
            .unwrap()
    };
    assert_eq!(row_of(&tagged).stragglers, kept.entries);
    assert_eq!(row_of(&tagged).health, Health::Ok);
    assert!(row_of(&untidy).stragglers.is_empty());
    assert!(
        row_of(&untidy)
            .why
            .contains("keyshift:stragglers tag cannot be read"),
        "{}",
        row_of(&untidy).why
    );
    let listed: usize = with_stragglers
        .secrets
        .iter()
        .map(|row| row.stragglers.len())
        .sum();
    assert_eq!(listed, 1, "one straggler in the whole fleet");
    let text = render_status(&with_stragglers);
    assert_eq!(
        text.matches("straggler: token 4242 of ").count(),
        1,
        "{text}"
    );
    let json = serde_json::to_value(&with_stragglers).unwrap();
    let tagged_row = json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["secretName"] == tagged.as_str())
        .unwrap();
    assert_eq!(tagged_row["stragglers"][0]["tokenId"], 4242);
    // Removing the tag (a later run revoked the straggler) empties the list again.
    world
        .secrets
        .set_tag(&tagged, STRAGGLERS_TAG, None)
        .await
        .unwrap();
    let cleared = status_at(&world, &world.workspaces, now).await;
    assert!(cleared.secrets.iter().all(|row| row.stragglers.is_empty()));
    world.sim.shutdown().await;
}

/// The verb through the binary with the memory store, as a trial runs it: the store starts
/// empty, so the target is reported never rotated (which alone does not fail the watch).
#[test]
fn status_verb_with_the_memory_store_reports_never_rotated() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args([
            "status",
            "--url",
            "http://grafana.example.invalid:3000",
            "--admin-secret-id",
            "grafana/admin",
            "--secret-store",
            "memory",
            "--output",
            "json",
        ])
        .env(
            "KEYSHIFT_ADMIN_CREDENTIAL",
            r#"{"username":"admin","password":"admin-pw"}"#,
        )
        .env_remove("KEYSHIFT_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(i32::from(SUCCESS)),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let rows = json["secrets"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["workspace"],
        "self:http://grafana.example.invalid:3000:1"
    );
    assert_eq!(rows[0]["health"], "neverRotated");
    assert!(!stdout.contains("admin-pw"));
}
