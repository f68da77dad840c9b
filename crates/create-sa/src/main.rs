//! The create-sa Lambda: ensures the service account a credential lives on.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::CreateSaInput;
use keyshift_core::steps::{StepDeps, create_service_account};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: CreateSaInput| async move {
        create_service_account(&deps, input).await
    })
    .await
}
