//! Text rendering of reports for people (JSON output is plain serde).

use std::fmt::Write as _;

use crate::demo::{DemoReport, InstanceCensus};

/// The demo's before/after report as aligned text. Contains ids, names and counts only.
pub fn render_demo(report: &DemoReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keyshift demo: {} Grafana instances on grafana-sim (loopback), state machine on local-sfn\n",
        report.before.len()
    );
    let _ = writeln!(
        out,
        "{:<18} {:<11} {:<8} {:>20} {:>20} {:>20}",
        "instance", "kind", "version", "before", "after migration", "after rotation"
    );
    let _ = writeln!(
        out,
        "{:<18} {:<11} {:<8} {:>20} {:>20} {:>20}",
        "", "", "", "keys/migr/SAs/tokens", "keys/migr/SAs/tokens", "keys/migr/SAs/tokens"
    );
    for (index, before) in report.before.iter().enumerate() {
        let cell = |census: Option<&InstanceCensus>| match census {
            Some(c) => format!(
                "{}/{}/{}/{}",
                c.live_legacy_keys, c.live_migrated_keys, c.service_accounts, c.live_tokens
            ),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<18} {:<11} {:<8} {:>20} {:>20} {:>20}",
            before.id,
            before.kind,
            before.version,
            cell(Some(before)),
            cell(report.after_migration.get(index)),
            cell(report.after_rotation.get(index))
        );
    }
    let _ = writeln!(
        out,
        "  (keys = live legacy keys, migr = migrated key strings still working, SAs = service accounts, tokens = live SA tokens)\n"
    );
    for (label, totals) in [
        ("migration", &report.migration),
        ("rotation", &report.rotation),
    ] {
        let _ = writeln!(
            out,
            "{label:<9}: {} keys migrated, {} tokens rotated, {} tokens minted, {} versions promoted, {} tokens revoked, {} legacy keys deleted, {} bootstrap credentials revoked",
            totals.keys_migrated,
            totals.tokens_rotated,
            totals.tokens_minted,
            totals.versions_promoted,
            totals.tokens_revoked,
            totals.keys_deleted,
            totals.bootstrap_revoked
        );
    }
    let _ = writeln!(
        out,
        "service accounts created: {}\n",
        report.accounts_created
    );
    let _ = writeln!(out, "executions ({}):", report.executions.len());
    for execution in &report.executions {
        let _ = writeln!(
            out,
            "  {:<9} {:<40} {:<9} {} credential(s)  {}{}",
            execution.round,
            execution.name,
            execution.status,
            execution.credentials,
            execution.states_path.join(" > "),
            execution
                .error
                .as_deref()
                .map(|error| format!("  [{error}]"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "\nmanaged secrets ({}), versions with their labels (tokens are never shown):",
        report.secrets.len()
    );
    for secret in &report.secrets {
        let versions: Vec<String> = secret
            .versions
            .iter()
            .map(|stages| {
                if stages.is_empty() {
                    "-".to_owned()
                } else {
                    stages.join("+")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:<60} {:<28} AWSCURRENT authenticates: {}",
            secret.secret_id,
            versions.join(", "),
            if secret.current_authenticates {
                "yes"
            } else {
                "NO"
            }
        );
    }
    if !report.dead_letters.is_empty() {
        let _ = writeln!(out, "\ndead-letter queue:");
        for letter in &report.dead_letters {
            let _ = writeln!(out, "  {letter}");
        }
    }
    if !report.faulted.is_empty() {
        let _ = writeln!(
            out,
            "\nrecovery: faulted on purpose during the migration (every call refused): {}",
            report.faulted.join(", ")
        );
        for replay in &report.replays {
            let _ = writeln!(
                out,
                "  dlq replay: {} received, {} started afresh, {} redriven, {} already replayed, {} deleted",
                replay.received,
                replay.started,
                replay.redriven,
                replay.already_replayed,
                replay.deleted
            );
        }
    }
    let _ = writeln!(out, "\ninvariants:");
    for check in &report.checks {
        let _ = writeln!(
            out,
            "  [{}] {}{}",
            if check.passed { "ok" } else { "FAIL" },
            check.name,
            if check.passed {
                String::new()
            } else {
                format!(": {}", check.detail)
            }
        );
    }
    let _ = writeln!(
        out,
        "\ntime taken: {:.2} s wall clock for {:.1} days of simulated time",
        report.wall_millis as f64 / 1000.0,
        report.virtual_seconds as f64 / 86_400.0
    );
    let hashing = &report.simulator_hashing;
    let _ = writeln!(
        out,
        "           grafana-sim's own PBKDF2 hashing (as Grafana stores credentials; not keyshift): {} hashes, {:.2} s summed over threads",
        hashing.hashes, hashing.seconds
    );
    let operate = &report.operate;
    let _ = writeln!(
        out,
        "\nevents   : {} Secret Rotated events on the local queue (what an EventBridge rule delivers), e.g.",
        operate.rotated_events
    );
    if let Some(event) = &operate.sample_event {
        let _ = writeln!(out, "  {event}");
    }
    if operate.failed_events > 0 {
        let _ = writeln!(
            out,
            "           and {} Rotation Failed event(s), one per failed execution",
            operate.failed_events
        );
    }
    if let (Some(secret), Some(refusal)) = (&operate.rollback_secret, &operate.rollback_refusal) {
        let _ = writeln!(
            out,
            "rollback : of {secret} to its revoked AWSPREVIOUS token\n  {refusal}"
        );
    }
    out
}
