//! An in-process [`DeadLetterQueue`] with SQS's visibility-timeout semantics.
//!
//! dlq-replay's rule "delete only after the replay started" is only meaningful if a received
//! message comes back when it is not deleted; this queue reproduces that (hidden for the
//! visibility timeout, then visible again with a higher receive count) on an injectable
//! clock, so tests can fast-forward instead of sleeping.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{Clock, DeadLetterQueue, DlqMessage, ReceivedMessage, SystemClock};
use uuid::Uuid;

/// SQS returns at most ten messages per ReceiveMessage call.
const SQS_MAX_BATCH: u32 = 10;

#[derive(Debug)]
struct QueuedMessage {
    id: Uuid,
    body: String,
    receive_count: u32,
    invisible_until: Option<DateTime<Utc>>,
    current_receipt: Option<String>,
}

/// An SQS-like queue in memory. Receipt handles are per receive: an old handle of a message
/// received again no longer deletes it, as on SQS.
pub struct InMemoryQueue {
    messages: Mutex<Vec<QueuedMessage>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for InMemoryQueue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InMemoryQueue")
            .field("messages", &self.lock().len())
            .finish()
    }
}

impl Default for InMemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryQueue {
    /// A queue on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A queue on a given clock (a `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            messages: Mutex::new(Vec::new()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<QueuedMessage>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enqueues a raw body, e.g. one the state machine's `sqs:sendMessage` task produced, or a
    /// malformed one in tests.
    pub fn send_raw(&self, body: impl Into<String>) {
        self.lock().push(QueuedMessage {
            id: Uuid::new_v4(),
            body: body.into(),
            receive_count: 0,
            invisible_until: None,
            current_receipt: None,
        });
    }

    /// Messages in the queue, visible or not (SQS's ApproximateNumberOfMessages plus
    /// NotVisible), for tests and the CLI's status output.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no message is left.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every body still queued, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|message| message.body.clone())
            .collect()
    }
}

#[async_trait]
impl DeadLetterQueue for InMemoryQueue {
    async fn send(&self, message: &DlqMessage) -> Result<()> {
        self.send_raw(message.to_body()?);
        Ok(())
    }

    async fn receive(
        &self,
        max_messages: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        let now = self.clock.now();
        let hidden_for = chrono::Duration::from_std(visibility)
            .map_err(|_| KeyshiftError::invalid_input("visibilityTimeout", "too long"))?;
        let limit = max_messages.clamp(1, SQS_MAX_BATCH) as usize;
        let mut received = Vec::new();
        for message in self.lock().iter_mut() {
            if received.len() >= limit {
                break;
            }
            if message.invisible_until.is_some_and(|until| until > now) {
                continue;
            }
            message.receive_count = message.receive_count.saturating_add(1);
            message.invisible_until = Some(now + hidden_for);
            let receipt = format!("{}#{}", message.id, Uuid::new_v4());
            message.current_receipt = Some(receipt.clone());
            received.push(ReceivedMessage {
                receipt,
                body: message.body.clone(),
                receive_count: Some(message.receive_count),
            });
        }
        Ok(received)
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        let well_formed = receipt.split_once('#').is_some_and(|(id, nonce)| {
            Uuid::parse_str(id).is_ok() && Uuid::parse_str(nonce).is_ok()
        });
        if !well_formed {
            return Err(KeyshiftError::invalid_input(
                "receiptHandle",
                "not a receipt handle issued by this queue",
            ));
        }
        // As on SQS, an outdated handle (the message was received again since) or one of an
        // already deleted message succeeds without deleting anything.
        self.lock()
            .retain(|message| message.current_receipt.as_deref() != Some(receipt));
        Ok(())
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        // As ChangeMessageVisibility to 0: only the current handle of a message counts.
        for message in self.lock().iter_mut() {
            if message.current_receipt.as_deref() == Some(receipt) {
                message.invisible_until = None;
            }
        }
        Ok(())
    }
}
