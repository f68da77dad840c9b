//! The `keyshift` binary: parses the command line, runs the verb, maps the outcome to the
//! documented exit code.

use std::process::ExitCode;

use clap::Parser;
use keyshift_cli::cli::Cli;
use keyshift_cli::exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyshift: cannot start the async runtime: {error}");
            return ExitCode::from(exit::ENVIRONMENT);
        }
    };
    match runtime.block_on(keyshift_cli::run_cli(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("keyshift: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
