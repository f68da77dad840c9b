//! Two dead-letter replayers draining one queue at once, on real SQS and Step Functions
//! (moto) through the SDK adapters dlq-replay uses.
//!
//! With a visibility timeout of zero every receive may hand a message another replayer holds,
//! so both replayers do see the same messages (asserted: some deliveries are handled by both);
//! each failure must still be replayed exactly once (one execution per failure, counted on
//! Step Functions), every copy of it deleted, and a later run must find nothing left to do.
//! Redrives are not covered here: moto does not implement RedriveExecution (the race of two
//! redrives is covered on in-memory fakes in `keyshift_core::dead_letter::replay`'s tests).

use std::collections::BTreeMap;
use std::time::Duration;

use keyshift_aws::{AwsContext, EndpointOverrides, SfnExecutionStarter, SqsDeadLetterQueue};
use keyshift_core::KeyshiftError;
use keyshift_core::dead_letter::replay::{ReplayOptions, ReplaySummary, replay_dead_letters};
use keyshift_core::dead_letter::{DeadLetterKind, DlqMessage};
use keyshift_core::ports::{DeadLetterQueue, SystemClock};
use keyshift_test_support::aws::{
    WAITING_MACHINE, create_queue, create_state_machine, execution_names,
};
use serde_json::json;

/// Distinct failures in the queue: failed starts, and caught failures of executions Step
/// Functions no longer knows (so each replay is a fresh start under the replay name).
const FAILED_STARTS: usize = 8;
const CAUGHT: usize = 6;

fn failed_start(machine: &str, name: &str) -> DlqMessage {
    let throttled = KeyshiftError::AwsThrottled {
        service: "states".into(),
        operation: "StartExecution".into(),
        retry_after: None,
    };
    DlqMessage::start_failed(
        machine,
        name,
        None,
        json!({"workspace": name}),
        &throttled,
        3,
        chrono::Utc::now(),
    )
}

fn caught(machine: &str, name: &str) -> DlqMessage {
    let execution_arn = format!(
        "{}:{name}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    );
    DlqMessage::parse(
        &json!({
            "schemaVersion": 1,
            "kind": "executionFailed",
            "stateMachineArn": machine,
            "execution": name,
            "executionArn": execution_arn,
            "failedState": "StageSecret",
            "error": "Rotation.InProgress",
            "cause": "rotation already in progress",
            "attempts": 1,
            "firstFailureTime": chrono::Utc::now().to_rfc3339(),
            "executionInput": {"workspace": name}
        })
        .to_string(),
    )
    .unwrap()
}

/// Every message to send: each failure once, and each caught failure a second time as the
/// status-change event of the same execution (both reach the queue on AWS).
fn dead_letters(machine: &str) -> (Vec<DlqMessage>, Vec<String>) {
    let mut messages = Vec::new();
    let mut replay_names = Vec::new();
    for index in 0..FAILED_STARTS {
        let message = failed_start(machine, &format!("ks-tick-{index}-20250301-0630"));
        replay_names.push(message.replay_execution_name());
        messages.push(message);
    }
    for index in 0..CAUGHT {
        let message = caught(machine, &format!("ks-caught-{index}"));
        replay_names.push(message.replay_execution_name());
        let mut event = message.clone();
        event.kind = DeadLetterKind::ExecutionStatusChange;
        event.failed_state = None;
        messages.push(message);
        messages.push(event);
    }
    (messages, replay_names)
}

/// One replayer's own clients, as a second Lambda invocation would have.
async fn replayer(
    endpoint: &str,
    queue_url: &str,
    machine: &str,
) -> (SqsDeadLetterQueue, SfnExecutionStarter) {
    let context = AwsContext::for_emulator(EndpointOverrides::for_all(endpoint)).await;
    (
        SqsDeadLetterQueue::new(context.sqs_client(), queue_url.to_owned()),
        SfnExecutionStarter::new(context.sfn_client(), machine.to_owned()),
    )
}

fn deliveries(summary: &ReplaySummary) -> usize {
    summary.messages.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replayers_at_once_replay_each_dead_letter_once() {
    let endpoint =
        keyshift_test_support::moto_or_skip!(two_replayers_at_once_replay_each_dead_letter_once);
    let context = AwsContext::for_emulator(EndpointOverrides::for_all(&endpoint)).await;
    let queue_url = create_queue(&context.sqs_client(), "keyshift-dlq-race").await;
    let sfn = context.sfn_client();
    let machine = create_state_machine(&sfn, "keyshift-race", WAITING_MACHINE).await;
    let (messages, replay_names) = dead_letters(&machine);
    let sender = SqsDeadLetterQueue::new(context.sqs_client(), queue_url.clone());
    for message in &messages {
        sender.send(message).await.unwrap();
    }
    assert_eq!(messages.len(), FAILED_STARTS + 2 * CAUGHT);

    let (first_queue, first_starter) = replayer(&endpoint, &queue_url, &machine).await;
    let (second_queue, second_starter) = replayer(&endpoint, &queue_url, &machine).await;
    let overlapping = ReplayOptions {
        visibility: Duration::ZERO,
        ..ReplayOptions::default()
    };
    let (first, second) = tokio::join!(
        replay_dead_letters(&first_queue, &first_starter, &SystemClock, &overlapping),
        replay_dead_letters(&second_queue, &second_starter, &SystemClock, &overlapping),
    );
    let (first, second) = (first.unwrap(), second.unwrap());

    // The replayers did meet: together they handled more deliveries than there were
    // messages, so some message was handled by both.
    let handled = deliveries(&first) + deliveries(&second);
    assert!(
        handled > messages.len(),
        "both replayers saw some message: {handled} deliveries of {} messages",
        messages.len()
    );
    assert_eq!(first.failed + second.failed, 0, "{first:?} {second:?}");
    for summary in [&first, &second] {
        assert_eq!(
            summary.started + summary.already_replayed,
            deliveries(summary),
            "every delivery is a start or a recognised replay: {summary:?}"
        );
        assert_eq!(summary.deleted, deliveries(summary), "{summary:?}");
    }
    // Both may report the same start: StartExecution with the name and input of a running
    // execution answers as if it started it (idempotent on Step Functions and moto), so a
    // replayer cannot tell its start from the other's. What counts is below, on Step
    // Functions itself.
    assert!(
        first.started + second.started >= replay_names.len(),
        "every failure was started by someone: {first:?} {second:?}"
    );

    // A later run finds only copies of failures already replayed (or nothing), and starts
    // nothing.
    let settle = ReplayOptions {
        visibility: Duration::from_secs(30),
        ..ReplayOptions::default()
    };
    let later = replay_dead_letters(&first_queue, &first_starter, &SystemClock, &settle)
        .await
        .unwrap();
    assert_eq!(
        later.started + later.redriven + later.failed,
        0,
        "{later:?}"
    );
    assert_eq!(later.already_replayed, later.received, "{later:?}");
    let last = replay_dead_letters(&second_queue, &second_starter, &SystemClock, &settle)
        .await
        .unwrap();
    assert_eq!(last.received, 0, "the queue is empty: {last:?}");

    // Counted on Step Functions: each failure's replay name ran exactly once, nothing else.
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for name in execution_names(&sfn, &machine).await {
        *runs.entry(name).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> =
        replay_names.iter().map(|name| (name.clone(), 1)).collect();
    assert_eq!(runs, expected, "one execution per dead letter");
}
