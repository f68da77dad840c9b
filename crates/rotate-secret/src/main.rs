//! The rotate-secret Lambda: Secrets Manager invokes it with createSecret, setSecret,
//! testSecret and finishSecret for a secret in keyshift's managed format.
//!
//! Deliberately thin: configuration and adapters come from `keyshift-lambda` like every step
//! binary's, the protocol lives in `keyshift_core::steps::native_rotation`. The one setting of
//! its own is the policy (`KEYSHIFT_POLICY`, JSON as in a fleet config; defaults when unset).

use std::process::ExitCode;
use std::sync::Arc;

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use keyshift_core::model::Policy;
use keyshift_core::steps::{StepDeps, rotate_secret};
use keyshift_lambda::adapters::StepConfig;
use keyshift_lambda::{ConfigError, optional_env};

/// The policy (JSON) the rotations apply: token TTL, grace period, role cap, token names.
const POLICY_ENV: &str = "KEYSHIFT_POLICY";

fn policy_from_env() -> Result<Policy, ConfigError> {
    let Some(text) = optional_env(POLICY_ENV) else {
        return Ok(Policy::default());
    };
    let policy: Policy = serde_json::from_str(&text).map_err(|error| ConfigError::Invalid {
        name: POLICY_ENV.to_owned(),
        reason: format!("not a keyshift policy: {error}"),
    })?;
    policy.validate().map_err(|error| ConfigError::Invalid {
        name: POLICY_ENV.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(policy)
}

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::serve(
        || async {
            let policy = policy_from_env()?;
            let deps = StepConfig::from_env()?.build_deps().await?;
            Ok((deps, policy))
        },
        |deps: Arc<(StepDeps, Policy)>, event: SecretsManagerSecretRotationEvent| async move {
            rotate_secret(&deps.0, &deps.1, event).await
        },
    )
    .await
}
