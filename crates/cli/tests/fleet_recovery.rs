//! Fleet recovery end to end on the local engine: 50 generated AMG workspaces, 5 of them
//! refused by their Grafana on every call during the migration. Exactly those 5 reach the DLQ
//! with what a replay needs; the faults clear; a replayer that crashes between its starts and
//! its deletes leaves every message in the queue; the next replay recognises its own earlier
//! starts, deletes, and all 50 converge with no workspace rotated twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keyshift_cli::demo::{DemoFleet, DemoOptions, DemoSession};
use keyshift_core::dead_letter::DeadLetterKind;
use keyshift_core::dead_letter::replay::ReplayAction;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{DeadLetterQueue, DlqMessage, ReceivedMessage};
use keyshift_core::steps::io::ExecutionInput;
use keyshift_local::InMemoryQueue;

const WORKSPACES: usize = 50;
const FAULTED: usize = 5;

/// The replayer's process dies after it started the replays and before any delete: every
/// delete fails, as the message's receipt would simply never be used. Counts what it refused.
struct CrashBeforeDelete {
    queue: Arc<InMemoryQueue>,
    refused_deletes: AtomicUsize,
}

#[async_trait]
impl DeadLetterQueue for CrashBeforeDelete {
    async fn send(&self, message: &DlqMessage) -> Result<()> {
        self.queue.send(message).await
    }

    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<ReceivedMessage>> {
        self.queue.receive(max, visibility).await
    }

    async fn delete(&self, _receipt: &str) -> Result<()> {
        self.refused_deletes.fetch_add(1, Ordering::SeqCst);
        Err(KeyshiftError::invalid_input(
            "receiptHandle",
            "the replayer crashed before deleting",
        ))
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        self.queue.release(receipt).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_workspaces_five_faulted_replayed_after_a_replayer_crash_all_converge_once() {
    let options = DemoOptions {
        fleet: DemoFleet::Generated(WORKSPACES),
        max_concurrency: 4,
        progress: false,
        faulted: FAULTED,
        observer: None,
    };
    let mut session = DemoSession::start(&options).await.unwrap();
    assert_eq!(session.world().workspaces.len(), WORKSPACES);
    session.migrate().await.unwrap();
    let faulted: BTreeSet<String> = session.faulted().iter().map(|w| w.key()).collect();
    assert_eq!(faulted.len(), FAULTED);

    // Exactly the faulted workspaces reached the DLQ, each once, with their context.
    let runtime = session.world().runtime.clone();
    let letters = runtime.dlq().messages();
    assert_eq!(letters.len(), FAULTED, "{letters:#?}");
    let mut lettered = BTreeSet::new();
    for letter in &letters {
        assert_eq!(letter.kind, DeadLetterKind::ExecutionFailed);
        assert_eq!(letter.failed_state.as_deref(), Some("DiscoverKeys"));
        assert_eq!(letter.error, "Aws.Failed");
        assert!(letter.cause.contains("AccessDenied"), "{}", letter.cause);
        assert_eq!(letter.state_machine_arn, runtime.state_machine_arn());
        assert_eq!(
            letter.execution_arn.as_deref(),
            Some(runtime.execution_arn(&letter.execution).as_str())
        );
        let input: ExecutionInput =
            serde_json::from_value(letter.execution_input.clone().unwrap()).unwrap();
        lettered.insert(input.workspace.key());
    }
    assert_eq!(lettered, faulted);
    let queue = runtime.dlq().queue();
    assert_eq!(queue.len(), FAULTED);

    // A replayer that crashes after starting: nothing is deleted, nothing is lost.
    let crashing = CrashBeforeDelete {
        queue: queue.clone(),
        refused_deletes: AtomicUsize::new(0),
    };
    let first = session.replay(&crashing).await;
    assert_eq!(first.started, FAULTED, "{first:#?}");
    assert_eq!(first.deleted, 0);
    assert_eq!(crashing.refused_deletes.load(Ordering::SeqCst), FAULTED);
    assert_eq!(queue.len(), FAULTED, "every message is still in the queue");

    // The next replay, once the messages are visible again, recognises the earlier starts.
    for message in queue.receive(10, Duration::ZERO).await.unwrap() {
        queue.release(&message.receipt).await.unwrap();
    }
    let second = session.replay(queue.as_ref()).await;
    assert_eq!(second.received, FAULTED, "{second:#?}");
    assert_eq!(second.already_replayed, FAULTED, "{second:#?}");
    assert_eq!((second.started, second.redriven), (0, 0));
    assert_eq!(second.deleted, FAULTED);
    assert!(
        second
            .messages
            .iter()
            .all(|m| matches!(m.action, ReplayAction::AlreadyReplayed { .. }))
    );
    assert!(queue.is_empty(), "the DLQ is empty");

    let (report, world) = session.rotate_and_report().await;
    // Every execution succeeded but the five faulted migrations; each faulted workspace has
    // exactly one replay, and it succeeded.
    assert!(report.all_good(), "{:#?}", report.checks);
    assert_eq!(report.executions.len(), 2 * WORKSPACES + FAULTED);
    let by_round = |round: &str| -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for execution in report.executions.iter().filter(|e| e.round == round) {
            map.entry(execution.workspace.clone())
                .or_default()
                .push(execution.status.clone());
        }
        map
    };
    let migration = by_round("migration");
    assert_eq!(migration.len(), WORKSPACES);
    for (workspace, statuses) in &migration {
        let expected = if faulted.contains(workspace) {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(statuses, &vec![expected.to_owned()], "{workspace}");
    }
    let replay = by_round("replay");
    assert_eq!(replay.keys().cloned().collect::<BTreeSet<_>>(), faulted);
    assert!(replay.values().all(|s| s == &vec!["SUCCEEDED".to_owned()]));
    let rotation = by_round("rotation");
    assert_eq!(rotation.len(), WORKSPACES);
    assert!(
        rotation
            .values()
            .all(|s| s == &vec!["SUCCEEDED".to_owned()])
    );

    for check in &report.checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }
    let checked: Vec<usize> = report.checks.iter().map(|c| c.checked).collect();
    let secrets = report.secrets.len();
    assert_eq!(secrets, 3 * WORKSPACES, "three live keys per workspace");
    assert_eq!(
        checked,
        vec![WORKSPACES, secrets, secrets, WORKSPACES, 1, FAULTED]
    );

    // No workspace rotated twice: each secret promoted once by the migration (or its replay)
    // and once by the rotation round, never more.
    let log = world.runtime.log();
    let mut promotions: BTreeMap<&str, usize> = BTreeMap::new();
    for promoted in &log.promoted {
        *promotions.entry(promoted.secret_id.as_str()).or_default() += 1;
    }
    assert_eq!(promotions.len(), secrets);
    assert!(
        promotions.values().all(|count| *count == 2),
        "{promotions:?}"
    );
    assert_eq!(report.migration.versions_promoted, secrets);
    assert_eq!(report.rotation.versions_promoted, secrets);
    world.sim.shutdown().await;
}
