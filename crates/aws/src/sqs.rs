//! [`DeadLetterQueue`] on SQS: where failed executions wait for dlq-replay.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{DeadLetterQueue, DlqMessage, ReceivedMessage};

use crate::aws_errors::{classify, has_code};

const SERVICE: &str = "sqs";
/// SQS's per-call maximum for ReceiveMessage.
const SQS_MAX_BATCH: u32 = 10;
/// SQS's maximum visibility timeout (12 hours).
const SQS_MAX_VISIBILITY_SECONDS: u64 = 43_200;

/// One SQS queue, addressed by URL.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    /// The queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn send(&self, message: &DlqMessage) -> Result<()> {
        let body = message.to_body()?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| classify(SERVICE, "SendMessage", &error, None))
    }

    async fn receive(
        &self,
        max_messages: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        let batch = max_messages.clamp(1, SQS_MAX_BATCH);
        let visibility_seconds = visibility.as_secs().min(SQS_MAX_VISIBILITY_SECONDS);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(batch).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility_seconds).unwrap_or(0))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|error| classify(SERVICE, "ReceiveMessage", &error, None))?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|message| {
                let receipt = message.receipt_handle()?.to_owned();
                let receive_count = message
                    .attributes()
                    .and_then(|attributes| {
                        attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|count| count.parse::<u32>().ok());
                Some(ReceivedMessage {
                    receipt,
                    body: message.body().unwrap_or_default().to_owned(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                if has_code(&error, "ReceiptHandleIsInvalid")
                    || has_code(&error, "InvalidParameterValue")
                {
                    KeyshiftError::invalid_input("receiptHandle", "not a valid receipt handle")
                } else {
                    classify(SERVICE, "DeleteMessage", &error, None)
                }
            })
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                if has_code(&error, "ReceiptHandleIsInvalid")
                    || has_code(&error, "InvalidParameterValue")
                    || has_code(&error, "MessageNotInflight")
                {
                    KeyshiftError::invalid_input("receiptHandle", "not a message in flight")
                } else {
                    classify(SERVICE, "ChangeMessageVisibility", &error, None)
                }
            })
    }
}
