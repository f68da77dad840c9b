//! Benchmarks 1 and 4 (memory): each built Lambda and a Python rotator (boto3, a Secrets
//! Manager and a KMS client) started cold against the bench's Runtime API emulator, several
//! times each, taking turns. Per process: exec to the first `/next` poll (init), exec to the
//! answer of the first invocation, and the process's own peak RSS from `wait4`.
//!
//! The invocation is a JSON string where every handler expects an object, so each function
//! refuses it as `Input.Invalid` without calling AWS; the AWS endpoints point at a loopback
//! port that refuses connections, so nothing a function did at init could reach AWS either.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::{has_exited, wait_with_rusage};
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::stats::median;
use crate::zips::{ZipError, ZipFigure, render_zips, zip_sizes};

/// Every Lambda keyshift deploys, by package (= binary) name.
pub const FUNCTIONS: [&str; 9] = [
    "discover-keys",
    "create-sa",
    "mint-token",
    "store-secret",
    "verify",
    "revoke-old",
    "rotate-secret",
    "fleet-start",
    "dlq-replay",
];

/// The baseline's name in reports.
pub const PYTHON: &str = "python-boto3";

/// Init must be at least this many times faster than the Python rotator's.
pub const INIT_SPEEDUP_TARGET: f64 = 25.0;
/// Peak RSS must be at most this fraction of the Python rotator's.
pub const RSS_FRACTION_TARGET: f64 = 1.0 / 3.0;
/// Peak RSS per invocation must stay under this (MiB), so 128 MB functions suffice.
pub const RSS_TARGET_MIB: f64 = 48.0;

/// The event every function gets: valid JSON, but no handler's input shape.
pub const PROBE_EVENT: &str = "\"keyshift-bench cold-start probe\"";
/// The error every function must answer [`PROBE_EVENT`] with.
pub const EXPECTED_ERROR: &str = "Input.Invalid";

/// An address nothing listens on: AWS calls fail at once instead of leaving the machine.
const REFUSING_ENDPOINT: &str = "http://127.0.0.1:9";

/// How long one process may take to answer before it counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// `keyshift-bench lambdas`: cold start, first response and peak memory.
#[derive(Debug, clap::Args)]
pub struct LambdaArgs {
    /// Directory of the step binaries: `DIR/<function>` (a cargo target directory such as
    /// target/bench-opt) or `DIR/<function>/bootstrap` (unzipped scripts/package.sh output).
    /// Default: the directory of this binary.
    #[arg(long)]
    pub lambdas: Option<PathBuf>,
    /// Only these functions (default: all nine).
    #[arg(long, value_delimiter = ',')]
    pub functions: Vec<String>,
    /// The Python interpreter with boto3 for the baseline (scripts/bench.sh passes .venv's).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// The Python rotator to start (default: tools/bench/python_rotator/bootstrap.py).
    #[arg(long)]
    pub python_bootstrap: Option<PathBuf>,
    /// Cold starts per function; each figure is the median.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// The memory size the functions are told they have (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
    #[arg(long, default_value_t = 128)]
    pub memory_mb: u32,
    /// A directory of Lambda zips (scripts/package.sh's output) to report the sizes of.
    #[arg(long)]
    pub zips: Option<PathBuf>,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why the cold-start bench could not measure.
#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    /// A function's binary is not where it was looked for.
    #[error(
        "no {function} binary at {path}: build it (scripts/bench.sh lambdas) or pass --lambdas"
    )]
    NoBinary {
        /// The function.
        function: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `--functions` named something keyshift does not deploy.
    #[error("{0} is not one of keyshift's Lambdas ({all})", all = FUNCTIONS.join(", "))]
    UnknownFunction(String),
    /// The Python rotator file is missing.
    #[error("no Python rotator at {0}: pass --python-bootstrap")]
    NoBootstrap(PathBuf),
    /// `--runs 0`.
    #[error("--runs must be at least 1")]
    NoRuns,
    /// The emulator or a process could not be started or waited for.
    #[error("{what}: {source}")]
    Io {
        /// What the bench was doing.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// See [`ZipError`].
    #[error(transparent)]
    Zips(#[from] ZipError),
}

/// One cold start.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStartSample {
    /// The function (or [`PYTHON`]).
    pub function: String,
    /// Exec to the first `/next` poll, ms (`None`: it never polled).
    pub init_ms: Option<f64>,
    /// Exec to the answer of the first invocation, ms.
    pub first_response_ms: Option<f64>,
    /// The process's peak resident set, MiB.
    pub peak_rss_mib: f64,
    /// How it answered: `error Input.Invalid`, `response`, `init error …`, `no answer`.
    pub outcome: String,
    /// Whether it answered the probe with [`EXPECTED_ERROR`].
    pub ok: bool,
}

/// One function's medians and how they compare with the Python rotator's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionFigures {
    /// The function (or [`PYTHON`]).
    pub function: String,
    /// Median init, ms.
    pub init_ms: Option<f64>,
    /// Median first response, ms.
    pub first_response_ms: Option<f64>,
    /// Median peak RSS, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Runs that answered as expected, of `runs`.
    pub ok_runs: usize,
    /// Runs made.
    pub runs: usize,
    /// Python's init over this one's (how many times faster).
    pub init_speedup: Option<f64>,
    /// Python's first response over this one's.
    pub response_speedup: Option<f64>,
    /// This peak RSS over Python's.
    pub rss_fraction: Option<f64>,
    /// Every run answered, init >= 25x faster, RSS <= a third of Python's and < 48 MiB.
    pub meets_targets: bool,
}

/// Everything `keyshift-bench lambdas` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStartReport {
    /// The Python rotator's figures.
    pub python: FunctionFigures,
    /// Each Rust function's figures.
    pub functions: Vec<FunctionFigures>,
    /// Every run, in the order they ran.
    pub samples: Vec<ColdStartSample>,
    /// The memory size the functions were told.
    pub memory_mb: u32,
    /// The zips' sizes, when `--zips` was given.
    pub zips: Vec<ZipFigure>,
}

impl ColdStartReport {
    /// Whether every function met every target, the baseline ran and every zip is small.
    pub fn meets_targets(&self) -> bool {
        self.python.ok_runs == self.python.runs
            && !self.functions.is_empty()
            && self.functions.iter().all(|f| f.meets_targets)
            && self.zips.iter().all(|zip| zip.under_target)
    }
}

/// What to start for one measured process.
struct Subject {
    name: String,
    program: PathBuf,
    args: Vec<PathBuf>,
}

/// Runs the cold-start bench.
pub async fn run(args: &LambdaArgs) -> Result<ColdStartReport, ColdStartError> {
    if args.runs == 0 {
        return Err(ColdStartError::NoRuns);
    }
    let dir = args.lambdas.clone().unwrap_or_else(own_directory);
    let mut subjects = Vec::new();
    let wanted: Vec<String> = if args.functions.is_empty() {
        FUNCTIONS.iter().map(|name| (*name).to_owned()).collect()
    } else {
        args.functions.clone()
    };
    for function in wanted {
        if !FUNCTIONS.contains(&function.as_str()) {
            return Err(ColdStartError::UnknownFunction(function));
        }
        let program = binary_of(&dir, &function)?;
        subjects.push(Subject {
            name: function,
            program,
            args: Vec::new(),
        });
    }
    let bootstrap = args
        .python_bootstrap
        .clone()
        .unwrap_or_else(default_bootstrap);
    if !bootstrap.is_file() {
        return Err(ColdStartError::NoBootstrap(bootstrap));
    }
    subjects.push(Subject {
        name: PYTHON.to_owned(),
        program: args.python.clone(),
        args: vec![bootstrap],
    });
    let home = tempfile::tempdir().map_err(|source| ColdStartError::Io {
        what: "creating an empty HOME for the functions".to_owned(),
        source,
    })?;
    let mut samples = Vec::new();
    for round in 1..=args.runs {
        eprintln!(
            "keyshift-bench: cold starts, round {round} of {} ({} processes) …",
            args.runs,
            subjects.len()
        );
        for subject in &subjects {
            samples.push(measure(subject, args.memory_mb, home.path()).await?);
        }
    }
    let python = figures_of(PYTHON, &samples, None);
    let functions = subjects
        .iter()
        .filter(|subject| subject.name != PYTHON)
        .map(|subject| figures_of(&subject.name, &samples, Some(&python)))
        .collect();
    let zips = match &args.zips {
        Some(dir) => zip_sizes(dir)?,
        None => Vec::new(),
    };
    Ok(ColdStartReport {
        python,
        functions,
        samples,
        memory_mb: args.memory_mb,
        zips,
    })
}

fn own_directory() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn default_bootstrap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench/python_rotator/bootstrap.py")
}

/// `DIR/<function>/bootstrap` when it exists, else `DIR/<function>`.
fn binary_of(dir: &Path, function: &str) -> Result<PathBuf, ColdStartError> {
    let unzipped = dir.join(function).join("bootstrap");
    if unzipped.is_file() {
        return Ok(unzipped);
    }
    let built = dir.join(function);
    if built.is_file() {
        return Ok(built);
    }
    Err(ColdStartError::NoBinary {
        function: function.to_owned(),
        path: built,
    })
}

/// The environment Lambda gives a function, with dummy credentials and refusing endpoints,
/// plus what keyshift's functions require (KMS key, state machine, queue).
fn lambda_env(name: &str, runtime_api: &str, memory_mb: u32, home: &Path) -> Vec<(String, String)> {
    let function = format!("keyshift-{name}");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/08/[$LATEST]keyshiftbench".to_owned(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIAKEYSHIFTBENCH000".to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "keyshift-bench-not-a-secret".to_owned(),
        ),
        ("AWS_SESSION_TOKEN", "keyshift-bench-not-a-token".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("AWS_ENDPOINT_URL", REFUSING_ENDPOINT.to_owned()),
        ("KEYSHIFT_AWS_ENDPOINT_URL", REFUSING_ENDPOINT.to_owned()),
        ("KEYSHIFT_KMS_KEY_ID", "alias/keyshift-bench".to_owned()),
        (
            "KEYSHIFT_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:000000000000:stateMachine:keyshift-rotate-workspace"
                .to_owned(),
        ),
        (
            "KEYSHIFT_DLQ_URL",
            "https://sqs.us-east-1.amazonaws.com/000000000000/keyshift-dlq".to_owned(),
        ),
        ("HOME", home.display().to_string()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("LANG", "C.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// Starts one process cold, serves it the probe, and measures it.
async fn measure(
    subject: &Subject,
    memory_mb: u32,
    home: &Path,
) -> Result<ColdStartSample, ColdStartError> {
    let io = |what: String| move |source| ColdStartError::Io { what, source };
    let api = RuntimeApi::start(&subject.name, PROBE_EVENT.to_owned())
        .await
        .map_err(io("starting the Runtime API emulator".to_owned()))?;
    let mut command = Command::new(&subject.program);
    command
        .args(&subject.args)
        .env_clear()
        .envs(lambda_env(&subject.name, &api.address(), memory_mb, home))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(io(format!("starting {}", subject.program.display())))?;
    let pid = child.id();
    let deadline = started + ANSWER_TIMEOUT;
    while !api.wait_answered(Duration::from_millis(5)).await {
        if has_exited(pid) || Instant::now() > deadline {
            break;
        }
    }
    let probe = api.probe();
    // Killing an exited (not yet reaped) child is harmless; the rusage covers its whole life.
    let _ = child.kill();
    let (_, peak_rss_kib) = tokio::task::spawn_blocking(move || wait_with_rusage(pid))
        .await
        .map_err(|error| ColdStartError::Io {
            what: format!("waiting for {}", subject.name),
            source: std::io::Error::other(error),
        })?
        .map_err(io(format!("waiting for {}", subject.name)))?;
    api.stop().await;
    let millis = |at: Option<Instant>| at.map(|at| (at - started).as_secs_f64() * 1_000.0);
    let (outcome, ok) = match &probe.outcome {
        Some(Outcome::Error(kind)) => (
            format!("error {}", kind.as_deref().unwrap_or("(no type)")),
            kind.as_deref() == Some(EXPECTED_ERROR),
        ),
        Some(Outcome::Response) => ("response".to_owned(), false),
        Some(Outcome::InitError(kind)) => (
            format!("init error {}", kind.as_deref().unwrap_or("(no type)")),
            false,
        ),
        None => ("no answer".to_owned(), false),
    };
    Ok(ColdStartSample {
        function: subject.name.clone(),
        init_ms: millis(probe.first_poll),
        first_response_ms: millis(probe.answered),
        peak_rss_mib: peak_rss_kib as f64 / 1024.0,
        outcome,
        ok,
    })
}

/// The medians of `function`'s runs, compared with `python`'s when given.
pub fn figures_of(
    function: &str,
    samples: &[ColdStartSample],
    python: Option<&FunctionFigures>,
) -> FunctionFigures {
    let own: Vec<&ColdStartSample> = samples.iter().filter(|s| s.function == function).collect();
    let ok: Vec<&ColdStartSample> = own.iter().copied().filter(|s| s.ok).collect();
    let init_ms = median(&ok.iter().filter_map(|s| s.init_ms).collect::<Vec<_>>());
    let first_response_ms = median(
        &ok.iter()
            .filter_map(|s| s.first_response_ms)
            .collect::<Vec<_>>(),
    );
    let peak_rss_mib = median(&ok.iter().map(|s| s.peak_rss_mib).collect::<Vec<_>>());
    let ratio = |numerator: Option<f64>, denominator: Option<f64>| match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let (init_speedup, response_speedup, rss_fraction) = match python {
        Some(python) => (
            ratio(python.init_ms, init_ms),
            ratio(python.first_response_ms, first_response_ms),
            ratio(peak_rss_mib, python.peak_rss_mib),
        ),
        None => (None, None, None),
    };
    let meets_targets = python.is_some()
        && !own.is_empty()
        && ok.len() == own.len()
        && init_speedup.is_some_and(|speedup| speedup >= INIT_SPEEDUP_TARGET)
        && rss_fraction.is_some_and(|fraction| fraction <= RSS_FRACTION_TARGET)
        && peak_rss_mib.is_some_and(|rss| rss < RSS_TARGET_MIB);
    FunctionFigures {
        function: function.to_owned(),
        init_ms,
        first_response_ms,
        peak_rss_mib,
        ok_runs: ok.len(),
        runs: own.len(),
        init_speedup,
        response_speedup,
        rss_fraction,
        meets_targets,
    }
}

/// The report as the table the bench prints.
pub fn render(report: &ColdStartReport) -> String {
    let number = |value: Option<f64>, digits: usize| {
        value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    let mut out = format!(
        "Cold start against a local Lambda Runtime API ({} MB functions; medians of {} runs;\n\
         the first event is refused as {EXPECTED_ERROR} without AWS calls)\n\n",
        report.memory_mb, report.python.runs
    );
    out.push_str(&format!(
        "{:<14} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>5} {:>8}\n",
        "function",
        "init ms",
        "1st rsp ms",
        "RSS MiB",
        "init x",
        "1st rsp x",
        "RSS frac",
        "ok",
        "targets"
    ));
    let mut rows = report.functions.clone();
    rows.push(report.python.clone());
    for row in &rows {
        out.push_str(&format!(
            "{:<14} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>5} {:>8}\n",
            row.function,
            number(row.init_ms, 1),
            number(row.first_response_ms, 1),
            number(row.peak_rss_mib, 1),
            number(row.init_speedup, 1),
            number(row.response_speedup, 1),
            number(row.rss_fraction, 3),
            format!("{}/{}", row.ok_runs, row.runs),
            if row.function == PYTHON {
                "base"
            } else if row.meets_targets {
                "met"
            } else {
                "MISSED"
            },
        ));
    }
    out.push_str(&format!(
        "\nTargets: init >= {INIT_SPEEDUP_TARGET:.0}x faster than Python (init x), peak RSS <= 1/3 of \
         Python's (RSS frac <= {RSS_FRACTION_TARGET:.3}) and < {RSS_TARGET_MIB:.0} MiB.\n"
    ));
    let failed: Vec<&ColdStartSample> = report.samples.iter().filter(|s| !s.ok).collect();
    for sample in failed {
        out.push_str(&format!(
            "  run of {} answered: {}\n",
            sample.function, sample.outcome
        ));
    }
    out.push_str(&render_zips(&report.zips));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(function: &str, init_ms: f64, rss: f64, ok: bool) -> ColdStartSample {
        ColdStartSample {
            function: function.to_owned(),
            init_ms: Some(init_ms),
            first_response_ms: Some(init_ms + 1.0),
            peak_rss_mib: rss,
            outcome: "error Input.Invalid".to_owned(),
            ok,
        }
    }

    #[test]
    fn ratios_compare_medians_and_targets_need_every_run_answered() {
        let samples = [
            sample(PYTHON, 200.0, 48.0, true),
            sample(PYTHON, 190.0, 47.0, true),
            sample(PYTHON, 210.0, 49.0, true),
            sample("verify", 7.0, 12.0, true),
            sample("verify", 8.0, 12.0, true),
            sample("verify", 30.0, 12.0, true),
            sample("mint-token", 7.0, 12.0, true),
            sample("mint-token", 7.0, 12.0, false),
        ];
        let python = figures_of(PYTHON, &samples, None);
        assert_eq!(python.init_ms, Some(200.0));
        assert!(
            !python.meets_targets,
            "the baseline has no targets of its own"
        );
        let verify = figures_of("verify", &samples, Some(&python));
        assert_eq!(verify.init_ms, Some(8.0));
        assert_eq!(verify.init_speedup, Some(25.0));
        assert_eq!(verify.rss_fraction, Some(0.25));
        assert!(verify.meets_targets);
        let mint = figures_of("mint-token", &samples, Some(&python));
        assert_eq!((mint.ok_runs, mint.runs), (1, 2));
        assert!(
            !mint.meets_targets,
            "a run that did not answer misses the targets"
        );
    }
}
