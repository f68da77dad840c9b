//! The one way a step is invoked on a JSON payload: parse → step → serialise → named error.
//!
//! A Lambda run and a local run (the CLI's in-process engine) must report the same error for
//! the same failure, or a Catch that works locally would not work deployed, and a secret that
//! is scrubbed in CloudWatch would not be scrubbed in a local report. Both call [`invoke`] and
//! only translate its [`StepFailure`] into their runtime's error type.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::KeyshiftError;
use crate::secret::scrub_secrets;

/// A failed invocation as a state machine sees it: the error name its Retry and Catch match,
/// and a message already scrubbed of credential-shaped text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The stable ASL name ([`KeyshiftError::asl_name`]).
    pub error: String,
    /// The human-readable cause, scrubbed with [`scrub_secrets`].
    pub message: String,
}

impl From<&KeyshiftError> for StepFailure {
    /// Scrubs once more at the boundary in case an adapter let credential-shaped text through.
    fn from(error: &KeyshiftError) -> Self {
        Self {
            error: error.asl_name().to_owned(),
            message: scrub_secrets(&error.to_string()),
        }
    }
}

impl From<KeyshiftError> for StepFailure {
    fn from(error: KeyshiftError) -> Self {
        Self::from(&error)
    }
}

/// Runs `step` on `payload`: a payload that does not parse is `Input.Invalid` (never a Rust
/// type name), a step error keeps its ASL name, and the output is serialised back to JSON.
pub async fn invoke<I, O, F, Fut>(step: F, payload: Value) -> Result<Value, StepFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, KeyshiftError>>,
{
    let input: I = serde_json::from_value(payload).map_err(KeyshiftError::from)?;
    let output = step(input).await?;
    serde_json::to_value(output).map_err(|error| {
        StepFailure::from(KeyshiftError::invalid_input(
            "output",
            format!(
                "the step output cannot be serialized: {}",
                scrub_secrets(&error.to_string())
            ),
        ))
    })
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
        match input.workspace_name.as_str() {
            "throttle" => Err(KeyshiftError::GrafanaThrottled {
                operation: "GET /api/org".into(),
                retry_after: None,
            }),
            "leak" => Err(KeyshiftError::GrafanaUnauthorized {
                operation: "GET /api/org".into(),
                detail: "rejected glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d".into(),
            }),
            name => Ok(serde_json::json!({ "seen": name })),
        }
    }

    #[tokio::test]
    async fn success_serializes_the_output() {
        let output = invoke(echo, serde_json::json!({"workspaceName": "prod"}))
            .await
            .unwrap();
        assert_eq!(output, serde_json::json!({"seen": "prod"}));
    }

    /// How `echo` fails on `payload`.
    async fn echo_failure(payload: Value) -> StepFailure {
        invoke(echo, payload).await.unwrap_err()
    }

    #[tokio::test]
    async fn step_errors_carry_their_asl_name() {
        let failure = echo_failure(serde_json::json!({"workspaceName": "throttle"})).await;
        assert_eq!(failure.error, "Grafana.Throttled");
        assert!(failure.message.contains("GET /api/org"), "{failure:?}");
    }

    #[tokio::test]
    async fn unparsable_payloads_are_input_invalid() {
        let failure = echo_failure(serde_json::json!({"unexpected": 1})).await;
        assert_eq!(failure.error, "Input.Invalid");
    }

    #[tokio::test]
    async fn messages_never_carry_credentials() {
        let failure = echo_failure(serde_json::json!({"workspaceName": "leak"})).await;
        assert_eq!(failure.error, "Grafana.Unauthorized");
        assert!(failure.message.contains("rejected"), "{failure:?}");
        assert!(!failure.message.contains("glsa_abc"), "{failure:?}");
    }
}
