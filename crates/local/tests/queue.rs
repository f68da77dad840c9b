//! The in-process DLQ: visibility timeout, receive count, receipt handles, batch limit.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use keyshift_core::model::WorkspaceRef;
use keyshift_core::ports::{DeadLetterQueue, DlqMessage, ManualClock};
use keyshift_local::InMemoryQueue;

fn message(execution: &str) -> DlqMessage {
    DlqMessage::start_failed(
        "arn:aws:states:eu-west-1:123456789012:stateMachine:rotate",
        execution,
        Some(WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap()),
        serde_json::json!({"workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"}}),
        &keyshift_core::KeyshiftError::GrafanaUnauthorized {
            operation: "POST /api/serviceaccounts".to_owned(),
            detail: "HTTP 401".to_owned(),
        },
        1,
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    )
}

fn queue() -> (Arc<ManualClock>, InMemoryQueue) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    ));
    let queue = InMemoryQueue::with_clock(clock.clone());
    (clock, queue)
}

/// How many messages one receive of at most `max` returns, hiding them for `hide_secs`.
async fn visible(queue: &InMemoryQueue, max: u32, hide_secs: u64) -> usize {
    queue
        .receive(max, Duration::from_secs(hide_secs))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn received_messages_hide_then_reappear_with_a_higher_count() {
    let (clock, queue) = queue();
    queue.send(&message("exec-1")).await.unwrap();
    let first = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, Some(1));
    let parsed: DlqMessage = serde_json::from_str(&first[0].body).unwrap();
    assert_eq!(parsed, message("exec-1"));

    assert_eq!(visible(&queue, 10, 30).await, 0);
    clock.advance(chrono::Duration::seconds(29));
    assert_eq!(visible(&queue, 10, 30).await, 0);
    clock.advance(chrono::Duration::seconds(2));
    let second = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, Some(2));
    assert_ne!(second[0].receipt, first[0].receipt);

    // The outdated handle succeeds but deletes nothing, as on SQS.
    queue.delete(&first[0].receipt).await.unwrap();
    assert_eq!(queue.len(), 1);
    queue.delete(&second[0].receipt).await.unwrap();
    assert!(queue.is_empty());
}

#[tokio::test]
async fn batches_are_capped_at_ten_and_at_the_request() {
    let (_clock, queue) = queue();
    for index in 0..12 {
        queue
            .send(&message(&format!("exec-{index}")))
            .await
            .unwrap();
    }
    assert_eq!(visible(&queue, 3, 5).await, 3);
    assert_eq!(visible(&queue, 50, 5).await, 9);
    assert_eq!(visible(&queue, 50, 5).await, 0);
    assert_eq!(queue.len(), 12);
}

#[tokio::test]
async fn raw_bodies_and_malformed_receipts() {
    let (_clock, queue) = queue();
    queue.send_raw("not json at all");
    let received = queue.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(received[0].body, "not json at all");
    // Visibility zero: immediately visible again.
    assert_eq!(queue.receive(1, Duration::ZERO).await.unwrap().len(), 1);
    let error = queue.delete("garbage").await.unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
    assert_eq!(queue.bodies(), vec!["not json at all".to_owned()]);
}

#[tokio::test]
async fn a_released_message_is_visible_again_at_once() {
    let (_clock, queue) = queue();
    queue.send(&message("exec-1")).await.unwrap();
    let first = queue.receive(10, Duration::from_secs(300)).await.unwrap();
    assert_eq!(visible(&queue, 10, 300).await, 0);
    queue.release(&first[0].receipt).await.unwrap();
    let again = queue.receive(10, Duration::from_secs(300)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, Some(2));
    // An outdated handle releases nothing.
    queue.release(&first[0].receipt).await.unwrap();
    assert_eq!(visible(&queue, 10, 300).await, 0);
}
