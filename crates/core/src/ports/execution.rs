//! Starting and redriving state-machine executions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What happened when asking for an execution by name, so fleet-start and dlq-replay can be
/// re-run safely: a duplicate name is information, not a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
#[serde(rename_all_fields = "camelCase")]
pub enum StartOutcome {
    /// A new execution started.
    Started {
        /// Its ARN.
        execution_arn: String,
    },
    /// An execution with this name and input is running (Step Functions' idempotent answer).
    AlreadyRunning {
        /// Its ARN.
        execution_arn: String,
    },
    /// The name is taken by a closed execution or one with another input
    /// (`ExecutionAlreadyExists`): this slot was already handled.
    AlreadyExists,
}

/// Execution status as Step Functions reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed,
    /// Timed out.
    TimedOut,
    /// Stopped by someone.
    Aborted,
    /// A redrive was requested and has not started yet.
    PendingRedrive,
}

impl ExecutionStatus {
    /// Whether the execution has finished (in any way other than success, redrive may apply).
    pub fn is_closed(self) -> bool {
        !matches!(self, Self::Running | Self::PendingRedrive)
    }
}

/// What dlq-replay needs to know about an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    /// Execution ARN.
    pub execution_arn: String,
    /// Execution name.
    pub name: String,
    /// Current status.
    pub status: ExecutionStatus,
    /// When it started.
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it stopped, if it has.
    #[serde(default)]
    pub stop_date: Option<DateTime<Utc>>,
    /// How often it has been redriven, so dlq-replay can tell a failure it already redrove
    /// from one still to redrive.
    #[serde(default)]
    pub redrive_count: u32,
}

/// Step Functions for one state machine (the per-workspace rotation machine).
#[async_trait]
pub trait ExecutionStarter: Send + Sync {
    /// The state machine this starter starts, so a dead letter of a failed start can name it.
    fn state_machine_arn(&self) -> &str;

    /// StartExecution with a deterministic name.
    async fn start(&self, name: &str, input: &serde_json::Value) -> Result<StartOutcome>;

    /// RedriveExecution; [`crate::KeyshiftError::ExecutionNotRedrivable`] when it cannot be.
    async fn redrive(&self, execution_arn: &str) -> Result<()>;

    /// DescribeExecution.
    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_step_functions_spelling() {
        let status: ExecutionStatus = serde_json::from_str(r#""PENDING_REDRIVE""#).unwrap();
        assert_eq!(status, ExecutionStatus::PendingRedrive);
        assert_eq!(
            serde_json::to_string(&ExecutionStatus::TimedOut).unwrap(),
            r#""TIMED_OUT""#
        );
        assert!(ExecutionStatus::Failed.is_closed());
        assert!(!ExecutionStatus::Running.is_closed());
        assert!(!ExecutionStatus::PendingRedrive.is_closed());
    }

    #[test]
    fn start_outcomes_are_tagged() {
        let started = StartOutcome::Started {
            execution_arn: "arn:x".into(),
        };
        assert_eq!(
            serde_json::to_value(&started).unwrap(),
            serde_json::json!({"outcome": "started", "executionArn": "arn:x"})
        );
        let exists: StartOutcome = serde_json::from_str(r#"{"outcome":"alreadyExists"}"#).unwrap();
        assert_eq!(exists, StartOutcome::AlreadyExists);
    }
}
