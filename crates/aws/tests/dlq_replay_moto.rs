//! dlq-replay's algorithm on the real SDK clients against moto: dead letters in an SQS queue,
//! a state machine in moto's Step Functions.
//!
//! Gap: moto does not implement RedriveExecution (it answers HTTP 500), so a redrivable
//! failure here ends as a failed replay that stays in the queue; the redrive call itself is
//! tested on mocked clients in `keyshift_aws::sfn`'s unit tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use keyshift_aws::{AwsContext, SfnExecutionStarter, SqsDeadLetterQueue};
use keyshift_core::KeyshiftError;
use keyshift_core::dead_letter::DlqMessage;
use keyshift_core::dead_letter::replay::{ReplayAction, ReplayOptions, replay_dead_letters};
use keyshift_core::ports::{DeadLetterQueue, ExecutionStarter, StartOutcome, SystemClock};
use keyshift_test_support::aws::{
    WAITING_MACHINE, create_queue, create_state_machine, execution_names,
};
use serde_json::json;

/// A dead-letter queue and a state machine whose executions wait an hour, on moto.
struct Moto {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue: SqsDeadLetterQueue,
    sfn: aws_sdk_sfn::Client,
    machine: String,
    starter: SfnExecutionStarter,
}

impl Moto {
    async fn new(context: &AwsContext) -> Self {
        let sqs = context.sqs_client();
        let queue_url = create_queue(&sqs, "keyshift-dlq").await;
        let sfn = context.sfn_client();
        let machine = create_state_machine(&sfn, "keyshift-rotate", WAITING_MACHINE).await;
        Self {
            queue: SqsDeadLetterQueue::new(sqs.clone(), queue_url.clone()),
            starter: SfnExecutionStarter::new(sfn.clone(), machine.clone()),
            sqs,
            queue_url,
            sfn,
            machine,
        }
    }
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
            "failedState": "VerifyToken",
            "error": "Verify.Failed",
            "cause": "token did not authenticate",
            "attempts": 1,
            "firstFailureTime": chrono::Utc::now().to_rfc3339(),
            "executionInput": {"workspace": name}
        })
        .to_string(),
    )
    .unwrap()
}

fn failed_start(machine: &str, name: &str) -> DlqMessage {
    DlqMessage::start_failed(
        machine,
        name,
        None,
        json!({"workspace": name}),
        &KeyshiftError::AwsThrottled {
            service: "states".into(),
            operation: "StartExecution".into(),
            retry_after: None,
        },
        3,
        chrono::Utc::now(),
    )
}

#[tokio::test]
async fn replay_starts_deletes_what_it_replayed_and_leaves_what_failed() {
    let Some(context) = common::moto_context("dlq_replay_on_moto").await else {
        return;
    };
    let Moto {
        sqs,
        queue_url,
        queue,
        sfn,
        machine,
        starter,
    } = Moto::new(&context).await;

    // A recent failure of a real (aborted) execution: redrivable, which moto cannot do.
    let StartOutcome::Started { execution_arn } = starter
        .start("aborted-1", &json!({"workspace": "aborted-1"}))
        .await
        .unwrap()
    else {
        panic!("the execution to abort did not start");
    };
    sfn.stop_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .unwrap();

    let gone = caught(&machine, "gone-1");
    let tick = failed_start(&machine, "ks-tick-20250301-0630");
    let bad_name = failed_start(&machine, "has space");
    for message in [&gone, &tick, &caught(&machine, "aborted-1"), &bad_name] {
        queue.send(message).await.unwrap();
    }
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("{this is not a dead letter")
        .send()
        .await
        .unwrap();

    // A dry run first: reports, starts nothing, hands every message back.
    let dry = ReplayOptions {
        dry_run: true,
        visibility: Duration::from_secs(30),
        ..ReplayOptions::default()
    };
    let summary = replay_dead_letters(&queue, &starter, &SystemClock, &dry)
        .await
        .unwrap();
    assert_eq!(summary.received, 5, "{summary:?}");
    assert_eq!(
        (
            summary.started,
            summary.redriven,
            summary.malformed,
            summary.deleted
        ),
        (3, 1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(
        executions(&sfn, &machine).await,
        BTreeSet::from(["aborted-1".to_owned()])
    );

    let options = ReplayOptions {
        visibility: Duration::from_secs(2),
        ..ReplayOptions::default()
    };
    let summary = replay_dead_letters(&queue, &starter, &SystemClock, &options)
        .await
        .unwrap();
    assert_eq!(
        summary.received, 5,
        "the dry run handed everything back: {summary:?}"
    );
    assert_eq!((summary.started, summary.deleted), (2, 2), "{summary:?}");
    assert_eq!((summary.failed, summary.malformed), (2, 1), "{summary:?}");
    let failures: BTreeSet<(String, String)> = summary
        .messages
        .iter()
        .filter_map(|message| match &message.action {
            ReplayAction::Failed { error, .. } => {
                Some((message.execution.clone().unwrap_or_default(), error.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        BTreeSet::from([
            ("aborted-1".to_owned(), "Aws.Unavailable".to_owned()),
            ("has space".to_owned(), "Input.Invalid".to_owned()),
        ]),
        "moto's missing RedriveExecution and an invalid name fail and stay"
    );
    assert_eq!(
        executions(&sfn, &machine).await,
        BTreeSet::from([
            "aborted-1".to_owned(),
            gone.replay_execution_name(),
            "ks-tick-20250301-0630".to_owned(),
        ])
    );

    // What is left comes back after its visibility timeout; what was replayed does not.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let again = replay_dead_letters(&queue, &starter, &SystemClock, &options)
        .await
        .unwrap();
    let left: BTreeSet<String> = again
        .messages
        .iter()
        .map(|message| {
            message
                .execution
                .clone()
                .unwrap_or_else(|| "(malformed)".into())
        })
        .collect();
    assert_eq!(
        left,
        BTreeSet::from([
            "(malformed)".to_owned(),
            "aborted-1".to_owned(),
            "has space".to_owned(),
        ])
    );
    assert_eq!(again.started, 0);
    assert!(
        again
            .messages
            .iter()
            .all(|message| message.receive_count == Some(3))
    );
}

#[tokio::test]
async fn a_replay_interrupted_before_the_delete_is_recognised_on_moto() {
    let Some(context) = common::moto_context("dlq_replay_interrupted_on_moto").await else {
        return;
    };
    let moto = Moto::new(&context).await;
    let (queue, sfn, machine, starter) = (&moto.queue, &moto.sfn, &moto.machine, &moto.starter);
    let message = caught(machine, "gone-2");
    queue.send(&message).await.unwrap();

    // The first replayer started the execution and died before deleting the message.
    let name = message.replay_execution_name();
    let started = starter
        .start(&name, message.execution_input.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(started, StartOutcome::Started { .. }),
        "{started:?}"
    );

    let summary = replay_dead_letters(queue, starter, &SystemClock, &ReplayOptions::default())
        .await
        .unwrap();
    assert_eq!(
        summary.messages.first().map(|message| &message.action),
        Some(&ReplayAction::AlreadyReplayed {
            execution: name.clone()
        }),
        "{summary:?}"
    );
    assert_eq!(summary.deleted, 1);
    assert_eq!(
        executions(sfn, machine).await,
        BTreeSet::from([name]),
        "one execution, not two"
    );
}

async fn executions(client: &aws_sdk_sfn::Client, machine: &str) -> BTreeSet<String> {
    execution_names(client, machine).await.into_iter().collect()
}
