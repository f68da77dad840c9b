//! The keyshift operator CLI as a library: argument types, the verbs, and the wiring that runs
//! the state machine in-process with the core steps, so tests drive exactly what the binary
//! does.

#![warn(missing_docs)]

pub mod admin;
pub mod asl;
pub mod asl_test;
pub mod cli;
pub mod config;
pub mod contract;
pub mod demo;
pub mod dlq;
pub mod exit;
pub mod fleet;
pub mod fleet_start;
pub mod inventory;
pub mod local;
pub mod local_dlq;
pub mod progress;
pub mod report;
pub mod rollback;
pub mod secret;
pub mod select;
pub mod status;
pub mod validate;

use cli::{AslCommand, AslTestArgs, Cli, Command, DemoArgs, OutputFormat, ValidateArgs};
use exit::CliError;

/// Runs one parsed command line; returns the exit code on success paths (some verbs report
/// findings through it) and an error otherwise.
pub async fn run_cli(cli: Cli) -> Result<u8, CliError> {
    init_logging(&cli.log);
    match cli.command {
        Command::Asl(AslCommand::Test(args)) => asl_test_command(args).await,
        Command::Validate(args) => validate_command(args).await,
        Command::Demo(args) => demo_command(args).await,
        Command::Plan(args) => fleet::plan_command(args).await,
        Command::Run(args) => fleet::run_command(args).await,
        Command::Status(args) => status::status_command(args).await,
        Command::Dlq(command) => dlq::dlq_command(command).await,
        Command::Fleet(command) => fleet_start::fleet_command(command).await,
        Command::Secret(command) => secret::secret_command(command).await,
        Command::Admin(command) => admin::admin_command(command).await,
        Command::Rollback(args) => rollback::rollback_command(args).await,
        Command::Inventory(args) => inventory::inventory_command(args).await,
    }
}

/// Diagnostics go to stderr so stdout stays parseable (`--output json`), coloured only on a
/// terminal so redirected logs hold no escape codes.
fn init_logging(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli::DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Prints any report as pretty JSON on stdout (`--output json`).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::environment("printing JSON", error))?;
    println!("{text}");
    Ok(())
}

async fn asl_test_command(args: AslTestArgs) -> Result<u8, CliError> {
    let definition = asl_test::load_definition(&args.definition)?;
    let input = asl_test::parse_input(&args.input)?;
    let mocks_text = exit::read_text(&args.mocks)?;
    let mocks: serde_json::Value = serde_json::from_str(&mocks_text).map_err(|error| {
        CliError::invalid_file(
            args.mocks.display().to_string(),
            format!("not JSON: {error}"),
        )
    })?;
    let machine = asl_test::choose_state_machine(&mocks, args.state_machine.as_deref());
    let report = asl_test::run_case(&definition, input, &mocks, &machine, &args.case).await?;
    print_json(&report)?;
    match args.expect {
        Some(expected) if expected.as_str() != report.status => {
            eprintln!(
                "keyshift: case {:?} ended {}, expected {}",
                args.case,
                report.status,
                expected.as_str()
            );
            Ok(exit::FAILED)
        }
        _ => Ok(exit::SUCCESS),
    }
}

async fn validate_command(args: ValidateArgs) -> Result<u8, CliError> {
    let mut problems = validate::validate_definition(args.definition.as_deref()).await?;
    for config in &args.configs {
        problems.extend(validate::validate_config(config)?);
    }
    match args.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"valid": problems.is_empty(), "problems": problems}))?
        }
        OutputFormat::Table => {
            if problems.is_empty() {
                println!(
                    "valid: the definition and {} config file(s) passed every check",
                    args.configs.len()
                );
            }
            for problem in &problems {
                match &problem.location {
                    Some(location) => println!("{}: {location}: {}", problem.file, problem.message),
                    None => println!("{}: {}", problem.file, problem.message),
                }
            }
        }
    }
    Ok(if problems.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILED
    })
}

async fn demo_command(args: DemoArgs) -> Result<u8, CliError> {
    let fleet = match (args.fleet, args.generate_fleet) {
        (Some(path), _) => demo::DemoFleet::File(path),
        (None, Some(workspaces)) => demo::DemoFleet::Generated(workspaces),
        (None, None) => demo::DemoFleet::Sample,
    };
    let options = demo::DemoOptions {
        fleet,
        max_concurrency: args.max_concurrency.max(1),
        faulted: args.faulted,
        observer: None,
        progress: args.output == OutputFormat::Table && progress::stdout_is_terminal(),
    };
    let (report, world) = demo::run_demo(&options).await?;
    match args.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Table => print!("{}", report::render_demo(&report)),
    }
    world.sim.shutdown().await;
    Ok(if report.all_good() {
        exit::SUCCESS
    } else {
        exit::FAILED
    })
}
