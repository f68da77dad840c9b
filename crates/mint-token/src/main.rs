//! The mint-token Lambda: mints the execution's token and returns it sealed.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::MintTokenInput;
use keyshift_core::steps::{StepDeps, mint_token};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: MintTokenInput| async move {
        mint_token(&deps, input).await
    })
    .await
}
