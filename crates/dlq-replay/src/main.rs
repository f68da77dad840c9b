//! The dlq-replay Lambda: drains the dead-letter queue, redriving or restarting what failed.
//!
//! Invoked on a schedule (EventBridge Scheduler, input: an optional
//! `{"maxMessages": N, "dryRun": true}`), not by an SQS event source mapping, because:
//! - a failure that reached the DLQ usually needs its cause fixed first; an event source would
//!   replay it within seconds, before anyone could, and burn its receive count;
//! - polling runs exactly the algorithm the CLI's `keyshift dlq replay` runs
//!   (`keyshift_core::dead_letter::replay`), deleting a message only after its replay started
//!   and leaving messages over the attempt limit for the queue's redrive policy; with an event
//!   source the Lambda service would delete and count instead, and the two paths would differ.
//!
//! Deliberately thin: configuration from the environment, the SQS and Step Functions adapters,
//! and the core function. It links no simulator and no local engine.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use keyshift_aws::{AwsContext, SfnExecutionStarter, SqsDeadLetterQueue};
use keyshift_core::dead_letter::replay::{
    ReplayOptions, ReplayRequest, ReplaySummary, replay_dead_letters,
};
use keyshift_core::ports::SystemClock;
use keyshift_lambda::{ConfigError, parsed_env, required_env};

/// The dead-letter queue's URL.
const QUEUE_URL_ENV: &str = "KEYSHIFT_DLQ_URL";
/// The rotation state machine's ARN, for fresh starts.
const STATE_MACHINE_ENV: &str = "KEYSHIFT_STATE_MACHINE_ARN";
/// Receives after which a message is left for the redrive policy (default 5); set it below
/// the queue's `maxReceiveCount`.
const MAX_RECEIVES_ENV: &str = "KEYSHIFT_REPLAY_MAX_RECEIVES";
/// Visibility timeout of received messages, seconds (default 300).
const VISIBILITY_ENV: &str = "KEYSHIFT_REPLAY_VISIBILITY_SECONDS";

struct Replayer {
    queue: SqsDeadLetterQueue,
    starter: SfnExecutionStarter,
    defaults: ReplayOptions,
}

async fn build() -> Result<Replayer, ConfigError> {
    let queue_url = required_env(QUEUE_URL_ENV, "set it to the dead-letter queue's URL")?;
    let state_machine_arn = required_env(
        STATE_MACHINE_ENV,
        "set it to the rotation state machine's ARN",
    )?;
    let mut defaults = ReplayOptions::default();
    if let Some(max_receives) = parsed_env::<u32>(MAX_RECEIVES_ENV, "a whole number")? {
        defaults.max_receives = max_receives;
    }
    if let Some(seconds) = parsed_env::<u64>(VISIBILITY_ENV, "a whole number of seconds")? {
        defaults.visibility = Duration::from_secs(seconds);
    }
    let aws = AwsContext::from_env().await;
    Ok(Replayer {
        queue: SqsDeadLetterQueue::new(aws.sqs_client(), queue_url),
        starter: SfnExecutionStarter::new(aws.sfn_client(), state_machine_arn),
        defaults,
    })
}

async fn handle(
    replayer: Arc<Replayer>,
    request: ReplayRequest,
) -> keyshift_core::Result<ReplaySummary> {
    let options = request.options(&replayer.defaults);
    match replay_dead_letters(&replayer.queue, &replayer.starter, &SystemClock, &options).await {
        Ok(summary) => {
            log_summary(&summary, "dead-letter replay finished");
            Ok(summary)
        }
        Err((partial, error)) => {
            log_summary(&partial, "dead-letter replay stopped early");
            Err(error)
        }
    }
}

fn log_summary(summary: &ReplaySummary, what: &str) {
    tracing::info!(
        dry_run = summary.dry_run,
        received = summary.received,
        redriven = summary.redriven,
        started = summary.started,
        already_replayed = summary.already_replayed,
        left_over_limit = summary.over_attempt_limit,
        malformed = summary.malformed,
        failed = summary.failed,
        deleted = summary.deleted,
        "{what}"
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::serve(build, handle).await
}
