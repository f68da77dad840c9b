//! The Amazon Managed Grafana control plane (service `grafana`, restJson1), as
//! `aws-sdk-grafana` sends and parses it, sharing state with each workspace's Grafana HTTP API.
//!
//! keyshift talks to AMG through the real SDK, so the simulator must answer exactly what the
//! SDK's generated deserialisers expect: camelCase members, timestamps as epoch seconds,
//! `isDisabled` as a string, and errors typed through `X-Amzn-ErrorType` ([`error`]). Objects
//! created here live in the same [`SimState`](crate::state::SimState) as the Grafana HTTP API,
//! so a token minted through AMG authenticates on `{root}/g/{workspace}/api/...` and an account
//! created through Grafana shows up in `ListWorkspaceServiceAccounts`.
//!
//! Behaviour choices (the reference leaves them open; each is what a user would expect):
//! - AMG is regional. The region is read from the SigV4 credential scope of the
//!   `Authorization` header (signatures themselves are never checked, so dummy credentials
//!   work); a workspace of another region is `ResourceNotFoundException` and is not listed.
//!   Unsigned requests see every region.
//! - Service-account operations need Grafana 9+ and API-key operations are refused on
//!   Grafana 12+ (AMG removed API keys in its Grafana 12 workspaces): both answer
//!   `ValidationException` with reason `OTHER`, because the request is well-formed but not
//!   valid for that workspace.
//! - Write operations on a workspace whose status is not `ACTIVE` answer `ConflictException`
//!   (the workspace is busy being created, updated or deleted). UNCONFIRMED.
//! - Every call is counted and checked against injected faults under its operation name
//!   (`CreateWorkspaceServiceAccountToken`) and workspace id; `ListWorkspaces` uses the scope
//!   [`ACCOUNT_SCOPE`] because it belongs to no workspace. A status fault is answered as the
//!   AMG exception of that status (429 → `ThrottlingException` with `Retry-After`, 402 →
//!   `ServiceQuotaExceededException`, 403 → `AccessDeniedException`, 404 →
//!   `ResourceNotFoundException`, 409 → `ConflictException`, 5xx → `InternalServerException`,
//!   any other 4xx → `ValidationException`).

mod error;
mod handlers;
mod input;
pub mod signers;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post};

use crate::server::{Truncation, answer_under_fault};
use crate::state::SharedState;
use error::AmgError;

/// Scope under which account-level operations (`ListWorkspaces`) are counted and matched
/// against fault rules; it can never be a workspace id.
pub(crate) const ACCOUNT_SCOPE: &str = "(account)";

/// What the gate learned about the caller, for the handlers.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallContext {
    /// Region from the SigV4 credential scope; `None` for unsigned requests.
    pub(crate) region: Option<String>,
}

impl CallContext {
    /// Whether a workspace in `region` is visible to this caller (AMG is regional).
    pub(crate) fn sees_region(&self, region: &str) -> bool {
        self.region.as_deref().is_none_or(|caller| caller == region)
    }
}

/// Routes of the AMG control plane, mounted at the root of the simulator; with `signers`,
/// every call is also recorded there with its signer ([`signers`]).
pub(crate) fn router(state: SharedState, signers: Option<signers::SignerLog>) -> Router {
    let operations: [(&str, MethodRouter<SharedState>); 9] = [
        ("/workspaces", get(handlers::list_workspaces)),
        (
            "/workspaces/{workspaceId}",
            get(handlers::describe_workspace),
        ),
        (
            "/workspaces/{workspaceId}/apikeys",
            post(handlers::create_api_key),
        ),
        (
            "/workspaces/{workspaceId}/apikeys/{keyName}",
            delete(handlers::delete_api_key),
        ),
        (
            "/workspaces/{workspaceId}/serviceaccounts",
            post(handlers::create_service_account).get(handlers::list_service_accounts),
        ),
        (
            "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}",
            delete(handlers::delete_service_account),
        ),
        (
            "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens",
            post(handlers::create_token).get(handlers::list_tokens),
        ),
        (
            "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens/{tokenId}",
            delete(handlers::delete_token),
        ),
        ("/tags/{resourceArn}", get(handlers::list_tags_for_resource)),
    ];
    let routes = operations
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods.fallback(handlers::unknown_operation))
        })
        .layer(from_fn_with_state(state.clone(), gate));
    let routes = match signers {
        Some(log) => routes.layer(from_fn_with_state(log, signers::record)),
        None => routes,
    };
    routes.with_state(state)
}

/// The AMG operation a (method, route template) pair is, as the SDK names it.
fn operation_name(method: &Method, template: &str) -> Option<&'static str> {
    let name = match (method.as_str(), template) {
        ("GET", "/workspaces") => "ListWorkspaces",
        ("GET", "/workspaces/{workspaceId}") => "DescribeWorkspace",
        ("POST", "/workspaces/{workspaceId}/apikeys") => "CreateWorkspaceApiKey",
        ("DELETE", "/workspaces/{workspaceId}/apikeys/{keyName}") => "DeleteWorkspaceApiKey",
        ("POST", "/workspaces/{workspaceId}/serviceaccounts") => "CreateWorkspaceServiceAccount",
        ("GET", "/workspaces/{workspaceId}/serviceaccounts") => "ListWorkspaceServiceAccounts",
        ("DELETE", "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}") => {
            "DeleteWorkspaceServiceAccount"
        }
        ("POST", "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens") => {
            "CreateWorkspaceServiceAccountToken"
        }
        ("GET", "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens") => {
            "ListWorkspaceServiceAccountTokens"
        }
        (
            "DELETE",
            "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens/{tokenId}",
        ) => "DeleteWorkspaceServiceAccountToken",
        ("GET", "/tags/{resourceArn}") => "ListTagsForResource",
        _ => return None,
    };
    Some(name)
}

/// The workspace a call is about (for counts and faults), from its decoded path labels.
fn scope_of(params: &HashMap<String, String>) -> String {
    if let Some(workspace) = params.get("workspaceId") {
        return workspace.clone();
    }
    if let Some(workspace) = params
        .get("resourceArn")
        .and_then(|arn| handlers::workspace_id_of_arn(arn))
    {
        return workspace.to_string();
    }
    ACCOUNT_SCOPE.to_string()
}

/// Reads the region out of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/...`.
fn caller_region(headers: &HeaderMap) -> Option<String> {
    signers::credential_scope_part(headers, 2)
}

/// Counts the call, applies injected faults, tells handlers the caller's region and stamps
/// every answer with a request id (the SDK surfaces it in errors and logs).
async fn gate(State(state): State<SharedState>, request: Request, next: Next) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let operation = parts
        .extensions
        .get::<MatchedPath>()
        .and_then(|matched| operation_name(&parts.method, matched.as_str()));
    let params = Path::<HashMap<String, String>>::from_request_parts(&mut parts, &state)
        .await
        .map(|Path(params)| params)
        .unwrap_or_default();
    parts.extensions.insert(CallContext {
        region: caller_region(&parts.headers),
    });
    let request = Request::from_parts(parts, body);
    let mut response = match operation {
        None => next.run(request).await,
        Some(operation) => {
            let scope = scope_of(&params);
            state.record_request(&scope, operation);
            let fault = state.faults().check(&scope, operation);
            let status_answer = |status, retry_after_seconds| {
                injected_error(status, retry_after_seconds, &scope).into_response()
            };
            answer_under_fault(fault, request, next, status_answer, Truncation::KeepHeaders).await
        }
    };
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), value);
    }
    response
}

/// The AMG exception an injected HTTP status stands for.
fn injected_error(status: u16, retry_after_seconds: Option<u64>, scope: &str) -> AmgError {
    match status {
        429 => AmgError::Throttled {
            retry_after_seconds: retry_after_seconds.unwrap_or(1),
        },
        402 => AmgError::QuotaExceeded {
            workspace_id: scope.to_string(),
        },
        403 => AmgError::AccessDenied,
        404 => AmgError::NotFound {
            kind: error::ResourceKind::Workspace,
            resource_id: scope.to_string(),
        },
        409 => AmgError::Conflict {
            message: format!("Workspace {scope} is being modified by another request"),
            kind: error::ResourceKind::Workspace,
            resource_id: scope.to_string(),
        },
        500..=599 => AmgError::Internal {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            retry_after_seconds,
        },
        _ => AmgError::other(format!("Request rejected (injected status {status})")),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;
    use serde_json::Value;

    use super::*;

    /// Sends a raw request (no SDK: these bodies are ones the SDK would never produce).
    async fn raw(method: reqwest::Method, path: &str, body: &'static str) -> (u16, String, Value) {
        let sim = crate::Simulator::from_fleet(crate::FleetSpec::sample().unwrap()).unwrap();
        let running = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", running.base_url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(response.headers().contains_key("x-amzn-requestid"));
        let json = response.json().await.unwrap_or(Value::Null);
        running.shutdown().await;
        (status, error_type, json)
    }

    /// POSTs `body` to `path` and checks the answer is a 400 with reason `CANNOT_PARSE`;
    /// returns the error type and body for the caller's own checks.
    async fn cannot_parse(path: &str, body: &'static str) -> (String, Value) {
        let (status, error_type, answer) = raw(reqwest::Method::POST, path, body).await;
        assert_eq!(status, 400);
        assert_eq!(answer["reason"], "CANNOT_PARSE");
        (error_type, answer)
    }

    #[tokio::test]
    async fn malformed_json_is_a_cannot_parse_validation_exception() {
        let (error_type, _) =
            cannot_parse("/workspaces/g-1f2e3d4c5b/serviceaccounts", "{\"name\": ").await;
        assert!(
            error_type.starts_with("ValidationException"),
            "{error_type}"
        );
    }

    #[tokio::test]
    async fn wrongly_typed_members_are_refused_without_echoing_values() {
        let (_, body) = cannot_parse(
            "/workspaces/g-1f2e3d4c5b/apikeys",
            "{\"keyName\": \"k\", \"keyRole\": \"ADMIN\", \"secondsToLive\": \"s3cr3t\"}",
        )
        .await;
        assert!(!body.to_string().contains("s3cr3t"), "{body}");
    }

    #[tokio::test]
    async fn unsupported_methods_are_unknown_operations() {
        let (status, error_type, body) = raw(reqwest::Method::PUT, "/workspaces", "").await;
        assert_eq!(status, 400);
        assert!(error_type.starts_with("ValidationException"));
        assert_eq!(body["reason"], "UNKNOWN_OPERATION");
    }

    #[tokio::test]
    async fn unsigned_requests_see_every_region() {
        let (status, _, body) = raw(reqwest::Method::GET, "/workspaces", "").await;
        assert_eq!(status, 200);
        let regions: Vec<&str> = body["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|workspace| workspace["endpoint"].as_str())
            .collect();
        assert_eq!(regions.len(), 3, "{body}");
        assert!(
            regions
                .iter()
                .any(|endpoint| endpoint.contains("eu-west-1"))
        );
    }

    #[test]
    fn region_comes_from_the_sigv4_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/grafana/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(caller_region(&headers).as_deref(), Some("eu-west-1"));
        assert_eq!(caller_region(&HeaderMap::new()), None);
    }

    #[test]
    fn every_route_template_maps_to_an_operation() {
        let get = Method::GET;
        assert_eq!(operation_name(&get, "/workspaces"), Some("ListWorkspaces"));
        assert_eq!(
            operation_name(
                &Method::DELETE,
                "/workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens/{tokenId}"
            ),
            Some("DeleteWorkspaceServiceAccountToken")
        );
        assert_eq!(operation_name(&Method::PUT, "/workspaces"), None);
    }

    #[test]
    fn injected_statuses_become_the_matching_exception() {
        let cases: [(u16, &str, &str); 5] = [
            (429, "g-0000000000", "ThrottlingException"),
            (402, "g-0000000000", "ServiceQuotaExceededException"),
            (503, "x", "InternalServerException"),
            (403, "x", "AccessDeniedException"),
            (418, "x", "ValidationException"),
        ];
        for (status, scope, expected) in cases {
            let error = injected_error(status, None, scope);
            assert_eq!(error.type_name(), expected, "status {status}");
        }
    }
}
