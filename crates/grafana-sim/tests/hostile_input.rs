//! Hostile input on every route of the simulated Grafana HTTP API: malformed JSON, wrong types,
//! huge and negative numbers, non-numeric and non-UTF-8 ids, unicode, empty bodies, very long
//! names, broken credentials. Each must get a Grafana-shaped 4xx (or the success Grafana gives
//! to odd-but-valid input), never a panic or an unexplained 5xx, and the server must keep
//! answering afterwards.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The one plain-text answer Grafana gives (`token_expiration_day_limit`, reference §6.2).
const DAY_LIMIT_TEXT: &str =
    "The expiration date input exceeds the limit for service account access tokens expiration date";

/// Every Grafana error family carries a string `message` (legacy, errutil and RBAC alike),
/// except the plain-text day-limit answer.
fn assert_grafana_error(answer: &Answer, context: &str) {
    assert!(
        answer.status.is_client_error(),
        "{context}: expected 4xx, got {} {}",
        answer.status,
        answer.text
    );
    if answer.text == DAY_LIMIT_TEXT {
        return;
    }
    let body: Value = serde_json::from_str(&answer.text)
        .unwrap_or_else(|_| panic!("{context}: body is not JSON: {}", answer.text));
    assert!(
        body["message"].is_string(),
        "{context}: no message in {}",
        answer.text
    );
}

fn assert_not_server_error(answer: &Answer, context: &str) {
    assert!(
        !answer.status.is_server_error(),
        "{context}: got {} {}",
        answer.status,
        answer.text
    );
}

/// Creates a legacy key on the 9.4 AMG workspace with its admin key and `body`.
async fn create_key_on_9_4(sim: &Sim, body: Value) -> Answer {
    let admin = sim.secret(AMG_94, "terraform-admin").await;
    sim.post(AMG_94, "/api/auth/keys", &Auth::Bearer(&admin), body)
        .await
}

/// The admin's service-account search on the 11.5 instance with query string `query`.
async fn admin_search(sim: &Sim, query: &str) -> Value {
    let path = format!("/api/serviceaccounts/search?{query}");
    sim.get(SELF_115, &path, &ADMIN_115).await.json()
}

async fn assert_still_serving(sim: &Sim) {
    assert_eq!(
        sim.get(SELF_115, "/api/health", &Auth::None).await.status,
        200
    );
    assert_eq!(sim.get(SELF_115, "/api/org", &ADMIN_115).await.status, 200);
}

/// Bodies no route can accept: not JSON, or JSON that is not an object.
const SHAPELESS_BODIES: &[&str] = &[
    "",
    "{",
    "{\"name\": ",
    "null",
    "42",
    "\"a string\"",
    "[\"array-name\", \"Admin\"]",
    "{\"name\": \"x\"} trailing",
];

const KEY_BODIES: &[&str] = &[
    "{\"name\": 5, \"role\": \"Viewer\"}",
    "{\"name\": null, \"role\": \"Viewer\"}",
    "{\"name\": \"x\", \"role\": 7}",
    "{\"name\": \"x\", \"role\": \"admin\"}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": \"soon\"}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": 1.5}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": 1e300}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": 99999999999999999999}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": 9223372036854775807}",
    "{\"name\": \"x\", \"role\": \"Viewer\", \"secondsToLive\": -9223372036854775808}",
];

const FOLDER_BODIES: &[&str] = &[
    "{\"title\": 5}",
    "{\"title\": {\"a\": 1}}",
    "{\"title\": \"   \"}",
    "{\"title\": \"ok\", \"uid\": 7}",
];

const ACCOUNT_BODIES: &[&str] = &[
    "{\"name\": 5}",
    "{\"name\": null}",
    "{\"name\": [\"x\"]}",
    "{\"name\": \"x\", \"role\": 7}",
    "{\"name\": \"x\", \"role\": \"admin\"}",
    "{\"name\": \"x\", \"role\": \"Owner\"}",
    "{\"name\": \"x\", \"isDisabled\": \"yes\"}",
    "{\"name\": \"   \"}",
];

const PATCH_BODIES: &[&str] = &[
    "{\"name\": 5}",
    "{\"role\": 7}",
    "{\"role\": \"admin\"}",
    "{\"isDisabled\": \"yes\"}",
    "{\"isDisabled\": 1}",
];

const TOKEN_BODIES: &[&str] = &[
    "{\"name\": 5}",
    "{\"name\": null}",
    "{\"name\": \"\"}",
    "{\"name\": \"x\", \"secondsToLive\": \"soon\"}",
    "{\"name\": \"x\", \"secondsToLive\": 1.5}",
    "{\"name\": \"x\", \"secondsToLive\": 1e300}",
    "{\"name\": \"x\", \"secondsToLive\": 99999999999999999999}",
    "{\"name\": \"x\", \"secondsToLive\": 9223372036854775807}",
    "{\"name\": \"x\", \"secondsToLive\": -9223372036854775808}",
    "{\"name\": \"x\", \"secondsToLive\": -1}",
];

#[tokio::test]
async fn malformed_and_mistyped_bodies_on_every_write_route_are_grafana_400s() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let nine_auth = Auth::Bearer(&nine);
    let account = sim
        .create_account(SELF_115, &ADMIN_115, "target", "Viewer")
        .await;
    let routes: Vec<(Method, &str, String, &Auth, &[&str])> = vec![
        (
            Method::POST,
            AMG_94,
            "/api/auth/keys".into(),
            &nine_auth,
            KEY_BODIES,
        ),
        (
            Method::POST,
            SELF_115,
            "/api/folders".into(),
            &ADMIN_115,
            FOLDER_BODIES,
        ),
        (
            Method::POST,
            SELF_115,
            "/api/serviceaccounts".into(),
            &ADMIN_115,
            ACCOUNT_BODIES,
        ),
        (
            Method::PATCH,
            SELF_115,
            format!("/api/serviceaccounts/{account}"),
            &ADMIN_115,
            PATCH_BODIES,
        ),
        (
            Method::POST,
            SELF_115,
            format!("/api/serviceaccounts/{account}/tokens"),
            &ADMIN_115,
            TOKEN_BODIES,
        ),
    ];
    for (method, instance, path, auth, specific) in &routes {
        for body in SHAPELESS_BODIES.iter().chain(specific.iter()) {
            let answer = sim
                .send(
                    sim.request(method.clone(), instance, path, auth)
                        .header("content-type", "application/json")
                        .body(body.to_string()),
                )
                .await;
            assert_grafana_error(&answer, &format!("{method} {instance}{path} <- {body}"));
            assert_eq!(
                answer.status, 400,
                "{method} {path} <- {body}: {}",
                answer.text
            );
        }
    }
    let tokens = sim
        .get(
            SELF_115,
            &format!("/api/serviceaccounts/{account}/tokens"),
            &ADMIN_115,
        )
        .await;
    assert_eq!(tokens.json(), json!([]), "no bad body minted a token");
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn hostile_ids_in_paths_are_400_or_404() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let account = sim
        .create_account(SELF_115, &ADMIN_115, "holder", "Viewer")
        .await;
    let ids = [
        "abc",
        "-1",
        "0",
        "99999999999999999999",
        "9223372036854775807",
        "1.5",
        "1e3",
        "%20",
        "%F0%9F%9A%80",
        "%FF%FE",
        "%EF%BC%91",
        "..%2F..%2Fetc",
    ];
    for id in ids {
        let routes: Vec<(Method, &str, String, Auth)> = vec![
            (
                Method::DELETE,
                AMG_94,
                format!("/api/auth/keys/{id}"),
                Auth::Bearer(&nine),
            ),
            (
                Method::POST,
                AMG_94,
                format!("/api/serviceaccounts/revert/{id}"),
                Auth::Bearer(&nine),
            ),
            (
                Method::GET,
                SELF_115,
                format!("/api/serviceaccounts/{id}"),
                ADMIN_115,
            ),
            (
                Method::PATCH,
                SELF_115,
                format!("/api/serviceaccounts/{id}"),
                ADMIN_115,
            ),
            (
                Method::DELETE,
                SELF_115,
                format!("/api/serviceaccounts/{id}"),
                ADMIN_115,
            ),
            (
                Method::GET,
                SELF_115,
                format!("/api/serviceaccounts/{id}/tokens"),
                ADMIN_115,
            ),
            (
                Method::POST,
                SELF_115,
                format!("/api/serviceaccounts/{id}/tokens"),
                ADMIN_115,
            ),
            (
                Method::DELETE,
                SELF_115,
                format!("/api/serviceaccounts/{account}/tokens/{id}"),
                ADMIN_115,
            ),
            (
                Method::DELETE,
                SELF_115,
                format!("/api/serviceaccounts/{id}/tokens/{id}"),
                ADMIN_115,
            ),
        ];
        for (method, instance, path, auth) in &routes {
            let answer = sim
                .send(
                    sim.request(method.clone(), instance, path, auth)
                        .json(&json!({"name": "n"})),
                )
                .await;
            let context = format!("{method} {instance}{path}");
            if path.contains("/revert/") && answer.status == 500 {
                // 9.x answers a key it cannot revert with 500 `Error reverting API key`.
                assert_eq!(
                    answer.json()["message"],
                    "Error reverting API key",
                    "{context}"
                );
                continue;
            }
            assert_grafana_error(&answer, &context);
        }
        // migrate/:keyId: 400 for a non-integer, and Grafana's silent 200 for an unknown
        // integer while other plain keys exist.
        let migrate = sim
            .post(
                SELF_115,
                &format!("/api/serviceaccounts/migrate/{id}"),
                &ADMIN_115,
                json!({}),
            )
            .await;
        let context = format!("migrate/{id}");
        if migrate.status == 200 {
            assert_eq!(
                migrate.json()["message"],
                "Service accounts migrated",
                "{context}"
            );
        } else {
            assert_grafana_error(&migrate, &context);
        }
    }
    let keys = sim.get(SELF_115, "/api/auth/keys", &ADMIN_115).await.json();
    assert_eq!(
        keys.as_array().unwrap().len(),
        2,
        "hostile ids migrated or deleted nothing: {keys}"
    );
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn hostile_query_strings_are_answered_with_defaults_or_4xx() {
    let sim = start().await;
    let queries = [
        "perpage=-5&page=-9",
        "perpage=99999999999999999999&page=0",
        "perpage=9223372036854775807&page=9223372036854775807",
        "perpage=abc&page=%FF",
        "query=%FF%FE&disabled=maybe&expiredTokens=%00",
        "query=%F0%9F%9A%80&accesscontrol=1",
        "query=%25%25%25&perpage=1",
        "limit=-1&limit=99999999999999999999",
        "includeExpired=%E2%80%8B",
    ];
    let paths = [
        "/api/serviceaccounts/search",
        "/api/search",
        "/api/folders",
        "/api/auth/keys",
    ];
    for path in paths {
        for query in queries {
            let answer = sim
                .get(SELF_115, &format!("{path}?{query}"), &ADMIN_115)
                .await;
            let context = format!("{path}?{query}");
            assert_not_server_error(&answer, &context);
            if answer.status.is_success() {
                let body = answer.json();
                assert!(body.is_array() || body.is_object(), "{context}");
            } else {
                assert_grafana_error(&answer, &context);
            }
        }
    }
    let huge = admin_search(&sim, "perpage=9223372036854775807&page=9223372036854775807").await;
    assert_eq!(huge["serviceAccounts"], json!([]));
    let defaults = admin_search(&sim, "perpage=-5&page=-9").await;
    assert_eq!(defaults["perPage"], 1000);
    assert_eq!(defaults["page"], 1);
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn broken_credentials_and_org_headers_are_401s_with_grafana_bodies() {
    use base64::Engine;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let sim = start().await;
    let headers: Vec<(String, Vec<u8>)> = vec![
        ("Authorization".into(), b"Bearer ".to_vec()),
        ("Authorization".into(), b"Bearer \xff\xfe".to_vec()),
        ("Authorization".into(), b"Basic !!!not-base64".to_vec()),
        (
            "Authorization".into(),
            format!("Basic {}", encode("api_key:")).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Basic {}", encode("no-colon-at-all")).into_bytes(),
        ),
        ("Authorization".into(), b"Negotiate abc".to_vec()),
        (
            "Authorization".into(),
            format!("Bearer {}", encode("{\"k\":\"x\",\"n\":\"y\",\"id\":1e99}")).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Bearer {}", encode("{\"k\":\"é\",\"n\":\"💥\",\"id\":-1}")).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Bearer {}", encode("[1,2,3]")).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Bearer glsa_{}_zzzzzzzz", "é".repeat(16)).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Bearer glsa_{}", "_".repeat(60)).into_bytes(),
        ),
        (
            "Authorization".into(),
            format!("Bearer {}", "A".repeat(10_000)).into_bytes(),
        ),
    ];
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        let answer = sim
            .send(
                sim.client
                    .get(sim.url(SELF_115, "/api/org"))
                    .header(name.as_str(), value.clone()),
            )
            .await;
        let context = format!("{name}: {:?}", String::from_utf8_lossy(value.as_bytes()));
        assert_eq!(answer.status, 401, "{context}: {}", answer.text);
        assert_grafana_error(&answer, &context);
    }
    for org in ["abc", "-1", "0", "99999999999999999999", "1.0"] {
        let answer = sim
            .send(
                sim.request(Method::GET, SELF_115, "/api/org", &ADMIN_115)
                    .header("X-Grafana-Org-Id", org),
            )
            .await;
        assert_not_server_error(&answer, &format!("X-Grafana-Org-Id: {org}"));
    }
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn unicode_and_very_long_names_round_trip_or_are_refused_cleanly() {
    let sim = start().await;
    let unicode = "Ünïcødé Bot 🚀 名前";
    let created = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &ADMIN_115,
            json!({"name": unicode}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["name"], unicode);
    assert_eq!(created.json()["login"], "sa-1-ünïcødé-bot-🚀-名前");
    let id = created.json()["id"].as_i64().unwrap();
    let (_, token) = sim
        .create_token(SELF_115, &ADMIN_115, id, "jeton-🔑", 60)
        .await;
    sim.assert_org_ok(SELF_115, &token).await;
    let found = admin_search(&sim, "query=%C3%BCn%C3%AFc").await;
    assert_eq!(found["totalCount"], 1);

    let long = "n".repeat(10_000);
    for (path, body) in [
        ("/api/serviceaccounts".to_string(), json!({"name": long})),
        (
            format!("/api/serviceaccounts/{id}/tokens"),
            json!({"name": long}),
        ),
        ("/api/folders".to_string(), json!({"title": long})),
    ] {
        let answer = sim.post(SELF_115, &path, &ADMIN_115, body).await;
        assert_not_server_error(&answer, &path);
        if !answer.status.is_success() {
            assert_grafana_error(&answer, &path);
        }
    }
    let key = create_key_on_9_4(&sim, json!({"name": long, "role": "Viewer"})).await;
    assert_not_server_error(&key, "long key name");
    if key.status.is_success() {
        let secret = key.json()["key"].as_str().unwrap().to_string();
        sim.assert_org_ok(AMG_94, &secret).await;
    }
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_everywhere_are_404_not_found() {
    let sim = start().await;
    let cases = [
        (Method::PUT, "/api/serviceaccounts"),
        (Method::GET, "/api/serviceaccounts"),
        (Method::PUT, "/api/serviceaccounts/1/tokens"),
        (Method::GET, "/api/serviceaccounts/1/tokens/1"),
        (Method::PATCH, "/api/auth/keys/1"),
        (Method::POST, "/api/health"),
        (Method::GET, "/api/%FF%FE/x"),
        (
            Method::GET,
            "/api/serviceaccounts/1/tokens/1/extra/segments",
        ),
    ];
    for (method, path) in cases {
        let answer = sim
            .send(sim.request(method.clone(), SELF_115, path, &ADMIN_115))
            .await;
        assert_legacy(&answer, 404, "Not found");
    }
    assert_still_serving(&sim).await;
}

#[tokio::test]
async fn a_ttl_beyond_any_representable_date_is_400_not_a_panic() {
    let (sim, account) = start_with_account(SELF_116, &ADMIN_116, "far-future", "Viewer").await;
    for seconds in [i64::MAX, 9_000_000_000_000_000] {
        let answer = sim
            .post(
                SELF_116,
                &format!("/api/serviceaccounts/{account}/tokens"),
                &ADMIN_116,
                json!({"name": "forever-and-more", "secondsToLive": seconds}),
            )
            .await;
        assert_errutil(&answer, Errutil::BadTtl);
    }
    let key = create_key_on_9_4(
        &sim,
        json!({"name": "far-future", "role": "Viewer", "secondsToLive": i64::MAX}),
    )
    .await;
    assert_legacy(&key, 400, "bad request data");
    let clock = sim
        .control_post("/clock/advance", json!({"seconds": i64::MAX}))
        .await;
    assert_eq!(clock.status, 400, "{}", clock.text);
    assert_still_serving(&sim).await;
}
