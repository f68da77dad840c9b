//! `keyshift admin adopt`: hands a self-hosted Grafana's admin secret over to keyshift, so the
//! credential keyshift itself uses is rotated on the same schedule as the tokens it manages.

use chrono::Utc;
use clap::{Args, Subcommand};
use keyshift_core::model::WorkspaceTarget;
use keyshift_core::steps::{AdoptOutcome, adopt_admin_secret};

use crate::cli::{OutputFormat, TargetArgs};
use crate::exit::CliError;
use crate::fleet::fleet_context;

/// `keyshift admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Replace each selected self-hosted Grafana's admin secret (basic auth or a token) with a
    /// token of a dedicated `keyshift-admin` Admin service account, stored in keyshift's
    /// managed format so it is rotated from then on.
    Adopt(AdoptArgs),
}

/// Arguments of `keyshift admin adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The self-hosted Grafana instances whose admin secrets to adopt.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Check the credential and say what would be created, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Runs `keyshift admin …`.
pub async fn admin_command(command: AdminCommand) -> Result<u8, CliError> {
    match command {
        AdminCommand::Adopt(args) => adopt_command(args).await,
    }
}

async fn adopt_command(args: AdoptArgs) -> Result<u8, CliError> {
    let context = fleet_context(&args.targets, None, false).await?;
    let run_name = format!("adopt-{}", Utc::now().format("%Y%m%dT%H%M%S"));
    let mut outcomes: Vec<AdoptOutcome> = Vec::new();
    for workspace in &context.workspaces {
        if !matches!(workspace.target, WorkspaceTarget::SelfHosted { .. }) {
            continue;
        }
        let outcome = adopt_admin_secret(
            &context.deps,
            workspace,
            context.policy.token_ttl_seconds(),
            &run_name,
            args.dry_run,
        )
        .await
        .map_err(|error| {
            CliError::Failed(format!("{workspace}: {} ({error})", error.asl_name()))
        })?;
        outcomes.push(outcome);
    }
    if outcomes.is_empty() {
        return Err(CliError::Usage(
            "no self-hosted Grafana selected: only self-hosted admin secrets can be adopted"
                .to_owned(),
        ));
    }
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&outcomes)
                .map_err(|error| CliError::Failed(error.to_string()))?
        ),
        OutputFormat::Table => {
            for outcome in &outcomes {
                let verb = if outcome.dry_run {
                    "would adopt"
                } else {
                    "adopted"
                };
                let account = if outcome.created_account {
                    "a new keyshift-admin service account".to_owned()
                } else {
                    format!(
                        "service account keyshift-admin ({})",
                        outcome.service_account_id.unwrap_or_default()
                    )
                };
                println!("{verb} {} with {account}", outcome.admin_secret_id);
            }
        }
    }
    Ok(0)
}
