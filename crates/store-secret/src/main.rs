//! The store-secret Lambda: stages a token as AWSPENDING or promotes it to AWSCURRENT.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::StoreSecretInput;
use keyshift_core::steps::{StepDeps, store_secret};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: StoreSecretInput| async move {
        store_secret(&deps, input).await
    })
    .await
}
