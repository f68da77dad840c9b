//! The verify Lambda: proves the staged token authenticates with the intended role.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::VerifyInput;
use keyshift_core::steps::{StepDeps, verify_token};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: VerifyInput| async move {
        verify_token(&deps, input).await
    })
    .await
}
