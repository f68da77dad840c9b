//! Error types at the engine's two boundaries: loading a definition, and the ASL errors that
//! flow through Retry/Catch while it runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The built-in ASL error names, spelled once so matching code cannot drift from them.
pub mod names {
    /// Wildcard matching every error except `States.Runtime` and `States.DataLimitExceeded`.
    pub const ALL: &str = "States.ALL";
    /// Wildcard matching every error except `States.Timeout`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A Task ran longer than its TimeoutSeconds, or the execution exceeded its own.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A data-handling fault (bad path, wrong type); never retried or caught.
    pub const RUNTIME: &str = "States.Runtime";
    /// Payload larger than the service allows; terminal like `States.Runtime`.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A Choice state matched no rule and has no Default.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed on its arguments.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A Map state saw more failed iterations than it tolerates.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    /// The error name Lambda reports when a function name is unknown.
    pub const LAMBDA_RESOURCE_NOT_FOUND: &str = "Lambda.ResourceNotFoundException";
}

/// An ASL error as states see it: a name that Retry/Catch match on, and a human cause.
/// It is what a Catch hands on as `{"Error", "Cause"}` and what a failed execution reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Matched against ErrorEquals.
    #[serde(rename = "Error")]
    pub error: String,
    /// Free text (often JSON) explaining the error.
    #[serde(rename = "Cause")]
    pub cause: String,
}

impl Failure {
    /// Builds a failure with any name; custom names come from task handlers and Fail states.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Failure {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A `States.Runtime` failure: bad paths and types, which ASL treats as terminal.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Failure::new(names::RUNTIME, cause)
    }

    /// A `States.IntrinsicFailure` from an intrinsic function.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Failure::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Whether Retry and Catch may see this error at all (the spec makes these two terminal).
    pub fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }

    /// Whether one ErrorEquals entry matches this error, applying the wildcard rules.
    pub fn matches(&self, pattern: &str) -> bool {
        if self.is_terminal() {
            return false;
        }
        match pattern {
            names::ALL => true,
            names::TASK_FAILED => self.error != names::TIMEOUT,
            other => other == self.error,
        }
    }

    /// The `{"Error","Cause"}` object a Catch passes to its ResultPath.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Error": self.error, "Cause": self.cause})
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

/// The error a task handler returns: `error` becomes the ASL error name (what ErrorEquals
/// matches), `cause` the explanation. Handlers must keep secrets out of both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    /// The ASL error name, e.g. `Service.Throttled`.
    pub error: String,
    /// Human-readable explanation.
    pub cause: String,
}

impl TaskError {
    /// Convenience constructor for handlers.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Why a definition was rejected at load time; every variant names where the problem is so a
/// user editing the ASL can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not JSON, or the top level is not an object with the required fields.
    #[error("the definition is not valid ASL JSON: {0}")]
    Malformed(String),
    /// A state object failed to parse or validate; `field` names the offending field.
    #[error("state '{state}', field '{field}': {message}")]
    InvalidState {
        /// The offending state's name.
        state: String,
        /// The ASL field at fault (`-` when serde could not name one).
        field: String,
        /// What rule the field breaks.
        message: String,
    },
    /// A transition (StartAt, Next, Default, Catch.Next) names a state that does not exist.
    #[error("state '{state}', field '{field}': no state named '{target}'")]
    UnknownTarget {
        /// The state holding the transition; for a bad StartAt, `(top level)` or the Map or
        /// Parallel branch whose StartAt it is.
        state: String,
        /// Which field holds the dangling name.
        field: String,
        /// The state name that does not exist, usually a typo.
        target: String,
    },
    /// A feature this engine does not implement, named so the gap is explicit.
    #[error("unsupported: {0}")]
    Unsupported(String),
}
