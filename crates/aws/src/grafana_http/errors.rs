//! Turning Grafana's answers into keyshift's named errors.
//!
//! Grafana speaks three error dialects (legacy `{"message"}`, errutil `{"message","messageId",
//! "statusCode"}`, RBAC `{"title","message","accessErrorId"}`) plus the odd plain-text body, and
//! proxies in front of it add their own. The state machine only cares about the class of
//! failure, so everything is folded into [`KeyshiftError`] here, with Grafana's wording kept
//! (scrubbed) for the operator.

use std::time::Duration;

use keyshift_core::error::KeyshiftError;
use keyshift_core::secret::{REDACTED, scrub_secrets};
use serde::Deserialize;

/// The fields any of Grafana's JSON error shapes may carry; all optional because a proxy or a
/// hostile server may send any subset, or other types entirely.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    message_id: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<serde_json::Value>,
}

/// What Grafana said about a failure, already safe to put into an error message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GrafanaComplaint {
    /// Human message, scrubbed.
    pub message: String,
    /// errutil `messageId` such as `serviceaccounts.ErrAlreadyExists`, when present.
    pub message_id: Option<String>,
}

impl GrafanaComplaint {
    /// Extracts the message from any of the body shapes; `secrets` are the exact credential
    /// strings this request carried, removed even if they do not look like credentials.
    pub fn from_body(body: &[u8], secrets: &[&str]) -> Self {
        let text = String::from_utf8_lossy(body);
        let parsed: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let as_text = |value: &Option<serde_json::Value>| match value {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            _ => None,
        };
        let (message, message_id) = match parsed {
            Some(body) => {
                let message = as_text(&body.message)
                    .or_else(|| as_text(&body.title))
                    .unwrap_or_default();
                (message, as_text(&body.message_id))
            }
            None => (text.trim().to_owned(), None),
        };
        Self {
            message: clean(&message, secrets),
            message_id: message_id.map(|id| clean(&id, secrets)),
        }
    }

    /// Message plus messageId, the most useful one-line description for an operator.
    pub fn describe(&self, status: u16) -> String {
        match (&self.message_id, self.message.is_empty()) {
            (Some(id), false) => format!("HTTP {status}: {} ({id})", self.message),
            (Some(id), true) => format!("HTTP {status} ({id})"),
            (None, false) => format!("HTTP {status}: {}", self.message),
            (None, true) => format!("HTTP {status}"),
        }
    }

    /// Grafana reports duplicate names as 400 on errutil-era servers (409 on old ones); both
    /// mean "already exists", which idempotent callers must be able to tell apart from a
    /// genuinely invalid request.
    fn says_already_exists(&self) -> bool {
        let id_says = self
            .message_id
            .as_deref()
            .is_some_and(|id| id.contains("AlreadyExists"));
        let message = self.message.to_ascii_lowercase();
        id_says || message.contains("already exists") || message.contains("must be unique")
    }
}

/// Removes the request's own credentials and anything credential-shaped from external text.
fn clean(text: &str, secrets: &[&str]) -> String {
    let mut without_known = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        without_known = without_known.replace(secret, REDACTED);
    }
    scrub_secrets(&without_known)
}

/// Maps a non-success HTTP answer to the named error the state machine routes on.
pub(crate) fn error_for_status(
    operation: &str,
    status: u16,
    retry_after: Option<Duration>,
    complaint: &GrafanaComplaint,
) -> KeyshiftError {
    let operation = operation.to_owned();
    let detail = complaint.describe(status);
    match status {
        429 => KeyshiftError::GrafanaThrottled {
            operation,
            retry_after,
        },
        401 => KeyshiftError::GrafanaUnauthorized { operation, detail },
        403 => KeyshiftError::GrafanaForbidden { operation, detail },
        404 | 410 => KeyshiftError::GrafanaNotFound {
            what: if status == 410 {
                format!("endpoint (removed: {detail})")
            } else {
                detail
            },
            operation,
        },
        409 => KeyshiftError::GrafanaConflict { operation, detail },
        400 if complaint.says_already_exists() => {
            KeyshiftError::GrafanaConflict { operation, detail }
        }
        500..=599 => KeyshiftError::GrafanaUnavailable { operation, detail },
        // Never followed: the Authorization header would travel to wherever it points.
        300..=399 => KeyshiftError::GrafanaBadRequest {
            operation,
            detail: format!("HTTP {status}: redirect refused, credentials are not forwarded"),
        },
        _ => KeyshiftError::GrafanaBadRequest { operation, detail },
    }
}

/// Maps a transport failure (no HTTP answer at all) to a transient error; the detail is a
/// fixed phrase, never reqwest's text, which could include the URL.
pub(crate) fn error_for_transport(operation: &str, error: &reqwest::Error) -> KeyshiftError {
    let detail = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() && mentions_certificate(error) {
        "TLS handshake failed: the server's certificate is not trusted"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "connection closed without an answer"
    };
    KeyshiftError::GrafanaUnavailable {
        operation: operation.to_owned(),
        detail: detail.to_owned(),
    }
}

/// Whether any cause in the chain is a certificate problem; only the fixed phrase above leaves
/// this module, never the cause's own text.
fn mentions_certificate(error: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(current) = cause {
        if current
            .to_string()
            .to_ascii_lowercase()
            .contains("certificate")
        {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complaint(body: &str) -> GrafanaComplaint {
        GrafanaComplaint::from_body(body.as_bytes(), &["s3cr3t-token-value"])
    }

    #[test]
    fn reads_all_three_body_shapes_and_plain_text() {
        let legacy = complaint(r#"{"message":"Permission denied","traceID":""}"#);
        assert_eq!(legacy.message, "Permission denied");
        assert_eq!(legacy.message_id, None);

        let errutil = complaint(
            r#"{"message":"Expired API key","messageId":"api-key.expired","statusCode":401,"traceID":""}"#,
        );
        assert_eq!(
            errutil.describe(401),
            "HTTP 401: Expired API key (api-key.expired)"
        );

        let rbac = complaint(
            r#"{"title":"Access denied","message":"Permissions needed: serviceaccounts:write","accessErrorId":"ACE0123456789"}"#,
        );
        assert_eq!(rbac.message, "Permissions needed: serviceaccounts:write");

        let title_only = complaint(r#"{"title":"Access denied"}"#);
        assert_eq!(title_only.message, "Access denied");

        let plain = complaint("The expiration date input exceeds the limit\n");
        assert_eq!(plain.message, "The expiration date input exceeds the limit");
    }

    #[test]
    fn hostile_bodies_are_tolerated_and_scrubbed() {
        let wrong_types = complaint(r#"{"message":42,"messageId":["x"]}"#);
        assert_eq!(wrong_types.describe(400), "HTTP 400");
        let echoing = complaint(r#"{"message":"bad key s3cr3t-token-value"}"#);
        assert!(!echoing.message.contains("s3cr3t"), "{}", echoing.message);
        let huge = complaint(&"A ".repeat(100_000));
        assert!(huge.message.len() < 2_000);
        let binary = GrafanaComplaint::from_body(&[0xff, 0xfe, 0x00, 0x41], &[]);
        assert!(!binary.message.contains('\0'));
    }

    #[test]
    fn status_codes_map_to_named_errors() {
        let plain = GrafanaComplaint::default();
        let name = |status: u16| error_for_status("op", status, None, &plain).asl_name();
        assert_eq!(name(429), "Grafana.Throttled");
        for status in [500, 502, 503, 504] {
            assert_eq!(name(status), "Grafana.Unavailable");
        }
        assert_eq!(name(401), "Grafana.Unauthorized");
        assert_eq!(name(403), "Grafana.Forbidden");
        assert_eq!(name(404), "Grafana.NotFound");
        assert_eq!(name(410), "Grafana.NotFound");
        assert_eq!(name(409), "Grafana.Conflict");
        assert_eq!(name(400), "Grafana.BadRequest");
        assert_eq!(name(422), "Grafana.BadRequest");
        for status in [301, 302, 307, 308] {
            assert_eq!(name(status), "Grafana.BadRequest");
        }
    }

    #[test]
    fn duplicate_names_reported_as_400_are_conflicts() {
        let duplicate = complaint(
            r#"{"message":"service account already exists","messageId":"serviceaccounts.ErrAlreadyExists","statusCode":400}"#,
        );
        assert_eq!(
            error_for_status("op", 400, None, &duplicate).asl_name(),
            "Grafana.Conflict"
        );
        let token_duplicate = complaint(
            r#"{"message":"service account token with given name already exists in the organization","messageId":"serviceaccounts.ErrTokenAlreadyExists"}"#,
        );
        assert_eq!(
            error_for_status("op", 400, None, &token_duplicate).asl_name(),
            "Grafana.Conflict"
        );
    }

    #[test]
    fn throttling_keeps_retry_after() {
        let error = error_for_status(
            "GET /api/org",
            429,
            Some(Duration::from_secs(3)),
            &GrafanaComplaint::default(),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    }
}
