//! The local event queue: where local runs and the demo publish rotation events, so they can
//! be printed and counted the way a consumer's SQS target would receive them from EventBridge.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use keyshift_core::error::Result;
use keyshift_core::ports::{EVENT_SOURCE, EventPublisher, RotationEvent};

/// Keeps every published event in publication order.
#[derive(Debug, Default)]
pub struct LocalEventQueue {
    published: Mutex<Vec<RotationEvent>>,
}

impl LocalEventQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything published so far, oldest first.
    pub fn published(&self) -> Vec<RotationEvent> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many events of `detail_type` were published.
    pub fn count(&self, detail_type: &str) -> usize {
        self.published()
            .iter()
            .filter(|event| event.detail_type == detail_type)
            .count()
    }

    /// One event as EventBridge would deliver it to a target (`source`, `detail-type`,
    /// `detail`), for printing.
    pub fn envelope(event: &RotationEvent) -> serde_json::Value {
        serde_json::json!({
            "source": EVENT_SOURCE,
            "detail-type": event.detail_type,
            "detail": event.detail,
        })
    }
}

#[async_trait]
impl EventPublisher for LocalEventQueue {
    async fn publish(&self, event: &RotationEvent) -> Result<()> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}
