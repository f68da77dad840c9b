//! `keyshift demo`: the whole story in one process, against grafana-sim on loopback.
//!
//! A sample fleet (AMG and self-hosted, Grafana 9.4 to 12.1, legacy keys of every role, an
//! already migrated account) is migrated by the real state machine on local-sfn with the core
//! steps, local secret store, sealer and queue; the grace period passes on the virtual clock
//! (and the simulator's); three weeks later one rotation round runs. The report compares
//! before and after and checks the invariants. No token is ever printed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grafana_sim::credentials::HashingCost;
use grafana_sim::faults::{FaultKind, FaultSpec};
use grafana_sim::{FleetSpec, RunningSim, SharedState, Simulator, WorkspaceKind};
use keyshift_aws::{
    AmgControlPlaneClient, AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector,
};
use keyshift_core::SecretString;
use keyshift_core::dead_letter::replay::{ReplayOptions, ReplaySummary, replay_dead_letters};
use keyshift_core::model::{Policy, WorkspaceRef, WorkspaceTarget};
use keyshift_core::naming::execution_name_for;
use keyshift_core::ports::{
    AWSCURRENT, DeadLetterQueue, DlqMessage, SecretStore, SingleAccountAmg,
};
use keyshift_core::steps::StepDeps;
use keyshift_core::steps::io::ExecutionInput;
use keyshift_local::{InMemorySecretStore, LocalEventQueue, LocalSealer, RecordingMetrics};
use local_sfn::{ExecutionStatus, HistoryDetail};
use serde::Serialize;

use crate::asl::ROTATE_WORKSPACE_ASL;
use crate::exit::CliError;
use crate::local::{
    ExecutionObserver, FleetExecution, LocalRuntime, RunLog, SyncedClock, TimeFollower,
};
use crate::local_dlq::LocalStarter;
use crate::progress::Progress;

mod census;
mod checks;
mod generator;
mod operate;

pub use census::{InstanceCensus, census};
use census::{log_since, round_totals, total};
pub use checks::{Check, SecretSummary, instance_of};
use checks::{invariant_checks, summarize_secrets};
use generator::load_fleet;
pub use generator::{MAX_GENERATED_WORKSPACES, generated_fleet};
pub use operate::OperateSummary;

/// How far the demo jumps between the migration and the rotation round: until the tokens minted
/// one grace period ago are an hour inside the policy's rotation window. The executions of a
/// round run concurrently on one fleet clock, so every token of the round was minted at about
/// the same virtual instant and each is rotated before it expires.
pub fn jump_before_rotation(policy: &Policy) -> Duration {
    let ttl = policy.token_ttl_seconds();
    let seconds = ttl
        .saturating_sub(policy.rotate_before.as_secs())
        .saturating_sub(policy.grace_period_seconds())
        .saturating_add(3_600);
    Duration::from_secs(seconds)
}

/// Which fleet the demo runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoFleet {
    /// The built-in sample (AMG and self-hosted, every version and key kind).
    Sample,
    /// A grafana-sim fleet file.
    File(PathBuf),
    /// A fleet of this many AMG workspaces made by [`generated_fleet`].
    Generated(usize),
}

/// The demo's options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The fleet to migrate.
    pub fleet: DemoFleet,
    /// The Map's MaxConcurrency.
    pub max_concurrency: u32,
    /// Show progress bars (only when stdout is a terminal).
    pub progress: bool,
    /// Workspaces whose Grafana refuses every call during the migration round, to show a
    /// failure reaching the DLQ and its replay converging (0: none).
    pub faulted: usize,
    /// Called with every execution as it ends (the tests' scan of every history).
    pub observer: Option<ExecutionObserver>,
}

/// One execution in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    /// Round (`migration` or `rotation`).
    pub round: String,
    /// Execution name.
    pub name: String,
    /// Workspace key.
    pub workspace: String,
    /// Final status.
    pub status: String,
    /// Error name when it failed.
    pub error: Option<String>,
    /// Top-level states entered.
    pub states_path: Vec<String>,
    /// Map iterations run (credentials).
    pub credentials: usize,
}

/// Aggregated numbers of one round.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundTotals {
    /// Legacy keys planned for migration (in place or recreate) or take-over.
    pub keys_migrated: usize,
    /// Tokens rotated on already managed accounts.
    pub tokens_rotated: usize,
    /// Tokens minted.
    pub tokens_minted: usize,
    /// Tokens revoked by revoke-old.
    pub tokens_revoked: usize,
    /// Legacy keys deleted by revoke-old.
    pub keys_deleted: usize,
    /// Bootstrap admin credentials revoked.
    pub bootstrap_revoked: usize,
    /// Secret versions promoted to AWSCURRENT.
    pub versions_promoted: usize,
    /// Virtual time the round took, seconds: about one execution's (its grace period), since
    /// the round's executions run concurrently.
    pub virtual_seconds: i64,
}

/// The demo's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    /// Census before anything ran.
    pub before: Vec<InstanceCensus>,
    /// After the migration round (grace period elapsed).
    pub after_migration: Vec<InstanceCensus>,
    /// After the rotation round.
    pub after_rotation: Vec<InstanceCensus>,
    /// Service accounts created over the whole demo.
    pub accounts_created: usize,
    /// Migration round numbers.
    pub migration: RoundTotals,
    /// Rotation round numbers.
    pub rotation: RoundTotals,
    /// Every execution.
    pub executions: Vec<ExecutionSummary>,
    /// Every managed secret.
    pub secrets: Vec<SecretSummary>,
    /// DLQ messages (error and failed state only).
    pub dead_letters: Vec<String>,
    /// Workspaces faulted on purpose in the migration round.
    pub faulted: Vec<String>,
    /// What each replay of the DLQ did.
    pub replays: Vec<ReplaySummary>,
    /// The rotation events consumers received and the refused rollback of a revoked token.
    pub operate: OperateSummary,
    /// Invariant checks.
    pub checks: Vec<Check>,
    /// Wall-clock time taken, milliseconds.
    pub wall_millis: u128,
    /// Virtual time that passed, seconds.
    pub virtual_seconds: i64,
    /// What the simulator's own PBKDF2 hashing cost during the demo (seeding the fleet and
    /// storing every credential keyshift minted): not keyshift's time.
    pub simulator_hashing: HashingCost,
}

impl DemoReport {
    /// Whether every check held and every execution succeeded, but the migration executions
    /// of the workspaces faulted on purpose (whose replay the recovery check covers).
    pub fn all_good(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
            && self.executions.iter().all(|execution| {
                execution.status == ExecutionStatus::Succeeded.as_str()
                    || (execution.round == "migration"
                        && self.faulted.contains(&execution.workspace))
            })
    }
}

/// grafana-sim's clock as a [`TimeFollower`], so the simulated Grafanas see the virtual days
/// an in-process run's Waits pass (tests wiring their own runtime use it too).
pub struct SimFollower(pub SharedState);

impl TimeFollower for SimFollower {
    fn offset_seconds(&self) -> i64 {
        self.0.clock().offset_seconds()
    }

    fn advance_seconds(&self, seconds: i64) {
        self.0.clock().advance_seconds(seconds);
    }
}

/// Everything the demo set up, kept so tests can inspect the world after the run.
pub struct DemoWorld {
    /// The simulator, still serving.
    pub sim: RunningSim,
    /// The secret store holding the managed secrets.
    pub secrets: Arc<InMemorySecretStore>,
    /// The runtime (its log and DLQ).
    pub runtime: LocalRuntime,
    /// The workspaces managed.
    pub workspaces: Vec<WorkspaceRef>,
    /// The policy used.
    pub policy: Policy,
    /// The metrics the steps emitted (what Lambda would publish as EMF).
    pub metrics: Arc<RecordingMetrics>,
    /// The rotation events the steps published (what EventBridge would deliver to consumers).
    pub events: Arc<LocalEventQueue>,
}

/// A demo under way, phase by phase, so tests can step in between (a replayer that crashes,
/// say). [`run_demo`] runs the phases in order.
pub struct DemoSession {
    options: DemoOptions,
    started: Instant,
    hashing_at_start: HashingCost,
    world: DemoWorld,
    state: SharedState,
    clock: SyncedClock,
    connector: HttpGrafanaConnector,
    before: Vec<InstanceCensus>,
    executions: Vec<ExecutionSummary>,
    faulted: Vec<WorkspaceRef>,
    replays: Vec<ReplaySummary>,
    migration: RoundTotals,
    after_migration: Vec<InstanceCensus>,
    migration_log: RunLog,
    deps: StepDeps,
}

impl DemoSession {
    /// Serves the fleet on grafana-sim, stores the self-hosted admin secrets and builds the
    /// runtime; nothing has run yet.
    pub async fn start(options: &DemoOptions) -> Result<Self, CliError> {
        let started = Instant::now();
        let hashing_at_start = HashingCost::so_far();
        let fleet = match &options.fleet {
            DemoFleet::File(path) => load_fleet(path)?,
            DemoFleet::Sample => FleetSpec::sample()
                .map_err(|error| CliError::environment("loading the sample fleet", error))?,
            DemoFleet::Generated(workspaces) => generated_fleet(*workspaces)?,
        };
        let simulator = Simulator::from_fleet(fleet)
            .map_err(|error| CliError::environment("building grafana-sim", error))?;
        let sim = simulator
            .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|error| CliError::environment("starting grafana-sim", error))?;
        let state = sim.state().clone();
        let secrets = Arc::new(InMemorySecretStore::new());
        let workspaces = workspaces_of(&sim, &secrets).await?;
        let before = census(&state);

        let clock = SyncedClock::new(state.now(), Some(Arc::new(SimFollower(state.clone()))));
        // The demo's Grafana is always its own grafana-sim on loopback.
        let connector = HttpGrafanaConnector::new(GrafanaHttpSettings {
            allow_loopback_http: true,
            ..GrafanaHttpSettings::default()
        })
        .map_err(|error| CliError::environment("building the Grafana HTTP client", error))?;
        let aws =
            AwsContext::for_emulator(EndpointOverrides::for_all(sim.amg_endpoint_url())).await;
        let metrics = Arc::new(RecordingMetrics::new());
        let events = Arc::new(LocalEventQueue::new());
        let deps = StepDeps {
            grafana: Arc::new(connector.clone()),
            secrets: secrets.clone(),
            sealer: Arc::new(LocalSealer::random()),
            // grafana-sim emulates one AWS account: every role reaches its control plane.
            amg: Some(Arc::new(SingleAccountAmg::new(Arc::new(
                AmgControlPlaneClient::new(&aws.grafana_client()),
            )))),
            clock: Arc::new(clock.clone()),
            amg_url_template: Some(format!("{}/g/{{workspace_id}}", sim.base_url())),
            metrics: metrics.clone(),
            events: events.clone(),
        };
        // The DLQ's visibility timeouts pass with the fleet's virtual time.
        let runtime = LocalRuntime::on_virtual_time(ROTATE_WORKSPACE_ASL, deps.clone(), &clock)
            .map_err(|error| CliError::environment("loading the state machine", error))?
            .with_history_detail(if options.observer.is_some() {
                HistoryDetail::Full
            } else {
                // The report needs only each execution's path and failure; whole payloads
                // held by every execution of a large fleet until it ends cost most of the
                // demo's memory.
                HistoryDetail::StatesOnly
            })
            .with_observer(options.observer.clone());
        Ok(DemoSession {
            options: options.clone(),
            started,
            hashing_at_start,
            world: DemoWorld {
                sim,
                secrets,
                runtime,
                workspaces,
                policy: Policy::default(),
                metrics,
                events,
            },
            state,
            clock,
            connector,
            before,
            executions: Vec::new(),
            faulted: Vec::new(),
            replays: Vec::new(),
            migration: RoundTotals::default(),
            after_migration: Vec::new(),
            migration_log: RunLog::default(),
            deps,
        })
    }

    /// The world the demo runs against.
    pub fn world(&self) -> &DemoWorld {
        &self.world
    }

    /// The workspaces faulted on purpose in the migration round.
    pub fn faulted(&self) -> &[WorkspaceRef] {
        &self.faulted
    }

    /// The migration round: every workspace at once, with [`DemoOptions::faulted`] of them
    /// refused by their Grafana on every call, so their executions fail into the DLQ. The
    /// faults are cleared at the end of the round, as an operator would fix the cause.
    pub async fn migrate(&mut self) -> Result<(), CliError> {
        self.faulted = pick_faulted(&self.world.workspaces, self.options.faulted);
        if self.faulted.len() < self.options.faulted {
            return Err(CliError::InvalidArgument {
                flag: "--faulted".to_owned(),
                message: format!(
                    "{} workspaces asked for, but the fleet has only {} Grafana instances to fault",
                    self.options.faulted,
                    self.faulted.len()
                ),
            });
        }
        let mut rules = Vec::new();
        for workspace in &self.faulted {
            let rule = self
                .state
                .faults()
                .add(FaultSpec {
                    workspace: instance_of(workspace),
                    endpoint: "*".to_owned(),
                    kind: FaultKind::Status {
                        status: 403,
                        retry_after_seconds: None,
                    },
                    times: None,
                    probability: None,
                    seed: None,
                })
                .map_err(|error| CliError::environment("injecting the demo's fault", error))?;
            rules.push(rule);
        }
        let migration_seconds = self.round("migration").await;
        // Every rule must have fired: a fault that never struck would make the recovery the
        // report shows a recovery from nothing.
        let fired_rules = self
            .state
            .faults()
            .list()
            .iter()
            .filter(|rule| rules.contains(&rule.id) && rule.fired > 0)
            .count();
        for workspace in &self.faulted {
            self.state
                .faults()
                .clear(Some(instance_of(workspace).as_str()));
        }
        if fired_rules < rules.len() {
            return Err(CliError::environment(
                "injecting the demo's fault",
                format!("{fired_rules} of {} injected faults fired", rules.len()),
            ));
        }
        self.migration.virtual_seconds = migration_seconds;
        Ok(())
    }

    /// Runs one round over the whole fleet and keeps its executions for the report; returns
    /// the virtual seconds the round took.
    async fn round(&mut self, label: &str) -> i64 {
        let round_start = self.clock.elapsed();
        let executions = run_round(
            &self.world.runtime,
            &self.world.workspaces,
            &self.world.policy,
            &self.clock,
            label,
            &self.options,
        )
        .await;
        self.executions.extend(executions);
        (self.clock.elapsed() - round_start).num_seconds()
    }

    /// Replays what is in the DLQ through `queue` (normally [`LocalDlq::queue`]) and runs
    /// the executions the replay started to the end.
    pub async fn replay(&mut self, queue: &dyn DeadLetterQueue) -> ReplaySummary {
        let starter = LocalStarter::new(self.world.runtime.clone(), self.options.max_concurrency);
        let round_start = self.clock.elapsed();
        let summary = match replay_dead_letters(
            queue,
            &starter,
            &self.clock,
            &ReplayOptions::default(),
        )
        .await
        {
            Ok(summary) => summary,
            Err((summary, error)) => {
                tracing::warn!(reason = %error, "the replay stopped early");
                summary
            }
        };
        let results = starter.run_started().await;
        self.executions
            .extend(results.iter().map(|(input, result)| {
                let workspace = serde_json::from_value::<ExecutionInput>(input.clone())
                    .map(|input| input.workspace.key())
                    .unwrap_or_default();
                summarize_execution("replay", workspace, result)
            }));
        self.migration.virtual_seconds += (self.clock.elapsed() - round_start).num_seconds();
        self.replays.push(summary.clone());
        summary
    }

    /// The jump to the rotation window, the rotation round, and the report.
    pub async fn rotate_and_report(mut self) -> (DemoReport, DemoWorld) {
        self.after_migration = census(&self.state);
        self.migration_log = self.world.runtime.log();
        self.clock.advance(jump_before_rotation(&self.world.policy));
        let rotation_seconds = self.round("rotation").await;
        let runtime = &self.world.runtime;
        let after_rotation = census(&self.state);
        let full_log = runtime.log();
        let rotation_log = log_since(&full_log, &self.migration_log);

        let instances: BTreeMap<String, String> = self
            .world
            .workspaces
            .iter()
            .map(|workspace| (workspace.key(), instance_of(workspace)))
            .collect();
        let secret_summaries =
            summarize_secrets(&full_log, self.world.secrets.as_ref(), &self.connector).await;
        let dead_letters = runtime.dlq().messages();
        let mut checks = invariant_checks(
            &after_rotation,
            &secret_summaries,
            &full_log,
            &instances,
            &self.world.policy,
        );
        let operate = operate::operate(
            &self.state,
            &self.deps,
            self.world.events.as_ref(),
            &secret_summaries,
        )
        .await;
        checks.push(Check {
            name: "a rollback to a revoked AWSPREVIOUS token is refused".to_owned(),
            passed: operate
                .rollback_refusal
                .as_deref()
                .is_some_and(|refusal| refusal.starts_with("Rollback.Refused")),
            checked: usize::from(operate.rollback_secret.is_some()),
            detail: operate.rollback_refusal.clone().unwrap_or_default(),
        });
        if !self.faulted.is_empty() {
            checks.push(recovery_check(
                &self.faulted,
                &dead_letters,
                &self.executions,
                runtime.dlq().queue().len(),
            ));
        }
        let accounts_created = total(&after_rotation, |c| c.service_accounts)
            .saturating_sub(total(&self.before, |c| c.service_accounts));
        let report = DemoReport {
            before: self.before,
            after_migration: self.after_migration,
            after_rotation,
            accounts_created,
            migration: RoundTotals {
                virtual_seconds: self.migration.virtual_seconds,
                ..round_totals(&self.migration_log)
            },
            rotation: RoundTotals {
                virtual_seconds: rotation_seconds,
                ..round_totals(&rotation_log)
            },
            executions: self.executions,
            secrets: secret_summaries,
            dead_letters: dead_letters.iter().map(describe_dead_letter).collect(),
            faulted: self.faulted.iter().map(WorkspaceRef::key).collect(),
            replays: self.replays,
            operate,
            checks,
            wall_millis: self.started.elapsed().as_millis(),
            virtual_seconds: self.clock.elapsed().num_seconds(),
            simulator_hashing: HashingCost::so_far().since(self.hashing_at_start),
        };
        (report, self.world)
    }
}

/// Runs the demo and returns the report with the world it ran against: migration (with the
/// faulted workspaces failing into the DLQ), replay, rotation.
pub async fn run_demo(options: &DemoOptions) -> Result<(DemoReport, DemoWorld), CliError> {
    let mut session = DemoSession::start(options).await?;
    session.migrate().await?;
    if !session.faulted().is_empty() {
        let queue = session.world().runtime.dlq().queue();
        session.replay(queue.as_ref()).await;
    }
    Ok(session.rotate_and_report().await)
}

/// `count` workspaces spread over the fleet, AMG ones first (their control plane and Grafana
/// are both behind the fault), so a generated fleet's faults do not all land in one region.
fn pick_faulted(workspaces: &[WorkspaceRef], count: usize) -> Vec<WorkspaceRef> {
    if count == 0 || workspaces.is_empty() {
        return Vec::new();
    }
    let mut ordered: Vec<&WorkspaceRef> = workspaces
        .iter()
        .filter(|workspace| matches!(workspace.target, WorkspaceTarget::Amg { .. }))
        .collect();
    if ordered.len() < count {
        ordered = workspaces.iter().collect();
    }
    let stride = (ordered.len() / count).max(1);
    let mut picked: Vec<WorkspaceRef> = Vec::new();
    for workspace in ordered.into_iter().step_by(stride) {
        // Self-hosted orgs share one instance; one fault takes all of them.
        if picked.len() < count
            && !picked
                .iter()
                .any(|p| instance_of(p) == instance_of(workspace))
        {
            picked.push(workspace.clone());
        }
    }
    picked
}

fn describe_dead_letter(message: &DlqMessage) -> String {
    format!(
        "{} at {}: {}: {}",
        message.execution,
        message.failed_state.as_deref().unwrap_or("?"),
        message.error,
        message.cause
    )
}

/// Exactly the faulted workspaces reached the DLQ, once each; each one's replay succeeded;
/// nothing is left in the queue.
fn recovery_check(
    faulted: &[WorkspaceRef],
    dead_letters: &[DlqMessage],
    executions: &[ExecutionSummary],
    left_in_queue: usize,
) -> Check {
    let mut failures = Vec::new();
    let expected: BTreeSet<String> = faulted.iter().map(WorkspaceRef::key).collect();
    let mut lettered: BTreeMap<String, usize> = BTreeMap::new();
    for message in dead_letters {
        let workspace = message
            .execution_input
            .as_ref()
            .and_then(|input| serde_json::from_value::<ExecutionInput>(input.clone()).ok())
            .map(|input| input.workspace.key())
            .unwrap_or_else(|| format!("(no input in {})", message.execution));
        *lettered.entry(workspace).or_default() += 1;
    }
    let lettered_keys: BTreeSet<String> = lettered.keys().cloned().collect();
    if lettered_keys != expected {
        failures.push(format!(
            "dead letters for {lettered_keys:?}, faulted {expected:?}"
        ));
    }
    if let Some((workspace, count)) = lettered.iter().find(|(_, count)| **count > 1) {
        failures.push(format!("{workspace}: {count} dead letters"));
    }
    for key in &expected {
        let replays: Vec<&ExecutionSummary> = executions
            .iter()
            .filter(|e| e.round == "replay" && &e.workspace == key)
            .collect();
        let succeeded = replays
            .iter()
            .filter(|e| e.status == ExecutionStatus::Succeeded.as_str())
            .count();
        if replays.len() != 1 || succeeded != 1 {
            failures.push(format!(
                "{key}: {} replays, {succeeded} succeeded",
                replays.len()
            ));
        }
    }
    if left_in_queue > 0 {
        failures.push(format!("{left_in_queue} messages left in the DLQ"));
    }
    Check {
        name: "each faulted workspace failed into the DLQ once and its replay converged".to_owned(),
        passed: failures.is_empty(),
        checked: expected.len(),
        detail: failures.join("; "),
    }
}

fn summarize_execution(
    round: &str,
    workspace: String,
    result: &local_sfn::ExecutionResult,
) -> ExecutionSummary {
    let credentials = result
        .all_states_entered()
        .iter()
        .filter(|state| *state == "CreateServiceAccount")
        .count();
    ExecutionSummary {
        round: round.to_owned(),
        name: result.name.clone(),
        workspace,
        status: result.status.as_str().to_owned(),
        error: result.error.clone(),
        states_path: result.states_path(),
        credentials,
    }
}

/// One workspace reference per AMG workspace (org 1) and per org of each self-hosted
/// instance, whose admin user's credential is put in the secret store as an operator would.
async fn workspaces_of(
    sim: &RunningSim,
    secrets: &InMemorySecretStore,
) -> Result<Vec<WorkspaceRef>, CliError> {
    let state = sim.state();
    let mut workspaces = Vec::new();
    for view in state.workspaces() {
        match view.record.kind {
            WorkspaceKind::Amg => {
                let reference =
                    WorkspaceRef::amg(view.record.id.clone(), view.record.region.clone(), 1)
                        .map_err(|error| CliError::invalid_file("fleet", error.to_string()))?;
                workspaces.push(reference);
            }
            WorkspaceKind::SelfHosted => {
                let admin = state
                    .fleet()
                    .workspaces
                    .iter()
                    .find(|spec| spec.id == view.record.id)
                    .and_then(|spec| spec.users.iter().find(|user| user.is_grafana_admin))
                    .map(|user| (user.login.clone(), user.password.clone()));
                let Some((login, password)) = admin else {
                    continue;
                };
                let secret_id = format!("keyshift-demo/{}/admin", view.record.id);
                let value =
                    serde_json::json!({"username": login, "password": password}).to_string();
                store_admin_secret(secrets, &secret_id, &value, state.now())
                    .await
                    .map_err(|error| CliError::environment("storing a demo admin secret", error))?;
                let orgs: Vec<i64> = state
                    .with_instance(&view.record.id, |instance, _| {
                        instance.orgs.keys().copied().collect()
                    })
                    .unwrap_or_else(|_| vec![1]);
                for org in orgs {
                    // Named after the instance id, not its URL, whose port changes every run.
                    let reference = WorkspaceRef::self_hosted(
                        sim.instance_url(&view.record.id),
                        secret_id.clone(),
                        org,
                    )
                    .and_then(|reference| reference.with_secret_name(Some(view.record.id.clone())))
                    .map_err(|error| CliError::invalid_file("fleet", error.to_string()))?;
                    workspaces.push(reference);
                }
            }
        }
    }
    Ok(workspaces)
}

async fn store_admin_secret(
    secrets: &InMemorySecretStore,
    secret_id: &str,
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> keyshift_core::Result<()> {
    secrets
        .ensure_secret(secret_id, "demo admin credential", &BTreeMap::new())
        .await?;
    secrets.put_secret_value(
        secret_id,
        &uuid::Uuid::new_v4().to_string(),
        &SecretString::new(value),
        &[AWSCURRENT],
        now,
    )?;
    Ok(())
}

async fn run_round(
    runtime: &LocalRuntime,
    workspaces: &[WorkspaceRef],
    policy: &Policy,
    clock: &SyncedClock,
    round: &str,
    options: &DemoOptions,
) -> Vec<ExecutionSummary> {
    let slot = local_sfn::Clock::now(clock);
    let progress = Progress::new(options.progress, workspaces.len() as u64, round);
    // All at once on the fleet clock: their grace Waits overlap, so the round takes the
    // virtual time of one execution whatever the size of the fleet.
    let executions: Vec<FleetExecution> = workspaces
        .iter()
        .map(|workspace| FleetExecution {
            name: execution_name_for(workspace, slot),
            input: ExecutionInput {
                workspace: workspace.clone(),
                policy: policy.clone(),
            },
        })
        .collect();
    let results = runtime
        .execute_fleet(&executions, options.max_concurrency, |_| progress.inc())
        .await;
    progress.finish();
    executions
        .into_iter()
        .zip(results)
        .map(|(execution, result)| {
            summarize_execution(round, execution.input.workspace.key(), &result)
        })
        .collect()
}
