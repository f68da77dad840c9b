//! Migration of legacy keys to service accounts (reference §4).

use axum::http::StatusCode;
use serde_json::json;

use super::{Answer, Route, on_instance, required_id};
use crate::http::extract::PathParams;
use crate::http::reply;
use crate::state::StateError;

/// `POST /api/serviceaccounts/migrate`: message (≤10.0) or `MigrationResult` (≥10.1).
pub(crate) async fn migrate_all(route: Route) -> Answer {
    let (state, caller) = route.legacy_keys("serviceaccounts:create")?;
    let pending = on_instance(&state, &caller, |found, _| {
        found.plain_keys(caller.org_id).len()
    })?;
    let uids: Vec<String> = (0..pending).map(|_| state.fresh_uid()).collect();
    let report = on_instance(&state, &caller, |found, now| {
        found.migrate_all(caller.org_id, uids, now)
    })?;
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
pub(crate) async fn migrate_one(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.legacy_keys("serviceaccounts:create")?;
    let key_id = required_id(&params, "keyId", "Key ID is invalid")?;
    let uid = state.fresh_uid();
    let outcome = on_instance(&state, &caller, |found, now| {
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
    })?;
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
pub(crate) async fn migration_status(route: Route) -> Answer {
    let (state, caller) = route.migration_extras("serviceaccounts:read")?;
    let migrated = on_instance(&state, &caller, |found, _| {
        found.hidden_api_key_orgs.contains(&caller.org_id)
    })?;
    Ok(reply::ok(json!({"migrated": migrated})))
}

/// 9.x `POST /api/serviceaccounts/hideApiKeys`.
pub(crate) async fn hide_api_keys(route: Route) -> Answer {
    let (state, caller) = route.migration_extras("serviceaccounts:create")?;
    on_instance(&state, &caller, |found, _| {
        found.hidden_api_key_orgs.insert(caller.org_id)
    })?;
    Ok(reply::ok(json!({"message": "API keys hidden"})))
}

/// 9.x `POST /api/serviceaccounts/revert/:keyId`.
pub(crate) async fn revert_key(route: Route, PathParams(params): PathParams) -> Answer {
    let (state, caller) = route.migration_extras("serviceaccounts:delete")?;
    let key_id = required_id(&params, "keyId", "Key ID is invalid")?;
    on_instance(&state, &caller, |found, _| {
        found.revert_key(caller.org_id, key_id)
    })?
    // Unknown key: UNCONFIRMED answer, treated like a failed conversion.
    .map_err(|_| {
        reply::legacy_traced(StatusCode::INTERNAL_SERVER_ERROR, "Error reverting API key")
    })?;
    Ok(reply::ok(json!({"message": "API key reverted"})))
}
