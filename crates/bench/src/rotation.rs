//! Benchmark 2 (and the counts behind the cost of benchmark 4): one AMG workspace with three
//! legacy keys, run through the shipped ASL on local-sfn with the core steps against
//! grafana-sim on loopback, at each added latency: the migration (legacy keys to service
//! accounts), the first rotation when those tokens are due, the steady-state rotation after
//! it, and a scheduled tick that finds nothing due. Per phase: wall time, Grafana HTTP and AMG control-plane requests (the
//! simulator counts them), Secrets Manager and KMS calls (the counting decorators), Lambda
//! invocations with their durations, and state transitions from the execution's history.
//!
//! The added latency is grafana-sim's latency fault on every request, and the same delay
//! before every Secrets Manager and KMS call, as a network round trip to each would add.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use grafana_sim::faults::{FaultKind, FaultSpec};
use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{
    AmgControlPlaneClient, AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector,
};
use keyshift_cli::asl::{ROTATE_WORKSPACE_ASL, Step, local_template_values, render_template};
use keyshift_cli::demo::{SimFollower, jump_before_rotation};
use keyshift_cli::local::{
    LOCAL_QUEUE_URL, LOCAL_STATE_MACHINE_NAME, LocalDlq, SyncedClock, invoke_step,
    register_event_bus,
};
use keyshift_core::model::{Policy, WorkspaceRef};
use keyshift_core::naming::execution_name_for;
use keyshift_core::ports::SingleAccountAmg;
use keyshift_core::steps::StepDeps;
use keyshift_core::steps::io::ExecutionInput;
use keyshift_local::{
    InMemoryQueue, InMemorySecretStore, LocalEventQueue, LocalSealer, RecordingMetrics,
};
use local_sfn::{Engine, EngineIdentity, ExecutionResult, StartOptions, TaskContext};
use serde::Serialize;
use serde_json::Value;

use crate::cost::{self, Usage, billed_ms};
use crate::counting::{
    CallCounter, CountingSealer, CountingStore, KMS, KMS_VIA_SECRETS_MANAGER, SECRETS_MANAGER,
};
use crate::minimum::{self, Minimum};

/// The benchmark's workspace: AMG, Grafana 10.4, three live legacy keys of three roles.
const WORKSPACE_ID: &str = "g-00000000b1";
const REGION: &str = "us-east-1";

/// `keyshift-bench rotation`: one workspace through the state machine, with call counts.
#[derive(Debug, clap::Args)]
pub struct RotationArgs {
    /// Added latency per Grafana, AMG, Secrets Manager and KMS call, milliseconds.
    #[arg(long, value_delimiter = ',', default_values_t = [0u64, 20])]
    pub latency_ms: Vec<u64>,
    /// Runs per latency (each on a fresh world); the figures are the median run's.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// The Map's MaxConcurrency.
    #[arg(long, default_value_t = 4)]
    pub max_concurrency: u32,
    /// The memory size the cost is computed for.
    #[arg(long, default_value_t = 128)]
    pub memory_mb: u32,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why the rotation bench could not measure.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The simulator, the definition or the fault could not be set up.
    #[error("setting up {what}: {reason}")]
    Setup {
        /// What was being set up.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// `--runs 0` or no latency.
    #[error("--runs and --latency-ms need at least one value")]
    Nothing,
}

fn setup(what: &str) -> impl FnOnce(String) -> RotationError + '_ {
    move |reason| RotationError::Setup {
        what: what.to_owned(),
        reason,
    }
}

/// What one execution did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseFigures {
    /// `migration`, `first-rotation`, `rotation` or `idle`.
    pub phase: String,
    /// The execution's final status.
    pub status: String,
    /// Wall time of the execution (Waits pass on virtual time), ms.
    pub wall_ms: f64,
    /// Credentials the execution processed (Map iterations).
    pub credentials: usize,
    /// Grafana HTTP requests by endpoint.
    pub grafana: BTreeMap<String, u64>,
    /// AMG control-plane requests by operation.
    pub amg: BTreeMap<String, u64>,
    /// Secrets Manager and KMS calls by `service:Operation`.
    pub aws: BTreeMap<String, u64>,
    /// The same by the step (Lambda) that made them: `step service:Operation`.
    pub aws_by_step: BTreeMap<String, u64>,
    /// Lambda invocations by function.
    pub invocations: BTreeMap<String, u64>,
    /// Sum of the invocations' durations, ms.
    pub lambda_ms: f64,
    /// What the execution would be billed for.
    pub usage: Usage,
    /// Requests the latency fault delayed (0 without added latency).
    pub latency_fired: u64,
}

impl PhaseFigures {
    /// Grafana HTTP plus AMG control-plane requests.
    pub fn grafana_total(&self) -> u64 {
        self.grafana.values().sum::<u64>() + self.amg.values().sum::<u64>()
    }

    /// Calls of `service` (a [`crate::counting`] service name).
    pub fn aws_total(&self, service: &str) -> u64 {
        self.aws
            .iter()
            .filter(|(key, _)| key.split(':').next() == Some(service))
            .map(|(_, count)| count)
            .sum()
    }
}

/// One run: the four phases on a fresh world.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationRun {
    /// Added latency, ms.
    pub latency_ms: u64,
    /// Migration, first rotation, steady-state rotation, idle tick.
    pub phases: Vec<PhaseFigures>,
}

impl RotationRun {
    /// The phase named `phase`.
    pub fn phase(&self, phase: &str) -> Option<&PhaseFigures> {
        self.phases.iter().find(|figures| figures.phase == phase)
    }

    fn all_succeeded(&self) -> bool {
        self.phases.len() == 4 && self.phases.iter().all(|phase| phase.status == "SUCCEEDED")
    }
}

/// Everything `keyshift-bench rotation` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    /// Per latency, the run with the median rotation wall time.
    pub medians: Vec<RotationRun>,
    /// Every run.
    pub runs: Vec<RotationRun>,
    /// The least each phase needs per credential.
    pub minimum: Vec<Minimum>,
    /// The cost of the median run at the lowest latency.
    pub cost: Option<cost_report::CostReport>,
}

impl RotationReport {
    /// Every execution succeeded and, with added latency, the latency fault fired in every
    /// phase that reached the simulator.
    pub fn meets_targets(&self) -> bool {
        !self.runs.is_empty()
            && self.runs.iter().all(|run| {
                run.all_succeeded()
                    && (run.latency_ms == 0
                        || run
                            .phases
                            .iter()
                            .all(|phase| phase.grafana_total() == 0 || phase.latency_fired > 0))
            })
    }
}

pub mod cost_report {
    //! The cost section of the rotation report.

    use serde::Serialize;

    use crate::cost::{Arch, Cost, MonthlyCost};

    /// The cost of one workspace's executions on one architecture.
    #[derive(Debug, Clone, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ArchCost {
        /// The architecture.
        pub arch: Arch,
        /// The steady-state rotation.
        pub rotation: Cost,
        /// The migration execution (once per workspace).
        pub migration: Cost,
        /// A tick that finds nothing due.
        pub idle: Cost,
        /// A month of the workspace.
        pub month: MonthlyCost,
    }

    /// The cost section: both architectures, and the cadence assumed.
    #[derive(Debug, Clone, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CostReport {
        /// Lambda memory size priced.
        pub memory_mb: u32,
        /// Days between rotations of a token (TTL minus rotate-before).
        pub rotation_interval_days: f64,
        /// Days between scheduled ticks (the Terraform default `rate(1 day)`).
        pub tick_days: f64,
        /// Credentials (secrets) of the workspace.
        pub secrets: usize,
        /// x86_64 and arm64.
        pub arches: Vec<ArchCost>,
    }
}

type Durations = Arc<Mutex<Vec<(String, f64)>>>;

/// One fresh world: simulator, counted adapters, the engine with timed step handlers.
struct World {
    sim: RunningSim,
    engine: Engine,
    clock: SyncedClock,
    counter: CallCounter,
    durations: Durations,
    workspace: WorkspaceRef,
    policy: Policy,
    latency_rule: Option<u64>,
    max_concurrency: u32,
}

fn fleet() -> Result<FleetSpec, RotationError> {
    let spec = serde_json::json!({"seed": 10, "workspaces": [{
        "kind": "amg",
        "id": WORKSPACE_ID,
        "region": REGION,
        "name": "bench",
        "status": "ACTIVE",
        "version": "10.4",
        "apiKeys": [
            {"name": "terraform-admin", "role": "Admin", "expires": "30d", "lastUsed": "-2h"},
            {"name": "ci-deploy", "role": "Editor"},
            {"name": "status-page", "role": "Viewer", "expires": "6d"}
        ]
    }]});
    serde_json::from_value(spec).map_err(|error| setup("the fleet")(error.to_string()))
}

async fn build_world(latency: Duration, max_concurrency: u32) -> Result<World, RotationError> {
    let simulator =
        Simulator::from_fleet(fleet()?).map_err(|error| setup("grafana-sim")(error.to_string()))?;
    let sim = simulator
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|error| setup("grafana-sim")(error.to_string()))?;
    let state = sim.state().clone();
    let latency_rule = if latency.is_zero() {
        None
    } else {
        let rule = state
            .faults()
            .add(FaultSpec {
                workspace: "*".to_owned(),
                endpoint: "*".to_owned(),
                kind: FaultKind::Latency {
                    ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                },
                times: None,
                probability: None,
                seed: None,
            })
            .map_err(|error| setup("the latency fault")(error.to_string()))?;
        Some(rule)
    };
    let clock = SyncedClock::new(state.now(), Some(Arc::new(SimFollower(state.clone()))));
    let connector = HttpGrafanaConnector::new(GrafanaHttpSettings {
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    })
    .map_err(|error| setup("the Grafana HTTP client")(error.to_string()))?;
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(sim.amg_endpoint_url())).await;
    let counter = CallCounter::default();
    let deps = Arc::new(StepDeps {
        grafana: Arc::new(connector),
        secrets: Arc::new(CountingStore::new(
            InMemorySecretStore::new(),
            counter.clone(),
            latency,
        )),
        sealer: Arc::new(CountingSealer::new(
            LocalSealer::random(),
            counter.clone(),
            latency,
        )),
        amg: Some(Arc::new(SingleAccountAmg::new(Arc::new(
            AmgControlPlaneClient::new(&aws.grafana_client()),
        )))),
        clock: Arc::new(clock.clone()),
        amg_url_template: Some(format!("{}/g/{{workspace_id}}", sim.base_url())),
        metrics: Arc::new(RecordingMetrics::new()),
        events: Arc::new(LocalEventQueue::new()),
    });
    let rendered = render_template(
        ROTATE_WORKSPACE_ASL,
        &local_template_values(LOCAL_QUEUE_URL),
    )
    .map_err(|error| setup("the state machine")(error.to_string()))?;
    let mut engine = Engine::from_json_str(&rendered)
        .map_err(|error| setup("the state machine")(error.to_string()))?
        .with_clock(Arc::new(clock.clone()))
        .with_identity(EngineIdentity {
            state_machine_name: LOCAL_STATE_MACHINE_NAME.to_owned(),
            ..EngineIdentity::default()
        });
    let durations: Durations = Arc::default();
    for step in Step::ALL {
        let deps = Arc::clone(&deps);
        let durations = Arc::clone(&durations);
        engine.register_task(
            step.local_function_name(),
            move |payload: Value, _context: TaskContext| {
                let deps = Arc::clone(&deps);
                let durations = Arc::clone(&durations);
                async move {
                    let started = Instant::now();
                    let output = invoke_step(step, &deps, payload).await;
                    let millis = started.elapsed().as_secs_f64() * 1_000.0;
                    durations
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((step.local_function_name().to_owned(), millis));
                    output
                }
            },
        );
    }
    let queue = InMemoryQueue::with_clock(Arc::new(clock.clone()));
    engine.register_queue(LOCAL_QUEUE_URL, LocalDlq::on_queue(Arc::new(queue)));
    register_event_bus(&mut engine, deps.events.clone());
    let workspace = WorkspaceRef::amg(WORKSPACE_ID, REGION, 1)
        .map_err(|error| setup("the workspace")(error.to_string()))?;
    Ok(World {
        sim,
        engine,
        clock,
        counter,
        durations,
        workspace,
        policy: Policy::default(),
        latency_rule,
        max_concurrency,
    })
}

impl World {
    fn latency_fired(&self) -> u64 {
        self.latency_rule.map_or(0, |id| {
            self.sim
                .state()
                .faults()
                .list()
                .iter()
                .find(|rule| rule.id == id)
                .map_or(0, |rule| rule.fired)
        })
    }

    /// Runs one execution now and measures it.
    async fn phase(&self, phase: &str) -> PhaseFigures {
        let state = self.sim.state();
        state.clear_request_counts();
        self.counter.clear();
        self.durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let fired_before = self.latency_fired();
        let slot = local_sfn::Clock::now(&self.clock);
        let mut input = serde_json::to_value(ExecutionInput {
            workspace: self.workspace.clone(),
            policy: self.policy.clone(),
        })
        .unwrap_or(Value::Null);
        if let Some(object) = input.as_object_mut() {
            object.insert("maxConcurrency".to_owned(), self.max_concurrency.into());
        }
        let name = execution_name_for(&self.workspace, slot);
        let participation = local_sfn::Clock::participate(&self.clock);
        let started = Instant::now();
        let result = self
            .engine
            .start(&name, input, StartOptions::default())
            .await;
        let wall_ms = started.elapsed().as_secs_f64() * 1_000.0;
        drop(participation);
        let (grafana, amg) = split_requests(state.request_counts(None));
        let durations = self
            .durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut invocations = BTreeMap::new();
        for (function, _) in &durations {
            *invocations.entry(function.clone()).or_default() += 1;
        }
        let aws = self.counter.snapshot();
        let aws_by_step = self
            .counter
            .by_step()
            .into_iter()
            .map(|((step, call), count)| (format!("{step} {call}"), count))
            .collect();
        let sum = |service: &str| -> u64 {
            aws.iter()
                .filter(|(key, _)| key.split(':').next() == Some(service))
                .map(|(_, count)| count)
                .sum()
        };
        let usage = Usage {
            state_transitions: state_transitions(&result),
            lambda_invocations: durations.len() as u64,
            lambda_billed_ms: durations.iter().map(|(_, ms)| billed_ms(*ms)).sum(),
            secrets_manager_calls: sum(SECRETS_MANAGER),
            kms_requests: sum(KMS) + sum(KMS_VIA_SECRETS_MANAGER),
        };
        PhaseFigures {
            phase: phase.to_owned(),
            status: result.status.as_str().to_owned(),
            wall_ms,
            credentials: result
                .all_states_entered()
                .iter()
                .filter(|state| *state == "CreateServiceAccount")
                .count(),
            grafana,
            amg,
            aws,
            aws_by_step,
            invocations,
            lambda_ms: durations.iter().map(|(_, ms)| ms).sum(),
            usage,
            latency_fired: self.latency_fired() - fired_before,
        }
    }
}

/// Billable transitions: every state entered, plus every retry attempt of a Task (a Task
/// scheduled more often than it was entered).
fn state_transitions(result: &ExecutionResult) -> u64 {
    let count = |wanted: &str| {
        result
            .history
            .iter()
            .filter(|event| event.event_type == wanted)
            .count() as u64
    };
    let entered = result.all_states_entered().len() as u64;
    entered + count("TaskScheduled").saturating_sub(count("TaskStateEntered"))
}

/// The simulator's `workspace endpoint` counts split into Grafana HTTP endpoints
/// (`GET /api/…`) and AMG control-plane operations (`CreateWorkspaceServiceAccountToken`).
fn split_requests(counts: BTreeMap<String, u64>) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut grafana = BTreeMap::new();
    let mut amg = BTreeMap::new();
    for (key, count) in counts {
        let endpoint = key.split_once(' ').map_or(key.as_str(), |(_, rest)| rest);
        let is_http = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "]
            .iter()
            .any(|method| endpoint.starts_with(method));
        let target = if is_http { &mut grafana } else { &mut amg };
        *target.entry(endpoint.to_owned()).or_default() += count;
    }
    (grafana, amg)
}

/// One run: migration; the jump to the rotation window and the first rotation (which keeps
/// the migration's token as AWSPREVIOUS); the same again, the steady-state rotation that
/// deletes the token two generations old; a day later, the idle tick.
async fn one_run(latency_ms: u64, max_concurrency: u32) -> Result<RotationRun, RotationError> {
    let world = build_world(Duration::from_millis(latency_ms), max_concurrency).await?;
    let migration = world.phase("migration").await;
    world.clock.advance(jump_before_rotation(&world.policy));
    let first = world.phase("first-rotation").await;
    world.clock.advance(jump_before_rotation(&world.policy));
    let rotation = world.phase("rotation").await;
    world.clock.advance(Duration::from_secs(86_400));
    let idle = world.phase("idle").await;
    Ok(RotationRun {
        latency_ms,
        phases: vec![migration, first, rotation, idle],
    })
}

/// Runs the rotation bench.
pub async fn run(args: &RotationArgs) -> Result<RotationReport, RotationError> {
    if args.runs == 0 || args.latency_ms.is_empty() {
        return Err(RotationError::Nothing);
    }
    let mut runs = Vec::new();
    for round in 1..=args.runs {
        for &latency in &args.latency_ms {
            eprintln!(
                "keyshift-bench: one workspace at +{latency} ms (run {round} of {}) …",
                args.runs
            );
            runs.push(one_run(latency, args.max_concurrency).await?);
        }
    }
    let medians: Vec<RotationRun> = args
        .latency_ms
        .iter()
        .filter_map(|latency| median_run(&runs, *latency))
        .collect();
    let cost = medians
        .iter()
        .max_by_key(|run| run.latency_ms)
        .and_then(|run| cost_of(run, args.memory_mb));
    Ok(RotationReport {
        medians,
        runs,
        minimum: minimum::MINIMUM.to_vec(),
        cost,
    })
}

/// The run at `latency_ms` with the median rotation wall time.
fn median_run(runs: &[RotationRun], latency_ms: u64) -> Option<RotationRun> {
    let mut of_latency: Vec<&RotationRun> = runs
        .iter()
        .filter(|run| run.latency_ms == latency_ms)
        .collect();
    let wall = |run: &RotationRun| run.phase("rotation").map_or(f64::MAX, |p| p.wall_ms);
    of_latency.sort_by(|a, b| wall(a).total_cmp(&wall(b)));
    of_latency
        .get(of_latency.len() / 2)
        .map(|run| (*run).clone())
}

fn cost_of(run: &RotationRun, memory_mb: u32) -> Option<cost_report::CostReport> {
    let rotation = run.phase("rotation")?;
    let migration = run.phase("migration")?;
    let idle = run.phase("idle")?;
    let policy = Policy::default();
    let interval_seconds = policy
        .token_ttl_seconds()
        .saturating_sub(policy.rotate_before.as_secs());
    let rotation_interval_days = interval_seconds as f64 / 86_400.0;
    let tick_days = 1.0;
    let arches = [cost::Arch::X86_64, cost::Arch::Arm64]
        .into_iter()
        .map(|arch| {
            let price = |usage: &Usage| cost::cost(usage, memory_mb, arch, &cost::US_EAST_1);
            let rotation_cost = price(&rotation.usage);
            let idle_cost = price(&idle.usage);
            cost_report::ArchCost {
                arch,
                rotation: rotation_cost,
                migration: price(&migration.usage),
                idle: idle_cost,
                month: cost::monthly(
                    &rotation_cost,
                    &idle_cost,
                    rotation_interval_days,
                    tick_days,
                    rotation.credentials,
                    &cost::US_EAST_1,
                ),
            }
        })
        .collect();
    Some(cost_report::CostReport {
        memory_mb,
        rotation_interval_days,
        tick_days,
        secrets: rotation.credentials,
        arches,
    })
}
