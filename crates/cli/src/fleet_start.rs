//! `keyshift fleet start`: one fleet-start tick from the command line, the same function the
//! Lambda runs ([`keyshift_core::fleet::fleet_start`]), with the operator's AWS credentials.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use keyshift_aws::{
    AwsAmgConnector, AwsContext, AwsService, CLI_SESSION, EndpointOverrides, SfnExecutionStarter,
    SqsDeadLetterQueue, TokioSleeper,
};
use keyshift_core::fleet::{
    FleetConfig, FleetStartDeps, FleetStartEvent, FleetStartOutput, StartRetry, fleet_start,
};
use keyshift_core::ports::{DeadLetterQueue, StartOutcome, SystemClock};

use crate::cli::OutputFormat;
use crate::config::LoadFleetConfig;
use crate::exit::{self, CliError};
use crate::fleet::operator_aws_context;

/// `keyshift fleet …`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// List the fleet and start one execution of the state machine per workspace, as the
    /// scheduled fleet-start Lambda does; a repeated run for the same --time starts nothing
    /// new. Exits 1 when a start or a listing failed.
    Start(FleetStartArgs),
}

/// Arguments of `keyshift fleet start`.
#[derive(Debug, Args)]
pub struct FleetStartArgs {
    /// Fleet config file (see `keyshift plan --help`), with `accounts` to reach other AWS
    /// accounts through a role.
    #[arg(long)]
    pub config: PathBuf,
    /// The rotate-workspace state machine to start executions of.
    #[arg(long)]
    pub state_machine_arn: String,
    /// List and name the executions without starting any.
    #[arg(long)]
    pub dry_run: bool,
    /// The schedule slot execution names derive from (RFC 3339; default: the current minute);
    /// give the slot of a tick to repeat it safely.
    #[arg(long)]
    pub time: Option<DateTime<Utc>>,
    /// SQS queue URL that starts failing for good are dead-lettered to (default: only report
    /// them).
    #[arg(long)]
    pub dlq_url: Option<String>,
    /// Region of Step Functions and SQS when the environment (AWS_REGION, the profile) names
    /// none.
    #[arg(long)]
    pub region: Option<String>,
    /// Override the AMG control-plane endpoint (for emulators such as grafana-sim).
    #[arg(long, env = "KEYSHIFT_AMG_ENDPOINT")]
    pub amg_endpoint: Option<String>,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Runs `keyshift fleet …`.
pub async fn fleet_command(command: FleetCommand) -> Result<u8, CliError> {
    match command {
        FleetCommand::Start(args) => start_command(args).await,
    }
}

async fn aws_context(args: &FleetStartArgs) -> Result<AwsContext, CliError> {
    let mut endpoints = EndpointOverrides::from_env();
    if let Some(url) = &args.amg_endpoint {
        endpoints = endpoints.with_service(AwsService::Grafana, url.clone());
    }
    operator_aws_context(args.region.as_deref(), true, endpoints).await
}

async fn start_command(args: FleetStartArgs) -> Result<u8, CliError> {
    let config = FleetConfig::load(&args.config)?;
    let aws = aws_context(&args).await?;
    let dead_letters = args.dlq_url.as_ref().map(|url| {
        Arc::new(SqsDeadLetterQueue::new(aws.sqs_client(), url.clone())) as Arc<dyn DeadLetterQueue>
    });
    let deps = FleetStartDeps {
        directory: Arc::new(AwsAmgConnector::new(aws.clone(), CLI_SESSION)),
        starter: Arc::new(SfnExecutionStarter::new(
            aws.sfn_client(),
            args.state_machine_arn.clone(),
        )),
        dead_letters,
        sleeper: Arc::new(TokioSleeper),
        clock: Arc::new(SystemClock),
        retry: StartRetry::default(),
    };
    let event = FleetStartEvent {
        config,
        time: args.time,
        dry_run: args.dry_run,
    };
    let output = fleet_start(&deps, event).await.map_err(|error| {
        CliError::invalid_file(args.config.display().to_string(), error.to_string())
    })?;
    match args.output {
        OutputFormat::Json => crate::print_json(&output)?,
        OutputFormat::Table => print!("{}", render(&output)),
    }
    Ok(exit_code(&output))
}

/// 1 when anything could not be started or listed, so a script notices; 0 otherwise.
pub fn exit_code(output: &FleetStartOutput) -> u8 {
    if output.failed > 0 || output.listing_failed > 0 {
        exit::FAILED
    } else {
        exit::SUCCESS
    }
}

fn outcome_text(outcome: Option<&StartOutcome>) -> &'static str {
    match outcome {
        None => "would start",
        Some(StartOutcome::Started { .. }) => "started",
        Some(StartOutcome::AlreadyRunning { .. }) => "already running",
        Some(StartOutcome::AlreadyExists) => "already done",
    }
}

/// The table: the counts, one line per execution, then the skips and the failures.
pub fn render(output: &FleetStartOutput) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "slot {}{}: listed {}, not selected {}, started {}, already running {}, skipped {}, failed {}, regions not listed {}",
        output.slot.format("%Y-%m-%dT%H:%M:%SZ"),
        if output.dry_run { " (dry run)" } else { "" },
        output.listed,
        output.not_selected,
        output.started,
        output.already_running,
        output.skipped,
        output.failed,
        output.listing_failed,
    );
    let width = output
        .executions
        .iter()
        .map(|execution| execution.execution_name.len())
        .max()
        .unwrap_or(0)
        .max("EXECUTION".len());
    if !output.executions.is_empty() {
        let _ = writeln!(
            text,
            "{:<width$}  {:<15}  WORKSPACE",
            "EXECUTION", "OUTCOME"
        );
        for execution in &output.executions {
            let _ = writeln!(
                text,
                "{:<width$}  {:<15}  {}",
                execution.execution_name,
                outcome_text(execution.outcome.as_ref()),
                execution.workspace.label()
            );
        }
    }
    for skip in &output.skips {
        let _ = writeln!(text, "skipped {}: {}", skip.workspace, skip.why);
    }
    for failure in &output.failures {
        let _ = writeln!(
            text,
            "failed {} ({}) after {} attempt(s){}: {}",
            failure.execution_name,
            failure.workspace.label(),
            failure.attempts,
            if failure.dead_lettered {
                ", dead-lettered"
            } else {
                ""
            },
            failure.message
        );
    }
    for failure in &output.listing_failures {
        let _ = writeln!(
            text,
            "not listed {}{}: {}",
            failure.region,
            failure
                .role_arn
                .as_ref()
                .map(|role| format!(" through {role}"))
                .unwrap_or_default(),
            failure.message
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use keyshift_core::fleet::start::{FleetExecution, FleetSkip, ListingFailure};
    use keyshift_core::model::WorkspaceRef;

    use super::*;

    fn output() -> FleetStartOutput {
        FleetStartOutput {
            slot: "2025-03-01T06:30:00Z".parse().unwrap(),
            dry_run: false,
            listed: 3,
            not_selected: 1,
            started: 1,
            already_running: 0,
            skipped: 1,
            failed: 0,
            listing_failed: 0,
            executions: vec![FleetExecution {
                workspace: WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap(),
                execution_name: "ks-g-0123456789-1-20250301-0630".into(),
                outcome: Some(StartOutcome::Started {
                    execution_arn: "arn:x".into(),
                }),
            }],
            skips: vec![FleetSkip {
                workspace: "workspace g-0a0a0a0a0a in eu-west-1".into(),
                why: "Grafana 8.4.0 has no service accounts".into(),
            }],
            failures: vec![],
            listing_failures: vec![],
        }
    }

    #[test]
    fn the_table_shows_counts_executions_and_reasons() {
        let text = render(&output());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("slot 2025-03-01T06:30:00Z: listed 3, not selected 1, started 1")
        );
        assert!(lines[2].starts_with("ks-g-0123456789-1-20250301-0630  started"));
        assert!(lines[2].ends_with("workspace g-0123456789 in eu-west-1 (org 1)"));
        assert_eq!(
            lines[3],
            "skipped workspace g-0a0a0a0a0a in eu-west-1: Grafana 8.4.0 has no service accounts"
        );
        assert_eq!(exit_code(&output()), exit::SUCCESS);
    }

    #[test]
    fn a_listing_failure_fails_the_command() {
        let mut failed = output();
        failed.listing_failed = 1;
        failed.listing_failures.push(ListingFailure {
            role_arn: Some("arn:aws:iam::210987654321:role/k".into()),
            region: "eu-west-1".into(),
            error: "Aws.Failed".into(),
            message: "sts AssumeRole failed: denied".into(),
        });
        assert_eq!(exit_code(&failed), exit::FAILED);
        assert!(render(&failed).contains(
            "not listed eu-west-1 through arn:aws:iam::210987654321:role/k: sts AssumeRole failed"
        ));
    }
}
