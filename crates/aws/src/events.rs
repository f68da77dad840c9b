//! [`EventPublisher`] on EventBridge: promote's `Secret Rotated` reaches consumers' rules.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{EVENT_SOURCE, EventPublisher, RotationEvent};

use crate::aws_errors::classify;

const SERVICE: &str = "events";
const OPERATION: &str = "PutEvents";

/// One event bus, by name or ARN (PutEvents accepts either).
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    event_bus: String,
}

impl EventBridgePublisher {
    /// Publishes on `event_bus` (a name or an ARN).
    pub fn new(client: Client, event_bus: impl Into<String>) -> Self {
        Self {
            client,
            event_bus: event_bus.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &RotationEvent) -> Result<()> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.event_bus)
            .source(EVENT_SOURCE)
            .detail_type(&event.detail_type)
            .detail(event.detail.to_string())
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|error| classify(SERVICE, OPERATION, &error, None))?;
        // PutEvents answers 200 even when it rejected the entry; the entry says why.
        match output.entries().first() {
            Some(result) if result.event_id().is_some() && result.error_code().is_none() => Ok(()),
            Some(result) => Err(rejected_entry(
                result.error_code().unwrap_or("UnknownError"),
                result.error_message().unwrap_or_default(),
            )),
            None if output.failed_entry_count() == 0 => Ok(()),
            None => Err(rejected_entry("UnknownError", "no entry result")),
        }
    }
}

/// A rejected entry: throttling is transient (promote retries, and republishes), the rest
/// (a missing bus, denied access, a malformed detail) is permanent.
fn rejected_entry(code: &str, message: &str) -> KeyshiftError {
    let detail = format!("{code}: {}", keyshift_core::secret::scrub_secrets(message));
    if code.contains("Throttl") || code == "InternalFailure" {
        KeyshiftError::AwsUnavailable {
            service: SERVICE.to_owned(),
            operation: OPERATION.to_owned(),
            detail,
        }
    } else {
        KeyshiftError::AwsFailed {
            service: SERVICE.to_owned(),
            operation: OPERATION.to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_entry_is_transient_and_a_missing_bus_is_not() {
        assert!(rejected_entry("ThrottlingException", "slow down").is_retryable());
        assert!(rejected_entry("InternalFailure", "").is_retryable());
        let missing = rejected_entry("ResourceNotFoundException", "Event bus x does not exist.");
        assert!(!missing.is_retryable());
        assert_eq!(missing.asl_name(), "Aws.Failed");
        assert!(missing.to_string().contains("Event bus x does not exist."));
    }
}
