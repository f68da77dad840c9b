//! Service-account tokens (reference §6): list, create, delete.

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::service_accounts::{empty_name, find_account};
use super::{
    Answer, Route, account_not_found, authorised_account_id, on_instance, required_id,
    state_failure, token_dto,
};
use crate::http::extract::PathParams;
use crate::http::reply;
use crate::state::StateError;

/// `GET /api/serviceaccounts/:id/tokens`: fields present-with-null.
pub(crate) async fn list_tokens(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.authenticated()?;
    let account_id = authorised_account_id(&caller, "serviceaccounts:read", &params)?;
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
    route: Route,
    PathParams(params): PathParams,
    body: Bytes,
) -> Answer {
    let (state, caller, account_id, request): (_, _, _, CreateTokenBody) =
        route.account_write(&params, &body)?;
    find_account(&state, &caller, account_id)?;
    let settings_check = on_instance(&state, &caller, |found, _| {
        found.check_token_ttl_settings(request.seconds_to_live)
    })?;
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
        // What AMG's Grafana answers at the cap is UNCONFIRMED; a 400 keeps it a permanent,
        // named failure for clients.
        Err(error @ StateError::TokenLimitReached { .. }) => Err(reply::errutil(
            StatusCode::BAD_REQUEST,
            "serviceaccounts.ErrTokenLimitReached",
            &error.to_string(),
        )),
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
pub(crate) async fn delete_token(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.authenticated()?;
    let account_id = authorised_account_id(&caller, "serviceaccounts:write", &params)?;
    let token_id = required_id(&params, "tokenId", "Token ID is invalid")?;
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
