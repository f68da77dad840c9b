//! The rotation report as the tables the bench prints: per latency and phase the wall time
//! and the calls against their minimum, per credential; the rotation's calls by endpoint;
//! and what the executions cost next to the Secrets Manager storage of the secrets.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::counting::{KMS, KMS_VIA_SECRETS_MANAGER, SECRETS_MANAGER};
use crate::minimum;
use crate::rotation::{PhaseFigures, RotationReport, RotationRun};

/// The credentials of the workspace: what the migration processed.
fn workspace_credentials(run: &RotationRun) -> usize {
    run.phase("migration").map_or(0, |phase| phase.credentials)
}

fn per(value: u64, credentials: usize) -> String {
    if credentials == 0 {
        return "-".to_owned();
    }
    format!("{:.1}", value as f64 / credentials as f64)
}

fn phase_row(out: &mut String, phase: &PhaseFigures, credentials: usize) {
    let Some(min) = minimum::of(&phase.phase) else {
        return;
    };
    let measured = [
        phase.grafana_total(),
        phase.aws_total(SECRETS_MANAGER),
        phase.aws_total(KMS) + phase.aws_total(KMS_VIA_SECRETS_MANAGER),
        phase.usage.lambda_invocations,
    ];
    let needed = [
        min.grafana.total(credentials),
        min.secrets_manager.total(credentials),
        min.kms.total(credentials),
        min.lambda.total(credentials),
    ];
    let mut cells = String::new();
    for (got, need) in measured.iter().zip(needed) {
        let _ = write!(
            cells,
            " {:>13}",
            format!(
                "{} ({}) {}",
                per(*got, credentials),
                per(need, credentials),
                ratio(*got, need)
            )
        );
    }
    let _ = writeln!(
        out,
        "{:<15} {:<10} {:>9.1} {:>6}{cells} {:>6} {:>9.1}",
        phase.phase,
        phase.status,
        phase.wall_ms,
        phase.credentials,
        phase.usage.state_transitions,
        phase.lambda_ms,
    );
}

fn ratio(got: u64, need: u64) -> String {
    if need == 0 {
        return if got == 0 {
            "=".to_owned()
        } else {
            "+".to_owned()
        };
    }
    format!("x{:.1}", got as f64 / need as f64)
}

fn breakdown(out: &mut String, title: &str, counts: &BTreeMap<String, u64>, credentials: usize) {
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for (endpoint, count) in counts {
        let _ = writeln!(
            out,
            "    {endpoint:<64} {count:>4}  ({} per credential)",
            per(*count, credentials)
        );
    }
}

/// The report as text.
pub fn render(report: &RotationReport) -> String {
    let runs_per = report.runs.len() / report.medians.len().max(1);
    let mut out = format!(
        "One AMG workspace (Grafana 10.4, three legacy keys) through rotate-workspace.asl.json on\n\
         local-sfn with the core steps, grafana-sim on loopback; median run (by rotation wall time) of {runs_per}\n\
         per latency. Calls are per credential: measured (minimum) measured/minimum.\n"
    );
    for run in &report.medians {
        let credentials = workspace_credentials(run);
        let _ = writeln!(
            out,
            "\n+{} ms per Grafana/AMG/Secrets Manager/KMS call, {credentials} credentials:",
            run.latency_ms
        );
        let _ = writeln!(
            out,
            "{:<15} {:<10} {:>9} {:>6} {:>13} {:>13} {:>13} {:>13} {:>6} {:>9}",
            "phase",
            "status",
            "wall ms",
            "creds",
            "grafana+amg",
            "secretsmgr",
            "kms",
            "lambda",
            "trans",
            "lambda ms"
        );
        for phase in &run.phases {
            phase_row(&mut out, phase, credentials);
        }
        let walls: Vec<String> = report
            .runs
            .iter()
            .filter(|other| other.latency_ms == run.latency_ms)
            .filter_map(|other| other.phase("rotation"))
            .map(|phase| format!("{:.0}", phase.wall_ms))
            .collect();
        let _ = writeln!(out, "rotation wall ms of every run: {}", walls.join(", "));
        if run.latency_ms > 0 {
            let fired: u64 = run.phases.iter().map(|phase| phase.latency_fired).sum();
            let requests: u64 = run.phases.iter().map(PhaseFigures::grafana_total).sum();
            let _ = writeln!(
                out,
                "latency fault fired on {fired} of {requests} simulator requests"
            );
        }
    }
    if let Some(run) = report.medians.first()
        && let Some(rotation) = run.phase("rotation")
    {
        let credentials = workspace_credentials(run);
        let _ = writeln!(out, "\nThe rotation's calls (+{} ms run):", run.latency_ms);
        breakdown(&mut out, "Grafana HTTP", &rotation.grafana, credentials);
        breakdown(&mut out, "AMG control plane", &rotation.amg, credentials);
        breakdown(&mut out, "AWS", &rotation.aws, credentials);
        breakdown(&mut out, "AWS by step", &rotation.aws_by_step, credentials);
        breakdown(&mut out, "Lambda", &rotation.invocations, credentials);
    }
    if let Some(cost) = &report.cost {
        let _ = writeln!(
            out,
            "\nAWS cost (us-east-1 list prices, no free tier, {} MB functions, durations of the +{} ms run):",
            cost.memory_mb,
            report
                .medians
                .iter()
                .map(|run| run.latency_ms)
                .max()
                .unwrap_or(0)
        );
        for arch in &cost.arches {
            let _ = writeln!(
                out,
                "  {:?}: rotation ${:.6} (SFN {:.6}, Lambda req {:.6}, Lambda GB-s {:.6}, SM {:.6}, KMS {:.6}); migration ${:.6}; idle tick ${:.6}",
                arch.arch,
                arch.rotation.total,
                arch.rotation.step_functions,
                arch.rotation.lambda_requests,
                arch.rotation.lambda_duration,
                arch.rotation.secrets_manager,
                arch.rotation.kms,
                arch.migration.total,
                arch.idle.total,
            );
            let _ = writeln!(
                out,
                "    a month of the workspace ({:.2} rotations every {:.0} days, {:.1} idle daily ticks): ${:.4}, vs ${:.2} Secrets Manager storage of its {} secrets ({:.1}% of it)",
                arch.month.rotations,
                cost.rotation_interval_days,
                arch.month.idle_ticks,
                arch.month.keyshift,
                arch.month.secrets_storage,
                cost.secrets,
                arch.month.keyshift_over_storage * 100.0,
            );
        }
    }
    out
}
