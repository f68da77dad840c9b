//! fleet-start: one schedule tick lists the fleet and starts one execution per workspace.
//!
//! The EventBridge Scheduler schedule (or `keyshift fleet start`) hands over the fleet config
//! and the schedule's time. The tick lists AMG workspaces in the configured regions, of this
//! account and of each `accounts` entry (through its role), keeps those carrying the tags,
//! skips what cannot be served (not ACTIVE, Grafana without service accounts) with a reason,
//! and starts one execution per workspace named by [`execution_name_for`] from the schedule
//! time, so a retried tick asks for the same names and starts nothing twice. Starts run a few
//! at a time, back off on throttling, and a start that failed for good is dead-lettered (see
//! [`failed_start_message`]) without stopping the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Deserializer, Serialize};

use crate::dead_letter::{DeadLetterKind, SCHEMA_VERSION};
use crate::error::{KeyshiftError, Result};
use crate::fleet::config::FleetConfig;
use crate::model::{AssumeRole, GrafanaVersion, Policy, WorkspaceRef};
use crate::naming::{execution_name_for, short_hash};
use crate::ports::{
    AmgWorkspaceSummary, Clock, DeadLetterQueue, DlqMessage, ExecutionStarter, StartOutcome,
};
use crate::secret::scrub_secrets;
use crate::steps::io::ExecutionInput;

/// Executions started at once when the config sets no `startConcurrency`.
pub const DEFAULT_START_CONCURRENCY: u32 = 4;

/// The `failedState` of dead letters for starts that failed: no state of the machine ran.
pub const FAILED_START_STATE: &str = "FleetStart";

/// Where fleet-start finds AMG workspaces: this account's control plane, or another
/// account's reached through a role. A port so the listing logic is tested without AWS.
#[async_trait]
pub trait FleetDirectory: Send + Sync {
    /// ListWorkspaces in `region` (all pages), under `role` when given.
    async fn list_workspaces(
        &self,
        role: Option<&AssumeRole>,
        region: &str,
    ) -> Result<Vec<AmgWorkspaceSummary>>;
}

/// Pausing between attempts, as a port so tests neither wait nor need a runtime's timer.
#[async_trait]
pub trait Sleeper: Send + Sync {
    /// Returns after `duration`.
    async fn sleep(&self, duration: Duration);
}

/// How throttled or unavailable calls (ListWorkspaces, StartExecution) are retried in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartRetry {
    /// Attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    /// The first back-off window; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// Upper bound of one wait, also of a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for StartRetry {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl StartRetry {
    /// The wait before attempt `attempt + 1` after a retryable `error`: the server's
    /// `Retry-After` when it gave one, else a doubling window with a jitter derived from
    /// `jitter_key` (so concurrent starts spread out without a random source).
    fn delay(&self, attempt: u32, error: &KeyshiftError, jitter_key: &str) -> Duration {
        if let Some(asked) = error.retry_after() {
            return asked.min(self.max_delay);
        }
        let window = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let hash = u32::from_str_radix(&short_hash(&format!("{jitter_key}#{attempt}")), 16)
            .unwrap_or_default();
        let fraction = f64::from(hash % 1000) / 1000.0;
        window.mul_f64(0.5 + fraction / 2.0)
    }
}

/// Everything a tick needs from the outside world.
#[derive(Clone)]
pub struct FleetStartDeps {
    /// AMG listing, per account.
    pub directory: Arc<dyn FleetDirectory>,
    /// The per-workspace state machine.
    pub starter: Arc<dyn ExecutionStarter>,
    /// Where starts that failed for good go; `None` only reports them (CLI without a queue).
    pub dead_letters: Option<Arc<dyn DeadLetterQueue>>,
    /// Back-off pauses.
    pub sleeper: Arc<dyn Sleeper>,
    /// The time used when the event carries none.
    pub clock: Arc<dyn Clock>,
    /// Retry of throttled calls.
    pub retry: StartRetry,
}

/// What listing a fleet takes: where AMG workspaces are listed (per account) and how a
/// throttled listing is retried. fleet-start and the CLI's `plan`/`run`/`status` list through
/// it, so they select the same workspaces, with the same roles.
#[derive(Clone, Copy)]
pub struct FleetLister<'a> {
    /// AMG listing, per account.
    pub directory: &'a dyn FleetDirectory,
    /// Retry of throttled listings.
    pub retry: StartRetry,
    /// Back-off pauses.
    pub sleeper: &'a dyn Sleeper,
}

impl FleetStartDeps {
    /// The listing part of a tick's dependencies.
    pub fn lister(&self) -> FleetLister<'_> {
        FleetLister {
            directory: self.directory.as_ref(),
            retry: self.retry,
            sleeper: self.sleeper.as_ref(),
        }
    }
}

/// fleet-start's event: the fleet config (the same JSON as `--config`) plus `time`, the
/// schedule slot (`<aws.scheduler.scheduled-time>`) execution names derive from, and
/// `dryRun`. Any other unknown field is rejected, as in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStartEvent {
    /// The fleet.
    #[serde(flatten)]
    pub config: FleetConfig,
    /// The schedule slot; without it the current minute is used, which a retry in a later
    /// minute does not reproduce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    /// List and name what would start, starting nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl<'de> Deserialize<'de> for FleetStartEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        // `FleetConfig` rejects unknown fields, which rules out `#[serde(flatten)]` here: take
        // the event's own fields off first and read the rest as the config.
        let mut object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let time = object
            .remove("time")
            .map(serde_json::from_value::<Option<DateTime<Utc>>>)
            .transpose()
            .map_err(|error| D::Error::custom(format!("time: {error}")))?
            .flatten();
        let dry_run = object
            .remove("dryRun")
            .map(serde_json::from_value::<bool>)
            .transpose()
            .map_err(|error| D::Error::custom(format!("dryRun: {error}")))?
            .unwrap_or(false);
        let config =
            serde_json::from_value(serde_json::Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Self {
            config,
            time,
            dry_run,
        })
    }
}

/// One execution a tick asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetExecution {
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// The deterministic execution name ([`execution_name_for`]).
    pub execution_name: String,
    /// What Step Functions answered; `None` in a dry run.
    #[serde(default)]
    pub outcome: Option<StartOutcome>,
}

/// A workspace the tick did not start, and why (inactive, too old, listed twice, invalid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSkip {
    /// The workspace as people name it ([`WorkspaceRef::label`], or the AMG id and region).
    pub workspace: String,
    /// A sentence for people.
    pub why: String,
}

/// A start that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetFailure {
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// The execution that could not be started.
    pub execution_name: String,
    /// The error's ASL name (e.g. `Aws.Throttled`).
    pub error: String,
    /// The error's message.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
    /// Whether the dead-letter queue took the failed start.
    pub dead_lettered: bool,
}

/// A region (of this account or through a role) that could not be listed: its workspaces are
/// neither started nor dead-lettered this tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListingFailure {
    /// The role the listing ran under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region.
    pub region: String,
    /// The error's ASL name.
    pub error: String,
    /// The error's message.
    pub message: String,
}

/// fleet-start's output and log line: what the tick found and did.
/// `listed = notSelected + skipped + executions.len() + failed`, and outside a dry run
/// `executions.len() = started + alreadyRunning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStartOutput {
    /// The schedule slot the names derive from.
    pub slot: DateTime<Utc>,
    /// Whether nothing was started on purpose.
    pub dry_run: bool,
    /// Targets found: AMG workspaces listed in every selection, plus self-hosted targets.
    pub listed: usize,
    /// AMG workspaces listed without the selection's tags.
    pub not_selected: usize,
    /// Executions started by this tick.
    pub started: usize,
    /// Executions this tick's names already had (running, or finished: a retried tick).
    pub already_running: usize,
    /// Targets skipped, see `skips`.
    pub skipped: usize,
    /// Starts that failed for good, see `failures`.
    pub failed: usize,
    /// Regions that could not be listed, see `listingFailures`.
    pub listing_failed: usize,
    /// One entry per execution started, found, or (dry run) named, in listing order.
    pub executions: Vec<FleetExecution>,
    /// Why each skipped target was skipped.
    pub skips: Vec<FleetSkip>,
    /// Each failed start.
    pub failures: Vec<FleetFailure>,
    /// Each failed listing.
    pub listing_failures: Vec<ListingFailure>,
}

/// The selected fleet, before anything is started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetListing {
    /// Workspaces to start, in listing order (own account, accounts, self-hosted).
    pub targets: Vec<WorkspaceRef>,
    /// Targets found (see [`FleetStartOutput::listed`]).
    pub listed: usize,
    /// Listed without the tags.
    pub not_selected: usize,
    /// Targets skipped.
    pub skips: Vec<FleetSkip>,
    /// Regions that could not be listed.
    pub listing_failures: Vec<ListingFailure>,
}

/// One AMG selection: regions and tags, under a role or not.
struct Selection<'a> {
    role: Option<AssumeRole>,
    regions: &'a [String],
    tags: &'a BTreeMap<String, String>,
    org_id: i64,
}

fn selections(config: &FleetConfig) -> Vec<Selection<'_>> {
    let own = config.amg.iter().map(|amg| Selection {
        role: None,
        regions: &amg.regions,
        tags: &amg.tags,
        org_id: amg.org_id,
    });
    let accounts = config.accounts.iter().map(|account| Selection {
        role: Some(account.assume_role()),
        regions: &account.regions,
        tags: &account.tags,
        org_id: account.org_id,
    });
    own.chain(accounts).collect()
}

/// Why a listed, tagged workspace cannot be served, if it cannot.
fn unservable(summary: &AmgWorkspaceSummary) -> Option<String> {
    if !summary.is_active() {
        return Some(format!(
            "status {}: only ACTIVE workspaces accept work",
            summary.status
        ));
    }
    if !summary.grafana_version.supports_service_accounts() {
        return Some(format!(
            "Grafana {} has no service accounts: {}",
            summary.grafana_version,
            GrafanaVersion::AMG_UPGRADE_ADVICE
        ));
    }
    None
}

/// Runs `call` until it succeeds, fails for good, or the attempts run out; returns the
/// attempts made with the result.
async fn with_retry<T, F, Fut>(
    retry: StartRetry,
    sleeper: &dyn Sleeper,
    jitter_key: &str,
    mut call: F,
) -> (u32, Result<T>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(error) if error.is_retryable() && attempt < retry.max_attempts.max(1) => {
                let delay = retry.delay(attempt, &error, jitter_key);
                tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying after a transient failure");
                sleeper.sleep(delay).await;
            }
            result => return (attempt, result),
        }
    }
}

/// Lists the fleet `config` selects: every AMG selection's regions (tags filtered here, since
/// ListWorkspaces cannot filter), then the self-hosted targets. Unservable and duplicate
/// workspaces become skips with a reason; a region that cannot be listed becomes a
/// [`ListingFailure`] and the others are still listed.
pub async fn list_fleet(lister: FleetLister<'_>, config: &FleetConfig) -> FleetListing {
    let mut listing = FleetListing::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for selection in selections(config) {
        let via = selection
            .role
            .as_ref()
            .map(|role| format!(" through {}", role.role_arn))
            .unwrap_or_default();
        for region in selection.regions {
            let key = format!("list:{via}:{region}");
            let (_, listed) = with_retry(lister.retry, lister.sleeper, &key, || {
                lister
                    .directory
                    .list_workspaces(selection.role.as_ref(), region)
            })
            .await;
            let summaries = match listed {
                Ok(summaries) => summaries,
                Err(error) => {
                    tracing::error!(region = %region, role = ?selection.role.as_ref().map(|role| &role.role_arn), error = %error, "cannot list AMG workspaces");
                    listing.listing_failures.push(ListingFailure {
                        role_arn: selection.role.as_ref().map(|role| role.role_arn.clone()),
                        region: region.clone(),
                        error: error.asl_name().to_owned(),
                        message: error.to_string(),
                    });
                    continue;
                }
            };
            for summary in summaries {
                listing.listed += 1;
                let tagged = selection
                    .tags
                    .iter()
                    .all(|(key, value)| summary.tags.get(key) == Some(value));
                if !tagged {
                    listing.not_selected += 1;
                    continue;
                }
                let workspace_id = &summary.workspace.workspace_id;
                let name = format!("workspace {workspace_id} in {region}{via}");
                if let Some(why) = unservable(&summary) {
                    listing.skips.push(FleetSkip {
                        workspace: name,
                        why,
                    });
                    continue;
                }
                let reference = WorkspaceRef::amg(workspace_id.clone(), region, selection.org_id)
                    .and_then(|reference| {
                        reference.with_secret_name(config.amg_secret_name(workspace_id))
                    })
                    .and_then(|reference| reference.with_assume_role(selection.role.clone()));
                match reference {
                    Ok(reference) => push_unique(&mut listing, &mut seen, reference, name),
                    Err(error) => listing.skips.push(FleetSkip {
                        workspace: name,
                        why: format!("AMG listed a workspace keyshift cannot address: {error}"),
                    }),
                }
            }
        }
    }
    for (index, target) in config.self_hosted.iter().enumerate() {
        listing.listed += 1;
        match target.workspace_ref() {
            Ok(reference) => {
                let name = reference.label();
                push_unique(&mut listing, &mut seen, reference, name);
            }
            Err(error) => listing.skips.push(FleetSkip {
                workspace: format!("selfHosted[{index}]"),
                why: error.to_string(),
            }),
        }
    }
    listing
}

/// Adds `reference` unless a target with the same identity is already selected (two
/// selections listing the same region), which would start two executions per tick.
fn push_unique(
    listing: &mut FleetListing,
    seen: &mut HashMap<String, String>,
    reference: WorkspaceRef,
    name: String,
) {
    match seen.get(&reference.key()) {
        Some(first) => listing.skips.push(FleetSkip {
            workspace: name,
            why: format!("already selected as {first}"),
        }),
        None => {
            seen.insert(reference.key(), name);
            listing.targets.push(reference);
        }
    }
}

/// The schedule slot of a tick: the event's time, else the clock's, to the minute (the
/// resolution of execution names).
pub fn slot_of(event_time: Option<DateTime<Utc>>, clock: &dyn Clock) -> DateTime<Utc> {
    let time = event_time.unwrap_or_else(|| clock.now());
    time.duration_trunc(TimeDelta::minutes(1)).unwrap_or(time)
}

/// The execution input fleet-start starts `workspace` with; `max_concurrency` becomes the
/// execution's Map concurrency (the state machine's default applies when it is absent).
pub fn execution_input(
    workspace: &WorkspaceRef,
    policy: &Policy,
    max_concurrency: Option<u32>,
) -> Result<serde_json::Value> {
    let mut input = serde_json::to_value(ExecutionInput {
        workspace: workspace.clone(),
        policy: policy.clone(),
    })
    .map_err(|error| KeyshiftError::invalid_input("executionInput", error.to_string()))?;
    if let (Some(concurrency), Some(object)) = (max_concurrency, input.as_object_mut()) {
        object.insert(
            "maxConcurrency".to_owned(),
            serde_json::Value::from(concurrency),
        );
    }
    Ok(input)
}

/// The dead letter of a start that failed for good: the one place its shape is decided, so it
/// can follow the shared dead-letter schema. It carries what a replay needs (the name and the
/// input, which holds no secret) and what broke.
pub fn failed_start_message(
    state_machine_arn: &str,
    workspace: &WorkspaceRef,
    execution_name: &str,
    input: &serde_json::Value,
    error: &KeyshiftError,
    attempts: u32,
    failed_at: DateTime<Utc>,
) -> DlqMessage {
    DlqMessage {
        schema_version: SCHEMA_VERSION,
        kind: DeadLetterKind::StartFailed,
        state_machine_arn: state_machine_arn.to_owned(),
        execution: execution_name.to_owned(),
        execution_arn: None,
        workspace: Some(workspace.clone()),
        execution_input: Some(input.clone()),
        error: error.asl_name().to_owned(),
        cause: scrub_secrets(&format!(
            "StartExecution failed after {attempts} attempt(s): {error}"
        )),
        failed_state: Some(FAILED_START_STATE.to_owned()),
        status: None,
        attempts,
        first_failure_time: failed_at,
    }
}

/// What became of one start.
enum StartResult {
    Outcome(StartOutcome),
    Failed(FleetFailure),
}

async fn start_one(
    deps: &FleetStartDeps,
    workspace: &WorkspaceRef,
    execution_name: &str,
    policy: &Policy,
    max_concurrency: Option<u32>,
) -> StartResult {
    let input = match execution_input(workspace, policy, max_concurrency) {
        Ok(input) => input,
        Err(error) => return StartResult::Failed(failure(workspace, execution_name, &error, 0)),
    };
    let (attempts, result) = with_retry(deps.retry, deps.sleeper.as_ref(), execution_name, || {
        deps.starter.start(execution_name, &input)
    })
    .await;
    let error = match result {
        Ok(outcome) => return StartResult::Outcome(outcome),
        Err(error) => error,
    };
    tracing::error!(execution = execution_name, workspace = %workspace, attempts, error = %error, "execution could not be started");
    let mut failed = failure(workspace, execution_name, &error, attempts);
    if let Some(queue) = &deps.dead_letters {
        let message = failed_start_message(
            deps.starter.state_machine_arn(),
            workspace,
            execution_name,
            &input,
            &error,
            attempts,
            deps.clock.now(),
        );
        match queue.send(&message).await {
            Ok(()) => failed.dead_lettered = true,
            Err(dlq_error) => {
                tracing::error!(execution = execution_name, error = %dlq_error, "the failed start could not be dead-lettered either");
            }
        }
    }
    StartResult::Failed(failed)
}

fn failure(
    workspace: &WorkspaceRef,
    execution_name: &str,
    error: &KeyshiftError,
    attempts: u32,
) -> FleetFailure {
    FleetFailure {
        workspace: workspace.clone(),
        execution_name: execution_name.to_owned(),
        error: error.asl_name().to_owned(),
        message: error.to_string(),
        attempts,
        dead_lettered: false,
    }
}

/// One tick: lists the fleet, starts (or in a dry run only names) one execution per target,
/// at most `startConcurrency` at once, and returns and logs the summary. Fails only on an
/// invalid config; everything else is reported in the summary.
pub async fn fleet_start(
    deps: &FleetStartDeps,
    event: FleetStartEvent,
) -> Result<FleetStartOutput> {
    let problems = event.config.problems();
    if !problems.is_empty() {
        return Err(KeyshiftError::invalid_input(
            "fleetConfig",
            problems.join("; "),
        ));
    }
    let slot = slot_of(event.time, deps.clock.as_ref());
    let listing = list_fleet(deps.lister(), &event.config).await;
    let concurrency = event
        .config
        .start_concurrency
        .unwrap_or(DEFAULT_START_CONCURRENCY)
        .max(1);
    let policy = &event.config.policy;
    let map_concurrency = event.config.max_concurrency;
    let planned: Vec<(WorkspaceRef, String)> = listing
        .targets
        .into_iter()
        .map(|workspace| {
            let name = execution_name_for(&workspace, slot);
            (workspace, name)
        })
        .collect();
    let planned_count = planned.len();
    let dry_run = event.dry_run;
    // Owned items: a stream over borrowed ones makes this future's `Send` bound
    // higher-ranked, which the Lambda runtime cannot satisfy.
    let results: Vec<(WorkspaceRef, String, Option<StartResult>)> = futures::stream::iter(planned)
        .map(|(workspace, name)| async move {
            let result = if dry_run {
                None
            } else {
                Some(start_one(deps, &workspace, &name, policy, map_concurrency).await)
            };
            (workspace, name, result)
        })
        .buffered(usize::try_from(concurrency).unwrap_or(1))
        .collect()
        .await;
    let mut output = FleetStartOutput {
        slot,
        dry_run: event.dry_run,
        listed: listing.listed,
        not_selected: listing.not_selected,
        started: 0,
        already_running: 0,
        skipped: listing.skips.len(),
        failed: 0,
        listing_failed: listing.listing_failures.len(),
        executions: Vec::with_capacity(planned_count),
        skips: listing.skips,
        failures: Vec::new(),
        listing_failures: listing.listing_failures,
    };
    for (workspace, execution_name, result) in results {
        let outcome = match result {
            None => None,
            Some(StartResult::Outcome(outcome)) => {
                match outcome {
                    StartOutcome::Started { .. } => output.started += 1,
                    StartOutcome::AlreadyRunning { .. } | StartOutcome::AlreadyExists => {
                        output.already_running += 1;
                    }
                }
                Some(outcome)
            }
            Some(StartResult::Failed(failed)) => {
                output.failed += 1;
                output.failures.push(failed);
                continue;
            }
        };
        output.executions.push(FleetExecution {
            workspace,
            execution_name,
            outcome,
        });
    }
    tracing::info!(
        slot = %output.slot,
        dry_run = output.dry_run,
        listed = output.listed,
        not_selected = output.not_selected,
        started = output.started,
        already_running = output.already_running,
        skipped = output.skipped,
        failed = output.failed,
        listing_failed = output.listing_failed,
        "fleet-start tick done"
    );
    Ok(output)
}

#[cfg(test)]
mod tests;
