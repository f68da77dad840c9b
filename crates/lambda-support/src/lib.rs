//! The Lambda plumbing every keyshift step binary shares.
//!
//! Step Functions routes a failed Lambda task by the `errorType` the function reports, so every
//! binary must report [`KeyshiftError::asl_name`] (a stable contract with the ASL) instead of
//! the Rust type name `lambda_runtime` would otherwise put there. Each binary is meant to be a
//! thin `main`: read its typed configuration once, build its adapters once, then hand a plain
//! `async fn(Input) -> Result<Output, KeyshiftError>` to [`run`]. Keeping this here means the
//! six binaries cannot drift apart in how they log, parse payloads or report errors.

#![warn(missing_docs)]

pub mod adapters;

use std::future::Future;
use std::sync::Arc;

use keyshift_core::KeyshiftError;
use keyshift_core::secret::scrub_secrets;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Environment variables `lambda_runtime` reads with `expect`; checked up front so a
/// misconfigured function fails with a readable message instead of a panic.
pub const RUNTIME_ENV_VARS: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Why a binary could not start: its configuration, not an invocation, is wrong. Reported once
/// at start-up (Lambda shows it as an init error), never to Step Functions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required environment variable is absent or empty.
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable's name.
        name: String,
    },
    /// An environment variable is set to something unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// What is wrong (never the value, which may be sensitive).
        reason: String,
    },
    /// The tracing subscriber could not be installed (another one already was).
    #[error("cannot install the log subscriber: {reason}")]
    Tracing {
        /// The subscriber's complaint.
        reason: String,
    },
}

/// Reads a required, non-empty environment variable, so a missing setting is named at
/// start-up rather than discovered mid-rotation.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    optional_env(name).ok_or_else(|| ConfigError::Missing {
        name: name.to_owned(),
    })
}

/// Reads an optional environment variable, treating an empty value as unset (Terraform
/// writes empty strings for unset optional variables).
pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Reads an optional environment variable and parses it, naming the variable on failure.
pub fn parsed_env<T: std::str::FromStr>(name: &str) -> Result<Option<T>, ConfigError> {
    optional_env(name)
        .map(|text| {
            text.trim().parse().map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                reason: format!("cannot be parsed as {}", std::any::type_name::<T>()),
            })
        })
        .transpose()
}

/// Installs JSON logging for CloudWatch: one JSON object per line, carrying the fields of the
/// current span, which `lambda_runtime` opens per invocation with the `requestId`. The level
/// comes from `RUST_LOG` or Lambda's `AWS_LAMBDA_LOG_LEVEL` (default `info`).
pub fn init_tracing() -> Result<(), ConfigError> {
    let filter = optional_env("RUST_LOG")
        .or_else(|| optional_env("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_ascii_lowercase()))
        .unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init()
        .map_err(|error| ConfigError::Tracing {
            reason: error.to_string(),
        })
}

/// The Lambda error report for a step failure: `errorType` is the stable ASL name so Retry and
/// Catch can match it, and the message is scrubbed once more in case an adapter let
/// credential-shaped text through.
pub fn diagnostic_for(error: &KeyshiftError) -> Diagnostic {
    Diagnostic {
        error_type: error.asl_name().to_owned(),
        error_message: scrub_secrets(&error.to_string()),
    }
}

/// A step failure on its way to the Lambda runtime; exists because `lambda_runtime` needs an
/// error type it can turn into a [`Diagnostic`], and the orphan rule forbids implementing that
/// for [`KeyshiftError`] here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure(pub KeyshiftError);

impl From<KeyshiftError> for StepFailure {
    fn from(error: KeyshiftError) -> Self {
        Self(error)
    }
}

impl From<StepFailure> for Diagnostic {
    fn from(failure: StepFailure) -> Self {
        diagnostic_for(&failure.0)
    }
}

/// Runs one invocation: parses the payload into the step's input type (a payload that does not
/// parse is `Input.Invalid`, not a runtime type name), calls the step and serializes its output.
/// Separate from [`run`] so it can be tested without a Runtime API.
pub async fn invoke<I, O, F, Fut>(handler: &F, payload: Value) -> Result<Value, StepFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, KeyshiftError>>,
{
    let input: I = serde_json::from_value(payload).map_err(KeyshiftError::from)?;
    let result = handler(input).await;
    match result {
        Ok(output) => serde_json::to_value(output).map_err(|error| {
            StepFailure(KeyshiftError::invalid_input(
                "output",
                format!(
                    "the step output cannot be serialized: {}",
                    scrub_secrets(&error.to_string())
                ),
            ))
        }),
        Err(error) => {
            tracing::error!(error_type = error.asl_name(), error = %scrub_secrets(&error.to_string()), "step failed");
            Err(StepFailure(error))
        }
    }
}

/// Serves invocations from the Lambda Runtime API until the process is stopped. The handler is
/// a plain step function; adapters it captures are built once, outside, and shared by all
/// invocations of this execution environment.
pub async fn run<I, O, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, KeyshiftError>> + Send,
{
    for name in RUNTIME_ENV_VARS {
        required_env(name)?;
    }
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move { invoke(handler.as_ref(), event.payload).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Echo {
        workspace_name: String,
    }

    async fn echo(input: Echo) -> Result<Value, KeyshiftError> {
        if input.workspace_name == "throttle" {
            return Err(KeyshiftError::GrafanaThrottled {
                operation: "GET /api/org".into(),
                retry_after: None,
            });
        }
        Ok(serde_json::json!({ "seen": input.workspace_name }))
    }

    #[tokio::test]
    async fn success_serializes_the_output() {
        let output = invoke(&echo, serde_json::json!({"workspaceName": "prod"}))
            .await
            .unwrap();
        assert_eq!(output, serde_json::json!({"seen": "prod"}));
    }

    #[tokio::test]
    async fn step_errors_carry_their_asl_name() {
        let failure = invoke(&echo, serde_json::json!({"workspaceName": "throttle"}))
            .await
            .unwrap_err();
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, "Grafana.Throttled");
        assert!(diagnostic.error_message.contains("GET /api/org"));
    }

    #[tokio::test]
    async fn unparsable_payloads_are_input_invalid() {
        let failure = invoke(&echo, serde_json::json!({"unexpected": 1}))
            .await
            .unwrap_err();
        assert_eq!(Diagnostic::from(failure).error_type, "Input.Invalid");
    }

    #[test]
    fn diagnostics_never_carry_credentials() {
        let error = KeyshiftError::GrafanaUnauthorized {
            operation: "GET /api/org".into(),
            detail: "rejected glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d".into(),
        };
        let diagnostic = diagnostic_for(&error);
        assert_eq!(diagnostic.error_type, "Grafana.Unauthorized");
        assert!(
            !diagnostic.error_message.contains("glsa_abc"),
            "{}",
            diagnostic.error_message
        );
    }

    #[test]
    fn config_errors_name_the_variable() {
        let missing = required_env("KEYSHIFT_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(
            missing,
            ConfigError::Missing {
                name: "KEYSHIFT_TEST_SURELY_UNSET_VARIABLE".into()
            }
        );
        assert_eq!(
            parsed_env::<u64>("KEYSHIFT_TEST_SURELY_UNSET_VARIABLE"),
            Ok(None)
        );
    }
}
