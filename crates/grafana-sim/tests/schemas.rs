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

/// Calls on the 11.5 instance as its admin, answering the JSON body: the vantage point from
/// which every answer below is validated.
struct Admin115<'a>(&'a Sim);

impl Admin115<'_> {
    async fn get(&self, path: &str) -> Value {
        self.0.get(SELF_115, path, &ADMIN_115).await.json()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.0.post(SELF_115, path, &ADMIN_115, body).await.json()
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        self.0.patch(SELF_115, path, &ADMIN_115, body).await.json()
    }

    async fn delete(&self, path: &str) -> Value {
        self.0.delete(SELF_115, path, &ADMIN_115).await.json()
    }
}

#[tokio::test]
async fn answers_validate_against_grafanas_openapi_definitions() {
    let sim = start().await;
    let admin = Admin115(&sim);
    let health = sim.get(SELF_115, "/api/health", &Auth::None).await.json();
    assert_valid("healthResponse", &health);
    assert_valid("OrgDetailsDTO", &admin.get("/api/org").await);
    assert_valid_array("Hit", &admin.get("/api/search").await);
    assert_valid("UserProfileDTO", &admin.get("/api/user").await);

    let created = admin
        .post(
            "/api/serviceaccounts",
            json!({"name": "schema", "role": "Editor"}),
        )
        .await;
    assert_valid("ServiceAccountDTO", &created);
    let id = created["id"].as_i64().unwrap();
    let search = admin
        .get("/api/serviceaccounts/search?accesscontrol=true")
        .await;
    assert_valid("SearchOrgServiceAccountsResult", &search);
    let account = format!("/api/serviceaccounts/{id}");
    assert_valid("ServiceAccountProfileDTO", &admin.get(&account).await);
    let patched = admin.patch(&account, json!({"role": "Viewer"})).await;
    assert_valid("ServiceAccountProfileDTO", &patched["serviceaccount"]);
    assert!(patched["message"].is_string() && patched["id"].is_i64());

    let tokens_path = format!("{account}/tokens");
    let token = admin
        .post(
            &tokens_path,
            json!({"name": "schema-1", "secondsToLive": 3600}),
        )
        .await;
    assert_valid("NewApiKeyResult", &token);
    admin.post(&tokens_path, json!({"name": "schema-2"})).await;
    assert_valid_array("TokenDTO", &admin.get(&tokens_path).await);
    let token_id = token["id"].as_i64().unwrap();
    let deleted = admin.delete(&format!("{tokens_path}/{token_id}")).await;
    assert_valid("SuccessResponseBody", &deleted);

    let not_found = admin.get("/api/serviceaccounts/9999").await;
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
    let gone = admin
        .post("/api/auth/keys", json!({"name": "k", "role": "Viewer"}))
        .await;
    assert_valid("ErrorResponseBody", &gone);
}
