//! The dead-letter side of local runs: a queue the state machine's `sqs:sendMessage` tasks
//! feed, and an [`ExecutionStarter`] over the local engine, so the same
//! [`replay_dead_letters`](keyshift_core::dead_letter::replay::replay_dead_letters) that drains
//! SQS on AWS drains a local run's failures and restarts them in-process.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{
    DeadLetterQueue, DlqMessage, ExecutionDescription, ExecutionStarter, StartOutcome,
};
use keyshift_local::InMemoryQueue;
use local_sfn::{ExecutionResult, QueueHandler, QueueMessage, RecordingQueue, TaskError};
use serde_json::Value;

use crate::local::LocalRuntime;

/// The DLQ of local runs. Every message sent is kept for reports ([`LocalDlq::messages`]) and
/// also queued in an SQS-like [`InMemoryQueue`] that a replay drains ([`LocalDlq::queue`]);
/// with [`LocalDlq::forwarding`] each message also goes to a real DLQ (`keyshift run --dlq
/// sqs`).
#[derive(Clone)]
pub struct LocalDlq {
    sent: RecordingQueue,
    pending: Arc<InMemoryQueue>,
    forward: Option<Arc<dyn DeadLetterQueue>>,
}

impl Default for LocalDlq {
    fn default() -> Self {
        Self::in_process()
    }
}

impl LocalDlq {
    /// A purely in-process DLQ whose visibility timeouts run on the wall clock.
    pub fn in_process() -> Self {
        Self::on_queue(Arc::new(InMemoryQueue::new()))
    }

    /// A DLQ queueing into `pending` (one on the run's virtual clock, so visibility timeouts
    /// pass with the fleet's time).
    pub fn on_queue(pending: Arc<InMemoryQueue>) -> Self {
        LocalDlq {
            sent: RecordingQueue::new(),
            pending,
            forward: None,
        }
    }

    /// A DLQ that also sends every message to `queue`.
    pub fn forwarding(queue: Arc<dyn DeadLetterQueue>) -> Self {
        LocalDlq {
            forward: Some(queue),
            ..Self::in_process()
        }
    }

    /// The raw bodies sent so far, replayed or not.
    pub fn bodies(&self) -> Vec<String> {
        self.sent
            .messages()
            .into_iter()
            .map(|message| message.body)
            .collect()
    }

    /// The messages sent so far, parsed (unparseable bodies are skipped: the contract test
    /// guarantees the shipped definition sends [`DlqMessage`]s).
    pub fn messages(&self) -> Vec<DlqMessage> {
        self.bodies()
            .iter()
            .filter_map(|body| DlqMessage::parse(body).ok())
            .collect()
    }

    /// The queue still holding what was not replayed yet.
    pub fn queue(&self) -> Arc<InMemoryQueue> {
        self.pending.clone()
    }
}

#[async_trait]
impl QueueHandler for LocalDlq {
    async fn send(&self, message: QueueMessage) -> std::result::Result<String, TaskError> {
        if let Some(forward) = &self.forward {
            let parsed = DlqMessage::parse(&message.body)
                .map_err(|error| TaskError::new("SQS.InvalidMessageContents", error.to_string()))?;
            forward
                .send(&parsed)
                .await
                .map_err(|error| TaskError::new(error.asl_name(), error.to_string()))?;
        }
        self.pending.send_raw(message.body.clone());
        self.sent.send(message).await
    }
}

/// Step Functions for a replay of local failures: starts executions on the local engine.
///
/// As on AWS, a start only starts: the executions run when [`LocalStarter::run_started`] is
/// awaited, all at once on the fleet clock. Names are unique (a second start of a name is
/// `AlreadyExists`, which is how a replayer that crashed before its delete recognises its own
/// start). The local engine has no RedriveExecution, so redrive answers
/// `ExecutionNotRedrivable` and the replay starts a fresh execution with the original input.
pub struct LocalStarter {
    runtime: LocalRuntime,
    state_machine_arn: String,
    max_concurrency: u32,
    started: Mutex<Vec<(String, Value)>>,
}

impl LocalStarter {
    /// A starter on `runtime`; `max_concurrency` applies to inputs that name none.
    pub fn new(runtime: LocalRuntime, max_concurrency: u32) -> Self {
        LocalStarter {
            state_machine_arn: runtime.state_machine_arn(),
            runtime,
            max_concurrency,
            started: Mutex::new(Vec::new()),
        }
    }

    /// Runs every execution started since the last call to the end, concurrently, and
    /// returns each one's input with its result, in the order they were started.
    pub async fn run_started(&self) -> Vec<(Value, ExecutionResult)> {
        let started =
            std::mem::take(&mut *self.started.lock().unwrap_or_else(PoisonError::into_inner));
        let inputs: Vec<Value> = started.iter().map(|(_, input)| input.clone()).collect();
        let results = self
            .runtime
            .execute_payloads(started, self.max_concurrency, |_| {})
            .await;
        inputs.into_iter().zip(results).collect()
    }

    fn name_of(&self, execution_arn: &str) -> Option<String> {
        let prefix = self.runtime.execution_arn("");
        execution_arn.strip_prefix(&prefix).map(str::to_owned)
    }
}

#[async_trait]
impl ExecutionStarter for LocalStarter {
    fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    async fn start(&self, name: &str, input: &Value) -> Result<StartOutcome> {
        if !self.runtime.reserve_name(name) {
            return Ok(StartOutcome::AlreadyExists);
        }
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), input.clone()));
        Ok(StartOutcome::Started {
            execution_arn: self.runtime.execution_arn(name),
        })
    }

    async fn redrive(&self, execution_arn: &str) -> Result<()> {
        Err(KeyshiftError::ExecutionNotRedrivable {
            execution: execution_arn.to_owned(),
            reason: "the local engine does not redrive; a fresh execution replays it".to_owned(),
        })
    }

    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
        self.name_of(execution_arn)
            .and_then(|name| self.runtime.describe_execution(&name))
            .ok_or_else(|| {
                KeyshiftError::invalid_input(
                    "executionArn",
                    format!("{execution_arn} is not an execution of this local run"),
                )
            })
    }
}
