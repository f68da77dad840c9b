//! Handlers of the simulated Grafana HTTP API, one per route, with each version's answers.

use std::collections::HashMap;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Response, StatusCode};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::InstanceContext;
use super::auth::{Caller, Principal};
use super::extract::{PathParams, QueryParams};
use super::reply;
use crate::state::{
    NewServiceAccount, Role, ServiceAccountUpdate, ServiceAccountView, SharedState, StateError,
    TokenView,
};
use crate::version::{GrafanaVersion, UserEndpointBehaviour};

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
    let org = state
        .with_instance(&caller.instance, |instance, _| {
            instance.orgs.get(&caller.org_id).cloned()
        })
        .map_err(|error| state_failure(&error))?
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
    let hits = state
        .with_instance(&caller.instance, |instance, _| {
            instance
                .folders
                .iter()
                .filter(|folder| folder.org_id == caller.org_id)
                .filter(|folder| folder.title.to_lowercase().contains(&text))
                .take(usize::try_from(limit).unwrap_or(1000))
                .map(folder_hit)
                .collect::<Vec<_>>()
        })
        .map_err(|error| state_failure(&error))?;
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
    let folders = state
        .with_instance(&caller.instance, |instance, _| {
            instance
                .folders
                .iter()
                .filter(|folder| folder.org_id == caller.org_id)
                .take(usize::try_from(limit).unwrap_or(1000))
                .map(|folder| json!({"id": folder.id, "uid": folder.uid, "title": folder.title}))
                .collect::<Vec<_>>()
        })
        .map_err(|error| state_failure(&error))?;
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
    let folder = state
        .with_instance(&caller.instance, |instance, _| {
            instance.create_folder(caller.org_id, &request.title, request.uid.clone())
        })
        .map_err(|error| state_failure(&error))?;
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

// ---------------------------------------------------------------------------------------
// Legacy API keys (§3)
// ---------------------------------------------------------------------------------------

/// `GET /api/auth/keys`.
pub(crate) async fn list_keys(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
    QueryParams(query): QueryParams,
) -> Answer {
    if instance.version.legacy_keys_removed() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("apikeys:read")?;
    let include_expired = flag(&query, "includeExpired");
    let access_control = flag(&query, "accesscontrol");
    let keys = state
        .with_instance(&caller.instance, |found, now| {
            found.list_plain_keys(caller.org_id, include_expired, now)
        })
        .map_err(|error| state_failure(&error))?;
    let list: Vec<Value> = keys
        .iter()
        .map(|key| {
            let mut item = json!({"id": key.id, "name": key.name, "role": key.role.as_str()});
            if let Some(expiration) = key.expiration {
                item["expiration"] = json!(expiration);
            }
            if caller.version.key_list_has_last_used()
                && let Some(last_used) = key.last_used_at
            {
                item["lastUsedAt"] = json!(last_used);
            }
            if access_control {
                item["accessControl"] = json!({"apikeys:read": true, "apikeys:delete": true});
            }
            item
        })
        .collect();
    Ok(reply::ok(list))
}

#[derive(Deserialize)]
struct CreateKeyBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default, rename = "secondsToLive")]
    seconds_to_live: i64,
}

/// `POST /api/auth/keys`: 410 from 11.3, 404 from 12.1.
pub(crate) async fn create_key(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
    body: Bytes,
) -> Answer {
    if instance.version.legacy_keys_removed() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    if instance.version.legacy_key_creation_gone() {
        return Err(reply::legacy_traced(
            StatusCode::GONE,
            "this endpoint has been removed, please use POST /api/serviceaccounts and POST /api/serviceaccounts/{id}/tokens instead",
        ));
    }
    caller.require("apikeys:create")?;
    let request: CreateKeyBody = parse_body(&body)
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "bad request data"))?;
    let role = Role::parse(&request.role)
        .filter(|role| *role != Role::None)
        .ok_or_else(|| reply::legacy(StatusCode::BAD_REQUEST, "Invalid role specified"))?;
    if role > caller.role {
        return Err(reply::legacy(
            StatusCode::FORBIDDEN,
            "Cannot assign a role higher than user's role",
        ));
    }
    let max = state
        .with_instance(&caller.instance, |found, _| {
            found.settings.api_key_max_seconds_to_live
        })
        .map_err(|error| state_failure(&error))?;
    if max != -1 {
        if request.seconds_to_live == 0 {
            return Err(reply::legacy(
                StatusCode::BAD_REQUEST,
                "Number of seconds before expiration should be set",
            ));
        }
        if request.seconds_to_live > max {
            return Err(reply::legacy(
                StatusCode::BAD_REQUEST,
                "Number of seconds before expiration is greater than the global limit",
            ));
        }
    }
    match state.create_legacy_key(
        &caller.instance,
        caller.org_id,
        &request.name,
        role,
        request.seconds_to_live,
    ) {
        Ok(issued) => Ok(reply::ok(
            json!({"id": issued.id, "name": issued.name, "key": issued.key}),
        )),
        Err(StateError::NegativeSecondsToLive) => Err(reply::legacy_traced(
            StatusCode::BAD_REQUEST,
            "negative value for SecondsToLive",
        )),
        // An expiry beyond any representable date: refused as unbindable input (UNCONFIRMED).
        Err(StateError::SecondsToLiveOutOfRange) => Err(reply::legacy_traced(
            StatusCode::BAD_REQUEST,
            "bad request data",
        )),
        Err(StateError::CredentialNameTaken(_)) => Err(reply::legacy_traced(
            StatusCode::CONFLICT,
            "API key, organization ID and name must be unique",
        )),
        // Empty name: UNCONFIRMED answer; Grafana's binding requires the field.
        Err(StateError::EmptyName) => Err(reply::legacy_traced(
            StatusCode::BAD_REQUEST,
            "bad request data",
        )),
        Err(error) => Err(state_failure(&error)),
    }
}

/// `DELETE /api/auth/keys/:id`: only plain keys.
pub(crate) async fn delete_key(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
    PathParams(params): PathParams,
) -> Answer {
    if instance.version.legacy_keys_removed() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("apikeys:delete")?;
    let key_id = param_id(&params, "id")
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "id is invalid"))?;
    state
        .with_instance(&caller.instance, |found, _| {
            found.delete_plain_key(caller.org_id, key_id)
        })
        .map_err(|error| state_failure(&error))?
        .map_err(|_| reply::legacy_traced(StatusCode::NOT_FOUND, "Failed to delete API key"))?;
    Ok(reply::ok(json!({"message": "API key deleted"})))
}

// ---------------------------------------------------------------------------------------
// Migration (§4)
// ---------------------------------------------------------------------------------------

/// `POST /api/serviceaccounts/migrate`: message (≤10.0) or `MigrationResult` (≥10.1).
pub(crate) async fn migrate_all(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
) -> Answer {
    if instance.version.legacy_keys_removed() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("serviceaccounts:create")?;
    let pending = state
        .with_instance(&caller.instance, |found, _| {
            found.plain_keys(caller.org_id).len()
        })
        .map_err(|error| state_failure(&error))?;
    let uids: Vec<String> = (0..pending).map(|_| state.fresh_uid()).collect();
    let report = state
        .with_instance(&caller.instance, |found, now| {
            found.migrate_all(caller.org_id, uids, now)
        })
        .map_err(|error| state_failure(&error))?;
    if caller.version.migrate_all_returns_result() {
        return Ok(reply::ok(&report));
    }
    if report.failed > 0 {
        // ≤10.0 stops with a 500; the exact text is UNCONFIRMED.
        return Err(reply::legacy_traced(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        ));
    }
    Ok(reply::ok(
        json!({"message": "API keys migrated to service accounts"}),
    ))
}

/// `POST /api/serviceaccounts/migrate/:keyId`, with its silent no-op quirk.
pub(crate) async fn migrate_one(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
    PathParams(params): PathParams,
) -> Answer {
    if instance.version.legacy_keys_removed() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("serviceaccounts:create")?;
    let key_id = param_id(&params, "keyId")
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Key ID is invalid"))?;
    let uid = state.fresh_uid();
    let outcome = state
        .with_instance(&caller.instance, |found, now| {
            let plain = found.plain_keys(caller.org_id);
            if plain.is_empty() {
                return Err(StateError::NoApiKeysToMigrate);
            }
            if !plain.iter().any(|row| row.id == key_id) {
                return Ok(());
            }
            found
                .migrate_key(caller.org_id, key_id, uid, now)
                .map(|_| ())
        })
        .map_err(|error| state_failure(&error))?;
    if outcome.is_err() {
        return Err(reply::legacy_traced(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error converting API key",
        ));
    }
    let message = if caller.version.modern_service_account_api() {
        "Service accounts migrated"
    } else {
        "Service accounts converted"
    };
    Ok(reply::ok(json!({"message": message})))
}

/// 9.x `GET /api/serviceaccounts/migrationstatus`.
pub(crate) async fn migration_status(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
) -> Answer {
    if !instance.version.has_9x_migration_extras() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("serviceaccounts:read")?;
    let migrated = state
        .with_instance(&caller.instance, |found, _| {
            found.hidden_api_key_orgs.contains(&caller.org_id)
        })
        .map_err(|error| state_failure(&error))?;
    Ok(reply::ok(json!({"migrated": migrated})))
}

/// 9.x `POST /api/serviceaccounts/hideApiKeys`.
pub(crate) async fn hide_api_keys(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
) -> Answer {
    if !instance.version.has_9x_migration_extras() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("serviceaccounts:create")?;
    state
        .with_instance(&caller.instance, |found, _| {
            found.hidden_api_key_orgs.insert(caller.org_id)
        })
        .map_err(|error| state_failure(&error))?;
    Ok(reply::ok(json!({"message": "API keys hidden"})))
}

/// 9.x `POST /api/serviceaccounts/revert/:keyId`.
pub(crate) async fn revert_key(
    State(state): State<SharedState>,
    Extension(instance): Extension<InstanceContext>,
    caller: Result<Caller, Response<Body>>,
    PathParams(params): PathParams,
) -> Answer {
    if !instance.version.has_9x_migration_extras() {
        return Err(reply::not_found());
    }
    let caller = caller?;
    caller.require("serviceaccounts:delete")?;
    let key_id = param_id(&params, "keyId")
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Key ID is invalid"))?;
    state
        .with_instance(&caller.instance, |found, _| {
            found.revert_key(caller.org_id, key_id)
        })
        .map_err(|error| state_failure(&error))?
        // Unknown key: UNCONFIRMED answer, treated like a failed conversion.
        .map_err(|_| {
            reply::legacy_traced(StatusCode::INTERNAL_SERVER_ERROR, "Error reverting API key")
        })?;
    Ok(reply::ok(json!({"message": "API key reverted"})))
}

// ---------------------------------------------------------------------------------------
// Service accounts (§5)
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct CreateServiceAccountBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "isDisabled")]
    is_disabled: Option<bool>,
}

fn requested_role(role: Option<&str>, caller: &Caller) -> Result<Option<Role>, Response<Body>> {
    match role {
        None | Some("") => Ok(None),
        Some(text) => {
            let role = Role::parse(text).ok_or_else(|| {
                reply::errutil(
                    StatusCode::BAD_REQUEST,
                    "serviceaccounts.ErrInvalidRoleSpecified",
                    "invalid role specified",
                )
            })?;
            if role > caller.role {
                return Err(reply::errutil(
                    StatusCode::FORBIDDEN,
                    "serviceaccounts.ErrRoleForbidden",
                    "can not assign a role higher than user's role",
                ));
            }
            Ok(Some(role))
        }
    }
}

fn duplicate_account(version: GrafanaVersion) -> Response<Body> {
    if version.duplicate_service_account_is_errutil() {
        reply::errutil(
            StatusCode::BAD_REQUEST,
            "serviceaccounts.ErrAlreadyExists",
            "service account already exists",
        )
    } else {
        reply::legacy_traced(StatusCode::BAD_REQUEST, "Failed to create service account")
    }
}

fn empty_name() -> Response<Body> {
    // The exact answer to an empty name is UNCONFIRMED in the reference.
    reply::errutil(
        StatusCode::BAD_REQUEST,
        "serviceaccounts.ErrInvalidInput",
        "invalid input: name is required",
    )
}

/// `POST /api/serviceaccounts` (and with a trailing slash): 201.
pub(crate) async fn create_service_account(
    State(state): State<SharedState>,
    caller: Caller,
    body: Bytes,
) -> Answer {
    caller.require("serviceaccounts:create")?;
    let request: CreateServiceAccountBody = parse_body(&body)
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Bad request data"))?;
    let role = requested_role(request.role.as_deref(), &caller)?.unwrap_or(Role::Viewer);
    let created = state.create_service_account(
        &caller.instance,
        caller.org_id,
        NewServiceAccount {
            name: request.name,
            role,
            is_disabled: request.is_disabled.unwrap_or(false),
        },
    );
    match created {
        Ok(account) => Ok(reply::json_status(
            StatusCode::CREATED,
            sa_dto(&account, caller.version, false),
        )),
        Err(StateError::ServiceAccountAlreadyExists) => Err(duplicate_account(caller.version)),
        Err(StateError::EmptyName) => Err(empty_name()),
        Err(error) => Err(state_failure(&error)),
    }
}

/// `GET /api/serviceaccounts/search`: `perpage` in, `perPage` out.
pub(crate) async fn search_service_accounts(
    State(state): State<SharedState>,
    caller: Caller,
    QueryParams(query): QueryParams,
) -> Answer {
    caller.require("serviceaccounts:read")?;
    let per_page = match int_param(&query, &["perpage"]) {
        n if n <= 0 => 1000,
        n => n,
    };
    let page = match int_param(&query, &["page"]) {
        n if n <= 0 => 1,
        n => n,
    };
    let text = query
        .get("query")
        .map(|q| q.to_lowercase())
        .unwrap_or_default();
    let disabled_filter = query
        .get("disabled")
        .and_then(|value| match value.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        });
    let expired_only = flag(&query, "expiredTokens");
    let access_control = flag(&query, "accesscontrol");
    let accounts = state
        .list_service_accounts(&caller.instance, caller.org_id)
        .map_err(|error| state_failure(&error))?;
    let mut matching = Vec::new();
    for account in accounts {
        let matches_text = text.is_empty()
            || account.name.to_lowercase().contains(&text)
            || account.login.to_lowercase().contains(&text);
        let matches_disabled = disabled_filter.is_none_or(|wanted| wanted == account.is_disabled);
        let matches_expired = !expired_only
            || state
                .list_tokens(&caller.instance, caller.org_id, account.id)
                .is_ok_and(|tokens| tokens.iter().any(|token| token.has_expired));
        if matches_text && matches_disabled && matches_expired {
            matching.push(account);
        }
    }
    let total = matching.len();
    let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(usize::MAX);
    let items: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(take)
        .map(|account| sa_dto(account, caller.version, access_control))
        .collect();
    Ok(reply::ok(json!({
        "totalCount": total,
        "serviceAccounts": items,
        "page": page,
        "perPage": per_page,
    })))
}

fn find_account(
    state: &SharedState,
    caller: &Caller,
    account_id: i64,
) -> Result<ServiceAccountView, Response<Body>> {
    state
        .with_instance(&caller.instance, |found, _| {
            found
                .require_service_account(caller.org_id, account_id)
                .map(|account| found.service_account_view(account))
        })
        .map_err(|error| state_failure(&error))?
        .map_err(|_| account_not_found())
}

/// `GET /api/serviceaccounts/:id`: the profile shape.
pub(crate) async fn get_service_account(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
    QueryParams(query): QueryParams,
) -> Answer {
    caller.require("serviceaccounts:read")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    let account = find_account(&state, &caller, account_id)?;
    Ok(reply::ok(sa_profile(
        &account,
        caller.version,
        flag(&query, "accesscontrol"),
    )))
}

#[derive(Deserialize)]
struct UpdateServiceAccountBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "isDisabled")]
    is_disabled: Option<bool>,
}

/// `PATCH /api/serviceaccounts/:id`.
pub(crate) async fn update_service_account(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
    body: Bytes,
) -> Answer {
    caller.require("serviceaccounts:write")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    let request: UpdateServiceAccountBody = parse_body(&body)
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Bad request data"))?;
    let role = requested_role(request.role.as_deref(), &caller)?;
    find_account(&state, &caller, account_id)?;
    let update = ServiceAccountUpdate {
        name: request.name.filter(|name| !name.is_empty()),
        role,
        is_disabled: request.is_disabled,
    };
    let updated = state
        .with_instance(&caller.instance, |found, now| {
            found.update_service_account(caller.org_id, account_id, update, now)
        })
        .map_err(|error| state_failure(&error))?;
    match updated {
        Ok(account) => Ok(reply::ok(json!({
            "message": "Service account updated",
            "id": account.id,
            "name": account.name,
            "serviceaccount": sa_profile(&account, caller.version, false),
        }))),
        // Rename collision: UNCONFIRMED, answered like a duplicate create.
        Err(StateError::ServiceAccountAlreadyExists) => Err(duplicate_account(caller.version)),
        Err(StateError::ServiceAccountNotFound(_)) => Err(account_not_found()),
        Err(StateError::EmptyName) => Err(empty_name()),
        Err(error) => Err(state_failure(&error)),
    }
}

/// `DELETE /api/serviceaccounts/:id`: also deletes its tokens.
pub(crate) async fn delete_service_account(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
) -> Answer {
    caller.require("serviceaccounts:delete")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    match state.delete_service_account(&caller.instance, caller.org_id, account_id) {
        Ok(()) => Ok(reply::ok(json!({"message": "Service account deleted"}))),
        Err(StateError::ServiceAccountNotFound(_)) => {
            if caller.version.modern_service_account_api() {
                Err(account_not_found())
            } else {
                Err(reply::legacy_traced(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Service account deletion error",
                ))
            }
        }
        Err(error) => Err(state_failure(&error)),
    }
}

// ---------------------------------------------------------------------------------------
// Tokens (§6)
// ---------------------------------------------------------------------------------------

/// `GET /api/serviceaccounts/:id/tokens`: fields present-with-null.
pub(crate) async fn list_tokens(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
) -> Answer {
    caller.require("serviceaccounts:read")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    // Unknown account: the reference leaves it UNCONFIRMED; 404 like the other routes.
    let tokens = state
        .list_tokens(&caller.instance, caller.org_id, account_id)
        .map_err(|error| match error {
            StateError::ServiceAccountNotFound(_) => account_not_found(),
            other => state_failure(&other),
        })?;
    Ok(reply::ok(tokens.iter().map(token_dto).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct CreateTokenBody {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "secondsToLive")]
    seconds_to_live: i64,
}

/// `POST /api/serviceaccounts/:id/tokens`: 200 with the only copy of the secret.
pub(crate) async fn create_token(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
    body: Bytes,
) -> Answer {
    caller.require("serviceaccounts:write")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    let request: CreateTokenBody = parse_body(&body)
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Bad request data"))?;
    find_account(&state, &caller, account_id)?;
    let settings_check = state
        .with_instance(&caller.instance, |found, _| {
            found.check_token_ttl_settings(request.seconds_to_live)
        })
        .map_err(|error| state_failure(&error))?;
    match settings_check {
        Ok(()) => {}
        Err(StateError::ExpirationBeyondDayLimit) => {
            return Err(reply::plain_text(
                StatusCode::BAD_REQUEST,
                "The expiration date input exceeds the limit for service account access tokens expiration date",
            ));
        }
        Err(error) => {
            return Err(reply::legacy(StatusCode::BAD_REQUEST, &error.to_string()));
        }
    }
    let created = state.create_token(
        &caller.instance,
        caller.org_id,
        account_id,
        &request.name,
        request.seconds_to_live,
    );
    match created {
        Ok(issued) => Ok(reply::ok(
            json!({"id": issued.id, "name": issued.name, "key": issued.key}),
        )),
        Err(StateError::ServiceAccountNotFound(_)) => Err(account_not_found()),
        Err(StateError::NegativeSecondsToLive | StateError::SecondsToLiveOutOfRange) => {
            Err(reply::errutil(
                StatusCode::BAD_REQUEST,
                "serviceaccounts.ErrInvalidInput",
                "invalid SecondsToLive value",
            ))
        }
        Err(StateError::EmptyName) => Err(empty_name()),
        Err(StateError::CredentialNameTaken(_)) => {
            let message =
                "service account token with given name already exists in the organization";
            if caller.version.duplicate_token_is_bad_request() {
                Err(reply::errutil(
                    StatusCode::BAD_REQUEST,
                    "serviceaccounts.ErrTokenAlreadyExists",
                    message,
                ))
            } else {
                Err(reply::legacy_traced(StatusCode::CONFLICT, message))
            }
        }
        Err(error) => Err(state_failure(&error)),
    }
}

/// `DELETE /api/serviceaccounts/:id/tokens/:tokenId`: filtered by account.
pub(crate) async fn delete_token(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(params): PathParams,
) -> Answer {
    caller.require("serviceaccounts:write")?;
    let account_id = param_id(&params, "id").ok_or_else(invalid_account_id)?;
    let token_id = param_id(&params, "tokenId")
        .ok_or_else(|| reply::legacy_traced(StatusCode::BAD_REQUEST, "Token ID is invalid"))?;
    find_account(&state, &caller, account_id)?;
    let modern = caller.version.modern_service_account_api();
    match state.delete_token(&caller.instance, caller.org_id, account_id, token_id) {
        Ok(()) => Ok(reply::ok(json!({
            "message": if modern { "Service account token deleted" } else { "API key deleted" }
        }))),
        Err(StateError::TokenNotFound(_)) => Err(if modern {
            reply::errutil(
                StatusCode::NOT_FOUND,
                "serviceaccounts.ErrTokenNotFound",
                "service account token not found",
            )
        } else {
            reply::legacy_traced(
                StatusCode::NOT_FOUND,
                "Failed to delete service account token",
            )
        }),
        Err(StateError::ServiceAccountNotFound(_)) => Err(account_not_found()),
        Err(error) => Err(state_failure(&error)),
    }
}
