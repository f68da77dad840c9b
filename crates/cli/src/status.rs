//! `keyshift status`: the expiry watch. For every workspace of the fleet (selected exactly as
//! `keyshift plan` selects it), the managed secrets found by the `keyshift:workspace` tag
//! store-secret writes, and for each its AWSCURRENT token's expiry, days left, last rotation
//! and last execution result. Nothing is changed and Grafana is not called: everything comes
//! from the secrets themselves.
//!
//! The last execution result is read from the secret too, not from Step Functions: the
//! AWSCURRENT version names the execution that promoted it, and an AWSPENDING version that was
//! never promoted names a later execution that staged a token but did not finish (still
//! running, or failed after staging). An execution that failed before staging leaves no trace
//! in the secret; Step Functions' `ExecutionsFailed` metric and the dead-letter queue report
//! those.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use keyshift_core::model::duration::parse_duration;
use keyshift_core::model::{
    ManagedSecretValue, Policy, RecordedStraggler, STRAGGLERS_TAG, StragglerRecord, WorkspaceRef,
};
use keyshift_core::ports::{AWSCURRENT, AWSPENDING, SecretStore, VersionSelector};
use keyshift_core::steps::store_secret::WORKSPACE_TAG;
use serde::Serialize;

use crate::cli::{OutputFormat, TargetArgs};
use crate::exit::{self, CliError};
use crate::fleet::fleet_context;

/// Slack added to the policy's `maxAge` before a rotation counts as overdue: the schedule
/// rotates a token on its first tick after it becomes due, and a daily tick may be a day away.
pub const DEFAULT_SCHEDULE_SLACK: Duration = Duration::from_secs(86_400);

/// Arguments of `keyshift status`.
#[derive(Debug, Args)]
#[command(
    long_about = "Lists every managed secret of the fleet (selected as `keyshift plan` selects \
it) with its token's expiry, days left, last rotation and last execution result, read from the \
secrets alone (nothing is changed, Grafana is not called). Exits with 11 when a token expires \
within --warn-days, has expired, was not rotated within --rotation-period, or holds a staged \
token that was never promoted. A workspace without any managed secret is reported as never \
rotated without changing the exit code."
)]
pub struct StatusArgs {
    /// The workspaces.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Warn about tokens expiring within this many days (default: the policy's rotateBefore,
    /// the window in which keyshift should already have rotated them).
    #[arg(long)]
    pub warn_days: Option<u32>,
    /// Warn about secrets whose last rotation is older than this (`26d`, `90m`, or seconds;
    /// default: the policy's maxAge plus one day for the schedule's next tick).
    #[arg(long)]
    pub rotation_period: Option<String>,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// When a secret needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Tokens with less than this left are reported as expiring soon.
    #[serde(rename = "warnSeconds", serialize_with = "as_seconds")]
    pub warn: Duration,
    /// Rotations older than this are overdue.
    #[serde(rename = "rotationPeriodSeconds", serialize_with = "as_seconds")]
    pub rotation_period: Duration,
}

fn as_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

impl Thresholds {
    /// The policy's defaults: warn within `rotateBefore` of expiry, overdue after `maxAge` plus
    /// [`DEFAULT_SCHEDULE_SLACK`].
    pub fn from_policy(policy: &Policy) -> Self {
        Self {
            warn: policy.rotate_before,
            rotation_period: policy.max_age + DEFAULT_SCHEDULE_SLACK,
        }
    }
}

/// A secret's (or a workspace's) health, worst first in [`Health::needs_attention`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Health {
    /// Rotated within its period, expiring after the warning threshold.
    Ok,
    /// The token expires within the warning threshold.
    ExpiresSoon,
    /// The token has expired.
    Expired,
    /// The last rotation is older than the rotation period.
    RotationOverdue,
    /// The workspace has no managed secret at all: keyshift never stored a token for it.
    /// Reported, but not an alarm by itself: the secrets cannot tell a workspace with nothing
    /// to manage from one whose every execution failed early (the `ExecutionSucceeded` metric
    /// and the dead-letter queue can).
    NeverRotated,
    /// The secret exists, but no verified token was ever promoted to AWSCURRENT in it: an
    /// execution staged one and did not finish.
    NeverPromoted,
    /// The secret could not be read or holds no keyshift value.
    Unreadable,
}

impl Health {
    /// Whether this is what `keyshift status` exits with [`exit::STATUS_ATTENTION`] for.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Health::ExpiresSoon | Health::Expired | Health::RotationOverdue | Health::NeverPromoted
        )
    }

    /// The camelCase name used in the JSON output and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::ExpiresSoon => "expiresSoon",
            Health::Expired => "expired",
            Health::RotationOverdue => "rotationOverdue",
            Health::NeverRotated => "neverRotated",
            Health::NeverPromoted => "neverPromoted",
            Health::Unreadable => "unreadable",
        }
    }
}

/// What the last execution touching a secret achieved, as far as the secret shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExecutionResult {
    /// It verified and promoted its token to AWSCURRENT.
    Promoted,
    /// It staged a token as AWSPENDING but did not promote it: still running, or failed
    /// after staging.
    StagedNotPromoted,
}

/// The last execution a secret records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastExecution {
    /// The execution's name.
    pub name: String,
    /// What it achieved.
    pub result: ExecutionResult,
}

/// One row of the report: a managed secret, or a workspace without one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretStatus {
    /// `WorkspaceRef::key`, the stable identity scripts match on.
    pub workspace: String,
    /// The workspace as people name it.
    pub target: String,
    /// The secret's name; `None` for a workspace without any managed secret.
    pub secret_name: Option<String>,
    /// The service account whose token it holds.
    pub service_account: Option<String>,
    /// The AWSCURRENT token's Grafana name.
    pub token_name: Option<String>,
    /// When that token expires (`None`: never, or unknown).
    pub expires_at: Option<DateTime<Utc>>,
    /// Days until then, to two decimals, negative once expired.
    pub days_left: Option<f64>,
    /// When keyshift stored the AWSCURRENT version (`rotatedAt` in the value).
    pub last_rotation: Option<DateTime<Utc>>,
    /// The last execution the secret records.
    pub last_execution: Option<LastExecution>,
    /// Superseded tokens revoke-old keeps because consumers still use them (the secret's
    /// `keyshift:stragglers` tag): each is revoked once unused, or at `keptUntil`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stragglers: Vec<RecordedStraggler>,
    /// Stragglers the tag had no room to list.
    #[serde(skip_serializing_if = "is_zero")]
    pub stragglers_not_listed: usize,
    /// The verdict.
    pub health: Health,
    /// Why, in one sentence.
    pub why: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The time the report was judged at.
    pub checked_at: DateTime<Utc>,
    /// The thresholds applied.
    pub thresholds: Thresholds,
    /// One row per managed secret, and one per workspace without any.
    pub secrets: Vec<SecretStatus>,
}

impl StatusReport {
    /// The documented exit code: [`exit::STATUS_ATTENTION`] when any row needs attention,
    /// else [`exit::FAILED`] when a secret could not be read, else success.
    pub fn exit_code(&self) -> u8 {
        if self.secrets.iter().any(|row| row.health.needs_attention()) {
            exit::STATUS_ATTENTION
        } else if self
            .secrets
            .iter()
            .any(|row| row.health == Health::Unreadable)
        {
            exit::FAILED
        } else {
            exit::SUCCESS
        }
    }
}

/// Judges every workspace's managed secrets at `now`.
pub async fn collect_status(
    secrets: &dyn SecretStore,
    workspaces: &[WorkspaceRef],
    thresholds: Thresholds,
    now: DateTime<Utc>,
) -> StatusReport {
    let mut rows = Vec::new();
    for workspace in workspaces {
        let blank = |health: Health, why: String| SecretStatus {
            workspace: workspace.key(),
            target: workspace.label(),
            secret_name: None,
            service_account: None,
            token_name: None,
            expires_at: None,
            days_left: None,
            last_rotation: None,
            last_execution: None,
            stragglers: Vec::new(),
            stragglers_not_listed: 0,
            health,
            why,
        };
        match secrets.list_tagged(WORKSPACE_TAG, &workspace.key()).await {
            Ok(names) if names.is_empty() => rows.push(blank(
                Health::NeverRotated,
                "no managed secret carries this workspace's tag: keyshift never stored a token \
                 for it (nothing to manage there, or every execution failed before storing one)"
                    .to_owned(),
            )),
            Ok(names) => {
                for name in names {
                    let mut row = blank(Health::Ok, String::new());
                    row.secret_name = Some(name.clone());
                    judge_secret(secrets, &name, thresholds, now, &mut row).await;
                    rows.push(row);
                }
            }
            Err(error) => rows.push(blank(
                Health::Unreadable,
                format!(
                    "cannot list this workspace's secrets: {}: {error}",
                    error.asl_name()
                ),
            )),
        }
    }
    StatusReport {
        checked_at: now,
        thresholds,
        secrets: rows,
    }
}

async fn read_value(
    secrets: &dyn SecretStore,
    name: &str,
    version_id: &str,
) -> Result<ManagedSecretValue, String> {
    let stored = secrets
        .get(name, &VersionSelector::Id(version_id.to_owned()))
        .await
        .map_err(|error| format!("{}: {error}", error.asl_name()))?;
    ManagedSecretValue::parse(&stored.value, name)
        .map_err(|error| format!("{}: {error}", error.asl_name()))
}

async fn judge_secret(
    secrets: &dyn SecretStore,
    name: &str,
    thresholds: Thresholds,
    now: DateTime<Utc>,
    row: &mut SecretStatus,
) {
    let unreadable = |row: &mut SecretStatus, why: String| {
        row.health = Health::Unreadable;
        row.why = why;
    };
    let description = match secrets.describe(name).await {
        Ok(description) => description,
        Err(error) => {
            return unreadable(
                row,
                format!("cannot describe it: {}: {error}", error.asl_name()),
            );
        }
    };
    let mut tag_problem = None;
    match description
        .tags
        .get(STRAGGLERS_TAG)
        .map(|value| StragglerRecord::parse(value))
    {
        Some(Ok(record)) => {
            row.stragglers = record.entries;
            row.stragglers_not_listed = record.omitted;
        }
        Some(Err(error)) => tag_problem = Some(error),
        None => {}
    }
    if let Some(pending) = description.version_with_stage(AWSPENDING) {
        // An AWSPENDING version never promoted (on a secret's first version it shares
        // AWSCURRENT, which Secrets Manager gives every first version).
        if let Ok(value) = read_value(secrets, name, pending).await {
            row.last_execution = Some(LastExecution {
                name: value.execution_name,
                result: ExecutionResult::StagedNotPromoted,
            });
        }
    }
    let current = description
        .version_with_stage(AWSCURRENT)
        .filter(|current| description.version_with_stage(AWSPENDING) != Some(*current));
    let Some(current) = current else {
        row.health = Health::NeverPromoted;
        row.why = "no verified token was ever promoted to AWSCURRENT".to_owned();
        return;
    };
    let value = match read_value(secrets, name, current).await {
        Ok(value) => value,
        Err(why) => return unreadable(row, format!("AWSCURRENT is not a keyshift value: {why}")),
    };
    row.service_account = Some(value.service_account_name.clone());
    row.token_name = Some(value.token_name.clone());
    row.expires_at = value.expires_at;
    row.last_rotation = Some(value.rotated_at);
    if row.last_execution.is_none() {
        row.last_execution = Some(LastExecution {
            name: value.execution_name.clone(),
            result: ExecutionResult::Promoted,
        });
    }
    let left = value.expires_at.map(|expires_at| expires_at - now);
    row.days_left = left.map(|left| (left.num_seconds() as f64 / 86_400.0 * 100.0).round() / 100.0);
    let age = now - value.rotated_at;
    let warn = chrono::Duration::from_std(thresholds.warn).unwrap_or(chrono::Duration::MAX);
    let period =
        chrono::Duration::from_std(thresholds.rotation_period).unwrap_or(chrono::Duration::MAX);
    (row.health, row.why) = match left {
        Some(left) if left <= chrono::Duration::zero() => (
            Health::Expired,
            "the AWSCURRENT token has expired".to_owned(),
        ),
        Some(left) if left < warn => (
            Health::ExpiresSoon,
            format!(
                "the AWSCURRENT token expires within {} days",
                thresholds.warn.as_secs() / 86_400
            ),
        ),
        _ if age > period => (
            Health::RotationOverdue,
            format!(
                "last rotated {} days ago, more than the rotation period of {} days",
                age.num_days(),
                thresholds.rotation_period.as_secs() / 86_400
            ),
        ),
        _ => (
            Health::Ok,
            "rotated within its period, not expiring soon".to_owned(),
        ),
    };
    if let Some(error) = tag_problem {
        row.why.push_str(&format!(
            "; its {STRAGGLERS_TAG} tag cannot be read: {error}"
        ));
    }
}

/// The report as text for people.
pub fn render_status(report: &StatusReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9}  {:<20} {:<20} {:<18} SECRET",
        "HEALTH", "DAYS LEFT", "EXPIRES", "LAST ROTATION", "LAST EXECUTION"
    );
    let time = |at: Option<DateTime<Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    for row in &report.secrets {
        let days = row
            .days_left
            .map_or_else(|| "-".to_owned(), |days| format!("{days:.1}"));
        let execution = row
            .last_execution
            .as_ref()
            .map_or("-", |last| match last.result {
                ExecutionResult::Promoted => "promoted",
                ExecutionResult::StagedNotPromoted => "staged, not promoted",
            });
        let subject = row
            .secret_name
            .clone()
            .unwrap_or_else(|| row.target.clone());
        let _ = writeln!(
            out,
            "{:<16} {:>9}  {:<20} {:<20} {:<18} {subject}",
            row.health.as_str(),
            days,
            time(row.expires_at),
            time(row.last_rotation),
            execution,
        );
        if row.health != Health::Ok {
            let _ = writeln!(out, "  {}", row.why);
        }
        let account = row.service_account.as_deref().unwrap_or("its account");
        for straggler in &row.stragglers {
            let _ = writeln!(
                out,
                "  straggler: token {} of {account}, superseded but last used {}; revoked once unused, by {} at the latest",
                straggler.token_id,
                time(Some(straggler.last_used_at)),
                time(Some(straggler.kept_until)),
            );
        }
        if row.stragglers_not_listed > 0 {
            let _ = writeln!(
                out,
                "  and {} more stragglers the secret's tag has no room to list",
                row.stragglers_not_listed
            );
        }
    }
    out
}

/// `keyshift status`.
pub async fn status_command(args: StatusArgs) -> Result<u8, CliError> {
    let context = fleet_context(&args.targets, None, false).await?;
    let mut thresholds = Thresholds::from_policy(&context.policy);
    if let Some(days) = args.warn_days {
        thresholds.warn = Duration::from_secs(u64::from(days) * 86_400);
    }
    if let Some(period) = &args.rotation_period {
        thresholds.rotation_period =
            parse_duration(period).ok_or_else(|| CliError::InvalidArgument {
                flag: "--rotation-period".to_owned(),
                message: format!("{period:?} is not a duration such as 26d, 24h or 3600"),
            })?;
    }
    let report = collect_status(
        context.deps.secrets.as_ref(),
        &context.workspaces,
        thresholds,
        context.deps.clock.now(),
    )
    .await;
    match args.output {
        OutputFormat::Json => crate::print_json(&report)?,
        OutputFormat::Table => print!("{}", render_status(&report)),
    }
    Ok(report.exit_code())
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}
