//! Replaying dead letters: redrive where Step Functions allows it, else start afresh.
//!
//! The rules, and why:
//! - A message is deleted only after its replay started (or was found to have started
//!   already): a crash between the start and the delete leaves the message in the queue, and
//!   the next replay recognises its own earlier start instead of losing or doubling it.
//! - Fresh executions get a deterministic name ([`DlqMessage::replay_execution_name`]), so two
//!   replayers at once collide on the name (`ExecutionAlreadyExists`, counted as already
//!   replayed) instead of running the rotation twice. A redrive is recognised by the
//!   execution's redrive count having moved past the one the message recorded.
//! - Messages received more often than [`ReplayOptions::max_receives`] are left alone for the
//!   queue's redrive policy to park; malformed ones, and ones naming another state machine,
//!   are reported and left the same way.
//! - A dry run decides exactly as a real run (it may describe executions) but starts,
//!   redrives and deletes nothing, and hands each message straight back to the queue.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::dead_letter::{DeadLetterKind, DlqMessage};
use crate::error::KeyshiftError;
use crate::ports::{
    Clock, DeadLetterQueue, ExecutionDescription, ExecutionStarter, ExecutionStatus,
    ReceivedMessage, StartOutcome,
};
use crate::secret::scrub_secrets;

/// How long after an execution closed Step Functions still redrives it.
pub const REDRIVE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// SQS's per-call maximum for ReceiveMessage.
const MAX_BATCH: u32 = 10;

/// What one replay run may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOptions {
    /// At most this many messages are handled in one run (`--max N`).
    pub max_messages: usize,
    /// How long a received message stays hidden from other replayers; longer than a replay
    /// of one message takes, so two replayers rarely see the same message at once.
    pub visibility: Duration,
    /// Messages received more often than this are left for the queue's redrive policy.
    pub max_receives: u32,
    /// Decide and report, but change nothing.
    pub dry_run: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            max_messages: 100,
            visibility: Duration::from_secs(300),
            max_receives: 5,
            dry_run: false,
        }
    }
}

/// The payload of a replay invocation (the schedule's input), so one schedule can run a dry
/// run or a smaller batch without redeploying. Unknown fields are ignored: an EventBridge
/// scheduled-event envelope is a valid request for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    /// Overrides [`ReplayOptions::max_messages`].
    #[serde(default)]
    pub max_messages: Option<usize>,
    /// Overrides [`ReplayOptions::dry_run`].
    #[serde(default)]
    pub dry_run: Option<bool>,
}

impl ReplayRequest {
    /// The options of this invocation, starting from the deployment's `defaults`.
    pub fn options(&self, defaults: &ReplayOptions) -> ReplayOptions {
        ReplayOptions {
            max_messages: self.max_messages.unwrap_or(defaults.max_messages),
            dry_run: self.dry_run.unwrap_or(defaults.dry_run),
            ..defaults.clone()
        }
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ReplayAction {
    /// RedriveExecution was accepted (or, in a dry run, would be called).
    Redriven {
        /// The execution redriven.
        execution_arn: String,
    },
    /// A fresh execution started (or, in a dry run, would start).
    Started {
        /// Its deterministic name.
        execution: String,
        /// Its ARN (absent in a dry run).
        #[serde(skip_serializing_if = "Option::is_none")]
        execution_arn: Option<String>,
    },
    /// Someone already replayed this failure: a name collision on the fresh execution, or the
    /// execution already redriven past the message.
    AlreadyReplayed {
        /// The execution that carries the earlier replay.
        execution: String,
    },
    /// The execution has succeeded since (an earlier redrive): nothing to replay.
    AlreadySucceeded {
        /// The execution.
        execution_arn: String,
    },
    /// The execution is still running its original attempt (the Catch path sends the message
    /// just before the execution fails): left for a later run.
    NotClosedYet {
        /// The execution.
        execution_arn: String,
    },
    /// Received more often than allowed: left for the queue's redrive policy to park.
    OverAttemptLimit {
        /// How often the queue has delivered it.
        receive_count: u32,
    },
    /// The body is not a dead letter: reported and left for the redrive policy.
    Malformed {
        /// The parser's error name.
        error: String,
        /// Its sentence.
        reason: String,
    },
    /// Not redrivable, and the message has no input to start afresh from: left in the queue.
    NoInput,
    /// The message names another state machine than the one this replayer starts (a rule or
    /// queue shared by mistake): replaying it here would run the wrong machine, so it is left
    /// for the redrive policy to park.
    OtherStateMachine {
        /// The state machine the message names.
        state_machine_arn: String,
    },
    /// A call failed; the message stays and is tried again after its visibility timeout.
    Failed {
        /// The ASL error name.
        error: String,
        /// The scrubbed cause.
        reason: String,
    },
}

/// One message of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayedMessage {
    /// The failed execution's name, when the body parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// The message's kind, when the body parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeadLetterKind>,
    /// How often the queue had delivered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_count: Option<u32>,
    /// What was (or, in a dry run, would be) done.
    #[serde(flatten)]
    pub action: ReplayAction,
    /// Whether the message was deleted from the queue.
    pub deleted: bool,
    /// Why the delete failed, when it did (the message comes back and is recognised as
    /// already replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_error: Option<String>,
}

/// What a run did, for the Lambda's result, logs and the CLI's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySummary {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Messages handled.
    pub received: usize,
    /// Redrives (to be) made.
    pub redriven: usize,
    /// Fresh executions (to be) started.
    pub started: usize,
    /// Failures someone had replayed already.
    pub already_replayed: usize,
    /// Executions that had succeeded since.
    pub already_succeeded: usize,
    /// Messages left because their execution had not closed yet.
    pub not_closed_yet: usize,
    /// Messages left for the redrive policy.
    pub over_attempt_limit: usize,
    /// Bodies that were not dead letters.
    pub malformed: usize,
    /// Messages with nothing to replay from.
    pub no_input: usize,
    /// Messages of another state machine, left alone.
    pub other_state_machine: usize,
    /// Replays that failed.
    pub failed: usize,
    /// Messages deleted.
    pub deleted: usize,
    /// Every message, in the order handled.
    pub messages: Vec<ReplayedMessage>,
}

impl ReplaySummary {
    fn record(&mut self, message: ReplayedMessage) {
        self.received += 1;
        match &message.action {
            ReplayAction::Redriven { .. } => self.redriven += 1,
            ReplayAction::Started { .. } => self.started += 1,
            ReplayAction::AlreadyReplayed { .. } => self.already_replayed += 1,
            ReplayAction::AlreadySucceeded { .. } => self.already_succeeded += 1,
            ReplayAction::NotClosedYet { .. } => self.not_closed_yet += 1,
            ReplayAction::OverAttemptLimit { .. } => self.over_attempt_limit += 1,
            ReplayAction::Malformed { .. } => self.malformed += 1,
            ReplayAction::NoInput => self.no_input += 1,
            ReplayAction::OtherStateMachine { .. } => self.other_state_machine += 1,
            ReplayAction::Failed { .. } => self.failed += 1,
        }
        if message.deleted {
            self.deleted += 1;
        }
        self.messages.push(message);
    }

    /// Whether everything received was dealt with (nothing failed or was left malformed), for
    /// exit codes.
    pub fn all_handled(&self) -> bool {
        self.failed == 0
            && self.malformed == 0
            && self.no_input == 0
            && self.other_state_machine == 0
    }
}

fn failed(error: &KeyshiftError) -> ReplayAction {
    ReplayAction::Failed {
        error: error.asl_name().to_owned(),
        reason: scrub_secrets(&error.to_string()),
    }
}

fn does_not_exist(error: &KeyshiftError) -> bool {
    match error {
        KeyshiftError::AwsFailed { detail, .. } => detail.starts_with("ExecutionDoesNotExist"),
        KeyshiftError::InputInvalid { .. } | KeyshiftError::ExecutionNotRedrivable { .. } => true,
        _ => false,
    }
}

/// Whether the execution was redriven after the failure the message records.
fn redriven_since(message: &DlqMessage, execution: &ExecutionDescription) -> bool {
    execution.redrive_count >= message.attempts
}

/// Drains up to [`ReplayOptions::max_messages`] messages from `queue` and replays each on
/// `starter`. Errors of single messages are reported in the summary; only a failing receive
/// ends the run early, returning what was done so far with the error.
pub async fn replay_dead_letters(
    queue: &dyn DeadLetterQueue,
    starter: &dyn ExecutionStarter,
    clock: &dyn Clock,
    options: &ReplayOptions,
) -> Result<ReplaySummary, (ReplaySummary, KeyshiftError)> {
    let mut summary = ReplaySummary {
        dry_run: options.dry_run,
        ..ReplaySummary::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    // A dry run hands every message back at the end, not at once, so later receives of the
    // same run reach the messages behind it.
    let mut to_release: Vec<String> = Vec::new();
    let outcome = loop {
        if summary.received >= options.max_messages {
            break Ok(());
        }
        let room = options.max_messages - summary.received;
        let batch_size = u32::try_from(room).unwrap_or(MAX_BATCH).min(MAX_BATCH);
        let batch = match queue.receive(batch_size, options.visibility).await {
            Ok(batch) => batch,
            Err(error) => break Err(error),
        };
        let mut fresh = 0;
        for received in batch {
            if options.dry_run {
                to_release.push(received.receipt.clone());
            }
            // A message seen twice in one run (a short visibility timeout, or SQS's
            // at-least-once delivery) is handled once.
            if !seen.insert(received.body.clone()) || summary.received >= options.max_messages {
                continue;
            }
            fresh += 1;
            let handled = replay_one(queue, starter, clock, options, &received).await;
            tracing::info!(
                execution = handled.execution.as_deref().unwrap_or("-"),
                action = ?handled.action,
                deleted = handled.deleted,
                "dead letter handled"
            );
            summary.record(handled);
        }
        if fresh == 0 {
            break Ok(());
        }
    };
    for receipt in to_release {
        if let Err(error) = queue.release(&receipt).await {
            tracing::warn!(reason = %error, "could not hand a message back after a dry run");
        }
    }
    match outcome {
        Ok(()) => Ok(summary),
        Err(error) => Err((summary, error)),
    }
}

async fn replay_one(
    queue: &dyn DeadLetterQueue,
    starter: &dyn ExecutionStarter,
    clock: &dyn Clock,
    options: &ReplayOptions,
    received: &ReceivedMessage,
) -> ReplayedMessage {
    let mut handled = ReplayedMessage {
        execution: None,
        kind: None,
        receive_count: received.receive_count,
        action: ReplayAction::NoInput,
        deleted: false,
        delete_error: None,
    };
    let message = match DlqMessage::parse(&received.body) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(error = error.name(), reason = %error, "malformed dead letter");
            handled.action = ReplayAction::Malformed {
                error: error.name().to_owned(),
                reason: error.to_string(),
            };
            return handled;
        }
    };
    handled.execution = Some(message.execution.clone());
    handled.kind = Some(message.kind);
    if let Some(count) = received.receive_count
        && count > options.max_receives
    {
        handled.action = ReplayAction::OverAttemptLimit {
            receive_count: count,
        };
        return handled;
    }
    if message.state_machine_arn != starter.state_machine_arn() {
        handled.action = ReplayAction::OtherStateMachine {
            state_machine_arn: message.state_machine_arn,
        };
        return handled;
    }
    handled.action = decide_and_act(starter, clock, options.dry_run, &message).await;
    let settled = matches!(
        handled.action,
        ReplayAction::Redriven { .. }
            | ReplayAction::Started { .. }
            | ReplayAction::AlreadyReplayed { .. }
            | ReplayAction::AlreadySucceeded { .. }
    );
    if settled && !options.dry_run {
        match queue.delete(&received.receipt).await {
            Ok(()) => handled.deleted = true,
            Err(error) => handled.delete_error = Some(scrub_secrets(&error.to_string())),
        }
    }
    handled
}

async fn decide_and_act(
    starter: &dyn ExecutionStarter,
    clock: &dyn Clock,
    dry_run: bool,
    message: &DlqMessage,
) -> ReplayAction {
    let execution_arn = match (&message.kind, &message.execution_arn) {
        (DeadLetterKind::StartFailed, _) | (_, None) => {
            return start_fresh(starter, dry_run, message).await;
        }
        (_, Some(arn)) => arn.clone(),
    };
    let execution = match starter.describe(&execution_arn).await {
        Ok(execution) => execution,
        Err(error) if does_not_exist(&error) => {
            return start_fresh(starter, dry_run, message).await;
        }
        Err(error) => return failed(&error),
    };
    match execution.status {
        ExecutionStatus::Succeeded => {
            return ReplayAction::AlreadySucceeded { execution_arn };
        }
        _ if redriven_since(message, &execution) => {
            return ReplayAction::AlreadyReplayed {
                execution: execution.name,
            };
        }
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
            return ReplayAction::NotClosedYet { execution_arn };
        }
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
    }
    let within_window = execution
        .stop_date
        .is_some_and(|stopped| clock.now() - stopped < REDRIVE_WINDOW);
    if !within_window {
        return start_fresh(starter, dry_run, message).await;
    }
    if dry_run {
        return ReplayAction::Redriven { execution_arn };
    }
    match starter.redrive(&execution_arn).await {
        Ok(()) => ReplayAction::Redriven { execution_arn },
        Err(KeyshiftError::ExecutionNotRedrivable { .. }) => {
            // Another replayer may have redriven it a moment ago; only if it has not is a
            // fresh start the replay.
            match starter.describe(&execution_arn).await {
                Ok(now) if redriven_since(message, &now) || !now.status.is_closed() => {
                    ReplayAction::AlreadyReplayed {
                        execution: now.name,
                    }
                }
                Ok(now) if now.status == ExecutionStatus::Succeeded => {
                    ReplayAction::AlreadySucceeded { execution_arn }
                }
                Ok(_) => start_fresh(starter, dry_run, message).await,
                Err(error) => failed(&error),
            }
        }
        Err(error) => failed(&error),
    }
}

async fn start_fresh(
    starter: &dyn ExecutionStarter,
    dry_run: bool,
    message: &DlqMessage,
) -> ReplayAction {
    let Some(input) = &message.execution_input else {
        return ReplayAction::NoInput;
    };
    let name = message.replay_execution_name();
    if dry_run {
        return ReplayAction::Started {
            execution: name,
            execution_arn: None,
        };
    }
    match starter.start(&name, input).await {
        Ok(StartOutcome::Started { execution_arn }) => ReplayAction::Started {
            execution: name,
            execution_arn: Some(execution_arn),
        },
        Ok(StartOutcome::AlreadyRunning { .. } | StartOutcome::AlreadyExists) => {
            ReplayAction::AlreadyReplayed { execution: name }
        }
        Err(error) => failed(&error),
    }
}

#[cfg(test)]
mod tests;
