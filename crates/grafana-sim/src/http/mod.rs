//! The Grafana HTTP API of every simulated instance, served at `{root}/g/{instance}/api/...`.
//!
//! Each request first passes [`gate`]: it resolves the instance, counts the call under its
//! route template (`POST /api/serviceaccounts/:id/tokens`), and applies injected faults. The
//! handlers then authenticate the caller ([`auth::Caller`]) and answer with the version's
//! exact status codes and one of Grafana's three error body shapes ([`reply`]).

// Handlers answer Grafana's error bodies through `Err(Response)`, so `?` can stop a handler
// at the first failed check; the response is large, but boxing it would buy nothing here.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
mod extract;
mod reply;

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::faults::FaultKind;
use crate::state::SharedState;
use crate::version::GrafanaVersion;

/// Prefix of every instance's routes.
const INSTANCE_PREFIX: &str = "/g/{instance}";

/// The instance a request is for, put into request extensions by [`gate`].
#[derive(Debug, Clone)]
pub(crate) struct InstanceContext {
    /// Instance id.
    pub id: String,
    /// Behaviour version.
    pub version: GrafanaVersion,
}

/// Routes of all instances.
pub(crate) fn router(state: SharedState) -> Router {
    let routes = Router::new()
        .route("/api/health", get(api::health))
        .route("/healthz", get(api::healthz))
        .route("/api/org", get(api::current_org))
        .route("/api/user", get(api::current_user))
        .route("/api/search", get(api::search))
        .route(
            "/api/folders",
            get(api::list_folders).post(api::create_folder),
        )
        .route(
            "/api/access-control/user/permissions",
            get(api::user_permissions),
        )
        .route("/api/access-control/user/actions", get(api::user_actions))
        .route("/api/auth/keys", get(api::list_keys).post(api::create_key))
        .route("/api/auth/keys/{id}", delete(api::delete_key))
        .route("/api/serviceaccounts", post(api::create_service_account))
        .route("/api/serviceaccounts/", post(api::create_service_account))
        .route(
            "/api/serviceaccounts/search",
            get(api::search_service_accounts),
        )
        .route("/api/serviceaccounts/migrate", post(api::migrate_all))
        .route(
            "/api/serviceaccounts/migrate/{keyId}",
            post(api::migrate_one),
        )
        .route(
            "/api/serviceaccounts/migrationstatus",
            get(api::migration_status),
        )
        .route("/api/serviceaccounts/hideApiKeys", post(api::hide_api_keys))
        .route("/api/serviceaccounts/revert/{keyId}", post(api::revert_key))
        .route(
            "/api/serviceaccounts/{id}",
            get(api::get_service_account)
                .patch(api::update_service_account)
                .delete(api::delete_service_account),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens",
            get(api::list_tokens).post(api::create_token),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens/{tokenId}",
            delete(api::delete_token),
        )
        .route("/{*rest}", axum::routing::any(api::not_found))
        .method_not_allowed_fallback(api::not_found);
    Router::new()
        .nest(INSTANCE_PREFIX, routes)
        .layer(from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Turns the matched route into the endpoint name used for counts and faults.
fn endpoint_name(method: &str, matched: Option<&str>) -> String {
    let template = matched
        .and_then(|path| path.strip_prefix(INSTANCE_PREFIX))
        .unwrap_or("");
    if template.is_empty() || template.contains("{*rest}") {
        return format!("{method} (unmatched)");
    }
    let converted: Vec<String> = template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => segment.to_string(),
            },
        )
        .collect();
    format!("{method} {}", converted.join("/"))
}

fn instance_id_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/g/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// Resolves the instance, counts the call and applies faults, before any handler runs.
async fn gate(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let Some(instance_id) = instance_id_of(request.uri().path()) else {
        return reply::not_found();
    };
    let Some(workspace) = state.workspace(&instance_id) else {
        return reply::not_found();
    };
    let version =
        GrafanaVersion::parse(&workspace.behaviour_version).unwrap_or(GrafanaVersion::new(0, 0, 0));
    let endpoint = endpoint_name(
        request.method().as_str(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    state.record_request(&instance_id, &endpoint);
    let fault = state.faults().check(&instance_id, &endpoint);
    request.extensions_mut().insert(InstanceContext {
        id: instance_id,
        version,
    });
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(FaultKind::Status {
            status,
            retry_after_seconds,
        }) => status_fault(status, retry_after_seconds),
        Some(FaultKind::Drop) => {
            crate::server::kill_connection(request.extensions());
            StatusCode::BAD_GATEWAY.into_response()
        }
        Some(FaultKind::MalformedJson) => {
            let response = next.run(request).await;
            malformed(response).await
        }
    }
}

/// The answer of an injected status fault: what a proxy in front of Grafana would send.
pub(crate) fn status_fault(status: u16, retry_after_seconds: Option<u64>) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = reply::legacy(code, code.canonical_reason().unwrap_or("Error"));
    let retry_after = match (code, retry_after_seconds) {
        (_, Some(seconds)) => Some(seconds),
        (StatusCode::TOO_MANY_REQUESTS, None) => Some(1),
        _ => None,
    };
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Keeps the status and declares JSON, but cuts the body in the middle of a value.
async fn malformed(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let cut = (bytes.len() / 2).max(1).min(bytes.len());
    let mut truncated = bytes.slice(..cut).to_vec();
    if truncated.is_empty() {
        truncated.extend_from_slice(b"{\"message\": ");
    }
    let mut broken = Response::new(Body::from(truncated));
    *broken.status_mut() = status;
    broken.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    broken
}

/// Anything outside the known prefixes.
pub(crate) async fn root_not_found() -> Response<Body> {
    reply::not_found()
}

/// Last-resort answer when a handler panics (a bug in the simulator, never expected).
pub(crate) fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    reply::legacy_traced(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// JSON answer with a status, shared with the control endpoints.
pub(crate) fn json_reply(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    reply::json_status(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_use_colon_templates() {
        assert_eq!(
            endpoint_name(
                "POST",
                Some("/g/{instance}/api/serviceaccounts/{id}/tokens")
            ),
            "POST /api/serviceaccounts/:id/tokens"
        );
        assert_eq!(
            endpoint_name("GET", Some("/g/{instance}/{*rest}")),
            "GET (unmatched)"
        );
        assert_eq!(
            instance_id_of("/g/g-0123456789/api/org").as_deref(),
            Some("g-0123456789")
        );
        assert_eq!(instance_id_of("/x"), None);
    }
}
