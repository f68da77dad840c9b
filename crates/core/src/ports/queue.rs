//! The dead-letter queue failed executions are parked in.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::WorkspaceRef;

/// The body the state machine's Catch path sends (via `sqs:sendMessage`) when an execution
/// fails: enough to redrive or restart it, and to tell an operator what broke. Contains no
/// secret: error causes are built from scrubbed messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqMessage {
    /// Execution name (`$$.Execution.Name`).
    pub execution: String,
    /// Execution ARN (`$$.Execution.Id`), needed for a redrive.
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// The workspace the execution worked on.
    pub workspace: WorkspaceRef,
    /// The state that failed (`$$.State.Name` of the failing task).
    pub failed_state: String,
    /// The ASL error name (e.g. `Grafana.Unauthorized`).
    pub error: String,
    /// The error's cause text.
    pub cause: String,
    /// The execution's original input (`$$.Execution.Input`), to start afresh when a redrive is
    /// not possible.
    #[serde(default)]
    pub execution_input: Option<serde_json::Value>,
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_body_the_state_machine_sends() {
        let body = serde_json::json!({
            "execution": "ks-g-0123456789-1-20250301-0630",
            "executionArn": "arn:aws:states:eu-west-1:123456789012:execution:rotate:ks-g-0123456789-1-20250301-0630",
            "workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"},
            "failedState": "Verify",
            "error": "Verify.Failed",
            "cause": "{\"errorType\":\"Verify.Failed\",\"errorMessage\":\"role mismatch\"}",
            "executionInput": {"workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"}}
        });
        let message: DlqMessage = serde_json::from_value(body).unwrap();
        assert_eq!(message.failed_state, "Verify");
        assert_eq!(message.workspace.org_id, 1);
        assert!(message.execution_input.is_some());
        let minimal: DlqMessage = serde_json::from_str(
            r#"{"execution":"e","workspace":{"kind":"selfHosted","url":"http://g","adminSecretId":"a"},"failedState":"S","error":"E","cause":"C"}"#,
        )
        .unwrap();
        assert_eq!(minimal.execution_arn, None);
    }
}
