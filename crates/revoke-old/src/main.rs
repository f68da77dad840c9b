//! The revoke-old Lambda: retires superseded tokens, migrated keys and the bootstrap credential.
//!
//! Deliberately thin: configuration, adapters and the runtime loop live in `keyshift-lambda`,
//! the logic in `keyshift_core::steps`, so this binary only says which step it serves.

use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::steps::io::RevokeOldInput;
use keyshift_core::steps::{StepDeps, revoke_old};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::adapters::serve_step(|deps: Arc<StepDeps>, input: RevokeOldInput| async move {
        revoke_old(&deps, input).await
    })
    .await
}
