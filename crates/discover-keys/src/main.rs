//! The discover-keys Lambda: inventories a workspace and plans its migration and rotation.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::DiscoverInput;
use keyshift_core::steps::{StepDeps, discover_keys};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: DiscoverInput| async move {
        discover_keys(&deps, input).await
    })
    .await
}
