//! AMG's modelled exceptions and how they travel on the wire.
//!
//! `aws-sdk-grafana` decides which typed error to build from the `X-Amzn-ErrorType` header
//! (falling back to `code`/`__type` in the body), then fills the members from the JSON body
//! and, for throttling and internal errors, `retryAfterSeconds` from the `Retry-After`
//! header. If any of that is missing the caller sees `Unhandled` instead of, say, a
//! `ThrottlingException`, and keyshift's retry routing would be tested against a lie. So every
//! error the control plane can produce goes through [`AmgError`] and its one encoder.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use crate::state::StateError;

/// Suffix AWS services append to the error type header; the SDK strips everything from the
/// first `:`. The exact namespace AMG uses is UNCONFIRMED: it is sent so the SDK's
/// sanitising path is exercised the way real answers exercise it.
const ERROR_TYPE_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.grafana/";

/// The kinds of object an AMG error can name in `resourceType`. AMG's exact spelling is
/// UNCONFIRMED; upper snake case follows the style of AMG's other enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    /// An AMG workspace.
    Workspace,
    /// A workspace API key (legacy key).
    ApiKey,
    /// A Grafana service account.
    ServiceAccount,
    /// A service-account token.
    ServiceAccountToken,
}

impl ResourceKind {
    /// The `resourceType` value sent to the client.
    pub(crate) fn wire_name(self) -> &'static str {
        match self {
            Self::Workspace => "WORKSPACE",
            Self::ApiKey => "API_KEY",
            Self::ServiceAccount => "SERVICE_ACCOUNT",
            Self::ServiceAccountToken => "SERVICE_ACCOUNT_TOKEN",
        }
    }

    /// The human name used in messages.
    fn label(self) -> &'static str {
        match self {
            Self::Workspace => "Workspace",
            Self::ApiKey => "API key",
            Self::ServiceAccount => "Service account",
            Self::ServiceAccountToken => "Service account token",
        }
    }
}

/// `ValidationException.reason`, as modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValidationReason {
    /// The body is not JSON of the expected shape.
    CannotParse,
    /// A field broke a constraint (length, range, pattern, enum, required).
    FieldValidationFailed,
    /// Anything else (version gates, injected faults).
    Other,
    /// Known path, unsupported method.
    UnknownOperation,
}

impl ValidationReason {
    fn wire_name(self) -> &'static str {
        match self {
            Self::CannotParse => "CANNOT_PARSE",
            Self::FieldValidationFailed => "FIELD_VALIDATION_FAILED",
            Self::Other => "OTHER",
            Self::UnknownOperation => "UNKNOWN_OPERATION",
        }
    }
}

/// One entry of `ValidationException.fieldList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldProblem {
    /// Member name as in the request (`secondsToLive`).
    pub(crate) name: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

/// Every answer the AMG control plane gives other than success. Messages never contain a
/// credential: they are built from names, ids and limits only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AmgError {
    /// 400 `ValidationException`.
    #[error("{message}")]
    Validation {
        /// Human-readable summary.
        message: String,
        /// Modelled reason.
        reason: ValidationReason,
        /// Offending fields.
        fields: Vec<FieldProblem>,
    },
    /// 404 `ResourceNotFoundException`.
    #[error("{kind:?} `{resource_id}` not found")]
    NotFound {
        /// What kind of object is missing.
        kind: ResourceKind,
        /// Its id or name as the caller gave it.
        resource_id: String,
    },
    /// 409 `ConflictException`.
    #[error("{message}")]
    Conflict {
        /// Human-readable summary.
        message: String,
        /// What kind of object conflicts.
        kind: ResourceKind,
        /// Its id or name.
        resource_id: String,
    },
    /// 429 `ThrottlingException` with `Retry-After`.
    #[error("rate exceeded")]
    Throttled {
        /// Seconds the client should wait (the `Retry-After` header).
        retry_after_seconds: u64,
    },
    /// 402 `ServiceQuotaExceededException`.
    #[error("service quota exceeded for workspace `{workspace_id}`")]
    QuotaExceeded {
        /// The workspace whose quota ran out.
        workspace_id: String,
    },
    /// 403 `AccessDeniedException`.
    #[error("access denied")]
    AccessDenied,
    /// 5xx `InternalServerException` (500 unless a fault asked for another 5xx).
    #[error("internal server error")]
    Internal {
        /// HTTP status to answer with.
        status: StatusCode,
        /// Optional `Retry-After` header.
        retry_after_seconds: Option<u64>,
    },
}

impl AmgError {
    /// A single-field constraint failure, worded like AWS's request validator.
    pub(crate) fn field(name: &str, constraint: &str) -> Self {
        Self::Validation {
            message: format!(
                "1 validation error detected: Value at '{name}' failed to satisfy constraint: {constraint}"
            ),
            reason: ValidationReason::FieldValidationFailed,
            fields: vec![FieldProblem {
                name: name.to_string(),
                message: constraint.to_string(),
            }],
        }
    }

    /// A validation failure that is about the request as a whole, not one field.
    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            reason: ValidationReason::Other,
            fields: Vec::new(),
        }
    }

    /// A body that is not the JSON object the operation expects.
    pub(crate) fn cannot_parse(detail: &str) -> Self {
        Self::Validation {
            message: format!("Could not parse request body: {detail}"),
            reason: ValidationReason::CannotParse,
            fields: Vec::new(),
        }
    }

    /// A method the path does not support.
    pub(crate) fn unknown_operation() -> Self {
        Self::Validation {
            message: "The requested operation is not supported on this resource".to_string(),
            reason: ValidationReason::UnknownOperation,
            fields: Vec::new(),
        }
    }

    /// The modelled error type name (`X-Amzn-ErrorType`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "ValidationException",
            Self::NotFound { .. } => "ResourceNotFoundException",
            Self::Conflict { .. } => "ConflictException",
            Self::Throttled { .. } => "ThrottlingException",
            Self::QuotaExceeded { .. } => "ServiceQuotaExceededException",
            Self::AccessDenied => "AccessDeniedException",
            Self::Internal { .. } => "InternalServerException",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaExceeded { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::Internal { status, .. } => *status,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            Self::Internal {
                retry_after_seconds,
                ..
            } => *retry_after_seconds,
            _ => None,
        }
    }

    /// The JSON body: `message` plus the exception's modelled members.
    fn body(&self) -> Value {
        let mut body = Map::new();
        let message = match self {
            Self::NotFound { kind, resource_id } => {
                body.insert("resourceId".into(), json!(resource_id));
                body.insert("resourceType".into(), json!(kind.wire_name()));
                format!("{} {resource_id} not found", kind.label())
            }
            Self::Conflict {
                message,
                kind,
                resource_id,
            } => {
                body.insert("resourceId".into(), json!(resource_id));
                body.insert("resourceType".into(), json!(kind.wire_name()));
                message.clone()
            }
            Self::Validation {
                message,
                reason,
                fields,
            } => {
                body.insert("reason".into(), json!(reason.wire_name()));
                if !fields.is_empty() {
                    let list: Vec<Value> = fields
                        .iter()
                        .map(|field| json!({ "name": field.name, "message": field.message }))
                        .collect();
                    body.insert("fieldList".into(), Value::Array(list));
                }
                message.clone()
            }
            Self::QuotaExceeded { workspace_id } => {
                body.insert("resourceId".into(), json!(workspace_id));
                body.insert(
                    "resourceType".into(),
                    json!(ResourceKind::Workspace.wire_name()),
                );
                body.insert("serviceCode".into(), json!("grafana"));
                // The quota code is UNCONFIRMED; any stable value lets clients log it.
                body.insert("quotaCode".into(), json!("L-SIMULATED"));
                format!("Service quota exceeded for workspace {workspace_id}")
            }
            Self::Throttled { .. } => "Rate exceeded".to_string(),
            Self::AccessDenied => {
                "User is not authorized to perform this action on this resource".to_string()
            }
            Self::Internal { .. } => "Internal server error".to_string(),
        };
        body.insert("message".into(), json!(message));
        Value::Object(body)
    }

    /// Maps a state failure onto the exception AMG answers with; `subject` names the object
    /// the operation was about, for `resourceId` of conflicts.
    pub(crate) fn from_state(error: StateError, subject: (ResourceKind, &str)) -> Self {
        let (kind, name) = subject;
        match error {
            StateError::WorkspaceNotFound(id) => Self::NotFound {
                kind: ResourceKind::Workspace,
                resource_id: id,
            },
            StateError::ServiceAccountNotFound(id) => Self::NotFound {
                kind: ResourceKind::ServiceAccount,
                resource_id: id.to_string(),
            },
            StateError::TokenNotFound(id) => Self::NotFound {
                kind: ResourceKind::ServiceAccountToken,
                resource_id: id.to_string(),
            },
            StateError::ApiKeyNotFound => Self::NotFound {
                kind: ResourceKind::ApiKey,
                resource_id: name.to_string(),
            },
            StateError::ServiceAccountAlreadyExists | StateError::CredentialNameTaken(_) => {
                Self::Conflict {
                    message: format!("{} with name {name} already exists", kind.label()),
                    kind,
                    resource_id: name.to_string(),
                }
            }
            StateError::InvalidRole => Self::field(
                "grafanaRole",
                "Member must satisfy enum value set: [ADMIN, EDITOR, VIEWER]",
            ),
            StateError::EmptyName => {
                Self::field("name", "Member must have length greater than or equal to 1")
            }
            StateError::NegativeSecondsToLive
            | StateError::SecondsToLiveOutOfRange
            | StateError::SecondsToLiveRequired
            | StateError::SecondsToLiveAboveLimit
            | StateError::ExpirationBeyondDayLimit => {
                let detail = error.to_string();
                Self::field("secondsToLive", &detail)
            }
            // Only CreateWorkspaceServiceAccountToken reaches the cap, and it names its
            // workspace itself (see `handlers::create_token`).
            StateError::TokenLimitReached { .. } => Self::QuotaExceeded {
                workspace_id: String::new(),
            },
            StateError::LegacyKeysRemoved => Self::other(
                "API keys are not supported on this workspace's Grafana version; use service accounts",
            ),
            StateError::OrgNotFound(_) | StateError::NoApiKeysToMigrate => Self::Internal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                retry_after_seconds: None,
            },
        }
    }
}

impl IntoResponse for AmgError {
    fn into_response(self) -> Response<Body> {
        let status = self.status();
        let retry_after = self.retry_after();
        let type_name = self.type_name();
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&format!("{type_name}:{ERROR_TYPE_NAMESPACE}")) {
            headers.insert(HeaderName::from_static("x-amzn-errortype"), value);
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_resource_in_body_members() {
        let error = AmgError::NotFound {
            kind: ResourceKind::ServiceAccount,
            resource_id: "42".into(),
        };
        let body = error.body();
        assert_eq!(body["resourceId"], "42");
        assert_eq!(body["resourceType"], "SERVICE_ACCOUNT");
        assert!(body["message"].as_str().unwrap().contains("42"));
    }

    #[test]
    fn throttling_carries_retry_after_header_and_type() {
        let response = AmgError::Throttled {
            retry_after_seconds: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let error_type = response.headers()["x-amzn-errortype"].to_str().unwrap();
        assert!(error_type.starts_with("ThrottlingException:"));
    }

    #[test]
    fn duplicate_names_become_conflicts_naming_the_object() {
        let error = AmgError::from_state(
            StateError::CredentialNameTaken("t1".into()),
            (ResourceKind::ServiceAccountToken, "t1"),
        );
        assert_eq!(error.type_name(), "ConflictException");
        assert_eq!(error.body()["resourceType"], "SERVICE_ACCOUNT_TOKEN");
    }
}
