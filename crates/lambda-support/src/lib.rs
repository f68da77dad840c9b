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
pub mod emf;
pub mod payload;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use keyshift_core::KeyshiftError;
use keyshift_core::invocation::StepFailure;
use lambda_runtime::{Diagnostic, LambdaEvent, Runtime, service_fn};
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

/// What to do about a missing [`RUNTIME_ENV_VARS`] entry: only the Lambda service sets them.
const RUNTIME_ENV_PURPOSE: &str = "the Lambda service sets it; run this binary as a Lambda function (or point AWS_LAMBDA_RUNTIME_API at a Runtime API emulator and set the other AWS_LAMBDA_FUNCTION_* variables)";

/// Why a binary could not start: its configuration, not an invocation, is wrong. Reported once
/// at start-up (Lambda shows it as an init error), never to Step Functions. Each message is
/// one sentence that names the variable and what to set it to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required environment variable is absent or empty.
    #[error("{name} is required: {purpose}")]
    Missing {
        /// The variable's name.
        name: String,
        /// What it must be set to, so the operator can fix it without reading the source.
        purpose: String,
    },
    /// An environment variable is set to something unusable.
    #[error("{name} is invalid: {reason}")]
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

/// Why a step binary stopped: a configuration it cannot run with, or the runtime loop failing.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Lambda runtime loop gave up (for example, the Runtime API went away).
    #[error("the Lambda runtime loop stopped: {0}")]
    Runtime(lambda_runtime::Error),
}

/// Reads a required, non-empty environment variable, so a missing setting is named at
/// start-up rather than discovered mid-rotation; `purpose` completes the sentence
/// "`name` is required: …".
pub fn required_env(name: &str, purpose: &str) -> Result<String, ConfigError> {
    optional_env(name).ok_or_else(|| ConfigError::Missing {
        name: name.to_owned(),
        purpose: purpose.to_owned(),
    })
}

/// Reads an optional environment variable, treating an empty value as unset (Terraform
/// writes empty strings for unset optional variables).
pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Reads an optional environment variable and parses it, naming the variable and the
/// `expected` form (e.g. "a whole number of seconds") on failure.
pub fn parsed_env<T: std::str::FromStr>(
    name: &str,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    optional_env(name)
        .map(|text| {
            text.trim().parse().map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                reason: format!("set it to {expected}"),
            })
        })
        .transpose()
}

/// Checks [`RUNTIME_ENV_VARS`]; called before any configuration or AWS set-up so a binary
/// started outside Lambda says so first, instead of failing later on something else.
pub fn check_runtime_env() -> Result<(), ConfigError> {
    for name in RUNTIME_ENV_VARS {
        required_env(name, RUNTIME_ENV_PURPOSE)?;
    }
    Ok(())
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
/// Catch can match it, and the message is the scrubbed one local runs report too.
pub fn diagnostic_for(failure: StepFailure) -> Diagnostic {
    Diagnostic {
        error_type: failure.error,
        error_message: failure.message,
    }
}

/// Runs one invocation through [`keyshift_core::invocation::invoke`] (the function local runs
/// call too) and reports a failure as a [`Diagnostic`]. Separate from [`run`] so it can be
/// tested without a Runtime API.
pub async fn invoke<I, O, F, Fut>(handler: &F, payload: Value) -> Result<Value, Diagnostic>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, KeyshiftError>>,
{
    let outcome = match payload::unreadable_reason(&payload) {
        Some(reason) => Err(StepFailure::from(KeyshiftError::invalid_input(
            "payload", reason,
        ))),
        None => keyshift_core::invocation::invoke(handler, payload).await,
    };
    outcome.map_err(|failure| {
        tracing::error!(error_type = %failure.error, error = %failure.message, "step failed");
        diagnostic_for(failure)
    })
}

/// Serves invocations from the Lambda Runtime API until the process is stopped. The handler is
/// a plain step function; adapters it captures are built once, outside, and shared by all
/// invocations of this execution environment.
pub async fn run<I, O, F, Fut>(handler: F) -> Result<(), StartError>
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, KeyshiftError>> + Send,
{
    check_runtime_env()?;
    let handler = Arc::new(handler);
    let service = service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move { invoke(handler.as_ref(), event.payload).await }
    });
    // What `lambda_runtime::run` does, plus the layer that turns an unreadable body into
    // `Input.Invalid` instead of the runtime's Rust type name.
    Runtime::new(service)
        .layer(payload::ReadablePayloadLayer)
        .layer(lambda_runtime::layers::TracingLayer::new())
        .run()
        .await
        .map_err(StartError::Runtime)
}

/// The `main` of a Lambda that is not a step (fleet-start, dlq-replay): the runtime variables
/// first, then JSON logs, then `build` (the binary's own configuration and adapters, once per
/// execution environment) and the runtime loop around `handler`. A failure is printed to
/// stderr as one sentence and the process exits non-zero, as [`adapters::serve_step`] does.
pub async fn serve<D, I, O, B, BFut, F, Fut>(build: B, handler: F) -> ExitCode
where
    D: Send + Sync + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    B: FnOnce() -> BFut,
    BFut: Future<Output = Result<D, ConfigError>>,
    F: Fn(Arc<D>, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, KeyshiftError>> + Send,
{
    let served = async {
        check_runtime_env()?;
        init_tracing()?;
        let deps = Arc::new(build().await?);
        run(move |input: I| handler(Arc::clone(&deps), input)).await
    };
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// The payload every case sends: a step's input with one required field.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        workspace_name: String,
    }

    /// Invokes a step that answers `{"seen": <workspaceName>}` or, when `failure` is given,
    /// fails with it: each test names the step error it is about.
    async fn invoke_answering(
        payload: Value,
        failure: Option<KeyshiftError>,
    ) -> Result<Value, Diagnostic> {
        let step = |input: Named| {
            std::future::ready(match failure.clone() {
                Some(error) => Err(error),
                None => Ok(serde_json::json!({ "seen": input.workspace_name })),
            })
        };
        invoke(&step, payload).await
    }

    #[tokio::test]
    async fn success_serializes_the_output() {
        let output = invoke_answering(serde_json::json!({"workspaceName": "prod"}), None)
            .await
            .unwrap();
        assert_eq!(output, serde_json::json!({"seen": "prod"}));
    }

    #[tokio::test]
    async fn step_errors_carry_their_asl_name() {
        let throttled = KeyshiftError::GrafanaThrottled {
            operation: "GET /api/org".into(),
            retry_after: None,
        };
        let diagnostic =
            invoke_answering(serde_json::json!({"workspaceName": "w"}), Some(throttled))
                .await
                .unwrap_err();
        assert_eq!(diagnostic.error_type, "Grafana.Throttled");
        assert!(diagnostic.error_message.contains("GET /api/org"));
    }

    #[tokio::test]
    async fn unparsable_payloads_are_input_invalid() {
        let diagnostic = invoke_answering(serde_json::json!({"unexpected": 1}), None)
            .await
            .unwrap_err();
        assert_eq!(diagnostic.error_type, "Input.Invalid");
    }

    #[tokio::test]
    async fn diagnostics_never_carry_credentials() {
        let leaking = KeyshiftError::GrafanaUnauthorized {
            operation: "GET /api/org".into(),
            detail: "rejected glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d".into(),
        };
        let diagnostic = invoke_answering(serde_json::json!({"workspaceName": "w"}), Some(leaking))
            .await
            .unwrap_err();
        assert_eq!(diagnostic.error_type, "Grafana.Unauthorized");
        assert!(
            !diagnostic.error_message.contains("glsa_abc"),
            "{}",
            diagnostic.error_message
        );
    }

    #[test]
    fn config_errors_are_sentences_naming_the_variable() {
        let missing = required_env(
            "KEYSHIFT_TEST_SURELY_UNSET_VARIABLE",
            "set it to the thing it names",
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "KEYSHIFT_TEST_SURELY_UNSET_VARIABLE is required: set it to the thing it names"
        );
        assert_eq!(
            parsed_env::<u64>("KEYSHIFT_TEST_SURELY_UNSET_VARIABLE", "a number"),
            Ok(None)
        );
        let invalid = ConfigError::Invalid {
            name: "KEYSHIFT_GRAFANA_TIMEOUT_SECONDS".into(),
            reason: "set it to a whole number of seconds".into(),
        };
        assert_eq!(
            invalid.to_string(),
            "KEYSHIFT_GRAFANA_TIMEOUT_SECONDS is invalid: set it to a whole number of seconds"
        );
    }
}
