//! Handlers of the simulated Grafana HTTP API, one per route, with each version's answers.

mod keys;
mod migration;
mod service_accounts;
mod tokens;

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
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
/// for a struct, whereas serde would happily fill a struct from an array. A body that does not
/// bind is a traced 400 with `refusal`, the route's own wording of "bad request data".
fn parse_body<T: DeserializeOwned>(body: &Bytes, refusal: &str) -> Result<T, Response<Body>> {
    let bound = match serde_json::from_slice::<Value>(body) {
        Ok(object @ Value::Object(_)) => serde_json::from_value(object).ok(),
        _ => None,
    };
    bound.ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, refusal))
}

fn param_id(params: &HashMap<String, String>, name: &str) -> Option<i64> {
    params.get(name).and_then(|value| value.parse::<i64>().ok())
}

/// A numeric path parameter, or the traced 400 `refusal` Grafana answers for a malformed one.
fn required_id(
    params: &HashMap<String, String>,
    name: &str,
    refusal: &str,
) -> Result<i64, Response<Body>> {
    param_id(params, name).ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, refusal))
}

/// The account of a `/api/serviceaccounts/:id/...` route once the caller holds `action`: the
/// permission is checked before the id, as Grafana's middleware runs before its handler.
fn authorised_account_id(
    caller: &Caller,
    action: &str,
    params: &HashMap<String, String>,
) -> Result<i64, Response<Body>> {
    caller.require(action)?;
    param_id(params, "id").ok_or_else(invalid_account_id)
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|value| value == "true" || value == "1")
}

/// A paging parameter such as `perpage` or `limit`: missing, malformed, zero or negative
/// means `default`, as Grafana's handlers treat them.
fn positive_int_param(query: &HashMap<String, String>, name: &str, default: i64) -> i64 {
    match query.get(name).and_then(|value| value.parse::<i64>().ok()) {
        Some(n) if n > 0 => n,
        _ => default,
    }
}

/// The `query` search text, lower-cased for Grafana's case-insensitive match.
fn search_text(query: &HashMap<String, String>) -> String {
    query
        .get("query")
        .map(|q| q.to_lowercase())
        .unwrap_or_default()
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

/// What every authenticated route starts from: the shared state, the instance's version and
/// the caller. Authentication is insisted on only by [`Route::authenticated`] or
/// [`Route::versioned`], so that a route a version lacks is a 404 before any 401, as Grafana's
/// router answers it.
pub(crate) struct Route {
    state: SharedState,
    version: Option<GrafanaVersion>,
    caller: Result<Caller, Response<Body>>,
}

impl FromRequestParts<SharedState> for Route {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Infallible> {
        let version = parts
            .extensions
            .get::<InstanceContext>()
            .map(|instance| instance.version);
        Ok(Self {
            state: state.clone(),
            version,
            caller: Caller::from_request_parts(parts, state).await,
        })
    }
}

impl Route {
    /// The state and the authenticated caller (401 otherwise).
    fn authenticated(self) -> Result<(SharedState, Caller), Response<Body>> {
        Ok((self.state, self.caller?))
    }

    /// A JSON write to the service account named by the `id` parameter, checked in Grafana's
    /// order: authenticated (401), allowed `serviceaccounts:write` (403), a numeric id (400),
    /// a body that binds (400). Returns the state, caller, account id and parsed body.
    fn account_write<T: DeserializeOwned>(
        self,
        params: &HashMap<String, String>,
        body: &Bytes,
    ) -> Result<(SharedState, Caller, i64, T), Response<Body>> {
        let (state, caller) = self.authenticated()?;
        let account_id = authorised_account_id(&caller, "serviceaccounts:write", params)?;
        let request = parse_body(body, "Bad request data")?;
        Ok((state, caller, account_id, request))
    }

    /// As [`Route::authenticated`] for a route that exists only where `present` holds for the
    /// instance's version: elsewhere it is a 404 before any authentication.
    fn versioned(
        self,
        present: fn(GrafanaVersion) -> bool,
    ) -> Result<(SharedState, Caller), Response<Body>> {
        if !self.version.is_some_and(present) {
            return Err(reply::not_found());
        }
        self.authenticated()
    }

    /// The caller of a legacy API-key route (removed in 12.1), holding `action`.
    fn legacy_keys(self, action: &str) -> Result<(SharedState, Caller), Response<Body>> {
        let (state, caller) = self.versioned(|version| !version.legacy_keys_removed())?;
        caller.require(action)?;
        Ok((state, caller))
    }

    /// The caller of a 9.x-only migration route, holding `action`.
    fn migration_extras(self, action: &str) -> Result<(SharedState, Caller), Response<Body>> {
        let (state, caller) = self.versioned(GrafanaVersion::has_9x_migration_extras)?;
        caller.require(action)?;
        Ok((state, caller))
    }
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

/// A service account as Grafana renders it: the fields both its shapes share, the shape's own
/// `fields`, `uid` and `isExternal` from 10.x, and `accessControl` when asked for.
fn account_json(
    account: &ServiceAccountView,
    version: GrafanaVersion,
    access_control: bool,
    fields: Value,
) -> Value {
    let mut dto = json!({
        "id": account.row.id,
        "name": account.row.name,
        "login": account.row.login,
        "orgId": account.row.org_id,
        "isDisabled": account.row.is_disabled,
        "role": account.row.role.as_str(),
        "tokens": account.tokens,
        "avatarUrl": avatar_url(&account.row.login),
    });
    if let (Some(dto), Value::Object(fields)) = (dto.as_object_mut(), fields) {
        dto.extend(fields);
    }
    if version.modern_service_account_api() {
        dto["uid"] = json!(account.row.uid);
        dto["isExternal"] = json!(false);
    }
    if access_control {
        dto["accessControl"] = sa_access_control();
    }
    dto
}

/// `ServiceAccountDTO` as search and create return it.
fn sa_dto(account: &ServiceAccountView, version: GrafanaVersion, access_control: bool) -> Value {
    account_json(account, version, access_control, json!({}))
}

/// `ServiceAccountProfileDTO` as get and update return it: the shared fields with its dates
/// and teams.
fn sa_profile(
    account: &ServiceAccountView,
    version: GrafanaVersion,
    access_control: bool,
) -> Value {
    let fields =
        json!({"createdAt": account.row.created, "updatedAt": account.row.updated, "teams": []});
    account_json(account, version, access_control, fields)
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
pub(crate) async fn current_org(route: Route) -> Answer {
    let (state, caller) = route.authenticated()?;
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
            account.row.id,
            account.row.login.clone(),
            account.row.login.clone(),
            account.row.name.clone(),
            false,
            account.row.uid.clone(),
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

/// The first `limit` (default 1000) folders of the caller's org that `item` keeps, as it
/// renders them: the listing that both folder search and the folder list answer with.
fn org_folders(
    state: &SharedState,
    caller: &Caller,
    query: &HashMap<String, String>,
    item: impl Fn(&crate::state::Folder) -> Option<Value>,
) -> Result<Vec<Value>, Response<Body>> {
    let limit = positive_int_param(query, "limit", 1000);
    on_instance(state, caller, |instance, _| {
        instance
            .folders
            .iter()
            .filter(|folder| folder.org_id == caller.org_id)
            .filter_map(&item)
            .take(usize::try_from(limit).unwrap_or(1000))
            .collect()
    })
}

/// `GET /api/search`: folders of the caller's org (nothing for role `None`).
pub(crate) async fn search(route: Route, QueryParams(query): QueryParams) -> Answer {
    let (state, caller) = route.authenticated()?;
    if !caller.can("folders:read") {
        return Ok(reply::ok(json!([])));
    }
    let text = search_text(&query);
    let hits = org_folders(&state, &caller, &query, |folder| {
        folder
            .title
            .to_lowercase()
            .contains(&text)
            .then(|| folder_hit(folder))
    })?;
    Ok(reply::ok(hits))
}

/// `GET /api/folders`.
pub(crate) async fn list_folders(route: Route, QueryParams(query): QueryParams) -> Answer {
    let (state, caller) = route.authenticated()?;
    if !caller.can("folders:read") {
        return Ok(reply::ok(json!([])));
    }
    let folders = org_folders(&state, &caller, &query, |folder| {
        Some(json!({"id": folder.id, "uid": folder.uid, "title": folder.title}))
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
pub(crate) async fn create_folder(route: Route, body: Bytes) -> Answer {
    let (state, caller) = route.authenticated()?;
    caller.require("folders:create")?;
    let request: CreateFolderBody = parse_body(&body, "bad request data")?;
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
