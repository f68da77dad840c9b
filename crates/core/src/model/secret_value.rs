//! The JSON stored in each managed Secrets Manager secret: what consumers read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::workspace::WorkspaceRef;
use crate::error::{KeyshiftError, Result};
use crate::secret::{SecretString, expose_secret};

/// One version of a managed credential. Consumers (Terraform's `grafana` provider, scripts)
/// read `token` and `grafanaUrl`; the rest lets keyshift and people see what the token is
/// without asking Grafana. This is the one payload whose purpose is to carry the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedSecretValue {
    /// The service-account token itself.
    #[serde(serialize_with = "expose_secret")]
    pub token: SecretString,
    /// The workspace the token works on.
    pub workspace: WorkspaceRef,
    /// Grafana base URL to call with the token.
    pub grafana_url: String,
    /// Id of the service account owning the token.
    pub service_account_id: i64,
    /// Name of that service account.
    pub service_account_name: String,
    /// Grafana id of the token (what revoke-old deletes once superseded).
    pub token_id: i64,
    /// Grafana name of the token (derived from the execution that minted it).
    pub token_name: String,
    /// When the token stops working; `None` if it never expires.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When keyshift stored this version.
    pub rotated_at: DateTime<Utc>,
    /// The execution that minted and stored it, for tracing a version back to its run.
    pub execution_name: String,
}

impl ManagedSecretValue {
    /// Serializes for PutSecretValue; wrapped in a [`SecretString`] so the JSON itself is
    /// never printed by accident.
    pub fn to_secret_string(&self) -> Result<SecretString> {
        serde_json::to_string(self)
            .map(SecretString::new)
            .map_err(|error| KeyshiftError::invalid_input("secretValue", error.to_string()))
    }

    /// Parses a stored version; the error never repeats the value.
    pub fn parse(value: &SecretString, secret_id: &str) -> Result<Self> {
        serde_json::from_str(value.expose()).map_err(|error| {
            KeyshiftError::invalid_input(
                format!("secret {secret_id}"),
                format!(
                    "not a keyshift credential value (line {}, column {})",
                    error.line(),
                    error.column()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sample() -> ManagedSecretValue {
        ManagedSecretValue {
            token: SecretString::new("glsa_secretsecretsecretsecretsecretse_00000000"),
            workspace: WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap(),
            grafana_url: "https://g-0123456789.grafana-workspace.eu-west-1.amazonaws.com".into(),
            service_account_id: 7,
            service_account_name: "keyshift-ci".into(),
            token_id: 31,
            token_name: "keyshift-run-1-abcd1234".into(),
            expires_at: Some(Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap()),
            rotated_at: Utc.with_ymd_and_hms(2025, 1, 2, 0, 0, 0).unwrap(),
            execution_name: "run-1".into(),
        }
    }

    #[test]
    fn round_trips_with_the_token_in_the_stored_json_only() {
        let value = sample();
        let stored = value.to_secret_string().unwrap();
        assert!(stored.expose().contains("\"token\":\"glsa_secret"));
        assert_eq!(format!("{stored:?}"), "[REDACTED]");
        assert!(!format!("{value:?}").contains("glsa_secret"));
        assert_eq!(ManagedSecretValue::parse(&stored, "s").unwrap(), value);
    }

    #[test]
    fn parse_errors_do_not_echo_the_value() {
        let error = ManagedSecretValue::parse(&SecretString::new("glsa_plain_token_value"), "s")
            .unwrap_err();
        assert_eq!(error.asl_name(), "Input.Invalid");
        assert!(!error.to_string().contains("glsa_plain"));
    }
}
