//! `keyshift rollback`: moves a managed secret's AWSCURRENT back to AWSPREVIOUS, only after
//! the previous token is proven to authenticate and hold the role consumers have now
//! ([`keyshift_core::steps::rollback_secret`]). A dead previous token is refused, never
//! restored.

use std::sync::Arc;

use chrono::Utc;
use clap::Args;
use keyshift_core::KeyshiftError;
use keyshift_core::model::Role;
use keyshift_core::steps::store_secret::WORKSPACE_TAG;
use keyshift_core::steps::{RollbackInput, RollbackOutcome, current_token_role, rollback_secret};
use serde::Serialize;

use crate::cli::{OutputFormat, TargetArgs};
use crate::exit::{self, CliError};
use crate::fleet::{FleetContext, fleet_context};

/// Arguments of `keyshift rollback`.
#[derive(Debug, Args)]
#[command(
    long_about = "Moves AWSCURRENT of a managed secret back to its AWSPREVIOUS version, after \
checking that the previous token still authenticates and acts as the role the current one holds. \
A revoked or expired previous token is refused (exit 1) and nothing changes: run a fresh rotation \
instead. Without --secret-id, every managed secret of the selected workspaces is rolled back."
)]
pub struct RollbackArgs {
    /// The workspaces whose managed secrets to roll back (all of them, unless --secret-id
    /// narrows it down).
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Roll back only this managed secret (repeatable).
    #[arg(long = "secret-id", value_name = "SECRET")]
    pub secret_ids: Vec<String>,
    /// The role the restored token must act as (default: the role of the current token; give
    /// it when the current token no longer works).
    #[arg(long, value_parser = crate::cli::parse_role)]
    pub role: Option<Role>,
    /// Publish `Secret Rotated` (reason `rollback`) or `Rollback Refused` on this EventBridge
    /// bus, as the deployed functions do.
    #[arg(long, value_name = "BUS")]
    pub event_bus: Option<String>,
    /// Check the previous tokens, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// One secret's rollback, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRow {
    /// The managed secret.
    pub secret_id: String,
    /// What was (or would be) done; `None` when it was refused or failed.
    pub outcome: Option<RollbackOutcome>,
    /// The ASL error name when it was refused or failed (`Rollback.Refused`, …).
    pub error: Option<String>,
    /// The sentence saying why, and what to do instead.
    pub reason: Option<String>,
}

/// Runs `keyshift rollback`.
pub async fn rollback_command(args: RollbackArgs) -> Result<u8, CliError> {
    let mut context = fleet_context(&args.targets, None, false).await?;
    if let Some(bus) = &args.event_bus {
        let Some(aws) = &context.aws else {
            return Err(CliError::Usage(
                "--event-bus needs AWS: pass --region or set AWS_REGION".to_owned(),
            ));
        };
        context.deps.events = Arc::new(keyshift_aws::EventBridgePublisher::new(
            aws.eventbridge_client(),
            bus.clone(),
        ));
    }
    let secret_ids = secrets_to_roll_back(&context, &args.secret_ids).await?;
    let run_name = format!("rollback-{}", Utc::now().format("%Y%m%dT%H%M%S"));
    let mut rows = Vec::with_capacity(secret_ids.len());
    for secret_id in secret_ids {
        rows.push(roll_back_one(&context, &secret_id, args.role, &run_name, args.dry_run).await);
    }
    match args.output {
        OutputFormat::Json => crate::print_json(&rows)?,
        OutputFormat::Table => print!("{}", render(&rows)),
    }
    if rows.iter().all(|row| row.outcome.is_some()) {
        Ok(exit::SUCCESS)
    } else {
        Ok(exit::FAILED)
    }
}

/// The secrets named, or every managed secret of the selected workspaces (found by the tag
/// store-secret writes, as `status` finds them).
async fn secrets_to_roll_back(
    context: &FleetContext,
    named: &[String],
) -> Result<Vec<String>, CliError> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    let mut secret_ids = Vec::new();
    for workspace in &context.workspaces {
        let names = context
            .deps
            .secrets
            .list_tagged(WORKSPACE_TAG, &workspace.key())
            .await
            .map_err(|error| {
                CliError::environment(
                    format!("listing the managed secrets of {workspace}"),
                    format!("{}: {error}", error.asl_name()),
                )
            })?;
        secret_ids.extend(names);
    }
    if secret_ids.is_empty() {
        return Err(CliError::Failed(
            "the selected workspaces have no managed secret to roll back".to_owned(),
        ));
    }
    Ok(secret_ids)
}

async fn roll_back_one(
    context: &FleetContext,
    secret_id: &str,
    role: Option<Role>,
    run_name: &str,
    dry_run: bool,
) -> RollbackRow {
    let failed = |error: KeyshiftError| RollbackRow {
        secret_id: secret_id.to_owned(),
        outcome: None,
        error: Some(error.asl_name().to_owned()),
        reason: Some(error.to_string()),
    };
    let expected_role = match role {
        Some(role) => role,
        None => match current_token_role(&context.deps, secret_id).await {
            Ok(role) => role,
            Err(error) => {
                let mut row = failed(error);
                row.reason = row.reason.map(|reason| {
                    format!(
                        "cannot tell the role of the current token ({reason}); pass --role with \
                         the role the restored token must hold"
                    )
                });
                return row;
            }
        },
    };
    let input = RollbackInput {
        secret_id: secret_id.to_owned(),
        expected_role,
        run_name: run_name.to_owned(),
        dry_run,
    };
    match rollback_secret(&context.deps, input).await {
        Ok(outcome) => RollbackRow {
            secret_id: secret_id.to_owned(),
            outcome: Some(outcome),
            error: None,
            reason: None,
        },
        Err(error) => failed(error),
    }
}

/// The table for people: one line per secret, never a token.
pub fn render(rows: &[RollbackRow]) -> String {
    let mut text = String::new();
    for row in rows {
        match (&row.outcome, &row.reason) {
            (Some(outcome), _) => {
                let verb = if outcome.applied {
                    "rolled back"
                } else {
                    "would roll back (dry run)"
                };
                text.push_str(&format!(
                    "{verb:<25} {}: AWSCURRENT {} -> {} (token {}, verified as {})\n",
                    row.secret_id,
                    outcome.from_version_id,
                    outcome.to_version_id,
                    outcome.token_name,
                    outcome.role
                ));
            }
            (None, reason) => text.push_str(&format!(
                "{:<25} {}: {}: {}\n",
                "refused",
                row.secret_id,
                row.error.as_deref().unwrap_or("Error"),
                reason.as_deref().unwrap_or_default()
            )),
        }
    }
    text
}
