//! The fleet bench (the default mode): `keyshift demo` on generated fleets of AMG workspaces
//! as child processes, one size after the other in one run, with each run's wall time, peak
//! resident memory and whether every invariant held, then the ratios between the largest and
//! the smallest fleet. Each child is measured on its own (`wait4`'s rusage).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::process::wait_with_rusage;
use crate::zips::{ZipError, ZipFigure, render_zips, zip_sizes};

/// The ratio of wall time and of peak memory that 10x the workspaces may cost at most.
const RATIO_TARGET: f64 = 11.0;

/// The fleet bench's flags (the default mode, so they sit on the top-level command line).
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The keyshift binary to run (default: the one next to this binary).
    #[arg(long)]
    keyshift: Option<PathBuf>,
    /// Fleet sizes to run, smallest first.
    #[arg(long, value_delimiter = ',', default_values_t = [100usize, 1000])]
    sizes: Vec<usize>,
    /// The demo's per-workspace MaxConcurrency.
    #[arg(long, default_value_t = 4)]
    max_concurrency: u32,
    /// A directory of Lambda zips (scripts/package.sh's output) to report the sizes of.
    #[arg(long)]
    zips: Option<PathBuf>,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Runs per size. Each size's figures are its median run (by wall time), and the sizes take
    /// turns, so a burst of load on a shared machine does not land on one size only.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Why the fleet bench could not measure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The keyshift binary is not where it was looked for.
    #[error("no keyshift binary at {0}: build it with scripts/bench.sh or pass --keyshift")]
    NoBinary(PathBuf),
    /// The demo could not be started.
    #[error("could not start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The demo's output or exit could not be read.
    #[error("waiting for the demo of {size} workspaces failed: {source}")]
    Wait {
        /// The fleet size of the run.
        size: usize,
        /// Why.
        source: std::io::Error,
    },
    /// `--sizes` had no size above 0.
    #[error("--sizes needs at least one fleet size above 0")]
    NoSizes,
    /// `--runs 0`.
    #[error("--runs must be at least 1")]
    NoRuns,
    /// See [`ZipError`].
    #[error(transparent)]
    Zips(#[from] ZipError),
}

/// One demo run's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunFigures {
    workspaces: usize,
    wall_seconds: f64,
    peak_rss_mib: f64,
    exit_code: Option<i32>,
    checks_passed: usize,
    checks: usize,
    executions: usize,
    virtual_days: f64,
}

/// Everything one fleet bench run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// Each size's median run, smallest size first.
    runs: Vec<RunFigures>,
    /// Every run, in the order they ran.
    samples: Vec<RunFigures>,
    wall_ratio: Option<f64>,
    rss_ratio: Option<f64>,
    ratio_target: f64,
    zips: Vec<ZipFigure>,
}

/// Runs the fleet bench: every size `--runs` times, taking turns.
pub fn run(args: &FleetArgs) -> Result<BenchReport, BenchError> {
    let binary = match &args.keyshift {
        Some(path) => path.clone(),
        None => sibling_keyshift(),
    };
    if !binary.is_file() {
        return Err(BenchError::NoBinary(binary));
    }
    let mut sizes: Vec<usize> = args
        .sizes
        .iter()
        .copied()
        .filter(|size| *size > 0)
        .collect();
    sizes.sort_unstable();
    if sizes.is_empty() {
        return Err(BenchError::NoSizes);
    }
    if args.runs == 0 {
        return Err(BenchError::NoRuns);
    }
    let mut samples = Vec::new();
    for round in 1..=args.runs {
        for &size in &sizes {
            eprintln!(
                "keyshift-bench: keyshift demo --generate-fleet {size} (run {round} of {}) …",
                args.runs
            );
            samples.push(measure(&binary, size, args.max_concurrency)?);
        }
    }
    let runs: Vec<RunFigures> = sizes
        .iter()
        .filter_map(|size| median_run(&samples, *size))
        .collect();
    let (wall_ratio, rss_ratio) = match (runs.first(), runs.last()) {
        (Some(small), Some(large)) if runs.len() > 1 => (
            Some(large.wall_seconds / small.wall_seconds.max(f64::EPSILON)),
            Some(large.peak_rss_mib / small.peak_rss_mib.max(f64::EPSILON)),
        ),
        _ => (None, None),
    };
    let zips = match &args.zips {
        Some(dir) => zip_sizes(dir)?,
        None => Vec::new(),
    };
    Ok(BenchReport {
        runs,
        samples,
        wall_ratio,
        rss_ratio,
        ratio_target: RATIO_TARGET,
        zips,
    })
}

/// The run of `size` with the median wall time (the upper one of an even count).
fn median_run(samples: &[RunFigures], size: usize) -> Option<RunFigures> {
    let mut of_size: Vec<&RunFigures> = samples
        .iter()
        .filter(|run| run.workspaces == size)
        .collect();
    of_size.sort_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
    of_size.get(of_size.len() / 2).map(|run| (*run).clone())
}

fn sibling_keyshift() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("keyshift")))
        .unwrap_or_else(|| PathBuf::from("keyshift"))
}

/// Runs one demo as a child and reads its own resource usage when it ends.
fn measure(binary: &Path, size: usize, max_concurrency: u32) -> Result<RunFigures, BenchError> {
    let args: Vec<OsString> = vec![
        "demo".into(),
        "--generate-fleet".into(),
        size.to_string().into(),
        "--faulted".into(),
        "0".into(),
        "--max-concurrency".into(),
        max_concurrency.to_string().into(),
        "--output".into(),
        "json".into(),
    ];
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(&args)
        .env("KEYSHIFT_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout)
            .map_err(|source| BenchError::Wait { size, source })?;
    }
    let (status, peak_rss_kib) =
        wait_with_rusage(child.id()).map_err(|source| BenchError::Wait { size, source })?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    Ok(RunFigures {
        workspaces: size,
        wall_seconds,
        peak_rss_mib: peak_rss_kib as f64 / 1024.0,
        exit_code: status.code(),
        checks_passed: checks
            .iter()
            .filter(|check| check["passed"] == serde_json::Value::Bool(true))
            .count(),
        checks: checks.len(),
        executions: report["executions"].as_array().map_or(0, Vec::len),
        virtual_days: report["virtualSeconds"].as_f64().unwrap_or_default() / 86_400.0,
    })
}

/// Whether every run passed, both ratios are within the target and every zip is small enough.
pub fn report_meets_targets(report: &BenchReport) -> bool {
    let runs_ok = report
        .samples
        .iter()
        .all(|run| run.exit_code == Some(0) && run.checks > 0 && run.checks_passed == run.checks);
    let ratios_ok = [report.wall_ratio, report.rss_ratio]
        .iter()
        .flatten()
        .all(|ratio| *ratio <= report.ratio_target);
    runs_ok && ratios_ok && report.zips.iter().all(|zip| zip.under_target)
}

/// The report as the table the bench prints.
pub fn render(report: &BenchReport) -> String {
    let mut out = String::from(
        "keyshift demo on generated AMG fleets (two regions, Grafana 9.4/10.4/12.1, same key names)\n\n",
    );
    out.push_str(&format!(
        "{:>10} {:>10} {:>14} {:>7} {:>11} {:>12} {:>6}\n",
        "workspaces", "wall s", "peak RSS MiB", "checks", "executions", "virtual days", "exit"
    ));
    for run in &report.runs {
        out.push_str(&format!(
            "{:>10} {:>10.1} {:>14.1} {:>7} {:>11} {:>12.1} {:>6}\n",
            run.workspaces,
            run.wall_seconds,
            run.peak_rss_mib,
            format!("{}/{}", run.checks_passed, run.checks),
            run.executions,
            run.virtual_days,
            run.exit_code
                .map_or_else(|| "signal".to_owned(), |code| code.to_string()),
        ));
    }
    if report.samples.len() > report.runs.len() {
        out.push_str(&format!(
            "(each size's median of {} runs; every run: {})\n",
            report.samples.len() / report.runs.len().max(1),
            report
                .samples
                .iter()
                .map(|run| format!("{} ws {:.1} s", run.workspaces, run.wall_seconds))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let (Some(wall), Some(rss), Some(small), Some(large)) = (
        report.wall_ratio,
        report.rss_ratio,
        report.runs.first(),
        report.runs.last(),
    ) {
        out.push_str(&format!(
            "\n{} vs {} workspaces: wall time x{wall:.2}, peak RSS x{rss:.2} (target <= {:.0})\n",
            large.workspaces, small.workspaces, report.ratio_target
        ));
    }
    out.push_str(&render_zips(&report.zips));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(workspaces: usize, wall_seconds: f64) -> RunFigures {
        RunFigures {
            workspaces,
            wall_seconds,
            peak_rss_mib: 1.0,
            exit_code: Some(0),
            checks_passed: 4,
            checks: 4,
            executions: 2 * workspaces,
            virtual_days: 24.0,
        }
    }

    #[test]
    fn each_size_is_represented_by_its_median_run() {
        let samples = [
            run_of(100, 4.8),
            run_of(1000, 44.6),
            run_of(100, 3.2),
            run_of(1000, 77.8),
            run_of(100, 3.6),
            run_of(1000, 43.5),
        ];
        assert_eq!(median_run(&samples, 100).unwrap().wall_seconds, 3.6);
        assert_eq!(median_run(&samples, 1000).unwrap().wall_seconds, 44.6);
        assert!(median_run(&samples, 10).is_none());
    }
}
