//! Control endpoints under `{root}/_sim/` for tests, the demo and benchmarks.
//!
//! Tests need to bend the simulated world (fail the next call, jump a week ahead, revoke a
//! token the way secret scanning would) and to observe it (how many calls a step made, which
//! secrets the fleet seeded). None of this exists in Grafana, hence the reserved prefix.
//!
//! | route | purpose |
//! | --- | --- |
//! | `GET /_sim/workspaces` | instances with version, kind, endpoint and base path |
//! | `GET /_sim/state` | JSON dump without secrets |
//! | `POST /_sim/reset` | back to the fleet's initial state (clock, faults, counts too) |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance {"seconds": n}` | the simulated clock |
//! | `POST /_sim/faults` (a [`FaultSpec`]), `GET /_sim/faults`, `DELETE /_sim/faults[?workspace=]` | fault rules |
//! | `GET /_sim/requests[?workspace=]`, `DELETE /_sim/requests` | per-endpoint request counts |
//! | `GET /_sim/secrets[?workspace=]` | fleet-seeded credentials in full (tests only) |
//! | `POST /_sim/revoke {"workspace": id, "tokenId": n}` | mark a token revoked |

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{Response, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::faults::FaultSpec;
use crate::http::json_reply;
use crate::state::SharedState;

/// Routes under `/_sim`.
pub(crate) fn router(state: SharedState) -> Router {
    Router::new()
        .route("/workspaces", get(workspaces))
        .route("/state", get(snapshot))
        .route("/reset", post(reset))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/requests", get(request_counts).delete(clear_requests))
        .route("/secrets", get(secrets))
        .route("/revoke", post(revoke))
        .with_state(state)
}

type QueryMap = Query<HashMap<String, String>>;

fn problem(status: StatusCode, message: &str) -> Response<Body> {
    json_reply(status, json!({ "error": message }))
}

async fn workspaces(State(state): State<SharedState>) -> Response<Body> {
    let list: Vec<serde_json::Value> = state
        .workspaces()
        .into_iter()
        .map(|workspace| {
            let base_path = format!("/g/{}", workspace.record.id);
            let mut value = serde_json::to_value(&workspace).unwrap_or_default();
            value["basePath"] = json!(base_path);
            value
        })
        .collect();
    json_reply(StatusCode::OK, json!({ "workspaces": list }))
}

async fn snapshot(State(state): State<SharedState>) -> Response<Body> {
    json_reply(StatusCode::OK, state.snapshot())
}

async fn reset(State(state): State<SharedState>) -> Response<Body> {
    match state.reset() {
        Ok(()) => json_reply(StatusCode::OK, json!({ "message": "reset" })),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn clock_body(state: &SharedState) -> serde_json::Value {
    json!({ "now": state.now(), "offsetSeconds": state.clock().offset_seconds() })
}

async fn clock(State(state): State<SharedState>) -> Response<Body> {
    json_reply(StatusCode::OK, clock_body(&state))
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: i64,
}

async fn advance_clock(State(state): State<SharedState>, body: Bytes) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<AdvanceBody>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"seconds\": <integer>}");
    };
    if request.seconds.unsigned_abs() > crate::clock::MAX_OFFSET_SECONDS.unsigned_abs() {
        return problem(
            StatusCode::BAD_REQUEST,
            "seconds must be within ±1000 years of real time",
        );
    }
    state.clock().advance_seconds(request.seconds);
    json_reply(StatusCode::OK, clock_body(&state))
}

async fn list_faults(State(state): State<SharedState>) -> Response<Body> {
    json_reply(StatusCode::OK, json!({ "faults": state.faults().list() }))
}

async fn add_fault(State(state): State<SharedState>, body: Bytes) -> Response<Body> {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    match state.faults().add(spec) {
        Ok(id) => json_reply(StatusCode::CREATED, json!({ "id": id })),
        Err(error) => problem(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

async fn clear_faults(State(state): State<SharedState>, Query(query): QueryMap) -> Response<Body> {
    state
        .faults()
        .clear(query.get("workspace").map(String::as_str));
    json_reply(StatusCode::OK, json!({ "message": "faults cleared" }))
}

async fn request_counts(
    State(state): State<SharedState>,
    Query(query): QueryMap,
) -> Response<Body> {
    let workspace = query.get("workspace").map(String::as_str);
    json_reply(
        StatusCode::OK,
        json!({ "workspace": workspace, "counts": state.request_counts(workspace) }),
    )
}

async fn clear_requests(State(state): State<SharedState>) -> Response<Body> {
    state.clear_request_counts();
    json_reply(
        StatusCode::OK,
        json!({ "message": "request counts cleared" }),
    )
}

async fn secrets(State(state): State<SharedState>, Query(query): QueryMap) -> Response<Body> {
    let workspace = query.get("workspace").map(String::as_str);
    json_reply(
        StatusCode::OK,
        json!({ "secrets": state.seeded_secrets(workspace) }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevokeBody {
    workspace: String,
    token_id: i64,
}

async fn revoke(State(state): State<SharedState>, body: Bytes) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<RevokeBody>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "expected {\"workspace\": <id>, \"tokenId\": <integer>}",
        );
    };
    match state.revoke_credential(&request.workspace, request.token_id) {
        Ok(()) => json_reply(StatusCode::OK, json!({ "message": "token revoked" })),
        Err(error) => problem(StatusCode::NOT_FOUND, &error.to_string()),
    }
}
