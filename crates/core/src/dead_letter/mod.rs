//! The one dead-letter message schema, and the replay of what it describes.
//!
//! Three things can fail without anyone watching: an execution whose error the state machine
//! caught (its Catch path sends a message), a start fleet-start could not make, and an
//! execution that ended FAILED, TIMED_OUT or ABORTED where no Catch could run (time-outs,
//! aborts, the DLQ send itself failing). The first two write a [`DlqMessage`] directly; the
//! third arrives as the EventBridge "Step Functions Execution Status Change" event, which the
//! EventBridge rule's SQS target delivers as is (an input transformer cannot embed the
//! execution input as JSON, only as a string). [`DlqMessage::parse`] is the one parser for all
//! of them, so the replayer, the CLI and the contract tests agree on what a message means.

pub mod replay;

use std::fmt;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::KeyshiftError;
use crate::model::WorkspaceRef;
use crate::naming::{MAX_EXECUTION_NAME_LEN, short_hash};
use crate::ports::ExecutionStatus;
use crate::secret::{REDACTED, scrub_secrets, strip_quoted_values};

/// The schema version this code writes and reads. A reader meeting another version refuses
/// the message by name instead of guessing, so a replayer older than its senders never
/// replays something it misunderstands.
pub const SCHEMA_VERSION: u32 = 1;

/// EventBridge's `detail-type` of the events Step Functions emits on every status change.
pub const STATUS_CHANGE_DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// EventBridge's `source` of Step Functions' own events.
pub const STATUS_CHANGE_SOURCE: &str = "aws.states";

/// What failed, which decides how it is replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeadLetterKind {
    /// The state machine caught an error and sent this message from its Catch path; the
    /// execution fails right after, so it can be redriven.
    ExecutionFailed,
    /// fleet-start could not start the execution: there is nothing to redrive, and starting it
    /// under its original name keeps a later retried tick from starting it twice.
    StartFailed,
    /// An execution ended FAILED, TIMED_OUT or ABORTED without its Catch running, reported by
    /// the EventBridge status-change event.
    ExecutionStatusChange,
}

impl DeadLetterKind {
    /// The spelling used in message bodies and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExecutionFailed => "executionFailed",
            Self::StartFailed => "startFailed",
            Self::ExecutionStatusChange => "executionStatusChange",
        }
    }
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One dead letter (schema version [`SCHEMA_VERSION`]): everything replay needs, and what an
/// operator needs to see what broke. Never carries a secret: the execution input holds only
/// references (secret ids, sealed tokens never), and [`DlqMessage::parse`] redacts any
/// credential-shaped text in the cause and the input regardless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqMessage {
    /// Always [`SCHEMA_VERSION`] when written by this code.
    pub schema_version: u32,
    /// What failed.
    pub kind: DeadLetterKind,
    /// The state machine the execution belongs (or was to belong) to.
    pub state_machine_arn: String,
    /// The execution name (`$$.Execution.Name`, or the name fleet-start tried).
    pub execution: String,
    /// The execution ARN, needed for a redrive; absent when the start itself failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// The workspace the execution worked on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceRef>,
    /// The execution's original input, to start afresh when a redrive is not possible; absent
    /// when EventBridge left it out of a large event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_input: Option<Value>,
    /// The ASL error name (e.g. `Verify.Failed`, `States.Timeout`).
    pub error: String,
    /// The error's cause text, scrubbed of credential-shaped text.
    pub cause: String,
    /// The state that failed, when known (the status-change event does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
    /// How the execution ended, for status-change events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExecutionStatus>,
    /// How many times this execution ran (1 + its redrive count) or fleet-start tried to start
    /// it; the replayer tells a message already redriven from one still to redrive by it.
    pub attempts: u32,
    /// When the failure was recorded.
    pub first_failure_time: DateTime<Utc>,
}

/// Why a body is not a usable dead letter. Each variant has a stable [`name`](Self::name) for
/// reports; messages quote no value from the body, which might hold anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadLetterError {
    /// The body is not JSON at all.
    #[error("the dead-letter body is not JSON: {reason}")]
    NotJson {
        /// serde's complaint, without quoted values.
        reason: String,
    },
    /// A JSON body with neither `schemaVersion` nor an EventBridge envelope.
    #[error(
        "the dead-letter body has no schemaVersion and is not an EventBridge event: it was not written by keyshift"
    )]
    MissingVersion,
    /// A version this code does not read.
    #[error(
        "dead-letter schemaVersion {found} is not supported: this replayer reads version {SCHEMA_VERSION}"
    )]
    UnsupportedVersion {
        /// The version found (as written, when not a number).
        found: String,
    },
    /// Version 1, but a field is missing, mistyped or impossible.
    #[error("the dead-letter body does not match schema version {SCHEMA_VERSION}: {reason}")]
    Invalid {
        /// What is wrong, naming the field.
        reason: String,
    },
    /// An EventBridge event, but not a Step Functions status change.
    #[error(
        "the EventBridge event is {detail_type:?} from {event_source:?}, not a Step Functions execution status change"
    )]
    UnknownEvent {
        /// The event's `source`.
        event_source: String,
        /// The event's `detail-type`.
        detail_type: String,
    },
    /// A status-change event for a status that is not a failure (RUNNING, SUCCEEDED …): the
    /// EventBridge rule's pattern should not have sent it.
    #[error("execution {execution} changed to {status}, which is not a failure to replay")]
    NotAFailure {
        /// The execution name.
        execution: String,
        /// The status reported.
        status: String,
    },
}

impl DeadLetterError {
    /// A stable name for reports and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotJson { .. } => "DeadLetter.NotJson",
            Self::MissingVersion => "DeadLetter.MissingVersion",
            Self::UnsupportedVersion { .. } => "DeadLetter.UnsupportedVersion",
            Self::Invalid { .. } => "DeadLetter.Invalid",
            Self::UnknownEvent { .. } => "DeadLetter.UnknownEvent",
            Self::NotAFailure { .. } => "DeadLetter.NotAFailure",
        }
    }
}

impl From<DeadLetterError> for KeyshiftError {
    /// A bad dead letter is bad input wherever it is forwarded.
    fn from(error: DeadLetterError) -> Self {
        KeyshiftError::invalid_input("deadLetter", error.to_string())
    }
}

/// The `detail` of a "Step Functions Execution Status Change" event (dates in epoch
/// milliseconds, input as a JSON string). `error`, `cause` and `redriveCount` appear on real
/// events but are not documented, so they are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChangeDetail {
    /// The execution ARN.
    pub execution_arn: String,
    /// The state machine ARN.
    pub state_machine_arn: String,
    /// The execution name.
    pub name: String,
    /// The new status, as Step Functions spells it.
    pub status: String,
    /// Start, epoch milliseconds.
    #[serde(default)]
    pub start_date: Option<i64>,
    /// Stop, epoch milliseconds.
    #[serde(default)]
    pub stop_date: Option<i64>,
    /// The execution input as a JSON string; absent for large inputs.
    #[serde(default)]
    pub input: Option<String>,
    /// The error name, on FAILED events.
    #[serde(default)]
    pub error: Option<String>,
    /// The cause, on FAILED events.
    #[serde(default)]
    pub cause: Option<String>,
    /// How often the execution has been redriven.
    #[serde(default)]
    pub redrive_count: Option<u32>,
}

/// Error names given to status changes that carry none, matching what Step Functions itself
/// reports for the same endings.
fn error_for_status(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::TimedOut => "States.Timeout",
        ExecutionStatus::Aborted => "States.Aborted",
        _ => "States.Failed",
    }
}

fn invalid(reason: impl Into<String>) -> DeadLetterError {
    DeadLetterError::Invalid {
        reason: reason.into(),
    }
}

fn serde_reason(error: &serde_json::Error) -> String {
    scrub_secrets(&strip_quoted_values(&error.to_string()))
}

/// Replaces every string in `value` that holds credential-shaped text, so a dead letter can be
/// logged and printed; identifiers and references pass unchanged.
fn redact_value(value: &mut Value) {
    match value {
        Value::String(text)
            if !text.contains(REDACTED) && scrub_secrets(text).contains(REDACTED) =>
        {
            *text = REDACTED.to_owned();
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(fields) => fields.values_mut().for_each(redact_value),
        _ => {}
    }
}

impl DlqMessage {
    /// Parses a queue body: a schema-v1 message, or a raw EventBridge status-change event
    /// (converted to kind [`DeadLetterKind::ExecutionStatusChange`]). The cause and the input
    /// come back redacted of credential-shaped text.
    pub fn parse(body: &str) -> Result<Self, DeadLetterError> {
        let value: Value =
            serde_json::from_str(body).map_err(|error| DeadLetterError::NotJson {
                reason: serde_reason(&error),
            })?;
        Self::from_value(value)
    }

    /// [`parse`](Self::parse) for a body already read as JSON.
    pub fn from_value(value: Value) -> Result<Self, DeadLetterError> {
        let Some(object) = value.as_object() else {
            return Err(invalid("the body is not a JSON object"));
        };
        if object.contains_key("detail-type") {
            return Self::from_status_change(value);
        }
        match object.get("schemaVersion") {
            None => return Err(DeadLetterError::MissingVersion),
            Some(version) if version.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
                return Err(DeadLetterError::UnsupportedVersion {
                    found: match version {
                        Value::Number(number) => number.to_string(),
                        Value::String(_) => "(a string)".to_owned(),
                        _ => "(not a number)".to_owned(),
                    },
                });
            }
            Some(_) => {}
        }
        let message: DlqMessage =
            serde_json::from_value(value).map_err(|error| invalid(serde_reason(&error)))?;
        message.checked()
    }

    fn from_status_change(value: Value) -> Result<Self, DeadLetterError> {
        let envelope: EventBridgeEvent<Value> =
            serde_json::from_value(value).map_err(|error| invalid(serde_reason(&error)))?;
        if envelope.source != STATUS_CHANGE_SOURCE
            || envelope.detail_type != STATUS_CHANGE_DETAIL_TYPE
        {
            return Err(DeadLetterError::UnknownEvent {
                event_source: scrub_secrets(&envelope.source),
                detail_type: scrub_secrets(&envelope.detail_type),
            });
        }
        let detail: ExecutionStatusChangeDetail = serde_json::from_value(envelope.detail)
            .map_err(|error| invalid(format!("detail: {}", serde_reason(&error))))?;
        let status: Option<ExecutionStatus> =
            serde_json::from_value(Value::String(detail.status.clone())).ok();
        let status = match status {
            Some(
                status @ (ExecutionStatus::Failed
                | ExecutionStatus::TimedOut
                | ExecutionStatus::Aborted),
            ) => status,
            _ => {
                return Err(DeadLetterError::NotAFailure {
                    execution: scrub_secrets(&detail.name),
                    status: scrub_secrets(&detail.status),
                });
            }
        };
        let first_failure_time = detail
            .stop_date
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .or(envelope.time)
            .ok_or_else(|| invalid("detail.stopDate and time are both missing"))?;
        let execution_input = detail
            .input
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        let workspace = execution_input
            .as_ref()
            .and_then(|input| input.get("workspace"))
            .and_then(|workspace| serde_json::from_value(workspace.clone()).ok());
        let message = DlqMessage {
            schema_version: SCHEMA_VERSION,
            kind: DeadLetterKind::ExecutionStatusChange,
            state_machine_arn: detail.state_machine_arn,
            execution: detail.name,
            execution_arn: Some(detail.execution_arn),
            workspace,
            execution_input,
            error: detail
                .error
                .unwrap_or_else(|| error_for_status(status).to_owned()),
            cause: detail
                .cause
                .unwrap_or_else(|| format!("the execution ended {}", detail.status)),
            failed_state: None,
            status: Some(status),
            attempts: detail.redrive_count.unwrap_or(0).saturating_add(1),
            first_failure_time,
        };
        message.checked()
    }

    /// The checks serde cannot express, and the redaction every parsed message gets.
    fn checked(mut self) -> Result<Self, DeadLetterError> {
        if self.execution.trim().is_empty() {
            return Err(invalid("execution must not be empty"));
        }
        if self.state_machine_arn.trim().is_empty() {
            return Err(invalid("stateMachineArn must not be empty"));
        }
        if self.attempts == 0 {
            return Err(invalid("attempts must be at least 1"));
        }
        if self.kind != DeadLetterKind::StartFailed && self.execution_arn.is_none() {
            return Err(invalid(format!(
                "executionArn is required for kind {}",
                self.kind
            )));
        }
        if self.kind == DeadLetterKind::StartFailed && self.execution_input.is_none() {
            return Err(invalid(
                "executionInput is required for kind startFailed: it is all a replay can start from",
            ));
        }
        self.cause = scrub_secrets(&self.cause);
        self.error = scrub_secrets(&self.error);
        if let Some(input) = self.execution_input.as_mut() {
            redact_value(input);
        }
        Ok(self)
    }

    /// The message fleet-start sends when a start failed for good.
    pub fn start_failed(
        state_machine_arn: impl Into<String>,
        execution: impl Into<String>,
        workspace: Option<WorkspaceRef>,
        execution_input: Value,
        error: &KeyshiftError,
        attempts: u32,
        first_failure_time: DateTime<Utc>,
    ) -> Self {
        let mut execution_input = execution_input;
        redact_value(&mut execution_input);
        DlqMessage {
            schema_version: SCHEMA_VERSION,
            kind: DeadLetterKind::StartFailed,
            state_machine_arn: state_machine_arn.into(),
            execution: execution.into(),
            execution_arn: None,
            workspace,
            execution_input: Some(execution_input),
            error: error.asl_name().to_owned(),
            cause: scrub_secrets(&error.to_string()),
            failed_state: None,
            status: None,
            attempts: attempts.max(1),
            first_failure_time,
        }
    }

    /// The body to send to the queue.
    pub fn to_body(&self) -> Result<String, KeyshiftError> {
        serde_json::to_string(self).map_err(|error| {
            KeyshiftError::invalid_input("deadLetter", scrub_secrets(&error.to_string()))
        })
    }

    /// Identifies this failure (not the message carrying it): the same failure delivered twice,
    /// or reported both by the Catch path and by the status-change event, has the same key; a
    /// later attempt of the same execution another.
    pub fn replay_key(&self) -> String {
        let execution = self.execution_arn.as_deref().unwrap_or(&self.execution);
        short_hash(&format!("{execution}\n{}", self.attempts))
    }

    /// The deterministic name of the fresh execution that replays this failure: the original
    /// name (minus an earlier replay suffix) plus `-replay-<key>`, at most 80 characters and
    /// without `:`, so two replayers starting it collide on the name instead of running twice.
    /// A failed start is replayed under its original name, which a retried tick would use too.
    pub fn replay_execution_name(&self) -> String {
        if self.kind == DeadLetterKind::StartFailed {
            return self.execution.clone();
        }
        let suffix = format!("{REPLAY_SUFFIX}{}", self.replay_key());
        let base = strip_replay_suffix(&self.execution);
        let room = MAX_EXECUTION_NAME_LEN.saturating_sub(suffix.len());
        let base: String = base
            .chars()
            .filter(|character| *character != ':')
            .take(room)
            .collect();
        format!("{base}{suffix}")
    }
}

/// Marks an execution started by a replay.
const REPLAY_SUFFIX: &str = "-replay-";

fn strip_replay_suffix(name: &str) -> &str {
    match name.rsplit_once(REPLAY_SUFFIX) {
        Some((base, key))
            if key.len() == 8 && key.chars().all(|character| character.is_ascii_hexdigit()) =>
        {
            base
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests;
