//! Who signed each AMG call: the access key id of the SigV4 credential scope
//! (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/grafana/aws4_request, …`), so
//! a test can tell which credentials (a base account's, or those STS issued for an assumed
//! role) an AMG client signed with. Signatures are never checked, as elsewhere in the
//! simulator.
//!
//! Opt-in ([`crate::Simulator::with_amg_signer_log`]): the demo and benchmarks run without the
//! log, so it costs them nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, Response, header};
use axum::middleware::Next;

/// One AMG call as the log saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// The AMG operation, as the SDK names it (`DescribeWorkspace`).
    pub operation: String,
    /// The workspace id the call is about, or [`super::ACCOUNT_SCOPE`] for `ListWorkspaces`.
    pub scope: String,
    /// The access key id of the SigV4 credential scope; `None` for an unsigned request.
    pub access_key_id: Option<String>,
}

/// The AMG calls served so far, in arrival order, with their signer. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct SignerLog {
    calls: Arc<Mutex<Vec<SignedCall>>>,
}

impl SignerLog {
    /// Every call recorded so far.
    pub fn calls(&self) -> Vec<SignedCall> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The calls about one workspace (or [`super::ACCOUNT_SCOPE`]).
    pub fn calls_about(&self, scope: &str) -> Vec<SignedCall> {
        self.calls()
            .into_iter()
            .filter(|call| call.scope == scope)
            .collect()
    }

    fn push(&self, call: SignedCall) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }
}

/// Part `index` of the SigV4 credential scope (0: access key id, 1: date, 2: region, …),
/// when the request is signed and that part is not empty.
pub(super) fn credential_scope_part(headers: &HeaderMap, index: usize) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    let part = credential.split('/').nth(index)?;
    (!part.is_empty()).then(|| part.to_string())
}

/// Middleware: records every AMG operation with its signer, then serves it unchanged
/// (outside the fault gate, so a call answered with an injected fault is recorded too).
pub(super) async fn record(
    State(log): State<SignerLog>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let operation = parts
        .extensions
        .get::<MatchedPath>()
        .and_then(|matched| super::operation_name(&parts.method, matched.as_str()));
    if let Some(operation) = operation {
        let params = Path::<HashMap<String, String>>::from_request_parts(&mut parts, &())
            .await
            .map(|Path(params)| params)
            .unwrap_or_default();
        log.push(SignedCall {
            operation: operation.to_string(),
            scope: super::scope_of(&params),
            access_key_id: credential_scope_part(&parts.headers, 0),
        });
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_access_key_id_is_the_first_part_of_the_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20250101/eu-west-1/grafana/aws4_request, SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(
            credential_scope_part(&headers, 0).as_deref(),
            Some("ASIAEXAMPLE")
        );
        assert_eq!(
            credential_scope_part(&headers, 2).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(credential_scope_part(&headers, 9), None);
        assert_eq!(credential_scope_part(&HeaderMap::new(), 0), None);
    }
}
