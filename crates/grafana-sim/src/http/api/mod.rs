//! Handlers of the simulated Grafana HTTP API, one per route, with each version's answers.

mod keys;
mod migration;
mod service_accounts;
mod tokens;

use std::collections::HashMap;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Response, StatusCode};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::InstanceContext;
use super::auth::{Caller, Principal};
use super::extract::QueryParams;
use super::reply;
use crate::state::{Instance, Role, ServiceAccountView, SharedState, StateError, TokenView};
use crate::version::{GrafanaVersion, UserEndpointBehaviour};

pub(crate) use keys::{create_key, delete_key, list_keys};
pub(crate) use migration::{hide_api_keys, migrate_all, migrate_one, migration_status, revert_key};
pub(crate) use service_accounts::{
    create_service_account, delete_service_account, get_service_account, search_service_accounts,
    update_service_account,
};
pub(crate) use tokens::{create_token, delete_token, list_tokens};

type Answer = Result<Response<Body>, Response<Body>>;

const NO_SUCH_ACCOUNT: &str = "service account not found";

/// Binds a JSON request body. Only an object binds: Go's decoder refuses an array or a scalar
/// for a struct, whereas serde would happily fill a struct from an array.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Option<T> {
    match serde_json::from_slice::<Value>(body).ok()? {
        object @ Value::Object(_) => serde_json::from_value(object).ok(),
        _ => None,
    }
}

fn param_id(params: &HashMap<String, String>, name: &str) -> Option<i64> {
    params.get(name).and_then(|value| value.parse::<i64>().ok())
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|value| value == "true" || value == "1")
}

fn int_param(query: &HashMap<String, String>, names: &[&str]) -> i64 {
    names
        .iter()
        .find_map(|name| query.get(*name).and_then(|value| value.parse::<i64>().ok()))
        .unwrap_or(0)
}

fn avatar_url(email: &str) -> String {
    let digest = Md5::digest(email.trim().to_lowercase().as_bytes());
    format!("/avatar/{}", hex::encode(digest))
}

/// Runs `action` on the caller's instance under the state lock; an instance gone since the
/// request was routed answers as an unknown instance does.
fn on_instance<R>(
    state: &SharedState,
    caller: &Caller,
    action: impl FnOnce(&mut Instance, DateTime<Utc>) -> R,
) -> Result<R, Response<Body>> {
    state
        .with_instance(&caller.instance, action)
        .map_err(|error| state_failure(&error))
}

/// The caller of a route that some versions lack: where `present` is false the route is a 404
/// before any authentication, as Grafana's router answers it; otherwise the caller must have
/// authenticated and hold `action`.
fn route_caller(
    present: bool,
    caller: Result<Caller, Response<Body>>,
    action: &str,
) -> Result<Caller, Response<Body>> {
    if !present {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require(action)?;
    Ok(caller)
}

fn state_failure(error: &StateError) -> Response<Body> {
    match error {
        StateError::WorkspaceNotFound(_) => reply::not_found(),
        _ => reply::legacy_traced(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

fn account_not_found() -> Response<Body> {
    reply::errutil(
        StatusCode::NOT_FOUND,
        "serviceaccounts.ErrNotFound",
        NO_SUCH_ACCOUNT,
    )
}

fn invalid_account_id() -> Response<Body> {
    reply::legacy_traced(StatusCode::BAD_REQUEST, "Service Account ID is invalid")
}

fn sa_access_control() -> Value {
    json!({
        "serviceaccounts:delete": true,
        "serviceaccounts:read": true,
        "serviceaccounts:write": true,
        "serviceaccounts.permissions:read": true,
        "serviceaccounts.permissions:write": true,
    })
}

/// `ServiceAccountDTO` as search and create return it.
fn sa_dto(account: &ServiceAccountView, version: GrafanaVersion, access_control: bool) -> Value {
    let mut dto = json!({
        "id": account.id,
        "name": account.name,
        "login": account.login,
        "orgId": account.org_id,
        "isDisabled": account.is_disabled,
        "role": account.role.as_str(),
        "tokens": account.tokens,
        "avatarUrl": avatar_url(&account.login),
    });
    if version.modern_service_account_api() {
        dto["uid"] = json!(account.uid);
        dto["isExternal"] = json!(false);
    }
    if access_control {
        dto["accessControl"] = sa_access_control();
    }
    dto
}

/// `ServiceAccountProfileDTO` as get and update return it.
fn sa_profile(
    account: &ServiceAccountView,
    version: GrafanaVersion,
    access_control: bool,
) -> Value {
    let mut dto = json!({
        "id": account.id,
        "name": account.name,
        "login": account.login,
        "orgId": account.org_id,
        "isDisabled": account.is_disabled,
        "createdAt": account.created,
        "updatedAt": account.updated,
        "avatarUrl": avatar_url(&account.login),
        "role": account.role.as_str(),
        "teams": [],
        "tokens": account.tokens,
    });
    if version.modern_service_account_api() {
        dto["uid"] = json!(account.uid);
        dto["isExternal"] = json!(false);
    }
    if access_control {
        dto["accessControl"] = sa_access_control();
    }
    dto
}

fn token_dto(token: &TokenView) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "created": token.created,
        "lastUsedAt": token.last_used_at,
        "expiration": token.expiration,
        "secondsUntilExpiration": token.seconds_until_expiration,
        "hasExpired": token.has_expired,
        "isRevoked": token.is_revoked,
    })
}

/// Unknown route under an instance (and the endpoints a version lacks).
pub(crate) async fn not_found() -> Response<Body> {
    reply::not_found()
}

/// `GET /api/health`: no authentication at all, pretty-printed like Grafana.
pub(crate) async fn health(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
) -> Response<Body> {
    let hide_version = state
        .with_instance(&instance.id, |found, _| found.settings.hide_version)
        .unwrap_or(false);
    let mut body = serde_json::Map::new();
    if !hide_version {
        body.insert(
            "commit".into(),
            json!(format!(
                "sim{:04x}",
                instance.version.major * 100 + instance.version.minor
            )),
        );
    }
    body.insert("database".into(), json!("ok"));
    if !hide_version {
        body.insert("version".into(), json!(instance.version.to_string()));
    }
    let text = serde_json::to_string_pretty(&Value::Object(body)).unwrap_or_default();
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// `GET /healthz`: plain `Ok`.
pub(crate) async fn healthz() -> &'static str {
    "Ok"
}

/// `GET /api/org`.
pub(crate) async fn current_org(State(state): State<SharedState>, caller: Caller) -> Answer {
    // Role `None` → 403 is UNCONFIRMED in the reference; chosen as a user would expect.
    caller.require("orgs:read")?;
    let org = on_instance(&state, &caller, |instance, _| {
        instance.orgs.get(&caller.org_id).cloned()
    })?
    .ok_or_else(reply::not_found)?;
    Ok(reply::ok(json!({
        "id": org.id,
        "name": org.name,
        "address": {"address1": "", "address2": "", "city": "", "zipCode": "", "state": "", "country": ""},
    })))
}

/// `GET /api/user`: differs by version for tokens (reference §7).
pub(crate) async fn current_user(caller: Caller) -> Answer {
    let (id, login, email, name, is_admin, uid) = match &caller.principal {
        Principal::User(user) => (
            user.id,
            user.login.clone(),
            user.email.clone(),
            user.login.clone(),
            user.is_grafana_admin,
            format!("u{:013}", user.id),
        ),
        Principal::ServiceAccount(account) => (
            account.id,
            account.login.clone(),
            account.login.clone(),
            account.name.clone(),
            false,
            account.uid.clone(),
        ),
        Principal::ApiKey => (
            0,
            String::new(),
            String::new(),
            String::new(),
            false,
            String::new(),
        ),
    };
    let is_user = matches!(caller.principal, Principal::User(_));
    if !is_user {
        match caller.version.user_endpoint_for_tokens() {
            UserEndpointBehaviour::OnlyForUsers => {
                return Err(reply::legacy(
                    StatusCode::FORBIDDEN,
                    "Endpoint only available for users",
                ));
            }
            UserEndpointBehaviour::MinimalObject => {
                return Ok(reply::ok(json!({
                    "isGrafanaAdmin": false,
                    "orgId": caller.org_id,
                    "uid": uid,
                    "name": name,
                    "email": email,
                    "login": login,
                })));
            }
            UserEndpointBehaviour::Profile => {}
        }
    }
    Ok(reply::ok(json!({
        "id": id,
        "uid": uid,
        "email": email,
        "name": name,
        "login": login,
        "theme": "",
        "orgId": caller.org_id,
        "isGrafanaAdmin": is_admin,
        "isDisabled": false,
        "isExternal": false,
        "authLabels": [],
        "avatarUrl": avatar_url(&email),
    })))
}

fn folder_hit(folder: &crate::state::Folder) -> Value {
    let slug = folder.title.to_lowercase().replace(' ', "-");
    json!({
        "id": folder.id,
        "uid": folder.uid,
        "orgId": folder.org_id,
        "title": folder.title,
        "uri": format!("db/{slug}"),
        "url": format!("/dashboards/f/{}/{slug}", folder.uid),
        "slug": "",
        "type": "dash-folder",
        "tags": [],
        "isStarred": false,
        "sortMeta": 0,
        "isDeleted": false,
    })
}

/// `GET /api/search`: folders of the caller's org (nothing for role `None`).
pub(crate) async fn search(
    State(state): State<SharedState>,
    caller: Caller,
    QueryParams(query): QueryParams,
) -> Answer {
    if !caller.can("folders:read") {
        return Ok(reply::ok(json!([])));
    }
    let text = query
        .get("query")
        .map(|q| q.to_lowercase())
        .unwrap_or_default();
    let limit = match int_param(&query, &["limit"]) {
        n if n <= 0 => 1000,
        n => n,
    };
    let hits = on_instance(&state, &caller, |instance, _| {
        instance
            .folders
            .iter()
            .filter(|folder| folder.org_id == caller.org_id)
            .filter(|folder| folder.title.to_lowercase().contains(&text))
            .take(usize::try_from(limit).unwrap_or(1000))
            .map(folder_hit)
            .collect::<Vec<_>>()
    })?;
    Ok(reply::ok(hits))
}

/// `GET /api/folders`.
pub(crate) async fn list_folders(
    State(state): State<SharedState>,
    caller: Caller,
    QueryParams(query): QueryParams,
) -> Answer {
    if !caller.can("folders:read") {
        return Ok(reply::ok(json!([])));
    }
    let limit = match int_param(&query, &["limit"]) {
        n if n <= 0 => 1000,
        n => n,
    };
    let folders = on_instance(&state, &caller, |instance, _| {
        instance
            .folders
            .iter()
            .filter(|folder| folder.org_id == caller.org_id)
            .take(usize::try_from(limit).unwrap_or(1000))
            .map(|folder| json!({"id": folder.id, "uid": folder.uid, "title": folder.title}))
            .collect::<Vec<_>>()
    })?;
    Ok(reply::ok(folders))
}

#[derive(Deserialize)]
struct CreateFolderBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    uid: Option<String>,
}

/// `POST /api/folders`: needs `folders:create` (Editor).
pub(crate) async fn create_folder(
    State(state): State<SharedState>,
    caller: Caller,
    body: Bytes,
) -> Answer {
    caller.require("folders:create")?;
    let request: CreateFolderBody = parse_body(&body)
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "bad request data"))?;
    if request.title.trim().is_empty() {
        return Err(reply::legacy(
            StatusCode::BAD_REQUEST,
            "folder title cannot be empty",
        ));
    }
    let folder = on_instance(&state, &caller, |instance, _| {
        instance.create_folder(caller.org_id, &request.title, request.uid.clone())
    })?;
    let slug = folder.title.to_lowercase().replace(' ', "-");
    Ok(reply::ok(json!({
        "id": folder.id,
        "uid": folder.uid,
        "orgId": folder.org_id,
        "title": folder.title,
        "url": format!("/dashboards/f/{}/{slug}", folder.uid),
        "hasAcl": false,
        "canSave": true,
        "canEdit": true,
        "canAdmin": caller.role >= Role::Admin,
        "canDelete": true,
        "version": 1,
    })))
}

/// `GET /api/access-control/user/permissions`.
pub(crate) async fn user_permissions(caller: Caller) -> Answer {
    Ok(reply::ok(caller.permissions()))
}

/// `GET /api/access-control/user/actions`.
pub(crate) async fn user_actions(caller: Caller) -> Answer {
    let actions: HashMap<&str, bool> = caller
        .permissions()
        .into_keys()
        .map(|action| (action, true))
        .collect();
    Ok(reply::ok(actions))
}
