//! Service accounts (reference §5): create, search, get, update, delete.

use axum::body::{Body, Bytes};
use axum::http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Answer, Route, account_not_found, authorised_account_id, flag, on_instance, parse_body,
    positive_int_param, sa_dto, sa_profile, search_text, state_failure,
};
use crate::http::auth::Caller;
use crate::http::extract::{PathParams, QueryParams};
use crate::http::reply;
use crate::state::{
    NewServiceAccount, Role, ServiceAccountUpdate, ServiceAccountView, SharedState, StateError,
};
use crate::version::GrafanaVersion;

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

pub(super) fn empty_name() -> Response<Body> {
    // The exact answer to an empty name is UNCONFIRMED in the reference.
    reply::errutil(
        StatusCode::BAD_REQUEST,
        "serviceaccounts.ErrInvalidInput",
        "invalid input: name is required",
    )
}

/// `POST /api/serviceaccounts` (and with a trailing slash): 201.
pub(crate) async fn create_service_account(route: Route, body: Bytes) -> Answer {
    let (state, caller) = route.authenticated()?;
    caller.require("serviceaccounts:create")?;
    let request: CreateServiceAccountBody = parse_body(&body, "Bad request data")?;
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
    route: Route,
    QueryParams(query): QueryParams,
) -> Answer {
    let (state, caller) = route.authenticated()?;
    caller.require("serviceaccounts:read")?;
    let per_page = positive_int_param(&query, "perpage", 1000);
    let page = positive_int_param(&query, "page", 1);
    let text = search_text(&query);
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
            || account.row.name.to_lowercase().contains(&text)
            || account.row.login.to_lowercase().contains(&text);
        let matches_disabled =
            disabled_filter.is_none_or(|wanted| wanted == account.row.is_disabled);
        let matches_expired = !expired_only
            || state
                .list_tokens(&caller.instance, caller.org_id, account.row.id)
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

pub(super) fn find_account(
    state: &SharedState,
    caller: &Caller,
    account_id: i64,
) -> Result<ServiceAccountView, Response<Body>> {
    on_instance(state, caller, |found, _| {
        found
            .require_service_account(caller.org_id, account_id)
            .map(|account| found.service_account_view(account))
    })?
    .map_err(|_| account_not_found())
}

/// `GET /api/serviceaccounts/:id`: the profile shape.
pub(crate) async fn get_service_account(
    route: Route,
    PathParams(params): PathParams,
    QueryParams(query): QueryParams,
) -> Answer {
    let (state, caller) = route.authenticated()?;
    let account_id = authorised_account_id(&caller, "serviceaccounts:read", &params)?;
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
    route: Route,
    PathParams(params): PathParams,
    body: Bytes,
) -> Answer {
    let (state, caller, account_id, request): (_, _, _, UpdateServiceAccountBody) =
        route.account_write(&params, &body)?;
    let role = requested_role(request.role.as_deref(), &caller)?;
    find_account(&state, &caller, account_id)?;
    let update = ServiceAccountUpdate {
        name: request.name.filter(|name| !name.is_empty()),
        role,
        is_disabled: request.is_disabled,
    };
    let updated = on_instance(&state, &caller, |found, now| {
        found.update_service_account(caller.org_id, account_id, update, now)
    })?;
    match updated {
        Ok(account) => Ok(reply::ok(json!({
            "message": "Service account updated",
            "id": account.row.id,
            "name": account.row.name,
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
pub(crate) async fn delete_service_account(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.authenticated()?;
    let account_id = authorised_account_id(&caller, "serviceaccounts:delete", &params)?;
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
