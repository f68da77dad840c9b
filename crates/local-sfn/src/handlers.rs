//! How callers plug work into the engine: task handlers (Lambda functions or any resource),
//! queue handlers for `sqs:sendMessage`, and the context a handler receives.

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use crate::clock::Clock;
use crate::error::TaskError;

/// What a handler learns about the invocation besides its input; retry-aware handlers (and
/// idempotency keys derived from the execution) need these.
#[derive(Clone)]
pub struct TaskContext {
    /// The Task state being executed.
    pub state_name: String,
    /// How many times this state visit has already been retried (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// The state's `Resource`.
    pub resource: String,
    /// For Lambda resources, the function name or ARN that was invoked.
    pub function_name: Option<String>,
    /// The execution's name (`$$.Execution.Name`).
    pub execution_name: String,
    /// The engine's clock, so a handler can let (virtual) time pass, e.g. to exercise timeouts.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("state_name", &self.state_name)
            .field("retry_count", &self.retry_count)
            .field("resource", &self.resource)
            .field("function_name", &self.function_name)
            .field("execution_name", &self.execution_name)
            .finish_non_exhaustive()
    }
}

/// Runs one task. For `lambda:invoke` resources the input is the `Payload` and the output is
/// the function's return value (the engine adds the Invoke response wrapper); for any other
/// resource, and for per-state overrides, input and output are the raw task input and result.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Performs the task.
    async fn call(&self, input: Value, context: TaskContext) -> Result<Value, TaskError>;
}

#[async_trait]
impl<F, Fut> TaskHandler for F
where
    F: Fn(Value, TaskContext) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
{
    async fn call(&self, input: Value, context: TaskContext) -> Result<Value, TaskError> {
        self(input, context).await
    }
}

/// A message as `arn:aws:states:::sqs:sendMessage` would send it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// The `QueueUrl` parameter.
    pub queue_url: String,
    /// The `MessageBody`, serialised to a string when the definition gave an object.
    pub body: String,
    /// All parameters as given (MessageAttributes, DelaySeconds, MessageGroupId, …).
    pub parameters: Value,
}

/// Receives messages for `sqs:sendMessage` tasks; returns the message id.
#[async_trait]
pub trait QueueHandler: Send + Sync {
    /// Delivers one message.
    async fn send(&self, message: QueueMessage) -> Result<String, TaskError>;
}

/// A queue that keeps what it is sent, for tests and local runs that inspect the DLQ.
#[derive(Debug, Clone, Default)]
pub struct RecordingQueue {
    messages: Arc<Mutex<Vec<QueueMessage>>>,
}

impl RecordingQueue {
    /// An empty queue.
    pub fn new() -> Self {
        RecordingQueue::default()
    }

    /// Everything sent so far, oldest first.
    pub fn messages(&self) -> Vec<QueueMessage> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl QueueHandler for RecordingQueue {
    async fn send(&self, message: QueueMessage) -> Result<String, TaskError> {
        let mut messages = self
            .messages
            .lock()
            .map_err(|_| TaskError::new("SQS.InternalError", "queue lock poisoned"))?;
        messages.push(message);
        Ok(uuid::Uuid::new_v4().to_string())
    }
}
