//! `keyshift dlq replay`: the dlq-replay Lambda's algorithm, run by an operator against the
//! deployed queue and state machine (SQS and Step Functions from the default AWS chain,
//! endpoints overridable with `KEYSHIFT_AWS_ENDPOINT_URL*`).

use std::time::Duration;

use clap::{Args, Subcommand};
use keyshift_aws::{AwsContext, SfnExecutionStarter, SqsDeadLetterQueue};
use keyshift_core::dead_letter::replay::{
    ReplayAction, ReplayOptions, ReplaySummary, replay_dead_letters,
};
use keyshift_core::ports::SystemClock;

use crate::cli::OutputFormat;
use crate::exit::CliError;

/// `keyshift dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Replay dead letters: redrive failed executions where Step Functions allows it, else
    /// start them afresh; delete each message once its replay started.
    Replay(DlqReplayArgs),
}

/// Arguments of `keyshift dlq replay`.
#[derive(Debug, Args)]
pub struct DlqReplayArgs {
    /// The dead-letter queue's URL.
    #[arg(long, env = "KEYSHIFT_DLQ_URL")]
    pub queue_url: String,
    /// The rotation state machine's ARN (fresh starts go there).
    #[arg(long, env = "KEYSHIFT_STATE_MACHINE_ARN")]
    pub state_machine_arn: String,
    /// Print what would be done; start, redrive and delete nothing (SQS still counts the
    /// receive).
    #[arg(long)]
    pub dry_run: bool,
    /// Handle at most this many messages.
    #[arg(long, default_value_t = 100)]
    pub max: usize,
    /// Leave messages received more often than this for the queue's redrive policy.
    #[arg(long, default_value_t = 5)]
    pub max_receives: u32,
    /// Seconds a received message stays hidden from other replayers.
    #[arg(long, default_value_t = 300)]
    pub visibility_timeout: u64,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Runs `keyshift dlq …`; exits 1 when a message could not be replayed or was malformed.
pub async fn dlq_command(command: DlqCommand) -> Result<u8, CliError> {
    match command {
        DlqCommand::Replay(args) => replay_command(args).await,
    }
}

async fn replay_command(args: DlqReplayArgs) -> Result<u8, CliError> {
    let aws = AwsContext::from_env().await;
    let queue = SqsDeadLetterQueue::new(aws.sqs_client(), args.queue_url.clone());
    let starter = SfnExecutionStarter::new(aws.sfn_client(), args.state_machine_arn.clone());
    let options = ReplayOptions {
        max_messages: args.max,
        visibility: Duration::from_secs(args.visibility_timeout),
        max_receives: args.max_receives,
        dry_run: args.dry_run,
    };
    let summary = replay_dead_letters(&queue, &starter, &SystemClock, &options)
        .await
        .map_err(|(partial, error)| {
            print_summary(&partial, args.output).ok();
            CliError::environment("receiving from the dead-letter queue", error)
        })?;
    print_summary(&summary, args.output)?;
    Ok(if summary.all_handled() { 0 } else { 1 })
}

fn print_summary(summary: &ReplaySummary, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => crate::print_json(summary),
        OutputFormat::Table => {
            print!("{}", summary_table(summary));
            Ok(())
        }
    }
}

/// The table `keyshift dlq replay` prints: one line per message, then the totals.
pub fn summary_table(summary: &ReplaySummary) -> String {
    let mut text = String::new();
    let verb = if summary.dry_run { "would " } else { "" };
    for message in &summary.messages {
        let (action, detail) = match &message.action {
            ReplayAction::Redriven { execution_arn } => {
                (format!("{verb}redrive"), execution_arn.clone())
            }
            ReplayAction::Started { execution, .. } => (format!("{verb}start"), execution.clone()),
            ReplayAction::AlreadyReplayed { execution } => {
                ("already replayed".to_owned(), execution.clone())
            }
            ReplayAction::AlreadySucceeded { execution_arn } => {
                ("already succeeded".to_owned(), execution_arn.clone())
            }
            ReplayAction::NotClosedYet { execution_arn } => {
                ("still running".to_owned(), execution_arn.clone())
            }
            ReplayAction::OverAttemptLimit { receive_count } => (
                "over attempt limit".to_owned(),
                format!("received {receive_count} times; left for the redrive policy"),
            ),
            ReplayAction::Malformed { error, reason } => {
                ("malformed".to_owned(), format!("{error}: {reason}"))
            }
            ReplayAction::NoInput => (
                "no input".to_owned(),
                "not redrivable and no execution input to start from".to_owned(),
            ),
            ReplayAction::OtherStateMachine { state_machine_arn } => (
                "other machine".to_owned(),
                format!("{state_machine_arn} is not this replayer's state machine; left"),
            ),
            ReplayAction::Failed { error, reason } => {
                ("failed".to_owned(), format!("{error}: {reason}"))
            }
        };
        let deleted = if message.deleted { "deleted" } else { "kept" };
        text.push_str(&format!(
            "{:<20} {:<8} {:<44} {}\n",
            action,
            deleted,
            message.execution.as_deref().unwrap_or("-"),
            detail
        ));
    }
    text.push_str(&format!(
        "{}{} received, {} redriven, {} started, {} already replayed, {} left over the limit, {} malformed, {} failed, {} deleted\n",
        if summary.dry_run { "dry run: " } else { "" },
        summary.received,
        summary.redriven,
        summary.started,
        summary.already_replayed,
        summary.over_attempt_limit,
        summary.malformed,
        summary.failed,
        summary.deleted
    ));
    text
}
