//! `keyshift-bench`: measures what users run and what they pay.
//!
//! - default (no subcommand): `keyshift demo` on generated fleets of two sizes as child
//!   processes, with wall time, peak memory and their ratios ([`fleet`]); `--zips DIR` adds
//!   the Lambda zips' sizes.
//! - `lambdas`: each built step Lambda and a Python boto3 rotator started cold against a local
//!   Lambda Runtime API: init, first response, peak RSS, and the ratios ([`cold_start`]).
//! - `rotation`: one workspace through the state machine on local-sfn and grafana-sim at
//!   0 and 20 ms added latency: wall time, calls per credential against the minimum, and the
//!   AWS cost of a rotation next to the Secrets Manager price of its secrets ([`rotation`]).
//!
//! `scripts/bench.sh` builds the binaries with the optimised `bench-opt` profile and runs this.

mod cold_start;
mod cost;
mod counting;
mod fleet;
mod minimum;
mod process;
mod rotation;
mod rotation_render;
mod runtime_api;
mod stats;
mod zips;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    name = "keyshift-bench",
    about = "Benchmark keyshift: the demo on generated fleets (default), Lambda cold starts, one workspace's rotation and its cost",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    #[command(flatten)]
    fleet: fleet::FleetArgs,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Cold start, first response and peak RSS of each Lambda against a Python boto3 rotator.
    Lambdas(cold_start::LambdaArgs),
    /// One workspace's migration, rotation and idle tick: wall time, calls, cost.
    Rotation(rotation::RotationArgs),
}

/// Prints `report` as JSON or as `text`, and turns whether it met its targets into the exit
/// code: 0 met, 1 missed, 2 could not measure.
fn finish<R: Serialize, E: std::fmt::Display>(
    outcome: Result<R, E>,
    json: bool,
    text: impl FnOnce(&R) -> String,
    met: impl FnOnce(&R) -> bool,
) -> ExitCode {
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            eprintln!("keyshift-bench: {error}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("keyshift-bench: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", text(&report));
    }
    if met(&report) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(mode) = cli.command else {
        let args = cli.fleet;
        return finish(
            fleet::run(&args),
            args.json,
            fleet::render,
            fleet::report_meets_targets,
        );
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyshift-bench: starting the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::Lambdas(args) => finish(
            runtime.block_on(cold_start::run(&args)),
            args.json,
            cold_start::render,
            cold_start::ColdStartReport::meets_targets,
        ),
        Mode::Rotation(args) => finish(
            runtime.block_on(rotation::run(&args)),
            args.json,
            rotation_render::render,
            rotation::RotationReport::meets_targets,
        ),
    }
}
