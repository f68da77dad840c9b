//! Legacy API keys (reference §3): list, create and delete under `/api/auth/keys`.

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Route, flag, on_instance, parse_body, required_id, state_failure};
use crate::http::extract::{PathParams, QueryParams};
use crate::http::reply;
use crate::state::{Role, StateError};

/// `GET /api/auth/keys`.
pub(crate) async fn list_keys(route: Route, QueryParams(query): QueryParams) -> Answer {
    let (state, caller) = route.legacy_keys("apikeys:read")?;
    let include_expired = flag(&query, "includeExpired");
    let access_control = flag(&query, "accesscontrol");
    let keys = on_instance(&state, &caller, |found, now| {
        found.list_plain_keys(caller.org_id, include_expired, now)
    })?;
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
pub(crate) async fn create_key(route: Route, body: Bytes) -> Answer {
    let (state, caller) = route.versioned(|version| !version.legacy_keys_removed())?;
    if caller.version.legacy_key_creation_gone() {
        return Err(reply::legacy_traced(
            StatusCode::GONE,
            "this endpoint has been removed, please use POST /api/serviceaccounts and POST /api/serviceaccounts/{id}/tokens instead",
        ));
    }
    caller.require("apikeys:create")?;
    let request: CreateKeyBody = parse_body(&body, "bad request data")?;
    let role = Role::parse(&request.role)
        .filter(|role| *role != Role::None)
        .ok_or_else(|| reply::legacy(StatusCode::BAD_REQUEST, "Invalid role specified"))?;
    if role > caller.role {
        return Err(reply::legacy(
            StatusCode::FORBIDDEN,
            "Cannot assign a role higher than user's role",
        ));
    }
    let max = on_instance(&state, &caller, |found, _| {
        found.settings.api_key_max_seconds_to_live
    })?;
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
pub(crate) async fn delete_key(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.legacy_keys("apikeys:delete")?;
    let key_id = required_id(&params, "id", "id is invalid")?;
    on_instance(&state, &caller, |found, _| {
        found.delete_plain_key(caller.org_id, key_id)
    })?
    .map_err(|_| reply::legacy_traced(StatusCode::NOT_FOUND, "Failed to delete API key"))?;
    Ok(reply::ok(json!({"message": "API key deleted"})))
}
