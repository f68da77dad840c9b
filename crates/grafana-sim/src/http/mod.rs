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

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, post};

use crate::server::Truncation;
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
    let endpoints: [(&str, MethodRouter<SharedState>); 21] = [
        ("/api/health", get(api::health)),
        ("/healthz", get(api::healthz)),
        ("/api/org", get(api::current_org)),
        ("/api/user", get(api::current_user)),
        ("/api/search", get(api::search)),
        (
            "/api/folders",
            get(api::list_folders).post(api::create_folder),
        ),
        (
            "/api/access-control/user/permissions",
            get(api::user_permissions),
        ),
        ("/api/access-control/user/actions", get(api::user_actions)),
        ("/api/auth/keys", get(api::list_keys).post(api::create_key)),
        ("/api/auth/keys/{id}", delete(api::delete_key)),
        ("/api/serviceaccounts", post(api::create_service_account)),
        ("/api/serviceaccounts/", post(api::create_service_account)),
        (
            "/api/serviceaccounts/search",
            get(api::search_service_accounts),
        ),
        ("/api/serviceaccounts/migrate", post(api::migrate_all)),
        (
            "/api/serviceaccounts/migrate/{keyId}",
            post(api::migrate_one),
        ),
        (
            "/api/serviceaccounts/migrationstatus",
            get(api::migration_status),
        ),
        ("/api/serviceaccounts/hideApiKeys", post(api::hide_api_keys)),
        ("/api/serviceaccounts/revert/{keyId}", post(api::revert_key)),
        (
            "/api/serviceaccounts/{id}",
            get(api::get_service_account)
                .patch(api::update_service_account)
                .delete(api::delete_service_account),
        ),
        (
            "/api/serviceaccounts/{id}/tokens",
            get(api::list_tokens).post(api::create_token),
        ),
        (
            "/api/serviceaccounts/{id}/tokens/{tokenId}",
            delete(api::delete_token),
        ),
    ];
    let routes = endpoints
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
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
    let Some(version) = state.instance_version(&instance_id) else {
        return reply::not_found();
    };
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
    crate::server::answer_under_fault(fault, request, next, status_fault, Truncation::StatusOnly)
        .await
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
