//! `keyshift demo`: the whole story in one process, against grafana-sim on loopback.
//!
//! A sample fleet (AMG and self-hosted, Grafana 9.4 to 12.1, legacy keys of every role, an
//! already migrated account) is migrated by the real state machine on local-sfn with the core
//! steps, local secret store, sealer and queue; the grace period passes on the virtual clock
//! (and the simulator's); three weeks later one rotation round runs. The report compares
//! before and after and checks the invariants. No token is ever printed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grafana_sim::state::CredentialFormat;
use grafana_sim::{FleetSpec, RunningSim, SharedState, Simulator, WorkspaceKind};
use keyshift_aws::{
    AmgControlPlaneClient, AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector,
};
use keyshift_core::SecretString;
use keyshift_core::model::{
    GrafanaCredential, ManagedSecretValue, Policy, WorkspaceRef, WorkspaceTarget,
};
use keyshift_core::naming::execution_name_for;
use keyshift_core::plan::CredentialAction;
use keyshift_core::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, GrafanaConnector, SecretStore, VersionSelector,
};
use keyshift_core::steps::StepDeps;
use keyshift_core::steps::io::ExecutionInput;
use keyshift_local::{InMemorySecretStore, LocalSealer, RecordingMetrics};
use local_sfn::ExecutionStatus;
use serde::Serialize;

use crate::asl::ROTATE_WORKSPACE_ASL;
use crate::exit::CliError;
use crate::local::{
    FleetExecution, LocalDlq, LocalRuntime, RunLog, SyncedClock, TimeFollower, promoted_secret_ids,
};
use crate::progress::Progress;

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
}

/// Counts of one Grafana instance at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCensus {
    /// Instance id.
    pub id: String,
    /// `amg` or `selfHosted`.
    pub kind: String,
    /// Grafana version.
    pub version: String,
    /// Plain legacy keys that still authenticate.
    pub live_legacy_keys: usize,
    /// Plain legacy keys past their expiry (still listed).
    pub expired_legacy_keys: usize,
    /// Migrated legacy key strings that still authenticate (old key now owned by an account).
    pub live_migrated_keys: usize,
    /// Service accounts.
    pub service_accounts: usize,
    /// Service-account tokens that authenticate.
    pub live_tokens: usize,
    /// Live tokens per service account name.
    #[serde(skip)]
    pub live_tokens_by_account: BTreeMap<String, BTreeSet<i64>>,
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

/// One managed secret at the end.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSummary {
    /// Secret name.
    pub secret_id: String,
    /// The simulated instance the secret's token works on.
    pub instance: String,
    /// The org of that instance.
    pub org_id: i64,
    /// Versions and their labels.
    pub versions: Vec<Vec<String>>,
    /// Whether AWSCURRENT authenticates on the simulator with the intended org.
    pub current_authenticates: bool,
    /// The account it holds the token of.
    pub service_account: String,
    /// Token id in AWSCURRENT.
    pub current_token_id: Option<i64>,
    /// Token id in AWSPREVIOUS.
    pub previous_token_id: Option<i64>,
}

/// An invariant and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What must hold.
    pub name: String,
    /// Whether it did.
    pub passed: bool,
    /// How many instances (or secrets, for checks about secrets) it examined, so a check that
    /// passed because it looked at nothing shows.
    pub checked: usize,
    /// Details when it did not.
    pub detail: String,
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
    /// Invariant checks.
    pub checks: Vec<Check>,
    /// Wall-clock time taken, milliseconds.
    pub wall_millis: u128,
    /// Virtual time that passed, seconds.
    pub virtual_seconds: i64,
}

impl DemoReport {
    /// Whether every execution succeeded and every check held.
    pub fn all_good(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
            && self
                .executions
                .iter()
                .all(|execution| execution.status == ExecutionStatus::Succeeded.as_str())
    }
}

struct SimFollower(SharedState);

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
}

/// Runs the demo and returns the report with the world it ran against.
pub async fn run_demo(options: &DemoOptions) -> Result<(DemoReport, DemoWorld), CliError> {
    let started = Instant::now();
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
    let connector = HttpGrafanaConnector::new(GrafanaHttpSettings::default())
        .map_err(|error| CliError::environment("building the Grafana HTTP client", error))?;
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(sim.amg_endpoint_url())).await;
    let metrics = Arc::new(RecordingMetrics::new());
    let deps = StepDeps {
        grafana: Arc::new(connector.clone()),
        secrets: secrets.clone(),
        sealer: Arc::new(LocalSealer::random()),
        amg: Some(Arc::new(AmgControlPlaneClient::new(&aws.grafana_client()))),
        clock: Arc::new(clock.clone()),
        amg_url_template: Some(format!("{}/g/{{workspace_id}}", sim.base_url())),
        metrics: metrics.clone(),
    };
    let runtime = LocalRuntime::new(
        ROTATE_WORKSPACE_ASL,
        deps,
        Arc::new(clock.clone()),
        LocalDlq::in_process(),
    )
    .map_err(|error| CliError::environment("loading the state machine", error))?;
    let policy = Policy::default();

    let round_start = clock.elapsed();
    let mut executions =
        run_round(&runtime, &workspaces, &policy, &clock, "migration", options).await;
    let migration_seconds = (clock.elapsed() - round_start).num_seconds();
    let after_migration = census(&state);
    let migration_log = runtime.log();

    clock.advance(jump_before_rotation(&policy));
    let round_start = clock.elapsed();
    executions.extend(run_round(&runtime, &workspaces, &policy, &clock, "rotation", options).await);
    let rotation_seconds = (clock.elapsed() - round_start).num_seconds();
    let after_rotation = census(&state);
    let full_log = runtime.log();
    let rotation_log = log_since(&full_log, &migration_log);

    let instances: BTreeMap<String, String> = workspaces
        .iter()
        .map(|workspace| (workspace.key(), instance_of(workspace)))
        .collect();
    let secret_summaries = summarize_secrets(&full_log, secrets.as_ref(), &connector).await;
    let dead_letters = runtime
        .dlq()
        .messages()
        .into_iter()
        .map(|message| {
            format!(
                "{} at {}: {}: {}",
                message.execution,
                message.failed_state.as_deref().unwrap_or("?"),
                message.error,
                message.cause
            )
        })
        .collect();
    let checks = invariant_checks(
        &after_rotation,
        &secret_summaries,
        &full_log,
        &instances,
        &policy,
    );
    let accounts_created = total(&after_rotation, |c| c.service_accounts)
        .saturating_sub(total(&before, |c| c.service_accounts));
    let report = DemoReport {
        before,
        after_migration,
        after_rotation,
        accounts_created,
        migration: RoundTotals {
            virtual_seconds: migration_seconds,
            ..round_totals(&migration_log)
        },
        rotation: RoundTotals {
            virtual_seconds: rotation_seconds,
            ..round_totals(&rotation_log)
        },
        executions,
        secrets: secret_summaries,
        dead_letters,
        checks,
        wall_millis: started.elapsed().as_millis(),
        virtual_seconds: clock.elapsed().num_seconds(),
    };
    Ok((
        report,
        DemoWorld {
            sim,
            secrets,
            runtime,
            workspaces,
            policy,
            metrics,
        },
    ))
}

fn load_fleet(path: &Path) -> Result<FleetSpec, CliError> {
    let text = crate::exit::read_text(path)?;
    FleetSpec::from_json(&text)
        .map_err(|error| CliError::invalid_file(path.display().to_string(), error.to_string()))
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
        match view.kind {
            WorkspaceKind::Amg => {
                let reference = WorkspaceRef::amg(view.id.clone(), view.region.clone(), 1)
                    .map_err(|error| CliError::invalid_file("fleet", error.to_string()))?;
                workspaces.push(reference);
            }
            WorkspaceKind::SelfHosted => {
                let admin = state
                    .fleet()
                    .workspaces
                    .iter()
                    .find(|spec| spec.id == view.id)
                    .and_then(|spec| spec.users.iter().find(|user| user.is_grafana_admin))
                    .map(|user| (user.login.clone(), user.password.clone()));
                let Some((login, password)) = admin else {
                    continue;
                };
                let secret_id = format!("keyshift-demo/{}/admin", view.id);
                let value =
                    serde_json::json!({"username": login, "password": password}).to_string();
                store_admin_secret(secrets, &secret_id, &value, state.now())
                    .await
                    .map_err(|error| CliError::environment("storing a demo admin secret", error))?;
                let orgs: Vec<i64> = state
                    .with_instance(&view.id, |instance, _| {
                        instance.orgs.keys().copied().collect()
                    })
                    .unwrap_or_else(|_| vec![1]);
                for org in orgs {
                    // Named after the instance id, not its URL, whose port changes every run.
                    let reference = WorkspaceRef::self_hosted(
                        sim.instance_url(&view.id),
                        secret_id.clone(),
                        org,
                    )
                    .and_then(|reference| reference.with_secret_name(Some(view.id.clone())))
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
            let credentials = result
                .all_states_entered()
                .iter()
                .filter(|state| *state == "CreateServiceAccount")
                .count();
            ExecutionSummary {
                round: round.to_owned(),
                name: execution.name,
                workspace: execution.input.workspace.key(),
                status: result.status.as_str().to_owned(),
                error: result.error.clone(),
                states_path: result.states_path(),
                credentials,
            }
        })
        .collect()
}

/// Counts what each instance holds now, from the simulator's own state.
pub fn census(state: &SharedState) -> Vec<InstanceCensus> {
    state
        .workspaces()
        .into_iter()
        .filter_map(|view| {
            state
                .with_instance(&view.id, |instance, now| {
                    let mut census = InstanceCensus {
                        id: instance.id.clone(),
                        kind: match instance.kind {
                            WorkspaceKind::Amg => "amg".to_owned(),
                            WorkspaceKind::SelfHosted => "selfHosted".to_owned(),
                        },
                        version: instance.version_label.clone(),
                        service_accounts: instance.service_accounts.len(),
                        ..InstanceCensus::default()
                    };
                    // From 12.1 Grafana no longer authenticates a key that was never migrated.
                    let plain_keys_authenticate = !instance.version.legacy_keys_removed();
                    for row in instance.credentials.values() {
                        let live = !row.has_expired(now) && !row.is_revoked;
                        match (row.service_account_id, row.format) {
                            (None, _) if !live => census.expired_legacy_keys += 1,
                            (None, _) if plain_keys_authenticate => census.live_legacy_keys += 1,
                            (None, _) => {}
                            (Some(_), CredentialFormat::LegacyKey) if live => {
                                census.live_migrated_keys += 1
                            }
                            (Some(account), CredentialFormat::ServiceAccountToken) if live => {
                                census.live_tokens += 1;
                                let name = instance
                                    .service_accounts
                                    .get(&account)
                                    .map(|sa| format!("{}:{}", sa.org_id, sa.name))
                                    .unwrap_or_default();
                                census
                                    .live_tokens_by_account
                                    .entry(name)
                                    .or_default()
                                    .insert(row.id);
                            }
                            (Some(_), _) => {}
                        }
                    }
                    census
                })
                .ok()
        })
        .collect()
}

fn total(census: &[InstanceCensus], field: impl Fn(&InstanceCensus) -> usize) -> usize {
    census.iter().map(field).sum()
}

fn log_since(full: &RunLog, earlier: &RunLog) -> RunLog {
    RunLog {
        steps: full
            .steps
            .iter()
            .skip(earlier.steps.len())
            .cloned()
            .collect(),
        plans: full
            .plans
            .iter()
            .skip(earlier.plans.len())
            .cloned()
            .collect(),
        minted: full
            .minted
            .iter()
            .skip(earlier.minted.len())
            .cloned()
            .collect(),
        promoted: full
            .promoted
            .iter()
            .skip(earlier.promoted.len())
            .cloned()
            .collect(),
        revocations: full
            .revocations
            .iter()
            .skip(earlier.revocations.len())
            .cloned()
            .collect(),
    }
}

fn round_totals(log: &RunLog) -> RoundTotals {
    let actions = log.plans.iter().flat_map(|plan| {
        plan.plan
            .credentials
            .iter()
            .map(|credential| &credential.action)
    });
    let mut totals = RoundTotals::default();
    for action in actions {
        match action {
            CredentialAction::MigrateKey { .. } | CredentialAction::TakeOver { .. } => {
                totals.keys_migrated += 1
            }
            CredentialAction::Rotate { .. } => totals.tokens_rotated += 1,
        }
    }
    totals.tokens_minted = log.minted.len();
    totals.versions_promoted = log.promoted.len();
    for revocation in &log.revocations {
        totals.tokens_revoked += revocation.revoked_tokens.len();
        totals.keys_deleted += revocation.deleted_keys.len();
        totals.bootstrap_revoked += usize::from(revocation.bootstrap_revoked);
    }
    totals
}

async fn summarize_secrets(
    log: &RunLog,
    secrets: &dyn SecretStore,
    connector: &HttpGrafanaConnector,
) -> Vec<SecretSummary> {
    let mut summaries = Vec::new();
    for secret_id in promoted_secret_ids(log) {
        let versions = match secrets.describe(&secret_id).await {
            Ok(description) => description
                .versions
                .into_iter()
                .map(|version| version.stages)
                .collect(),
            Err(_) => Vec::new(),
        };
        let token_of = |stage: &str| {
            let secret_id = secret_id.clone();
            let stage = stage.to_owned();
            async move {
                let stored = secrets
                    .get(&secret_id, &VersionSelector::Stage(stage))
                    .await
                    .ok()?;
                ManagedSecretValue::parse(&stored.value, &secret_id).ok()
            }
        };
        let current = token_of(AWSCURRENT).await;
        let previous = token_of(AWSPREVIOUS).await;
        let current_authenticates = match &current {
            Some(value) => authenticates(connector, value).await,
            None => false,
        };
        let workspace = current.as_ref().or(previous.as_ref()).map(|v| &v.workspace);
        summaries.push(SecretSummary {
            instance: workspace.map(instance_of).unwrap_or_default(),
            org_id: workspace.map(|w| w.org_id).unwrap_or_default(),
            service_account: current
                .as_ref()
                .map(|value| value.service_account_name.clone())
                .unwrap_or_default(),
            current_token_id: current.as_ref().map(|value| value.token_id),
            previous_token_id: previous.as_ref().map(|value| value.token_id),
            secret_id,
            versions,
            current_authenticates,
        });
    }
    summaries
}

/// Calls Grafana with the stored token, as a consumer of the secret would.
async fn authenticates(connector: &HttpGrafanaConnector, value: &ManagedSecretValue) -> bool {
    let credential = GrafanaCredential::Bearer(value.token.clone());
    let Ok(api) = connector
        .connect(&value.grafana_url, value.workspace.org_id, credential)
        .await
    else {
        return false;
    };
    matches!(api.org().await, Ok(org) if org.id == value.workspace.org_id)
}

/// The simulated instance a workspace reference points at: the AMG workspace id, or the last
/// segment of a self-hosted URL (grafana-sim serves each instance under `/g/<id>`).
pub fn instance_of(workspace: &WorkspaceRef) -> String {
    match &workspace.target {
        WorkspaceTarget::Amg { workspace_id, .. } => workspace_id.clone(),
        WorkspaceTarget::SelfHosted { url, .. } => url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(url)
            .to_owned(),
    }
}

/// Checks the end state per instance: token ids and account names only mean something inside
/// one Grafana instance, and a generated fleet has the same names on every workspace.
fn invariant_checks(
    after: &[InstanceCensus],
    secrets: &[SecretSummary],
    log: &RunLog,
    instances: &BTreeMap<String, String>,
    policy: &Policy,
) -> Vec<Check> {
    let check = |name: &str, checked: usize, failures: Vec<String>| Check {
        name: name.to_owned(),
        passed: failures.is_empty(),
        checked,
        detail: failures.join("; "),
    };
    let legacy: Vec<String> = after
        .iter()
        .filter(|census| census.live_legacy_keys > 0 || census.live_migrated_keys > 0)
        .map(|census| {
            format!(
                "{}: {} legacy and {} migrated keys still work",
                census.id, census.live_legacy_keys, census.live_migrated_keys
            )
        })
        .collect();
    let current: Vec<String> = secrets
        .iter()
        .filter(|secret| !secret.current_authenticates)
        .map(|secret| format!("{}: AWSCURRENT does not authenticate", secret.secret_id))
        .collect();
    let pending: Vec<String> = secrets
        .iter()
        .filter(|secret| {
            secret.versions.iter().any(|stages| {
                stages.iter().any(|stage| stage == AWSPENDING)
                    && !stages.iter().any(|stage| stage == AWSCURRENT)
            })
        })
        .map(|secret| {
            format!(
                "{}: an AWSPENDING version was left behind",
                secret.secret_id
            )
        })
        .collect();
    let mut extra = Vec::new();
    // Minted tokens by instance; a minted record whose workspace is unknown is a failure
    // rather than silently not checked.
    let mut keyshift_tokens: BTreeSet<(&str, i64)> = BTreeSet::new();
    for minted in &log.minted {
        match instances.get(&minted.workspace) {
            Some(instance) => {
                keyshift_tokens.insert((instance.as_str(), minted.token_id));
            }
            None => extra.push(format!(
                "token {} was minted on {}, which is not in the fleet",
                minted.token_id, minted.workspace
            )),
        }
    }
    let held: BTreeMap<(&str, String), &SecretSummary> = secrets
        .iter()
        .map(|secret| {
            (
                (
                    secret.instance.as_str(),
                    format!("{}:{}", secret.org_id, secret.service_account),
                ),
                secret,
            )
        })
        .collect();
    for census in after {
        for (account, tokens) in &census.live_tokens_by_account {
            let secret = held.get(&(census.id.as_str(), account.clone()));
            let allowed: BTreeSet<i64> = secret
                .map(|secret| [secret.current_token_id, secret.previous_token_id])
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            let unexpected = tokens.iter().any(|token| {
                keyshift_tokens.contains(&(census.id.as_str(), *token)) && !allowed.contains(token)
            });
            let too_many =
                secret.is_some() && tokens.len() > policy.max_tokens_per_account as usize;
            if unexpected || too_many {
                extra.push(format!(
                    "{} {account}: live tokens {tokens:?}, secret holds {allowed:?}",
                    census.id
                ));
            }
        }
    }
    vec![
        check(
            "every legacy key was migrated and, after the grace period, revoked",
            after.len(),
            legacy,
        ),
        check(
            "every managed secret's AWSCURRENT authenticates",
            secrets.len(),
            current,
        ),
        check("no AWSPENDING version left behind", secrets.len(), pending),
        check(
            "no live keyshift token beyond AWSCURRENT and AWSPREVIOUS",
            after.len(),
            extra,
        ),
    ]
}

/// The most workspaces `--generate-fleet` makes: far beyond the benchmark's 1,000, small
/// enough that a mistyped count cannot exhaust memory.
pub const MAX_GENERATED_WORKSPACES: usize = 20_000;

/// A fleet of the shape issue reports describe: `workspaces` AMG workspaces in two regions,
/// Grafana 9.4, 10.4 and 12.1 in turn, and the same legacy key names on every workspace (one
/// of them expired), so checks that confuse instances would show.
pub fn generated_fleet(workspaces: usize) -> Result<FleetSpec, CliError> {
    if workspaces == 0 || workspaces > MAX_GENERATED_WORKSPACES {
        return Err(CliError::InvalidArgument {
            flag: "--generate-fleet".to_owned(),
            message: format!(
                "{workspaces} workspaces: give between 1 and {MAX_GENERATED_WORKSPACES}"
            ),
        });
    }
    const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
    const VERSIONS: [&str; 3] = ["9.4", "10.4", "12.1"];
    let specs: Vec<serde_json::Value> = (0..workspaces)
        .map(|index| {
            serde_json::json!({
                "kind": "amg",
                "id": format!("g-{:010x}", index + 1),
                "region": REGIONS[index % REGIONS.len()],
                "name": format!("fleet-{index:05}"),
                "status": "ACTIVE",
                "tags": {"keyshift": "managed", "team": if index % 2 == 0 { "sre" } else { "data" }},
                "version": VERSIONS[index % VERSIONS.len()],
                "apiKeys": [
                    {"name": "terraform-admin", "role": "Admin", "expires": "30d", "lastUsed": "-2h"},
                    {"name": "ci-deploy", "role": "Editor"},
                    {"name": "status-page", "role": "Viewer", "expires": "6d"},
                    {"name": "old-exporter", "role": "Viewer", "expires": "-2d"}
                ]
            })
        })
        .collect();
    let fleet = serde_json::json!({"seed": 8, "workspaces": specs});
    serde_json::from_value(fleet)
        .map_err(|error| CliError::environment("generating a fleet", error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::MintedRecord;

    fn census_with(id: &str, account: &str, tokens: &[i64]) -> InstanceCensus {
        InstanceCensus {
            id: id.to_owned(),
            live_tokens: tokens.len(),
            live_tokens_by_account: BTreeMap::from([(
                account.to_owned(),
                tokens.iter().copied().collect(),
            )]),
            ..InstanceCensus::default()
        }
    }

    fn secret_on(instance: &str, current: i64, previous: i64) -> SecretSummary {
        SecretSummary {
            secret_id: format!("keyshift/{instance}/1/ci/token"),
            instance: instance.to_owned(),
            org_id: 1,
            versions: vec![vec![AWSCURRENT.to_owned()]],
            current_authenticates: true,
            service_account: "ci".to_owned(),
            current_token_id: Some(current),
            previous_token_id: Some(previous),
        }
    }

    fn minted(workspace: &str, token_id: i64) -> MintedRecord {
        MintedRecord {
            workspace: workspace.to_owned(),
            service_account: "ci".to_owned(),
            token_id,
            token_name: format!("t-{token_id}"),
        }
    }

    fn extra_tokens_check(after: &[InstanceCensus], log: &RunLog) -> Check {
        let secrets = vec![secret_on("g-a", 2, 1), secret_on("g-b", 4, 3)];
        let instances = BTreeMap::from([
            ("ws-a".to_owned(), "g-a".to_owned()),
            ("ws-b".to_owned(), "g-b".to_owned()),
        ]);
        invariant_checks(after, &secrets, log, &instances, &Policy::default())
            .pop()
            .unwrap()
    }

    #[test]
    fn token_ids_and_account_names_are_told_apart_per_instance() {
        // Same account name on both instances; token 2 is keyshift's on g-a only. On g-b a
        // token 2 exists too but was never minted there, so it is none of keyshift's business.
        let log = RunLog {
            minted: vec![minted("ws-a", 1), minted("ws-a", 2), minted("ws-b", 4)],
            ..RunLog::default()
        };
        let after = [
            census_with("g-a", "1:ci", &[1, 2]),
            census_with("g-b", "1:ci", &[2, 4]),
        ];
        let check = extra_tokens_check(&after, &log);
        assert!(check.passed, "{}", check.detail);
        assert_eq!(check.checked, 2);
    }

    #[test]
    fn a_leftover_keyshift_token_fails_on_its_own_instance_only() {
        // Token 1 minted on g-b is still live there although g-b's secret holds 4 and 3; on g-a
        // token 1 is AWSPREVIOUS and fine. Matching by name across instances would allow it.
        let log = RunLog {
            minted: vec![minted("ws-a", 2), minted("ws-b", 1), minted("ws-b", 4)],
            ..RunLog::default()
        };
        let after = [
            census_with("g-a", "1:ci", &[1, 2]),
            census_with("g-b", "1:ci", &[1, 4]),
        ];
        let check = extra_tokens_check(&after, &log);
        assert!(!check.passed);
        assert!(check.detail.starts_with("g-b 1:ci"), "{}", check.detail);
        assert!(!check.detail.contains("g-a"), "{}", check.detail);
    }

    #[test]
    fn generated_fleets_have_the_shape_asked_for() {
        let fleet = generated_fleet(7).unwrap();
        assert_eq!(fleet.workspaces.len(), 7);
        assert!(
            fleet
                .workspaces
                .iter()
                .all(|w| w.kind == WorkspaceKind::Amg)
        );
        let regions: BTreeSet<_> = fleet.workspaces.iter().map(|w| w.region.clone()).collect();
        assert_eq!(regions.len(), 2);
        let versions: BTreeSet<String> = fleet
            .workspaces
            .iter()
            .map(|w| format!("{:?}", w.version))
            .collect();
        assert_eq!(versions.len(), 3);
        let key_names: BTreeSet<Vec<String>> = fleet
            .workspaces
            .iter()
            .map(|w| w.api_keys.iter().map(|k| k.name.clone()).collect())
            .collect();
        assert_eq!(key_names.len(), 1, "the same key names on every workspace");
        assert!(generated_fleet(0).is_err());
        assert!(generated_fleet(MAX_GENERATED_WORKSPACES + 1).is_err());
    }
}
