//! Wiring for in-process runs: the shipped ASL on local-sfn, with the core steps as task
//! handlers over real adapters. `keyshift run`, `keyshift demo` and the tests share it, so
//! what the tests exercise is what the binary does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::ports::{EventPublisher, ExecutionDescription, ExecutionStatus, RotationEvent};
use keyshift_core::steps::io::{
    DiscoverOutput, ExecutionInput, MintTokenOutput, PromoteOutput, RevokeOldOutput,
    StoreSecretInput,
};
use keyshift_core::steps::{
    StepDeps, create_service_account, discover_keys, mint_token, revoke_old, store_secret,
    verify_token,
};
use local_sfn::{
    Clock, Engine, EngineIdentity, ExecutionResult, FleetClock, HistoryDetail, Participation,
    StartOptions, TaskContext, TaskError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::asl::{EVENTS_PUT_EVENTS, Step, local_template_values, render_template};
pub use crate::local_dlq::LocalDlq;

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
                Step::DiscoverKeys => log.plans.extend(parsed::<DiscoverOutput>(value)),
                Step::MintToken => {
                    log.minted
                        .extend(parsed::<MintTokenOutput>(value).map(|minted| MintedRecord {
                            workspace: minted.context.workspace.key(),
                            service_account: minted.service_account.name,
                            token_id: minted.token.id,
                            token_name: minted.token.name,
                        }))
                }
                // Only a promotion's output has `promoted`; a stage's does not parse.
                Step::StoreSecret => {
                    log.promoted
                        .extend(
                            parsed::<PromoteOutput>(value).map(|promotion| PromotedRecord {
                                workspace: promotion.context.workspace.key(),
                                secret_id: promotion.promoted.secret_id,
                                version_id: promotion.promoted.version_id,
                            }),
                        )
                }
                Step::RevokeOld => log.revocations.extend(parsed::<RevokeOldOutput>(value)),
                Step::CreateSa | Step::Verify => {}
            }
        });
    }
}

/// A step's output read as `T`, or nothing when it is of another shape (a stage's output is
/// not a promotion's).
fn parsed<T: serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
    serde_json::from_value(value.clone()).ok()
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

/// The shipped (or a given) definition on local-sfn with the core steps registered.
#[derive(Clone)]
pub struct LocalRuntime {
    engine: Engine,
    clock: Arc<dyn Clock>,
    recorder: RunRecorder,
    dlq: LocalDlq,
    identity: EngineIdentity,
    /// Every execution started, by name: names are unique as on Step Functions, and
    /// [`crate::local_dlq::LocalStarter`] answers DescribeExecution from here.
    executions: Arc<Mutex<BTreeMap<String, ExecutionDescription>>>,
    observer: Option<ExecutionObserver>,
    history: HistoryDetail,
}

/// Sees every execution's whole result (history included) as it ends, whichever path started
/// it (a fleet round, a single run, a DLQ replay): the runtime itself keeps no histories, so a
/// caller that must inspect all of them (the demo's leak scan) reads them here.
#[derive(Clone)]
pub struct ExecutionObserver(Arc<dyn Fn(&ExecutionResult) + Send + Sync>);

impl ExecutionObserver {
    /// Wraps the function called with each ended execution.
    pub fn new(observe: impl Fn(&ExecutionResult) + Send + Sync + 'static) -> Self {
        Self(Arc::new(observe))
    }
}

impl std::fmt::Debug for ExecutionObserver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ExecutionObserver")
    }
}

/// One execution of a fleet run: its name and input.
#[derive(Debug, Clone)]
pub struct FleetExecution {
    /// The execution name.
    pub name: String,
    /// The execution input.
    pub input: ExecutionInput,
}

/// Answers the definition's `events:putEvents` states by publishing each entry on `events`
/// (the local event queue, or nothing), as EventBridge would deliver it to a rule's target.
/// An entry without a `DetailType` or a `Detail` fails the task the way PutEvents refuses it.
pub fn register_event_bus(engine: &mut Engine, events: Arc<dyn EventPublisher>) {
    engine.register_task(
        EVENTS_PUT_EVENTS,
        move |parameters: Value, _context: TaskContext| {
            let events = events.clone();
            async move {
                let entries = parameters
                    .get("Entries")
                    .and_then(Value::as_array)
                    .filter(|entries| !entries.is_empty())
                    .cloned()
                    .ok_or_else(|| {
                        TaskError::new(
                            "EventBridge.ValidationException",
                            "PutEvents needs a non-empty Entries list",
                        )
                    })?;
                let mut results = Vec::with_capacity(entries.len());
                for entry in &entries {
                    let event = rotation_event_of(entry)?;
                    events
                        .publish(&event)
                        .await
                        .map_err(|error| TaskError::new(error.asl_name(), error.to_string()))?;
                    results.push(serde_json::json!({"EventId": uuid::Uuid::new_v4().to_string()}));
                }
                Ok(serde_json::json!({"Entries": results, "FailedEntryCount": 0}))
            }
        },
    );
}

/// One PutEvents entry as the event it carries.
fn rotation_event_of(entry: &Value) -> Result<RotationEvent, TaskError> {
    let invalid = |what: &str| {
        TaskError::new(
            "EventBridge.ValidationException",
            format!("a PutEvents entry needs {what}"),
        )
    };
    let detail_type = entry
        .get("DetailType")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a string DetailType"))?;
    let detail = match entry.get("Detail") {
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|_| invalid("a Detail that is a JSON object"))?
        }
        Some(detail @ Value::Object(_)) => detail.clone(),
        _ => return Err(invalid("a Detail")),
    };
    Ok(RotationEvent {
        detail_type: detail_type.to_owned(),
        detail,
    })
}

/// How many step invocations run at once across every execution of a local run, as Lambda's
/// concurrency limit bounds a deployment: a fleet of thousands of executions otherwise opens a
/// connection to Grafana per in-flight step at the start of each round, and keeps them.
pub const LOCAL_CONCURRENT_INVOCATIONS: usize = 64;

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
        let identity = EngineIdentity {
            state_machine_name: LOCAL_STATE_MACHINE_NAME.to_owned(),
            ..EngineIdentity::default()
        };
        let mut engine = Engine::from_json_str(&rendered)
            .map_err(|error| LocalRunError::Definition(error.to_string()))?
            .with_clock(clock.clone())
            .with_identity(identity.clone());
        let recorder = RunRecorder::default();
        let deps = Arc::new(deps);
        let invocations = Arc::new(tokio::sync::Semaphore::new(LOCAL_CONCURRENT_INVOCATIONS));
        for step in Step::ALL {
            let deps = deps.clone();
            let recorder = recorder.clone();
            let invocations = invocations.clone();
            engine.register_task(
                step.local_function_name(),
                move |payload: Value, context: TaskContext| {
                    let deps = deps.clone();
                    let recorder = recorder.clone();
                    let invocations = invocations.clone();
                    async move {
                        // Never closed, so the permit always comes; an invocation without
                        // one would only run unbounded.
                        let _permit = invocations.acquire_owned().await.ok();
                        let output = invoke_step(step, &deps, payload).await;
                        recorder.record(step, &context, &output);
                        output
                    }
                },
            );
        }
        engine.register_queue(LOCAL_QUEUE_URL, dlq.clone());
        register_event_bus(&mut engine, deps.events.clone());
        Ok(LocalRuntime {
            engine,
            clock,
            recorder,
            dlq,
            identity,
            executions: Arc::default(),
            observer: None,
            history: HistoryDetail::Full,
        })
    }

    /// The runtime, its executions keeping `history` of each event (a fleet run that only
    /// reports where each execution went keeps [`HistoryDetail::StatesOnly`]).
    pub fn with_history_detail(mut self, history: HistoryDetail) -> Self {
        self.history = history;
        self
    }

    /// The runtime, calling `observer` with every execution as it ends.
    pub fn with_observer(mut self, observer: Option<ExecutionObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The runtime of a run on virtual time (the demo, simulated fleets): Wait states and the
    /// DLQ's visibility timeouts both pass on `clock`, so days of schedule take seconds.
    pub fn on_virtual_time(
        template: &str,
        deps: StepDeps,
        clock: &SyncedClock,
    ) -> Result<Self, LocalRunError> {
        let queue = keyshift_local::InMemoryQueue::with_clock(Arc::new(clock.clone()));
        let dlq = LocalDlq::on_queue(Arc::new(queue));
        Self::new(template, deps, Arc::new(clock.clone()), dlq)
    }

    /// The ARN local executions report as their state machine's.
    pub fn state_machine_arn(&self) -> String {
        let id = &self.identity;
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            id.region, id.account, id.state_machine_name
        )
    }

    /// The ARN an execution named `name` has (as `$$.Execution.Id`).
    pub fn execution_arn(&self, name: &str) -> String {
        let id = &self.identity;
        format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            id.region, id.account, id.state_machine_name
        )
    }

    /// What is known of the execution named `name`: running, or how it ended.
    pub fn describe_execution(&self, name: &str) -> Option<ExecutionDescription> {
        self.registry().get(name).cloned()
    }

    /// Takes `name` for an execution about to start; `false` when it is taken (Step Functions'
    /// `ExecutionAlreadyExists`).
    pub fn reserve_name(&self, name: &str) -> bool {
        let mut registry = self.registry();
        if registry.contains_key(name) {
            return false;
        }
        let running = ExecutionDescription {
            execution_arn: self.execution_arn(name),
            name: name.to_owned(),
            status: ExecutionStatus::Running,
            start_date: Some(self.clock.now()),
            stop_date: None,
            redrive_count: 0,
        };
        registry.insert(name.to_owned(), running);
        true
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ExecutionDescription>> {
        self.executions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one execution for `input`, as one participant of the clock.
    pub async fn execute(
        &self,
        execution_name: &str,
        input: &ExecutionInput,
        max_concurrency: u32,
    ) -> ExecutionResult {
        let participation = self.clock.participate();
        self.execute_as(
            participation,
            execution_name,
            execution_payload(input),
            max_concurrency,
        )
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
        let payloads = executions
            .iter()
            .map(|execution| (execution.name.clone(), execution_payload(&execution.input)))
            .collect();
        self.execute_payloads(payloads, max_concurrency, on_done)
            .await
    }

    /// [`LocalRuntime::execute_fleet`] over raw execution inputs (a replay's, which carry
    /// the original `maxConcurrency`).
    pub async fn execute_payloads(
        &self,
        executions: Vec<(String, Value)>,
        max_concurrency: u32,
        on_done: impl Fn(&ExecutionResult),
    ) -> Vec<ExecutionResult> {
        let participations: Vec<Participation> = executions
            .iter()
            .map(|_| self.clock.participate())
            .collect();
        let runs =
            executions
                .into_iter()
                .zip(participations)
                .map(|((name, payload), participation)| {
                    let on_done = &on_done;
                    async move {
                        let result = self
                            .execute_as(participation, &name, payload, max_concurrency)
                            .await;
                        on_done(&result);
                        result
                    }
                });
        futures::future::join_all(runs).await
    }

    /// Runs one execution that counts as `participation` until it ends. A `maxConcurrency`
    /// in the payload wins over `max_concurrency`.
    async fn execute_as(
        &self,
        participation: Participation,
        execution_name: &str,
        mut payload: Value,
        max_concurrency: u32,
    ) -> ExecutionResult {
        if let Some(object) = payload.as_object_mut() {
            object
                .entry("maxConcurrency")
                .or_insert_with(|| Value::from(max_concurrency));
        }
        self.reserve_name(execution_name);
        let result = self
            .engine
            .start(
                execution_name,
                payload,
                StartOptions {
                    history: self.history,
                    ..StartOptions::default()
                },
            )
            .await;
        drop(participation);
        if let Some(described) = self.registry().get_mut(execution_name) {
            described.status = match result.status {
                local_sfn::ExecutionStatus::Succeeded => ExecutionStatus::Succeeded,
                local_sfn::ExecutionStatus::Failed => ExecutionStatus::Failed,
                local_sfn::ExecutionStatus::TimedOut => ExecutionStatus::TimedOut,
                local_sfn::ExecutionStatus::Aborted => ExecutionStatus::Aborted,
            };
            described.stop_date = Some(result.stop_date);
        }
        if let Some(observer) = &self.observer {
            (observer.0)(&result);
        }
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

fn execution_payload(input: &ExecutionInput) -> Value {
    serde_json::to_value(input).unwrap_or(Value::Null)
}

tokio::task_local! {
    static RUNNING_STEP: Step;
}

/// The step whose invocation the current task is inside, if any. Deployed, each step is its
/// own Lambda with its own IAM role; locally all six share one process, so this is how an SDK
/// interceptor (or a log line) tells which function's role a call would need.
pub fn running_step() -> Option<Step> {
    RUNNING_STEP.try_with(|step| *step).ok()
}

/// Runs one core step on a payload, turning its error into the ASL error the Lambda would
/// report (`errorType` = the stable name, message without secrets).
pub async fn invoke_step(step: Step, deps: &StepDeps, payload: Value) -> Result<Value, TaskError> {
    RUNNING_STEP
        .scope(step, dispatch_step(step, deps, payload))
        .await
}

async fn dispatch_step(step: Step, deps: &StepDeps, payload: Value) -> Result<Value, TaskError> {
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
