//! The error taxonomy every step, port and adapter reports in.
//!
//! Step Functions routes failures by name (Retry/Catch `ErrorEquals`), and the Lambda binaries
//! report [`KeyshiftError::asl_name`] as `errorType`. The names are therefore a public, stable
//! contract with the ASL definition; the Rust variant names may change, the ASL names may not.
//!
//! Messages are built only from identifiers (operation names, ids, HTTP statuses) and from
//! external text passed through [`crate::secret::scrub_secrets`]; they never contain a
//! credential.

use std::time::Duration;

use thiserror::Error;

/// Shorthand for results whose failure must be routable by the state machine.
pub type Result<T, E = KeyshiftError> = std::result::Result<T, E>;

/// One failure, named so the state machine can decide between retrying, parking in the DLQ
/// and failing. Each variant maps to exactly one stable ASL error name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyshiftError {
    /// Grafana (or a proxy in front of it) answered 429; worth retrying after a pause.
    #[error("Grafana throttled {operation}{}", describe_retry_after(*retry_after))]
    GrafanaThrottled {
        /// The Grafana call that was throttled, e.g. `GET /api/serviceaccounts/search`.
        operation: String,
        /// How long the server asked us to wait (`Retry-After`), when it said so.
        retry_after: Option<Duration>,
    },
    /// Grafana was unreachable, timed out or answered 5xx: a transient condition.
    #[error("Grafana unavailable during {operation}: {detail}")]
    GrafanaUnavailable {
        /// The Grafana call that failed.
        operation: String,
        /// Status or transport failure, scrubbed of secrets.
        detail: String,
    },
    /// Grafana rejected the credential (401): missing, wrong, expired, revoked or org mismatch.
    #[error("Grafana rejected the credential for {operation}: {detail}")]
    GrafanaUnauthorized {
        /// The Grafana call that was refused.
        operation: String,
        /// Grafana's message (e.g. `Expired API key`), scrubbed of secrets.
        detail: String,
    },
    /// The credential is valid but lacks the permission (403).
    #[error("Grafana denied {operation}: {detail}")]
    GrafanaForbidden {
        /// The Grafana call that was denied.
        operation: String,
        /// Grafana's message, usually naming the missing RBAC action.
        detail: String,
    },
    /// The addressed object (service account, token, key, endpoint) does not exist (404).
    #[error("Grafana has no {what} ({operation})")]
    GrafanaNotFound {
        /// The Grafana call that found nothing.
        operation: String,
        /// What was looked for, e.g. `service account 42`.
        what: String,
    },
    /// Grafana refused the request as invalid (400), e.g. an invalid role or TTL.
    #[error("Grafana rejected {operation} as invalid: {detail}")]
    GrafanaBadRequest {
        /// The Grafana call that was rejected.
        operation: String,
        /// Grafana's message, scrubbed of secrets.
        detail: String,
    },
    /// Grafana answered something keyshift cannot trust: malformed JSON, a wrong shape,
    /// impossible values or a hostile body.
    #[error("Grafana sent an unusable response to {operation}: {detail}")]
    GrafanaBadResponse {
        /// The Grafana call whose answer was unusable.
        operation: String,
        /// What was wrong with it (never the body itself if it may carry secrets).
        detail: String,
    },
    /// The object already exists (duplicate service-account or token name, 409 or Grafana's
    /// 400 "already exists"); callers that are idempotent look the object up instead.
    #[error("Grafana reports a conflict for {operation}: {detail}")]
    GrafanaConflict {
        /// The Grafana call that conflicted.
        operation: String,
        /// Grafana's message, scrubbed of secrets.
        detail: String,
    },
    /// The Grafana version is too old (or unknown) for service accounts.
    #[error("Grafana {version} is not supported: {detail}")]
    GrafanaUnsupportedVersion {
        /// The version string reported by `/api/health`.
        version: String,
        /// Why keyshift cannot work with it.
        detail: String,
    },
    /// An AWS API throttled the request; worth retrying after a pause.
    #[error("{service} throttled {operation}{}", describe_retry_after(*retry_after))]
    AwsThrottled {
        /// The AWS service, e.g. `secretsmanager`.
        service: String,
        /// The API operation, e.g. `PutSecretValue`.
        operation: String,
        /// How long AWS asked us to wait, when it said so.
        retry_after: Option<Duration>,
    },
    /// An AWS API was unreachable or answered with a server fault: transient.
    #[error("{service} unavailable during {operation}: {detail}")]
    AwsUnavailable {
        /// The AWS service.
        service: String,
        /// The API operation.
        operation: String,
        /// Transport failure or fault code.
        detail: String,
    },
    /// An AWS API failed permanently (access denied, validation, quota, conflict …).
    #[error("{service} {operation} failed: {detail}")]
    AwsFailed {
        /// The AWS service.
        service: String,
        /// The API operation.
        operation: String,
        /// The AWS error code and message, scrubbed of secrets.
        detail: String,
    },
    /// The freshly staged token did not authenticate or did not hold the intended role.
    #[error("verification failed for {subject}: {reason}")]
    VerifyFailed {
        /// What was verified, e.g. `token keyshift-… of service account 12`.
        subject: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// `keyshift rollback` would restore a version that does not work (revoked, expired, wrong
    /// role) or that does not exist; nothing was changed.
    #[error("rollback of {secret_id} refused: {reason}; run a fresh rotation instead")]
    RollbackRefused {
        /// The managed secret.
        secret_id: String,
        /// Why the previous version must not become current again.
        reason: String,
    },
    /// Input (an event, a step payload, a policy, a workspace reference) is malformed.
    #[error("invalid input {field}: {reason}")]
    InputInvalid {
        /// The offending field, as a path such as `workspace.workspaceId`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another execution's AWSPENDING version is on the secret: two rotations must not interleave.
    #[error("rotation already in progress on {secret_id} (pending version {pending_version})")]
    RotationInProgress {
        /// The managed secret.
        secret_id: String,
        /// The version id holding AWSPENDING.
        pending_version: String,
    },
    /// A Secrets Manager rotation event for a secret whose rotation is not enabled: the
    /// rotation Lambda only acts on secrets Secrets Manager itself rotates.
    #[error(
        "rotation is not enabled on secret {secret_id}; enable it (RotateSecret with this Lambda) first"
    )]
    RotationNotEnabled {
        /// The secret named by the event.
        secret_id: String,
    },
    /// A rotation event whose ClientRequestToken is not a version of the secret staged
    /// AWSPENDING (another secret's token, or a stale one): acting on it could overwrite the
    /// wrong version.
    #[error("rotation token {token} is not a pending version of secret {secret_id}: {reason}")]
    RotationTokenInvalid {
        /// The secret named by the event.
        secret_id: String,
        /// The event's ClientRequestToken (a version id, not a credential).
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `keyshift secret create` found the managed secret already there: it starts from
    /// nothing only, and never overwrites a credential someone may be reading.
    #[error(
        "secret {secret_id} already exists; rotate it instead (keyshift run, or Secrets Manager rotation)"
    )]
    SecretExists {
        /// The secret's name.
        secret_id: String,
    },
    /// The AMG workspace is not ACTIVE (creating, updating, failed …); nothing can be done now.
    #[error("workspace {workspace} is not active (status {status})")]
    WorkspaceNotActive {
        /// The workspace id.
        workspace: String,
        /// The AMG status reported.
        status: String,
    },
    /// The AMG workspace does not exist (or is not visible to this account/region).
    #[error("workspace {workspace} not found")]
    WorkspaceNotFound {
        /// The workspace id.
        workspace: String,
    },
    /// The secret, or the requested version/stage of it, does not exist.
    #[error("secret {secret_id} has no {what}")]
    SecretNotFound {
        /// The secret name or ARN.
        secret_id: String,
        /// What is missing: `secret`, `version …`, `stage AWSPENDING` …
        what: String,
    },
    /// A secret version id was reused with a different value (Secrets Manager versions are immutable).
    #[error("secret {secret_id} already has version {version_id} with a different value")]
    SecretVersionConflict {
        /// The secret name or ARN.
        secret_id: String,
        /// The client request token / version id that was reused.
        version_id: String,
    },
    /// Sealing or unsealing failed (KMS error, corrupt ciphertext, wrong key).
    #[error("sealing failed: {reason}")]
    SealFailed {
        /// What went wrong, without any plaintext.
        reason: String,
    },
    /// A sealed token was presented with an encryption context other than the one it was
    /// sealed with: it belongs to another workspace or execution.
    #[error("sealed token does not belong to this context: {reason}")]
    SealContextMismatch {
        /// Which context entry differs (keys only, values are identifiers, never secrets).
        reason: String,
    },
    /// The execution cannot be redriven (succeeded, too old, started before redrive existed …);
    /// dlq-replay starts a fresh execution instead.
    #[error("execution {execution} cannot be redriven: {reason}")]
    ExecutionNotRedrivable {
        /// The execution ARN or name.
        execution: String,
        /// The reason reported by Step Functions.
        reason: String,
    },
    /// `keyshift admin adopt` on an admin secret that already holds keyshift's managed format:
    /// it is rotated like any managed secret, adopting it again would orphan its token.
    #[error(
        "admin secret {secret_id} is already adopted by keyshift; it is rotated with the other managed secrets"
    )]
    AdminAlreadyAdopted {
        /// The admin secret.
        secret_id: String,
    },
    /// The admin credential cannot do what adoption needs (wrong format, does not authenticate,
    /// not an org Admin); nothing was changed.
    #[error("admin secret {secret_id} is not a usable admin credential: {reason}")]
    AdminUnusableCredential {
        /// The admin secret.
        secret_id: String,
        /// Why, without the value.
        reason: String,
    },
}

fn describe_retry_after(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(pause) => format!(" (retry after {} s)", pause.as_secs()),
        None => String::new(),
    }
}

impl KeyshiftError {
    /// Every ASL error name keyshift can raise, so the ASL contract test can check that each
    /// `ErrorEquals` entry refers to a real error and each retryable one is retried.
    pub const ALL_ASL_NAMES: &'static [&'static str] = &[
        "Grafana.Throttled",
        "Grafana.Unavailable",
        "Grafana.Unauthorized",
        "Grafana.Forbidden",
        "Grafana.NotFound",
        "Grafana.BadRequest",
        "Grafana.BadResponse",
        "Grafana.Conflict",
        "Grafana.UnsupportedVersion",
        "Aws.Throttled",
        "Aws.Unavailable",
        "Aws.Failed",
        "Verify.Failed",
        "Rollback.Refused",
        "Input.Invalid",
        "Rotation.InProgress",
        "Rotation.NotEnabled",
        "Rotation.TokenInvalid",
        "Secret.Exists",
        "Workspace.NotActive",
        "Workspace.NotFound",
        "Secret.NotFound",
        "Secret.VersionConflict",
        "Seal.Failed",
        "Seal.ContextMismatch",
        "Execution.NotRedrivable",
        "Admin.AlreadyAdopted",
        "Admin.UnusableCredential",
    ];

    /// The ASL names the state machine should retry (with backoff); all others are permanent.
    pub const RETRYABLE_ASL_NAMES: &'static [&'static str] = &[
        "Grafana.Throttled",
        "Grafana.Unavailable",
        "Aws.Throttled",
        "Aws.Unavailable",
    ];

    /// The stable name Step Functions sees (Lambda `errorType`); part of the ASL contract.
    pub fn asl_name(&self) -> &'static str {
        match self {
            Self::GrafanaThrottled { .. } => "Grafana.Throttled",
            Self::GrafanaUnavailable { .. } => "Grafana.Unavailable",
            Self::GrafanaUnauthorized { .. } => "Grafana.Unauthorized",
            Self::GrafanaForbidden { .. } => "Grafana.Forbidden",
            Self::GrafanaNotFound { .. } => "Grafana.NotFound",
            Self::GrafanaBadRequest { .. } => "Grafana.BadRequest",
            Self::GrafanaBadResponse { .. } => "Grafana.BadResponse",
            Self::GrafanaConflict { .. } => "Grafana.Conflict",
            Self::GrafanaUnsupportedVersion { .. } => "Grafana.UnsupportedVersion",
            Self::AwsThrottled { .. } => "Aws.Throttled",
            Self::AwsUnavailable { .. } => "Aws.Unavailable",
            Self::AwsFailed { .. } => "Aws.Failed",
            Self::VerifyFailed { .. } => "Verify.Failed",
            Self::RollbackRefused { .. } => "Rollback.Refused",
            Self::InputInvalid { .. } => "Input.Invalid",
            Self::RotationInProgress { .. } => "Rotation.InProgress",
            Self::RotationNotEnabled { .. } => "Rotation.NotEnabled",
            Self::RotationTokenInvalid { .. } => "Rotation.TokenInvalid",
            Self::SecretExists { .. } => "Secret.Exists",
            Self::WorkspaceNotActive { .. } => "Workspace.NotActive",
            Self::WorkspaceNotFound { .. } => "Workspace.NotFound",
            Self::SecretNotFound { .. } => "Secret.NotFound",
            Self::SecretVersionConflict { .. } => "Secret.VersionConflict",
            Self::SealFailed { .. } => "Seal.Failed",
            Self::SealContextMismatch { .. } => "Seal.ContextMismatch",
            Self::ExecutionNotRedrivable { .. } => "Execution.NotRedrivable",
            Self::AdminAlreadyAdopted { .. } => "Admin.AlreadyAdopted",
            Self::AdminUnusableCredential { .. } => "Admin.UnusableCredential",
        }
    }

    /// Whether waiting and trying again can succeed; adapters use it for their own bounded
    /// retries and it mirrors the ASL Retry configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::GrafanaThrottled { .. }
                | Self::GrafanaUnavailable { .. }
                | Self::AwsThrottled { .. }
                | Self::AwsUnavailable { .. }
        )
    }

    /// The pause the server asked for, so retry loops honour `Retry-After` instead of guessing.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::GrafanaThrottled { retry_after, .. } | Self::AwsThrottled { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the failure means "the thing is already gone", which idempotent deletes treat
    /// as success.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::GrafanaNotFound { .. }
                | Self::SecretNotFound { .. }
                | Self::WorkspaceNotFound { .. }
        )
    }

    /// Builds the most common permanent error in one call, for validation code.
    pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InputInvalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<serde_json::Error> for KeyshiftError {
    /// A payload that does not parse is bad input. serde's message names the field and
    /// position, which are kept, and may quote the offending value, which is removed.
    fn from(error: serde_json::Error) -> Self {
        let message = crate::secret::strip_quoted_values(&error.to_string());
        Self::InputInvalid {
            field: "payload".to_owned(),
            reason: crate::secret::scrub_secrets(&message),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn one_of_each() -> Vec<KeyshiftError> {
        let text = || "x".to_owned();
        vec![
            KeyshiftError::GrafanaThrottled {
                operation: text(),
                retry_after: Some(Duration::from_secs(3)),
            },
            KeyshiftError::GrafanaUnavailable {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaUnauthorized {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaForbidden {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaNotFound {
                operation: text(),
                what: text(),
            },
            KeyshiftError::GrafanaBadRequest {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaBadResponse {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaConflict {
                operation: text(),
                detail: text(),
            },
            KeyshiftError::GrafanaUnsupportedVersion {
                version: text(),
                detail: text(),
            },
            KeyshiftError::AwsThrottled {
                service: text(),
                operation: text(),
                retry_after: None,
            },
            KeyshiftError::AwsUnavailable {
                service: text(),
                operation: text(),
                detail: text(),
            },
            KeyshiftError::AwsFailed {
                service: text(),
                operation: text(),
                detail: text(),
            },
            KeyshiftError::VerifyFailed {
                subject: text(),
                reason: text(),
            },
            KeyshiftError::RollbackRefused {
                secret_id: text(),
                reason: text(),
            },
            KeyshiftError::InputInvalid {
                field: text(),
                reason: text(),
            },
            KeyshiftError::RotationInProgress {
                secret_id: text(),
                pending_version: text(),
            },
            KeyshiftError::RotationNotEnabled { secret_id: text() },
            KeyshiftError::SecretExists { secret_id: text() },
            KeyshiftError::RotationTokenInvalid {
                secret_id: text(),
                token: text(),
                reason: text(),
            },
            KeyshiftError::WorkspaceNotActive {
                workspace: text(),
                status: text(),
            },
            KeyshiftError::WorkspaceNotFound { workspace: text() },
            KeyshiftError::SecretNotFound {
                secret_id: text(),
                what: text(),
            },
            KeyshiftError::SecretVersionConflict {
                secret_id: text(),
                version_id: text(),
            },
            KeyshiftError::SealFailed { reason: text() },
            KeyshiftError::SealContextMismatch { reason: text() },
            KeyshiftError::ExecutionNotRedrivable {
                execution: text(),
                reason: text(),
            },
            KeyshiftError::AdminAlreadyAdopted { secret_id: text() },
            KeyshiftError::AdminUnusableCredential {
                secret_id: text(),
                reason: text(),
            },
        ]
    }

    #[test]
    fn asl_names_are_unique_complete_and_not_reserved() {
        let errors = one_of_each();
        let names: Vec<&str> = errors.iter().map(KeyshiftError::asl_name).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate ASL name in {names:?}");
        let declared: BTreeSet<&str> = KeyshiftError::ALL_ASL_NAMES.iter().copied().collect();
        assert_eq!(
            unique, declared,
            "ALL_ASL_NAMES out of sync with asl_name()"
        );
        for name in names {
            assert!(
                !name.starts_with("States."),
                "{name} uses the reserved States. prefix"
            );
            assert!(name.contains('.'), "{name} should be Domain.Reason");
        }
    }

    #[test]
    fn retryable_flag_matches_the_declared_list() {
        let retryable: BTreeSet<&str> = one_of_each()
            .iter()
            .filter(|error| error.is_retryable())
            .map(KeyshiftError::asl_name)
            .collect();
        let declared: BTreeSet<&str> = KeyshiftError::RETRYABLE_ASL_NAMES.iter().copied().collect();
        assert_eq!(retryable, declared);
        for permanent in [
            "Grafana.Unauthorized",
            "Grafana.Forbidden",
            "Verify.Failed",
            "Input.Invalid",
            "Rotation.InProgress",
        ] {
            assert!(
                !declared.contains(permanent),
                "{permanent} must not be retried"
            );
        }
    }

    #[test]
    fn throttling_carries_retry_after_into_message() {
        let error = KeyshiftError::GrafanaThrottled {
            operation: "GET /api/org".to_owned(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            error.to_string(),
            "Grafana throttled GET /api/org (retry after 7 s)"
        );
        assert_eq!(KeyshiftError::invalid_input("a", "b").retry_after(), None);
    }

    #[test]
    fn malformed_json_becomes_input_invalid() {
        let parse_error = serde_json::from_str::<serde_json::Value>("{not json").unwrap_err();
        let error = KeyshiftError::from(parse_error);
        assert_eq!(error.asl_name(), "Input.Invalid");
        let wrong_type = serde_json::from_str::<u32>(r#""hunter2""#).unwrap_err();
        let error = KeyshiftError::from(wrong_type);
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
