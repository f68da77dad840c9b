//! `keyshift secret create`: the first managed secret of one workspace for a user starting from
//! nothing (service account, first token, secret), on the core steps
//! ([`keyshift_core::steps::create_managed_secret`]).

use clap::{Args, Subcommand};
use keyshift_core::KeyshiftError;
use keyshift_core::model::Role;
use keyshift_core::steps::create_managed_secret;
use keyshift_core::steps::secret_create::{SecretCreateInput, SecretCreateOutput};

use crate::cli::{OutputFormat, TargetArgs};
use crate::exit::{self, CliError};

/// `keyshift secret …`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create a service account (role capped by the policy), its first token and the managed
    /// secret holding it, for one workspace (--workspace/--region or --url/--admin-secret-id).
    /// Refuses with Secret.Exists when the secret exists. Never prints the token.
    Create(SecretCreateArgs),
}

/// Arguments of `keyshift secret create`.
#[derive(Debug, Args)]
pub struct SecretCreateArgs {
    /// The workspace (exactly one).
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Name of the service account to create (or reuse, when one of that name exists).
    #[arg(long)]
    pub account_name: String,
    /// Role asked for (Viewer, Editor, Admin, None); capped by the policy (Editor unless the
    /// policy allows Admin).
    #[arg(long, default_value = "Editor", value_parser = crate::cli::parse_role)]
    pub role: Role,
    /// KMS key sealing the token between steps (default: a process-local key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Show what would be created, changing nothing (on AMG a short-lived admin token is minted
    /// for the look-up and deleted, as `plan` does).
    #[arg(long)]
    pub dry_run: bool,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Runs `keyshift secret …`.
pub async fn secret_command(command: SecretCommand) -> Result<u8, CliError> {
    match command {
        SecretCommand::Create(args) => create_command(args).await,
    }
}

async fn create_command(args: SecretCreateArgs) -> Result<u8, CliError> {
    let context =
        crate::fleet::fleet_context(&args.targets, args.kms_key_id.as_deref(), false).await?;
    let [workspace] = context.workspaces.as_slice() else {
        return Err(CliError::Usage(
            "secret create works on one workspace: pass --workspace with --region, or --url \
             with --admin-secret-id"
                .to_owned(),
        ));
    };
    let input = SecretCreateInput {
        workspace: workspace.clone(),
        service_account_name: args.account_name.clone(),
        role: args.role,
        policy: context.policy.clone(),
        dry_run: args.dry_run,
    };
    let output = match create_managed_secret(&context.deps, input).await {
        Ok(output) => output,
        Err(error @ KeyshiftError::SecretExists { .. }) => {
            return Err(CliError::Failed(format!("{}: {error}", error.asl_name())));
        }
        Err(error) => {
            return Err(CliError::environment(
                "creating the managed secret",
                format!("{}: {error}", error.asl_name()),
            ));
        }
    };
    match args.output {
        OutputFormat::Json => crate::print_json(&output)?,
        OutputFormat::Table => print!("{}", render(&output)),
    }
    Ok(exit::SUCCESS)
}

/// The table for people: what was (or would be) created, never the token.
pub fn render(output: &SecretCreateOutput) -> String {
    let account = if output.account_existed {
        "existing, reused"
    } else if output.dry_run {
        "would be created"
    } else {
        "created"
    };
    let mut text = format!(
        "secret           {}{}\nservice account  {} ({account}), role {}\n",
        output.secret_id,
        if output.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        output.service_account_name,
        output.role,
    );
    if let Some(created) = &output.created {
        let expiry = created
            .token
            .expires_at
            .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
        text.push_str(&format!(
            "token            {} (id {}), expires {expiry}\nversion          {} (AWSCURRENT)\n",
            created.token.name, created.token.id, created.version_id
        ));
    }
    text
}
