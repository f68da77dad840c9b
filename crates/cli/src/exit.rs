//! Exit codes and the CLI's error boundary.
//!
//! Scripts (CI jobs, cron wrappers) branch on the exit code, so each failure class has its own
//! stable number and every error message says which file or setting to fix.

use std::path::PathBuf;

use thiserror::Error;

/// Everything went as asked (for `asl test`: the run finished and matched `--expect`, if given).
pub const SUCCESS: u8 = 0;
/// The command ran, and what it ran reported failure: an execution FAILED, `validate` found
/// problems, `asl test` ended in a status other than `--expect`, the demo's invariants broke.
pub const FAILED: u8 = 1;
/// The command line itself is wrong (clap's own exit code for usage errors).
pub const USAGE: u8 = 2;
/// An input file (definition, mocks, config, policy) is missing, unreadable or invalid.
pub const BAD_INPUT: u8 = 3;
/// The environment let us down: the simulator could not start, AWS or Grafana could not be
/// reached, the runtime could not be built.
pub const ENVIRONMENT: u8 = 4;
/// `plan --detailed-exitcode` only: the plan has work to do.
pub const PLAN_HAS_WORK: u8 = 10;
/// `status` only: a token expires within the warning threshold or has expired, a rotation
/// is overdue, or a secret's staged token was never promoted.
pub const STATUS_ATTENTION: u8 = 11;

/// The CLI's error boundary: every failure a verb can report, each mapped to one exit code.
#[derive(Debug, Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but its content is not acceptable.
    #[error("{path}: {message}")]
    InvalidFile {
        /// The file (or a pseudo-path such as `--input`).
        path: String,
        /// What is wrong, naming the field where possible.
        message: String,
    },
    /// A command-line value is acceptable to clap but not to keyshift.
    #[error("invalid {flag}: {message}")]
    InvalidArgument {
        /// The flag, e.g. `--grace-period`.
        flag: String,
        /// What is wrong with it.
        message: String,
    },
    /// A setting the command needs is missing; the message is one sentence saying how to give
    /// it (`no AWS region: pass --region or set AWS_REGION`).
    #[error("{0}")]
    Usage(String),
    /// Something outside keyshift failed (simulator, AWS, Grafana, runtime).
    #[error("{context}: {message}")]
    Environment {
        /// What we were doing.
        context: String,
        /// What went wrong (no secrets).
        message: String,
    },
    /// The command ran and its subject failed (an execution, a validation, an expectation).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The documented exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::ReadFile { .. } | CliError::InvalidFile { .. } => BAD_INPUT,
            CliError::InvalidArgument { .. } | CliError::Usage(_) => USAGE,
            CliError::Environment { .. } => ENVIRONMENT,
            CliError::Failed(_) => FAILED,
        }
    }

    /// Shorthand for invalid file content.
    pub fn invalid_file(path: impl Into<String>, message: impl Into<String>) -> Self {
        CliError::InvalidFile {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Shorthand for environment failures.
    pub fn environment(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        CliError::Environment {
            context: context.into(),
            message: message.to_string(),
        }
    }
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}
