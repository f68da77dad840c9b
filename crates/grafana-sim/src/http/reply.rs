//! Grafana's three error body shapes (reference §2.3) and the plain-text oddity.
//!
//! Clients must handle each family, so the simulator produces each exactly where Grafana does.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use rand::Rng;
use serde::Serialize;
use serde_json::json;

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize>(body: T) -> Response<Body> {
    Json(body).into_response()
}

/// Any status with a JSON body.
pub(crate) fn json_status<T: Serialize>(status: StatusCode, body: T) -> Response<Body> {
    (status, Json(body)).into_response()
}

/// Legacy body `{"message": ...}` (`response.Error` without an underlying error).
pub(crate) fn legacy(status: StatusCode, message: &str) -> Response<Body> {
    json_status(status, json!({ "message": message }))
}

/// Legacy body with `traceID` (`response.Error` with an underlying error attached).
pub(crate) fn legacy_traced(status: StatusCode, message: &str) -> Response<Body> {
    json_status(status, json!({ "message": message, "traceID": "" }))
}

/// errutil body `{"message","messageId","statusCode","traceID"}`.
pub(crate) fn errutil(status: StatusCode, message_id: &str, message: &str) -> Response<Body> {
    json_status(
        status,
        json!({
            "message": message,
            "messageId": message_id,
            "statusCode": status.as_u16(),
            "traceID": "",
        }),
    )
}

/// errutil body as the authn service writes it (with `extra: null`).
pub(crate) fn auth_error(message_id: &str, message: &str) -> Response<Body> {
    json_status(
        StatusCode::UNAUTHORIZED,
        json!({
            "extra": null,
            "message": message,
            "messageId": message_id,
            "statusCode": 401,
            "traceID": "",
        }),
    )
}

/// The RBAC middleware's 403 body naming the missing action.
pub(crate) fn rbac_denied(action: &str) -> Response<Body> {
    let digits: u64 = rand::rng().random_range(1_000_000_000..10_000_000_000);
    json_status(
        StatusCode::FORBIDDEN,
        json!({
            "title": "Access denied",
            "message": format!(
                "You'll need additional permissions to perform this action. Permissions needed: {action}"
            ),
            "accessErrorId": format!("ACE{digits}"),
        }),
    )
}

/// A plain-text body (the `token_expiration_day_limit` answer).
pub(crate) fn plain_text(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = (status, text.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Unknown route (and endpoints a version does not have).
pub(crate) fn not_found() -> Response<Body> {
    legacy(StatusCode::NOT_FOUND, "Not found")
}
