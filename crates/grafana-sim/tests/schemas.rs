//! The simulator's JSON answers validated against Grafana's own OpenAPI definitions
//! (`tests/data/grafana-openapi-subset.json`, a copy of `reference/grafana-openapi-subset.json`).
//! Swagger 2.0 definitions are JSON Schema draft 4 with `$ref`s into `#/definitions`.

mod common;

use common::*;
use serde_json::{Value, json};

fn spec() -> Value {
    serde_json::from_str(include_str!("data/grafana-openapi-subset.json")).unwrap()
}

/// A draft-4 validator for one definition, with the spec's definitions resolvable.
/// Known spec-vs-code difference: `TokenDTO.lastUsedAt`/`expiration` are Go pointers that
/// Grafana serialises as `null`, which the spec does not declare; they are allowed here.
fn validator(definition: &str) -> jsonschema::Validator {
    let mut definitions = spec()["definitions"].clone();
    for field in ["lastUsedAt", "expiration"] {
        definitions["TokenDTO"]["properties"][field]["type"] = json!(["string", "null"]);
    }
    let schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "$ref": format!("#/definitions/{definition}"),
        "definitions": definitions,
    });
    jsonschema::draft4::new(&schema).unwrap()
}

fn assert_valid(definition: &str, value: &Value) {
    let validator = validator(definition);
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{definition}: {errors:?} in {value}");
}

fn assert_valid_array(definition: &str, value: &Value) {
    let items = value.as_array().expect("array");
    assert!(
        !items.is_empty(),
        "validate at least one item of {definition}"
    );
    for item in items {
        assert_valid(definition, item);
    }
}

#[tokio::test]
async fn the_schema_check_itself_rejects_wrong_shapes() {
    let validator = validator("SearchOrgServiceAccountsResult");
    assert!(!validator.is_valid(&json!({"totalCount": "three"})));
    assert!(validator.is_valid(&json!({"totalCount": 3})));
}

#[tokio::test]
async fn answers_validate_against_grafanas_openapi_definitions() {
    let sim = start().await;
    let health = sim.get(SELF_115, "/api/health", &Auth::None).await.json();
    assert_valid("healthResponse", &health);
    let org = sim.get(SELF_115, "/api/org", &ADMIN_115).await.json();
    assert_valid("OrgDetailsDTO", &org);
    let hits = sim.get(SELF_115, "/api/search", &ADMIN_115).await.json();
    assert_valid_array("Hit", &hits);
    let user = sim.get(SELF_115, "/api/user", &ADMIN_115).await.json();
    assert_valid("UserProfileDTO", &user);

    let created = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &ADMIN_115,
            json!({"name": "schema", "role": "Editor"}),
        )
        .await;
    assert_valid("ServiceAccountDTO", &created.json());
    let id = created.json()["id"].as_i64().unwrap();
    let search = sim
        .get(
            SELF_115,
            "/api/serviceaccounts/search?accesscontrol=true",
            &ADMIN_115,
        )
        .await
        .json();
    assert_valid("SearchOrgServiceAccountsResult", &search);
    let profile = sim
        .get(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await
        .json();
    assert_valid("ServiceAccountProfileDTO", &profile);
    let patched = sim
        .patch(
            SELF_115,
            &format!("/api/serviceaccounts/{id}"),
            &ADMIN_115,
            json!({"role": "Viewer"}),
        )
        .await
        .json();
    assert_valid("ServiceAccountProfileDTO", &patched["serviceaccount"]);
    assert!(patched["message"].is_string() && patched["id"].is_i64());

    let token = sim
        .post(
            SELF_115,
            &format!("/api/serviceaccounts/{id}/tokens"),
            &ADMIN_115,
            json!({"name": "schema-1", "secondsToLive": 3600}),
        )
        .await
        .json();
    assert_valid("NewApiKeyResult", &token);
    sim.post(
        SELF_115,
        &format!("/api/serviceaccounts/{id}/tokens"),
        &ADMIN_115,
        json!({"name": "schema-2"}),
    )
    .await;
    let tokens = sim
        .get(
            SELF_115,
            &format!("/api/serviceaccounts/{id}/tokens"),
            &ADMIN_115,
        )
        .await
        .json();
    assert_valid_array("TokenDTO", &tokens);
    let token_id = token["id"].as_i64().unwrap();
    let deleted = sim
        .delete(
            SELF_115,
            &format!("/api/serviceaccounts/{id}/tokens/{token_id}"),
            &ADMIN_115,
        )
        .await
        .json();
    assert_valid("SuccessResponseBody", &deleted);

    let not_found = sim
        .get(SELF_115, "/api/serviceaccounts/9999", &ADMIN_115)
        .await
        .json();
    assert_valid("PublicError", &not_found);
    assert_valid("ErrorResponseBody", &not_found);
    let bad = sim
        .post_raw(SELF_115, "/api/serviceaccounts", &ADMIN_115, "{")
        .await
        .json();
    assert_valid("ErrorResponseBody", &bad);
    let unauthorised = sim
        .get(SELF_115, "/api/org", &Auth::Bearer("nope"))
        .await
        .json();
    assert_valid("ErrorResponseBody", &unauthorised);
    let gone = sim
        .post(
            SELF_115,
            "/api/auth/keys",
            &ADMIN_115,
            json!({"name": "k", "role": "Viewer"}),
        )
        .await
        .json();
    assert_valid("ErrorResponseBody", &gone);
}
