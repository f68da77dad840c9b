//! `grafana-sim`: serve a simulated Grafana fleet and AMG control plane until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use grafana_sim::{FleetSpec, Simulator};

/// Command line of the simulator binary.
#[derive(Debug, Parser)]
#[command(
    name = "grafana-sim",
    about = "Simulated Grafana fleet + AMG control plane for keyshift"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Fleet file (JSON); the embedded sample fleet when absent.
    #[arg(long)]
    fleet: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let fleet = match &args.fleet {
        Some(path) => FleetSpec::from_path(path),
        None => FleetSpec::sample(),
    };
    let fleet = match fleet {
        Ok(fleet) => fleet,
        Err(error) => {
            eprintln!("grafana-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let simulator = match Simulator::from_fleet(fleet) {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("grafana-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let running = match simulator.serve(args.listen).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("grafana-sim: {error}");
            return ExitCode::from(1);
        }
    };
    for workspace in running.state().workspaces() {
        println!(
            "workspace {:<16} {:<11} grafana {:<8} {}",
            workspace.record.id,
            match workspace.record.kind {
                grafana_sim::WorkspaceKind::Amg => "amg",
                grafana_sim::WorkspaceKind::SelfHosted => "self-hosted",
            },
            workspace.behaviour_version,
            running.instance_url(&workspace.record.id)
        );
    }
    println!("amg endpoint {}", running.amg_endpoint_url());
    println!("control      {}/_sim", running.base_url());
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("grafana-sim: cannot wait for Ctrl-C: {error}");
    }
    running.shutdown().await;
    ExitCode::SUCCESS
}
