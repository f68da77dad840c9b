//! Every branch of the replay on in-memory ports with SQS and Step Functions semantics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::error::Result;
use crate::ports::ManualClock;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:rotate";

fn arn_of(name: &str) -> String {
    format!("arn:aws:states:us-east-1:123456789012:execution:rotate:{name}")
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap()
}

#[derive(Debug)]
struct Queued {
    body: String,
    receive_count: u32,
    invisible_until: Option<DateTime<Utc>>,
    receipt: Option<String>,
}

/// SQS semantics: hidden for the visibility timeout, then visible with a higher count;
/// receipts are per receive. `fail_deletes` injects a crash between start and delete.
struct MemoryQueue {
    messages: Mutex<Vec<Queued>>,
    clock: Arc<ManualClock>,
    next_receipt: AtomicUsize,
    batch_sizes: Mutex<Vec<u32>>,
    fail_deletes: AtomicUsize,
    delete_faults_fired: AtomicUsize,
    releases: AtomicUsize,
}

impl MemoryQueue {
    fn new(clock: Arc<ManualClock>) -> Self {
        Self {
            messages: Mutex::new(Vec::new()),
            clock,
            next_receipt: AtomicUsize::new(0),
            batch_sizes: Mutex::new(Vec::new()),
            fail_deletes: AtomicUsize::new(0),
            delete_faults_fired: AtomicUsize::new(0),
            releases: AtomicUsize::new(0),
        }
    }

    fn push(&self, body: impl Into<String>) {
        self.messages.lock().unwrap().push(Queued {
            body: body.into(),
            receive_count: 0,
            invisible_until: None,
            receipt: None,
        });
    }

    fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    fn visible(&self) -> usize {
        let now = self.clock.now();
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|message| message.invisible_until.is_none_or(|until| until <= now))
            .count()
    }
}

#[async_trait]
impl DeadLetterQueue for MemoryQueue {
    async fn send(&self, message: &DlqMessage) -> Result<()> {
        self.push(message.to_body()?);
        Ok(())
    }

    async fn receive(
        &self,
        max_messages: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        self.batch_sizes.lock().unwrap().push(max_messages);
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(visibility).unwrap();
        let mut out = Vec::new();
        for message in self.messages.lock().unwrap().iter_mut() {
            if out.len() >= max_messages.min(10) as usize {
                break;
            }
            if message.invisible_until.is_some_and(|hidden| hidden > now) {
                continue;
            }
            message.receive_count += 1;
            message.invisible_until = Some(until);
            let receipt = format!("r-{}", self.next_receipt.fetch_add(1, Ordering::SeqCst));
            message.receipt = Some(receipt.clone());
            out.push(ReceivedMessage {
                receipt,
                body: message.body.clone(),
                receive_count: Some(message.receive_count),
            });
        }
        Ok(out)
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        if self
            .fail_deletes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            self.delete_faults_fired.fetch_add(1, Ordering::SeqCst);
            return Err(KeyshiftError::AwsUnavailable {
                service: "sqs".into(),
                operation: "DeleteMessage".into(),
                detail: "injected crash".into(),
            });
        }
        let mut messages = self.messages.lock().unwrap();
        let before = messages.len();
        messages.retain(|message| message.receipt.as_deref() != Some(receipt));
        if messages.len() == before {
            return Err(KeyshiftError::invalid_input("receiptHandle", "stale"));
        }
        Ok(())
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        for message in self.messages.lock().unwrap().iter_mut() {
            if message.receipt.as_deref() == Some(receipt) {
                message.invisible_until = None;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Execution {
    input: Value,
    status: ExecutionStatus,
    stop_date: Option<DateTime<Utc>>,
    redrive_count: u32,
}

/// Step Functions semantics: names are unique per machine, a duplicate with the same input
/// while running is idempotent, a redrive needs a failed execution closed < 14 days.
struct MemoryStepFunctions {
    executions: Mutex<HashMap<String, Execution>>,
    clock: Arc<ManualClock>,
    starts: AtomicUsize,
    redrives: AtomicUsize,
    refuse_redrives: bool,
    fail_starts: bool,
}

impl MemoryStepFunctions {
    fn new(clock: Arc<ManualClock>) -> Self {
        Self {
            executions: Mutex::new(HashMap::new()),
            clock,
            starts: AtomicUsize::new(0),
            redrives: AtomicUsize::new(0),
            refuse_redrives: false,
            fail_starts: false,
        }
    }

    fn closed(&self, name: &str, status: ExecutionStatus, stopped: DateTime<Utc>, redrives: u32) {
        self.executions.lock().unwrap().insert(
            name.to_owned(),
            Execution {
                input: json!({"workspace": name}),
                status,
                stop_date: Some(stopped),
                redrive_count: redrives,
            },
        );
    }

    fn get(&self, name: &str) -> Option<Execution> {
        self.executions.lock().unwrap().get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.executions.lock().unwrap().keys().cloned().collect();
        names.sort();
        names
    }
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[async_trait]
impl ExecutionStarter for MemoryStepFunctions {
    fn state_machine_arn(&self) -> &str {
        MACHINE
    }
    async fn start(&self, name: &str, input: &Value) -> Result<StartOutcome> {
        if self.fail_starts {
            return Err(KeyshiftError::AwsThrottled {
                service: "states".into(),
                operation: "StartExecution".into(),
                retry_after: None,
            });
        }
        let mut executions = self.executions.lock().unwrap();
        if let Some(existing) = executions.get(name) {
            return Ok(
                if existing.status == ExecutionStatus::Running && &existing.input == input {
                    StartOutcome::AlreadyRunning {
                        execution_arn: arn_of(name),
                    }
                } else {
                    StartOutcome::AlreadyExists
                },
            );
        }
        self.starts.fetch_add(1, Ordering::SeqCst);
        executions.insert(
            name.to_owned(),
            Execution {
                input: input.clone(),
                status: ExecutionStatus::Running,
                stop_date: None,
                redrive_count: 0,
            },
        );
        Ok(StartOutcome::Started {
            execution_arn: arn_of(name),
        })
    }

    async fn redrive(&self, execution_arn: &str) -> Result<()> {
        let now = self.clock.now();
        let mut executions = self.executions.lock().unwrap();
        let refuse = |reason: &str| KeyshiftError::ExecutionNotRedrivable {
            execution: execution_arn.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(execution) = executions.get_mut(name_of(execution_arn)) else {
            return Err(refuse("ExecutionDoesNotExist"));
        };
        if self.refuse_redrives {
            return Err(refuse("history too long"));
        }
        let redrivable = matches!(
            execution.status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        ) && execution
            .stop_date
            .is_some_and(|stopped| now - stopped < REDRIVE_WINDOW);
        if !redrivable {
            return Err(refuse("not redrivable"));
        }
        self.redrives.fetch_add(1, Ordering::SeqCst);
        execution.status = ExecutionStatus::Running;
        execution.redrive_count += 1;
        execution.stop_date = None;
        Ok(())
    }

    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
        let name = name_of(execution_arn);
        let execution = self.get(name).ok_or_else(|| KeyshiftError::AwsFailed {
            service: "states".into(),
            operation: "DescribeExecution".into(),
            detail: "ExecutionDoesNotExist: no such execution".into(),
        })?;
        Ok(ExecutionDescription {
            execution_arn: execution_arn.to_owned(),
            name: name.to_owned(),
            status: execution.status,
            start_date: None,
            stop_date: execution.stop_date,
            redrive_count: execution.redrive_count,
        })
    }
}

struct World {
    clock: Arc<ManualClock>,
    queue: MemoryQueue,
    sfn: MemoryStepFunctions,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(start_time()));
    World {
        queue: MemoryQueue::new(clock.clone()),
        sfn: MemoryStepFunctions::new(clock.clone()),
        clock,
    }
}

impl World {
    async fn replay(&self, options: &ReplayOptions) -> ReplaySummary {
        replay_dead_letters(&self.queue, &self.sfn, self.clock.as_ref(), options)
            .await
            .unwrap()
    }
}

fn caught(name: &str, attempts: u32) -> DlqMessage {
    DlqMessage {
        schema_version: crate::dead_letter::SCHEMA_VERSION,
        kind: DeadLetterKind::ExecutionFailed,
        state_machine_arn: MACHINE.into(),
        execution: name.into(),
        execution_arn: Some(arn_of(name)),
        workspace: None,
        execution_input: Some(json!({"workspace": name})),
        error: "Verify.Failed".into(),
        cause: "no".into(),
        failed_state: Some("VerifyToken".into()),
        status: None,
        attempts,
        first_failure_time: start_time(),
    }
}

fn body(message: &DlqMessage) -> String {
    message.to_body().unwrap()
}

fn only(summary: &ReplaySummary) -> &ReplayedMessage {
    assert_eq!(summary.messages.len(), 1, "{summary:?}");
    &summary.messages[0]
}

#[tokio::test]
async fn a_recent_failure_is_redriven_and_deleted() {
    let world = world();
    world.sfn.closed(
        "ws-1",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(3),
        0,
    );
    world.queue.push(body(&caught("ws-1", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(
        only(&summary).action,
        ReplayAction::Redriven {
            execution_arn: arn_of("ws-1")
        }
    );
    assert!(only(&summary).deleted);
    assert_eq!((summary.redriven, summary.deleted), (1, 1));
    assert_eq!(world.sfn.redrives.load(Ordering::SeqCst), 1);
    assert_eq!(world.sfn.starts.load(Ordering::SeqCst), 0);
    assert_eq!(world.sfn.get("ws-1").unwrap().redrive_count, 1);
    assert_eq!(world.queue.len(), 0);
}

#[tokio::test]
async fn timed_out_and_aborted_executions_are_redriven_too() {
    for status in [ExecutionStatus::TimedOut, ExecutionStatus::Aborted] {
        let world = world();
        world
            .sfn
            .closed("ws-1", status, start_time() - chrono::Duration::hours(1), 0);
        world.queue.push(body(&caught("ws-1", 1)));
        let summary = world.replay(&ReplayOptions::default()).await;
        assert_eq!(summary.redriven, 1, "{status:?}: {summary:?}");
        assert_eq!(world.queue.len(), 0);
    }
}

#[tokio::test]
async fn an_old_failure_starts_afresh_under_the_replay_name() {
    let world = world();
    world.sfn.closed(
        "ws-1",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(15),
        0,
    );
    let message = caught("ws-1", 1);
    world.queue.push(body(&message));
    let summary = world.replay(&ReplayOptions::default()).await;
    let name = message.replay_execution_name();
    assert_eq!(
        only(&summary).action,
        ReplayAction::Started {
            execution: name.clone(),
            execution_arn: Some(arn_of(&name))
        }
    );
    assert_eq!(
        world.sfn.get(&name).unwrap().input,
        json!({"workspace": "ws-1"}),
        "original input"
    );
    assert_eq!(world.sfn.redrives.load(Ordering::SeqCst), 0);
    assert_eq!((summary.started, summary.deleted), (1, 1));
}

#[tokio::test]
async fn a_refused_redrive_falls_back_to_a_fresh_start() {
    let mut world = world();
    world.sfn.refuse_redrives = true;
    world.sfn.closed(
        "ws-1",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(1),
        0,
    );
    world.queue.push(body(&caught("ws-1", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(summary.started, 1, "{summary:?}");
    assert_eq!(world.sfn.starts.load(Ordering::SeqCst), 1);
    assert_eq!(world.queue.len(), 0);
}

#[tokio::test]
async fn an_unknown_execution_and_a_failed_start_are_started() {
    let world = world();
    world.queue.push(body(&caught("gone", 1)));
    let failed_start = DlqMessage::start_failed(
        MACHINE,
        "ks-tick-1",
        None,
        json!({"workspace": "w"}),
        &KeyshiftError::AwsThrottled {
            service: "states".into(),
            operation: "StartExecution".into(),
            retry_after: None,
        },
        3,
        start_time(),
    );
    world.queue.push(body(&failed_start));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(summary.started, 2, "{summary:?}");
    assert_eq!(
        world.sfn.names(),
        vec![
            caught("gone", 1).replay_execution_name(),
            "ks-tick-1".to_owned()
        ]
    );
    assert_eq!(world.queue.len(), 0);
}

#[tokio::test]
async fn what_was_replayed_before_is_recognised_and_deleted() {
    let world = world();
    // Name collision: a fresh start of this failure already exists.
    let old = caught("old", 1);
    world.sfn.closed(
        "old",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(20),
        0,
    );
    world.sfn.closed(
        &old.replay_execution_name(),
        ExecutionStatus::Succeeded,
        start_time(),
        0,
    );
    world.queue.push(body(&old));
    // Redriven since: the execution's redrive count passed the message's.
    world.sfn.closed(
        "redriven",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(1),
        1,
    );
    world.queue.push(body(&caught("redriven", 1)));
    // Succeeded since.
    world
        .sfn
        .closed("healed", ExecutionStatus::Succeeded, start_time(), 1);
    world.queue.push(body(&caught("healed", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(
        (summary.already_replayed, summary.already_succeeded),
        (2, 1),
        "{summary:?}"
    );
    assert_eq!(summary.deleted, 3);
    assert_eq!(world.sfn.starts.load(Ordering::SeqCst), 0);
    assert_eq!(world.sfn.redrives.load(Ordering::SeqCst), 0);
    assert_eq!(world.queue.len(), 0);
}

#[tokio::test]
async fn a_later_failure_after_a_redrive_is_redriven_again() {
    let world = world();
    world.sfn.closed(
        "ws-1",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::hours(2),
        1,
    );
    world.queue.push(body(&caught("ws-1", 2)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(summary.redriven, 1, "{summary:?}");
    assert_eq!(world.sfn.get("ws-1").unwrap().redrive_count, 2);
}

#[tokio::test]
async fn an_execution_still_running_its_first_attempt_is_left() {
    let world = world();
    world.sfn.executions.lock().unwrap().insert(
        "ws-1".into(),
        Execution {
            input: json!({}),
            status: ExecutionStatus::Running,
            stop_date: None,
            redrive_count: 0,
        },
    );
    world.queue.push(body(&caught("ws-1", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(
        only(&summary).action,
        ReplayAction::NotClosedYet {
            execution_arn: arn_of("ws-1")
        }
    );
    assert!(!only(&summary).deleted);
    assert_eq!(world.queue.len(), 1);
}

#[tokio::test]
async fn messages_over_the_attempt_limit_are_left_for_the_redrive_policy() {
    let world = world();
    world.queue.push(body(&caught("ws-1", 1)));
    let options = ReplayOptions {
        max_receives: 2,
        visibility: Duration::from_secs(10),
        ..ReplayOptions::default()
    };
    // Two receives whose replay fails (no execution to describe would start it, so make the
    // start fail): the third receive is over the limit.
    let mut world = world;
    world.sfn.fail_starts = true;
    for round in 1..=2 {
        let summary = world.replay(&options).await;
        assert_eq!(summary.failed, 1, "round {round}: {summary:?}");
        world.clock.advance(chrono::Duration::seconds(11));
    }
    world.sfn.fail_starts = false;
    let summary = world.replay(&options).await;
    assert_eq!(
        only(&summary).action,
        ReplayAction::OverAttemptLimit { receive_count: 3 }
    );
    assert_eq!(summary.over_attempt_limit, 1);
    assert_eq!(
        world.sfn.starts.load(Ordering::SeqCst),
        0,
        "nothing replayed"
    );
    assert_eq!(world.queue.len(), 1, "left in the queue for SQS to park");
}

#[tokio::test]
async fn malformed_bodies_are_reported_and_left_while_the_rest_is_replayed() {
    let world = world();
    world.queue.push("{not json");
    world.queue.push(r#"{"schemaVersion": 9}"#);
    world.queue.push(body(&caught("gone", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(
        (summary.malformed, summary.started, summary.deleted),
        (2, 1, 1),
        "{summary:?}"
    );
    let errors: Vec<&str> = summary
        .messages
        .iter()
        .filter_map(|message| match &message.action {
            ReplayAction::Malformed { error, .. } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        ["DeadLetter.NotJson", "DeadLetter.UnsupportedVersion"]
    );
    assert_eq!(world.queue.len(), 2);
    assert!(!summary.all_handled());
}

#[tokio::test]
async fn a_failing_start_leaves_the_message() {
    let mut world = world();
    world.sfn.fail_starts = true;
    world.queue.push(body(&caught("gone", 1)));
    let summary = world.replay(&ReplayOptions::default()).await;
    match &only(&summary).action {
        ReplayAction::Failed { error, .. } => assert_eq!(error, "Aws.Throttled"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!((summary.failed, summary.deleted), (1, 0));
    assert_eq!(world.queue.len(), 1);
}

#[tokio::test]
async fn a_message_of_another_state_machine_is_left_untouched() {
    let world = world();
    let mut message = caught("elsewhere", 1);
    message.state_machine_arn =
        "arn:aws:states:eu-west-1:123456789012:stateMachine:someone-elses".into();
    world.queue.push(body(&message));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(
        only(&summary).action,
        ReplayAction::OtherStateMachine {
            state_machine_arn: message.state_machine_arn.clone()
        }
    );
    assert_eq!(
        (
            summary.other_state_machine,
            summary.started,
            summary.redriven
        ),
        (1, 0, 0)
    );
    assert!(!summary.all_handled());
    assert_eq!(world.queue.len(), 1, "left for the redrive policy");
}

#[tokio::test]
async fn a_message_without_input_that_cannot_be_redriven_is_left() {
    let world = world();
    let mut message = caught("gone", 1);
    message.execution_input = None;
    world.queue.push(body(&message));
    let summary = world.replay(&ReplayOptions::default()).await;
    assert_eq!(only(&summary).action, ReplayAction::NoInput);
    assert_eq!(world.queue.len(), 1);
}

#[tokio::test]
async fn a_dry_run_reports_and_touches_nothing() {
    let world = world();
    world.sfn.closed(
        "recent",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(1),
        0,
    );
    world.queue.push(body(&caught("recent", 1)));
    world.queue.push(body(&caught("gone", 1)));
    world.queue.push("garbage");
    let options = ReplayOptions {
        dry_run: true,
        ..ReplayOptions::default()
    };
    let summary = world.replay(&options).await;
    assert!(summary.dry_run);
    assert_eq!(
        (
            summary.redriven,
            summary.started,
            summary.malformed,
            summary.deleted
        ),
        (1, 1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(world.sfn.starts.load(Ordering::SeqCst), 0);
    assert_eq!(world.sfn.redrives.load(Ordering::SeqCst), 0);
    assert_eq!(world.sfn.names(), ["recent"]);
    assert_eq!(world.queue.len(), 3);
    assert_eq!(world.queue.visible(), 3, "every message handed back");
    assert_eq!(world.queue.releases.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn receives_in_batches_of_at_most_ten_up_to_the_maximum() {
    let world = world();
    for index in 0..25 {
        world.queue.push(body(&caught(&format!("gone-{index}"), 1)));
    }
    let options = ReplayOptions {
        max_messages: 23,
        ..ReplayOptions::default()
    };
    let summary = world.replay(&options).await;
    assert_eq!(summary.started, 23);
    assert_eq!(*world.queue.batch_sizes.lock().unwrap(), [10, 10, 3]);
    assert_eq!(world.queue.len(), 2);
    let rest = world.replay(&ReplayOptions::default()).await;
    assert_eq!(rest.started, 2);
    assert_eq!(world.sfn.starts.load(Ordering::SeqCst), 25);
}

#[tokio::test]
async fn a_crash_between_start_and_delete_is_recognised_on_the_next_run() {
    for redrivable in [false, true] {
        let world = world();
        if redrivable {
            world.sfn.closed(
                "ws-1",
                ExecutionStatus::Failed,
                start_time() - chrono::Duration::days(1),
                0,
            );
        }
        world.queue.push(body(&caught("ws-1", 1)));
        world.queue.fail_deletes.store(1, Ordering::SeqCst);
        let options = ReplayOptions {
            visibility: Duration::from_secs(30),
            ..ReplayOptions::default()
        };
        let first = world.replay(&options).await;
        assert_eq!(
            world.queue.delete_faults_fired.load(Ordering::SeqCst),
            1,
            "the fault fired"
        );
        assert!(!only(&first).deleted);
        assert!(only(&first).delete_error.is_some());
        assert_eq!(world.queue.len(), 1, "the message is not lost");

        world.clock.advance(chrono::Duration::seconds(31));
        let second = world.replay(&options).await;
        assert!(
            matches!(only(&second).action, ReplayAction::AlreadyReplayed { .. }),
            "redrivable={redrivable}: {second:?}"
        );
        assert!(only(&second).deleted);
        assert_eq!(world.queue.len(), 0);
        let replays =
            world.sfn.starts.load(Ordering::SeqCst) + world.sfn.redrives.load(Ordering::SeqCst);
        assert_eq!(replays, 1, "redrivable={redrivable}: replayed exactly once");
    }
}

#[tokio::test]
async fn two_replayers_of_one_failure_replay_it_once() {
    for redrivable in [false, true] {
        let world = world();
        if redrivable {
            world.sfn.closed(
                "ws-1",
                ExecutionStatus::Failed,
                start_time() - chrono::Duration::days(1),
                0,
            );
        }
        // The same failure twice: SQS's at-least-once delivery, or the Catch message and the
        // status-change event of one execution.
        let other_queue = MemoryQueue::new(world.clock.clone());
        world.queue.push(body(&caught("ws-1", 1)));
        let mut event = caught("ws-1", 1);
        event.kind = DeadLetterKind::ExecutionStatusChange;
        event.failed_state = None;
        other_queue.push(body(&event));
        let options = ReplayOptions::default();
        let (first, second) = tokio::join!(
            replay_dead_letters(&world.queue, &world.sfn, world.clock.as_ref(), &options),
            replay_dead_letters(&other_queue, &world.sfn, world.clock.as_ref(), &options),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        let replays =
            world.sfn.starts.load(Ordering::SeqCst) + world.sfn.redrives.load(Ordering::SeqCst);
        assert_eq!(replays, 1, "redrivable={redrivable}: {first:?} {second:?}");
        assert_eq!(first.already_replayed + second.already_replayed, 1);
        assert_eq!(first.deleted + second.deleted, 2);
        assert_eq!(world.queue.len() + other_queue.len(), 0);
    }
}

#[tokio::test]
async fn a_redrive_refused_because_another_replayer_just_redrove_is_not_doubled() {
    /// Redrives as another replayer would have, a moment before this one's call.
    struct Raced(MemoryStepFunctions);

    #[async_trait]
    impl ExecutionStarter for Raced {
        fn state_machine_arn(&self) -> &str {
            self.0.state_machine_arn()
        }
        async fn start(&self, name: &str, input: &Value) -> Result<StartOutcome> {
            self.0.start(name, input).await
        }
        async fn redrive(&self, execution_arn: &str) -> Result<()> {
            self.0.redrive(execution_arn).await?;
            Err(KeyshiftError::ExecutionNotRedrivable {
                execution: execution_arn.to_owned(),
                reason: "execution is running".into(),
            })
        }
        async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
            self.0.describe(execution_arn).await
        }
    }

    let world = world();
    let raced = Raced(MemoryStepFunctions::new(world.clock.clone()));
    raced.0.closed(
        "ws-1",
        ExecutionStatus::Failed,
        start_time() - chrono::Duration::days(1),
        0,
    );
    world.queue.push(body(&caught("ws-1", 1)));
    let summary = replay_dead_letters(
        &world.queue,
        &raced,
        world.clock.as_ref(),
        &ReplayOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        matches!(only(&summary).action, ReplayAction::AlreadyReplayed { .. }),
        "{summary:?}"
    );
    assert_eq!(raced.0.redrives.load(Ordering::SeqCst), 1, "the race fired");
    assert_eq!(raced.0.starts.load(Ordering::SeqCst), 0, "no second replay");
    assert_eq!(world.queue.len(), 0);
}

#[test]
fn requests_override_the_deployment_defaults() {
    let defaults = ReplayOptions {
        max_receives: 7,
        ..ReplayOptions::default()
    };
    let empty: ReplayRequest = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty.options(&defaults), defaults);
    let scheduled_event: ReplayRequest = serde_json::from_value(
        json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
    )
    .unwrap();
    assert_eq!(scheduled_event, ReplayRequest::default());
    let request: ReplayRequest =
        serde_json::from_value(json!({"maxMessages": 3, "dryRun": true})).unwrap();
    let options = request.options(&defaults);
    assert_eq!(
        (options.max_messages, options.dry_run, options.max_receives),
        (3, true, 7)
    );
}
