//! The dead-letter queue failed executions are parked in.

use std::time::Duration;

use crate::error::Result;
use async_trait::async_trait;

/// The dead-letter message: one versioned schema for every failure (see
/// [`crate::dead_letter`]); kept under this path for the adapters that send it.
pub use crate::dead_letter::DlqMessage;

/// A message handle from [`DeadLetterQueue::receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Receipt handle, needed to delete the message.
    pub receipt: String,
    /// Raw body (parsed by the caller, which must survive malformed bodies).
    pub body: String,
    /// How many times the message was received, when the queue reports it.
    pub receive_count: Option<u32>,
}

/// SQS semantics: received messages are hidden for `visibility` and reappear unless deleted,
/// so a message is deleted only after its replay has started.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// SendMessage with the JSON body.
    async fn send(&self, message: &DlqMessage) -> Result<()>;

    /// ReceiveMessage (up to `max_messages`, at most 10 per call on SQS).
    async fn receive(
        &self,
        max_messages: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>>;

    /// DeleteMessage.
    async fn delete(&self, receipt: &str) -> Result<()>;

    /// Makes a received message visible again at once (ChangeMessageVisibility to 0), so a dry
    /// run hands back what it only looked at.
    async fn release(&self, receipt: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sent_body_is_the_dead_letter_schema() {
        let body = serde_json::json!({
            "schemaVersion": 1,
            "kind": "executionFailed",
            "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:rotate",
            "execution": "ks-g-0123456789-1-20250301-0630",
            "executionArn": "arn:aws:states:eu-west-1:123456789012:execution:rotate:ks-g-0123456789-1-20250301-0630",
            "workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"},
            "failedState": "Verify",
            "error": "Verify.Failed",
            "cause": "role mismatch",
            "attempts": 1,
            "firstFailureTime": "2025-03-01T06:31:00Z",
            "executionInput": {"workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"}}
        });
        let message = DlqMessage::parse(&body.to_string()).unwrap();
        assert_eq!(message.failed_state.as_deref(), Some("Verify"));
        assert_eq!(message.workspace.as_ref().map(|w| w.org_id), Some(1));
        assert!(message.execution_input.is_some());
    }
}
