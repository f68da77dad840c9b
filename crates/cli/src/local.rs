//! Wiring for in-process runs: the shipped ASL on local-sfn, with the core steps as task
//! handlers over real adapters. `keyshift run`, `keyshift demo` and the tests share it, so
//! what the tests exercise is what the binary does.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::ports::queue::DlqMessage;
use keyshift_core::steps::io::{
    DiscoverOutput, ExecutionInput, MintTokenOutput, PromoteOutput, RevokeOldOutput,
    StoreSecretInput,
};
use keyshift_core::steps::{
    StepDeps, create_service_account, discover_keys, mint_token, revoke_old, store_secret,
    verify_token,
};
use local_sfn::{
    Clock, Engine, EngineIdentity, ExecutionResult, FleetClock, Participation, QueueHandler,
    QueueMessage, RecordingQueue, StartOptions, TaskContext, TaskError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::asl::{Step, local_template_values, render_template};

/// The state machine name local executions report in their ARNs.
pub const LOCAL_STATE_MACHINE_NAME: &str = "keyshift-rotate-workspace";

/// Why a local runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LocalRunError {
    /// The definition does not render or parse.
    #[error("the state machine definition is unusable: {0}")]
    Definition(String),
}

/// What one step invocation did, as far as a report may say (no secrets: ids and names only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// The execution.
    pub execution: String,
    /// The Task state.
    pub state: String,
    /// The step.
    pub step: String,
    /// The ASL error name when it failed.
    pub error: Option<String>,
}

/// Everything the steps did during a run, for reports and invariant checks.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLog {
    /// Every invocation, in completion order.
    pub steps: Vec<StepRecord>,
    /// Plans computed by discover-keys, per execution.
    pub plans: Vec<DiscoverOutput>,
    /// Tokens minted (workspace key, account name, token id, token name).
    pub minted: Vec<MintedRecord>,
    /// Secrets promoted (secret id, new version).
    pub promoted: Vec<PromotedRecord>,
    /// What each revoke-old removed.
    pub revocations: Vec<RevokeOldOutput>,
}

/// A token mint-token reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedRecord {
    /// `WorkspaceRef::key`.
    pub workspace: String,
    /// Owning account.
    pub service_account: String,
    /// Token id.
    pub token_id: i64,
    /// Token name.
    pub token_name: String,
}

/// A promotion store-secret reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotedRecord {
    /// `WorkspaceRef::key`.
    pub workspace: String,
    /// The secret.
    pub secret_id: String,
    /// The version now AWSCURRENT.
    pub version_id: String,
}

/// Shared, append-only [`RunLog`].
#[derive(Debug, Clone, Default)]
pub struct RunRecorder {
    log: Arc<Mutex<RunLog>>,
}

impl RunRecorder {
    /// A copy of what was recorded.
    pub fn snapshot(&self) -> RunLog {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    fn with(&self, action: impl FnOnce(&mut RunLog)) {
        if let Ok(mut log) = self.log.lock() {
            action(&mut log);
        }
    }

    fn record(&self, step: Step, context: &TaskContext, output: &Result<Value, TaskError>) {
        let record = StepRecord {
            execution: context.execution_name.clone(),
            state: context.state_name.clone(),
            step: step.local_function_name().to_owned(),
            error: output.as_ref().err().map(|error| error.error.clone()),
        };
        let Ok(value) = output else {
            self.with(|log| log.steps.push(record));
            return;
        };
        self.with(|log| {
            log.steps.push(record);
            match step {
                Step::DiscoverKeys => {
                    if let Ok(plan) = serde_json::from_value::<DiscoverOutput>(value.clone()) {
                        log.plans.push(plan);
                    }
                }
                Step::MintToken => {
                    if let Ok(minted) = serde_json::from_value::<MintTokenOutput>(value.clone()) {
                        log.minted.push(MintedRecord {
                            workspace: minted.context.workspace.key(),
                            service_account: minted.service_account.name,
                            token_id: minted.token.id,
                            token_name: minted.token.name,
                        });
                    }
                }
                Step::StoreSecret => {
                    // Only a promotion's output has `promoted`; a stage's does not parse.
                    if let Ok(promotion) = serde_json::from_value::<PromoteOutput>(value.clone()) {
                        log.promoted.push(PromotedRecord {
                            workspace: promotion.context.workspace.key(),
                            secret_id: promotion.promoted.secret_id,
                            version_id: promotion.promoted.version_id,
                        });
                    }
                }
                Step::RevokeOld => {
                    if let Ok(revoked) = serde_json::from_value::<RevokeOldOutput>(value.clone()) {
                        log.revocations.push(revoked);
                    }
                }
                Step::CreateSa | Step::Verify => {}
            }
        });
    }
}

/// The engine's clock for local runs: a [`FleetClock`], so executions of a fleet run
/// concurrently and their Waits and retry back-off overlap (time passes only while every
/// execution sleeps), optionally mirrored onto another clock (grafana-sim's) so the simulated
/// Grafana sees the same days pass, and usable as the steps' clock too so every party agrees
/// on "now".
#[derive(Clone)]
pub struct SyncedClock {
    fleet_clock: FleetClock,
    start: DateTime<Utc>,
    follower: Option<Arc<dyn TimeFollower>>,
    /// Serialises follower updates so concurrent sleepers cannot move it twice.
    follower_lock: Arc<Mutex<()>>,
}

/// Something that must see virtual time pass (grafana-sim's clock).
pub trait TimeFollower: Send + Sync {
    /// How far the follower is ahead of its own real time, in seconds.
    fn offset_seconds(&self) -> i64;
    /// Moves it forward by `seconds`.
    fn advance_seconds(&self, seconds: i64);
}

impl SyncedClock {
    /// Virtual time starting at `start`, mirrored onto `follower` when given.
    pub fn new(start: DateTime<Utc>, follower: Option<Arc<dyn TimeFollower>>) -> Self {
        SyncedClock {
            fleet_clock: FleetClock::new(start),
            start,
            follower,
            follower_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Jumps forward by hand (the demo's "three weeks later").
    pub fn advance(&self, duration: Duration) {
        self.fleet_clock.advance(duration);
        self.sync_follower();
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> chrono::Duration {
        self.fleet_clock.now() - self.start
    }

    fn sync_follower(&self) {
        let Some(follower) = &self.follower else {
            return;
        };
        let Ok(_guard) = self.follower_lock.lock() else {
            return;
        };
        let wanted = self.elapsed().num_seconds();
        let behind = wanted - follower.offset_seconds();
        if behind > 0 {
            follower.advance_seconds(behind);
        }
    }
}

#[async_trait]
impl Clock for SyncedClock {
    fn now(&self) -> DateTime<Utc> {
        self.fleet_clock.now()
    }

    /// A sleeper returns only after the follower has caught up, so no step of it talks to
    /// the simulator before the simulator sees the time it woke at.
    async fn sleep(&self, duration: Duration) {
        self.fleet_clock.sleep(duration).await;
        self.sync_follower();
    }

    /// Fires once the deadline passes virtually (other executions' Waits) or in real time.
    /// Virtual time stands still while a step works, so a Task's `TimeoutSeconds` measures
    /// the work the step really does, and a step that hangs still times out.
    async fn wait_until(&self, deadline: DateTime<Utc>) {
        let remaining = (deadline - self.fleet_clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(remaining) => {}
            _ = self.fleet_clock.wait_until(deadline) => {}
        }
    }

    fn participate(&self) -> Participation {
        self.fleet_clock.participate()
    }

    fn step_aside(&self) -> Participation {
        self.fleet_clock.step_aside()
    }
}

impl keyshift_core::ports::Clock for SyncedClock {
    fn now(&self) -> DateTime<Utc> {
        self.fleet_clock.now()
    }
}

/// Collects DLQ messages of local runs; also forwards them to a real DLQ port when given
/// (`keyshift run --dlq sqs`).
#[derive(Clone, Default)]
pub struct LocalDlq {
    recording: RecordingQueue,
    forward: Option<Arc<dyn keyshift_core::ports::DeadLetterQueue>>,
}

impl LocalDlq {
    /// A purely in-process DLQ.
    pub fn in_process() -> Self {
        LocalDlq::default()
    }

    /// A DLQ that also sends every message to `queue`.
    pub fn forwarding(queue: Arc<dyn keyshift_core::ports::DeadLetterQueue>) -> Self {
        LocalDlq {
            recording: RecordingQueue::new(),
            forward: Some(queue),
        }
    }

    /// The raw bodies sent so far.
    pub fn bodies(&self) -> Vec<String> {
        self.recording
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
}

#[async_trait]
impl QueueHandler for LocalDlq {
    async fn send(&self, message: QueueMessage) -> Result<String, TaskError> {
        if let Some(forward) = &self.forward {
            let parsed = DlqMessage::parse(&message.body)
                .map_err(|error| TaskError::new("SQS.InvalidMessageContents", error.to_string()))?;
            forward
                .send(&parsed)
                .await
                .map_err(|error| TaskError::new(error.asl_name(), error.to_string()))?;
        }
        self.recording.send(message).await
    }
}

/// The shipped (or a given) definition on local-sfn with the core steps registered.
#[derive(Clone)]
pub struct LocalRuntime {
    engine: Engine,
    clock: Arc<dyn Clock>,
    recorder: RunRecorder,
    dlq: LocalDlq,
}

/// One execution of a fleet run: its name and input.
#[derive(Debug, Clone)]
pub struct FleetExecution {
    /// The execution name.
    pub name: String,
    /// The execution input.
    pub input: ExecutionInput,
}

/// The queue URL rendered into local definitions.
pub const LOCAL_QUEUE_URL: &str = crate::asl::LOCAL_DLQ_URL;

impl LocalRuntime {
    /// Builds the runtime from a definition template, the step dependencies, the engine clock
    /// and the DLQ.
    pub fn new(
        template: &str,
        deps: StepDeps,
        clock: Arc<dyn Clock>,
        dlq: LocalDlq,
    ) -> Result<Self, LocalRunError> {
        let rendered = render_template(template, &local_template_values(LOCAL_QUEUE_URL))
            .map_err(|error| LocalRunError::Definition(error.to_string()))?;
        let mut engine = Engine::from_json_str(&rendered)
            .map_err(|error| LocalRunError::Definition(error.to_string()))?
            .with_clock(clock.clone())
            .with_identity(EngineIdentity {
                state_machine_name: LOCAL_STATE_MACHINE_NAME.to_owned(),
                ..EngineIdentity::default()
            });
        let recorder = RunRecorder::default();
        let deps = Arc::new(deps);
        for step in Step::ALL {
            let deps = deps.clone();
            let recorder = recorder.clone();
            engine.register_task(
                step.local_function_name(),
                move |payload: Value, context: TaskContext| {
                    let deps = deps.clone();
                    let recorder = recorder.clone();
                    async move {
                        let output = invoke_step(step, &deps, payload).await;
                        recorder.record(step, &context, &output);
                        output
                    }
                },
            );
        }
        engine.register_queue(LOCAL_QUEUE_URL, dlq.clone());
        Ok(LocalRuntime {
            engine,
            clock,
            recorder,
            dlq,
        })
    }

    /// Runs one execution for `input`, as one participant of the clock.
    pub async fn execute(
        &self,
        execution_name: &str,
        input: &ExecutionInput,
        max_concurrency: u32,
    ) -> ExecutionResult {
        let participation = self.clock.participate();
        self.execute_as(participation, execution_name, input, max_concurrency)
            .await
    }

    /// Runs every execution of a fleet at once and returns their results in the order given.
    /// All are registered with the clock before any starts, so on a [`FleetClock`] their
    /// Waits overlap and the fleet takes the virtual time of about one execution. `on_done`
    /// runs as each one ends (progress).
    pub async fn execute_fleet(
        &self,
        executions: &[FleetExecution],
        max_concurrency: u32,
        on_done: impl Fn(&ExecutionResult),
    ) -> Vec<ExecutionResult> {
        let participations: Vec<Participation> = executions
            .iter()
            .map(|_| self.clock.participate())
            .collect();
        let runs = executions
            .iter()
            .zip(participations)
            .map(|(execution, participation)| {
                let on_done = &on_done;
                async move {
                    let result = self
                        .execute_as(
                            participation,
                            &execution.name,
                            &execution.input,
                            max_concurrency,
                        )
                        .await;
                    on_done(&result);
                    result
                }
            });
        futures::future::join_all(runs).await
    }

    /// Runs one execution that counts as `participation` until it ends.
    async fn execute_as(
        &self,
        participation: Participation,
        execution_name: &str,
        input: &ExecutionInput,
        max_concurrency: u32,
    ) -> ExecutionResult {
        let mut payload = serde_json::to_value(input).unwrap_or(Value::Null);
        if let Some(object) = payload.as_object_mut() {
            object.insert("maxConcurrency".to_owned(), Value::from(max_concurrency));
        }
        let result = self
            .engine
            .start(execution_name, payload, StartOptions::default())
            .await;
        drop(participation);
        result
    }

    /// What the steps did so far.
    pub fn log(&self) -> RunLog {
        self.recorder.snapshot()
    }

    /// The DLQ.
    pub fn dlq(&self) -> &LocalDlq {
        &self.dlq
    }
}

/// Runs one core step on a payload, turning its error into the ASL error the Lambda would
/// report (`errorType` = the stable name, message without secrets).
pub async fn invoke_step(step: Step, deps: &StepDeps, payload: Value) -> Result<Value, TaskError> {
    match step {
        Step::DiscoverKeys => run(payload, |input| discover_keys(deps, input)).await,
        Step::CreateSa => run(payload, |input| create_service_account(deps, input)).await,
        Step::MintToken => run(payload, |input| mint_token(deps, input)).await,
        Step::StoreSecret => {
            run(payload, |input: StoreSecretInput| store_secret(deps, input)).await
        }
        Step::Verify => run(payload, |input| verify_token(deps, input)).await,
        Step::RevokeOld => run(payload, |input| revoke_old(deps, input)).await,
    }
}

async fn run<I, O, F, Fut>(payload: Value, step: F) -> Result<Value, TaskError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: std::future::Future<Output = keyshift_core::Result<O>>,
{
    keyshift_core::invocation::invoke(step, payload)
        .await
        .map_err(|failure| TaskError::new(failure.error, failure.message))
}

/// Secret ids the run promoted, deduplicated.
pub fn promoted_secret_ids(log: &RunLog) -> BTreeSet<String> {
    log.promoted
        .iter()
        .map(|record| record.secret_id.clone())
        .collect()
}
