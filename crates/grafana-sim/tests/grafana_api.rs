//! The simulated Grafana HTTP API over real HTTP, one test per documented behaviour of
//! `reference/grafana-http-api.md`, version differences included.

mod common;

use common::*;
use serde_json::json;

// ---- §8 health / §2 authentication ---------------------------------------------------------

#[tokio::test]
async fn health_reports_each_instance_version_and_ignores_credentials() {
    let sim = start().await;
    for (instance, version) in [
        (AMG_94, "9.4.0"),
        (AMG_104, "10.4.0"),
        (SELF_115, "11.5.2"),
        (SELF_116, "11.6.0"),
        (SELF_121, "12.1.0"),
    ] {
        let answer = sim
            .get(instance, "/api/health", &Auth::Bearer("garbage"))
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["version"], version);
        assert_eq!(answer.json()["database"], "ok");
        assert!(answer.text.contains("\n  \"database\""), "pretty-printed");
    }
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_401() {
    let sim = start().await;
    let none = sim.get(SELF_115, "/api/org", &Auth::None).await;
    assert_errutil(&none, Errutil::Unauthorized);
    let junk = sim
        .get(SELF_115, "/api/org", &Auth::Bearer("not-a-key"))
        .await;
    assert_errutil(&junk, Errutil::InvalidKey);
    let bad_checksum = sim
        .get(
            SELF_115,
            "/api/org",
            &Auth::Bearer("glsa_abcdefghijklmnopqrstuvwxyz012345_00000000"),
        )
        .await;
    assert_errutil(&bad_checksum, Errutil::InvalidKey);
    let wrong_password = sim
        .get(SELF_115, "/api/org", &Auth::User("admin", "nope"))
        .await;
    assert_eq!(wrong_password.status, 401);
}

#[tokio::test]
async fn legacy_keys_authenticate_as_bearer_and_as_api_key_basic() {
    let (sim, key) = start_as(AMG_94, "terraform-admin").await;
    for auth in [Auth::Bearer(&key), Auth::ApiKeyBasic(&key)] {
        let answer = sim.get(AMG_94, "/api/org", &auth).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["id"], 1);
        assert_eq!(answer.json()["name"], "Main Org.");
    }
}

#[tokio::test]
async fn org_header_or_target_org_id_different_from_the_key_org_is_401() {
    let (sim, key) = start_as(SELF_115, "backup-job").await;
    let by_header = sim
        .send(
            sim.request(
                reqwest::Method::GET,
                SELF_115,
                "/api/org",
                &Auth::Bearer(&key),
            )
            .header("X-Grafana-Org-Id", "2"),
        )
        .await;
    assert_errutil(&by_header, Errutil::OrgMismatch);
    let by_query = sim
        .get(SELF_115, "/api/org?targetOrgId=2", &Auth::Bearer(&key))
        .await;
    assert_errutil(&by_query, Errutil::OrgMismatch);
    let same_org = sim
        .get(SELF_115, "/api/org?targetOrgId=1", &Auth::Bearer(&key))
        .await;
    assert_eq!(same_org.status, 200);
}

#[tokio::test]
async fn basic_auth_users_switch_org_with_the_header() {
    let sim = start().await;
    let answer = sim
        .send(
            sim.request(reqwest::Method::GET, SELF_115, "/api/org", &ADMIN_115)
                .header("X-Grafana-Org-Id", "2"),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["name"], "Payments");
    let not_member = sim
        .send(
            sim.request(reqwest::Method::GET, SELF_115, "/api/org", &EDITOR_115)
                .header("X-Grafana-Org-Id", "2"),
        )
        .await;
    assert_eq!(not_member.status, 401);
}

#[tokio::test]
async fn an_expired_legacy_key_is_rejected_with_expired_api_key() {
    let (sim, key) = start_as(AMG_94, "old-exporter").await;
    sim.assert_org_rejected(AMG_94, &key, Errutil::ExpiredKey)
        .await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_404_not_found() {
    let (sim, key) = start_as(AMG_94, "terraform-admin").await;
    let unknown = sim
        .get(AMG_94, "/api/does-not-exist", &Auth::Bearer(&key))
        .await;
    assert_legacy(&unknown, 404, "Not found");
    let wrong_method = sim.delete(AMG_94, "/api/org", &Auth::Bearer(&key)).await;
    assert_legacy(&wrong_method, 404, "Not found");
    let unknown_instance = sim.get("nope", "/api/health", &Auth::None).await;
    assert_eq!(unknown_instance.status, 404);
}

// ---- §3 legacy keys --------------------------------------------------------------------------

#[tokio::test]
async fn key_list_hides_expired_and_migrated_keys_and_omits_empty_fields() {
    let (sim, key) = start_as(AMG_104, "bootstrap-admin").await;
    let answer = sim
        .get(AMG_104, "/api/auth/keys", &Auth::Bearer(&key))
        .await;
    assert_eq!(answer.status, 200);
    let names: Vec<String> = answer
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["bootstrap-admin", "wallboard"],
        "sorted, no expired, no migrated"
    );
    let with_expired = sim
        .get(
            AMG_104,
            "/api/auth/keys?includeExpired=true",
            &Auth::Bearer(&key),
        )
        .await;
    let names: Vec<String> = with_expired
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["bootstrap-admin", "grafana-agent", "wallboard"]);
    assert!(!with_expired.text.contains("legacy-sync"));
    assert!(!with_expired.text.contains("\"key\""));

    let nine = sim.secret(AMG_94, "terraform-admin").await;
    let list = sim
        .get(AMG_94, "/api/auth/keys", &Auth::Bearer(&nine))
        .await
        .json();
    let ci = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci-deploy")
        .unwrap();
    assert!(
        ci.get("expiration").is_none(),
        "never-expiring key omits expiration"
    );
    assert!(ci.get("lastUsedAt").is_none());
}

#[tokio::test]
async fn key_list_is_capped_at_100() {
    let (sim, key) = start_as(AMG_94, "terraform-admin").await;
    for index in 0..100 {
        let answer = sim
            .post(
                AMG_94,
                "/api/auth/keys",
                &Auth::Bearer(&key),
                json!({"name": format!("bulk-{index:03}"), "role": "Viewer"}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let list = sim
        .get(AMG_94, "/api/auth/keys", &Auth::Bearer(&key))
        .await
        .json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    let first_hundred: Vec<String> = (0..100).map(|index| format!("bulk-{index:03}")).collect();
    assert_eq!(
        names, first_hundred,
        "the first 100 by name; ci-deploy, status-page and terraform-admin sort after them"
    );
}

#[tokio::test]
async fn creating_keys_on_9_4_returns_a_working_base64_key_and_validates_input() {
    let (sim, admin) = start_as(AMG_94, "terraform-admin").await;
    let created = sim
        .post(
            AMG_94,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "new-key", "role": "Editor", "secondsToLive": 3600}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let body = created.json();
    assert_eq!(body["name"], "new-key");
    let new_key = body["key"].as_str().unwrap();
    assert!(!new_key.starts_with("glsa_"));
    sim.assert_org_ok(AMG_94, new_key).await;

    let duplicate = sim
        .post(
            AMG_94,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "new-key", "role": "Viewer"}),
        )
        .await;
    assert_legacy(
        &duplicate,
        409,
        "API key, organization ID and name must be unique",
    );
    let bad_role = sim
        .post(
            AMG_94,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "x", "role": "Owner"}),
        )
        .await;
    assert_legacy(&bad_role, 400, "Invalid role specified");
    let negative = sim
        .post(
            AMG_94,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "y", "role": "Viewer", "secondsToLive": -5}),
        )
        .await;
    assert_legacy(&negative, 400, "negative value for SecondsToLive");
    let malformed = sim
        .post_raw(AMG_94, "/api/auth/keys", &Auth::Bearer(&admin), "{nope")
        .await;
    assert_legacy(&malformed, 400, "bad request data");
}

#[tokio::test]
async fn key_ttl_must_be_set_when_a_global_maximum_is_configured() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let unset = sim
        .post(
            AMG_104,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "a", "role": "Viewer"}),
        )
        .await;
    assert_legacy(
        &unset,
        400,
        "Number of seconds before expiration should be set",
    );
    let above = sim
        .post(
            AMG_104,
            "/api/auth/keys",
            &Auth::Bearer(&admin),
            json!({"name": "a", "role": "Viewer", "secondsToLive": 2_592_001}),
        )
        .await;
    assert_legacy(
        &above,
        400,
        "Number of seconds before expiration is greater than the global limit",
    );
}

#[tokio::test]
async fn key_creation_is_gone_from_11_3_and_key_routes_vanish_in_12_1() {
    let sim = start().await;
    let gone = sim
        .post(
            SELF_115,
            "/api/auth/keys",
            &ADMIN_115,
            json!({"name": "a", "role": "Viewer"}),
        )
        .await;
    assert_legacy(
        &gone,
        410,
        "this endpoint has been removed, please use POST /api/serviceaccounts and POST /api/serviceaccounts/{id}/tokens instead",
    );
    assert_eq!(
        sim.get(SELF_115, "/api/auth/keys", &ADMIN_115).await.status,
        200
    );
    for (method, path) in [
        (reqwest::Method::GET, "/api/auth/keys"),
        (reqwest::Method::POST, "/api/auth/keys"),
        (reqwest::Method::DELETE, "/api/auth/keys/1"),
        (reqwest::Method::POST, "/api/serviceaccounts/migrate"),
        (reqwest::Method::POST, "/api/serviceaccounts/migrate/1"),
    ] {
        let answer = sim
            .send(
                sim.request(method, SELF_121, path, &ADMIN_121)
                    .json(&json!({})),
            )
            .await;
        assert_legacy(&answer, 404, "Not found");
    }
}

#[tokio::test]
async fn deleting_keys_only_deletes_plain_keys() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let invalid = sim.delete(AMG_104, "/api/auth/keys/abc", &auth).await;
    assert_legacy(&invalid, 400, "id is invalid");
    let unknown = sim.delete(AMG_104, "/api/auth/keys/999", &auth).await;
    assert_legacy(&unknown, 404, "Failed to delete API key");
    let terraform = sim.account_id(AMG_104, &auth, "terraform").await;
    let tokens = sim
        .get(
            AMG_104,
            &format!("/api/serviceaccounts/{terraform}/tokens"),
            &auth,
        )
        .await
        .json();
    let token_id = tokens[0]["id"].as_i64().unwrap();
    let token_row = sim
        .delete(AMG_104, &format!("/api/auth/keys/{token_id}"), &auth)
        .await;
    assert_legacy(&token_row, 404, "Failed to delete API key");
    let wallboard = sim.secret(AMG_104, "wallboard").await;
    let wallboard_id = sim
        .get(AMG_104, "/api/auth/keys", &auth)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "wallboard")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let deleted = sim
        .delete(AMG_104, &format!("/api/auth/keys/{wallboard_id}"), &auth)
        .await;
    assert_legacy(&deleted, 200, "API key deleted");
    let after = sim
        .get(AMG_104, "/api/org", &Auth::Bearer(&wallboard))
        .await;
    assert_eq!(after.status, 401, "deleted key is unknown");
}

// ---- §4 migration ----------------------------------------------------------------------------

#[tokio::test]
async fn migrating_one_key_keeps_its_row_and_its_old_string_working() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let wallboard = sim.secret(AMG_104, "wallboard").await;
    let auth = Auth::Bearer(&admin);
    let keys = sim.get(AMG_104, "/api/auth/keys", &auth).await.json();
    let wallboard_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "wallboard")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let migrated = sim
        .post(
            AMG_104,
            &format!("/api/serviceaccounts/migrate/{wallboard_id}"),
            &auth,
            json!({}),
        )
        .await;
    assert_legacy(&migrated, 200, "Service accounts migrated");

    let account = sim.account_id(AMG_104, &auth, "sa-autogen-wallboard").await;
    let profile = sim
        .get(AMG_104, &format!("/api/serviceaccounts/{account}"), &auth)
        .await
        .json();
    assert_eq!(profile["login"], "sa-autogen-1-wallboard");
    assert_eq!(profile["role"], "Viewer");
    let tokens = sim
        .get(
            AMG_104,
            &format!("/api/serviceaccounts/{account}/tokens"),
            &auth,
        )
        .await
        .json();
    assert_eq!(tokens[0]["id"], wallboard_id, "token id = old key id");
    assert_eq!(tokens[0]["name"], "wallboard");
    let keys_after = sim.get(AMG_104, "/api/auth/keys", &auth).await;
    assert!(!keys_after.text.contains("wallboard"));
    sim.assert_org_ok(AMG_104, &wallboard).await;

    let noop = sim
        .post(
            AMG_104,
            "/api/serviceaccounts/migrate/9999",
            &auth,
            json!({}),
        )
        .await;
    assert_eq!(
        noop.status, 200,
        "unknown id while other keys exist is a silent no-op"
    );
    let invalid = sim
        .post(
            AMG_104,
            "/api/serviceaccounts/migrate/abc",
            &auth,
            json!({}),
        )
        .await;
    assert_legacy(&invalid, 400, "Key ID is invalid");
}

#[tokio::test]
async fn migrating_one_key_when_none_are_left_is_a_500() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let all = sim
        .post(AMG_104, "/api/serviceaccounts/migrate", &auth, json!({}))
        .await;
    assert_eq!(all.status, 200);
    let again = sim
        .post(AMG_104, "/api/serviceaccounts/migrate/1", &auth, json!({}))
        .await;
    assert_legacy(&again, 500, "Error converting API key");
}

#[tokio::test]
async fn bulk_migration_answers_a_message_on_9_4_and_a_result_from_10_1() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let answer = sim
        .post(
            AMG_94,
            "/api/serviceaccounts/migrate",
            &Auth::Bearer(&nine),
            json!({}),
        )
        .await;
    assert_legacy(&answer, 200, "API keys migrated to service accounts");
    let after = sim
        .get(
            AMG_94,
            "/api/auth/keys?includeExpired=true",
            &Auth::Bearer(&nine),
        )
        .await;
    assert_eq!(after.json(), json!([]));
    let search = sim
        .get(AMG_94, "/api/serviceaccounts/search", &Auth::Bearer(&nine))
        .await
        .json();
    assert_eq!(search["totalCount"], 4, "expired keys are migrated too");
    let old_login = search["serviceAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sa-autogen-old-exporter")
        .unwrap();
    assert_eq!(old_login["login"], "sa-autogen-1-old-exporter");

    let ten = sim.secret(AMG_104, "bootstrap-admin").await;
    let result = sim
        .post(
            AMG_104,
            "/api/serviceaccounts/migrate",
            &Auth::Bearer(&ten),
            json!({}),
        )
        .await;
    assert_eq!(result.status, 200);
    assert_eq!(
        result.json(),
        json!({"total": 3, "migrated": 3, "failed": 0, "failedApikeyIDs": [], "failedDetails": []})
    );
}

#[tokio::test]
async fn bulk_migration_reports_failures_without_failing_the_request() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    // 10.4 logins are `sa-<name>`: an account named `autogen-1-wallboard` takes the login the
    // migration of `wallboard` wants, and 10.x does not retry with suffixes.
    sim.create_account(AMG_104, &auth, "autogen-1-wallboard", "Viewer")
        .await;
    let result = sim
        .post(AMG_104, "/api/serviceaccounts/migrate", &auth, json!({}))
        .await;
    assert_eq!(result.status, 200);
    let body = result.json();
    assert_eq!(body["total"], 3);
    assert_eq!(body["migrated"], 2);
    assert_eq!(body["failed"], 1);
    assert_eq!(
        body["failedDetails"][0],
        "API key name: wallboard - Error: service account already exists"
    );
}

#[tokio::test]
async fn grafana_11_6_auto_migrated_every_key_at_start() {
    let sim = start().await;
    let keys = sim
        .get(SELF_116, "/api/auth/keys?includeExpired=true", &ADMIN_116)
        .await;
    assert_eq!(keys.status, 200);
    assert_eq!(keys.json(), json!([]));
    let search = sim
        .get(
            SELF_116,
            "/api/serviceaccounts/search?query=autogen",
            &ADMIN_116,
        )
        .await
        .json();
    let logins: Vec<&str> = search["serviceAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["login"].as_str().unwrap())
        .collect();
    assert_eq!(
        logins,
        vec!["sa-autogen-1-deployer", "sa-autogen-1-nightly-report"]
    );
    let nightly = sim.secret(SELF_116, "Nightly Report").await;
    sim.assert_org_ok(SELF_116, &nightly).await;
}

#[tokio::test]
async fn grafana_12_1_rejects_unmigrated_keys_but_accepts_migrated_ones() {
    let (sim, forgotten) = start_as(SELF_121, "forgotten-key").await;
    sim.assert_org_rejected(SELF_121, &forgotten, Errutil::InvalidKey)
        .await;
    let migrated = sim.secret(AMG_121, "pre-upgrade-key").await;
    sim.assert_org_ok(AMG_121, &migrated).await;
}

#[tokio::test]
async fn nine_x_only_migration_endpoints_exist_on_9_4_only() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let status = sim
        .get(
            AMG_94,
            "/api/serviceaccounts/migrationstatus",
            &Auth::Bearer(&nine),
        )
        .await;
    assert_eq!(status.json(), json!({"migrated": false}));
    let hide = sim
        .post(
            AMG_94,
            "/api/serviceaccounts/hideApiKeys",
            &Auth::Bearer(&nine),
            json!({}),
        )
        .await;
    assert_legacy(&hide, 200, "API keys hidden");
    let status = sim
        .get(
            AMG_94,
            "/api/serviceaccounts/migrationstatus",
            &Auth::Bearer(&nine),
        )
        .await;
    assert_eq!(status.json(), json!({"migrated": true}));
    let converted = sim
        .post(
            AMG_94,
            "/api/serviceaccounts/migrate/2",
            &Auth::Bearer(&nine),
            json!({}),
        )
        .await;
    assert_legacy(&converted, 200, "Service accounts converted");
    let reverted = sim
        .post(
            AMG_94,
            "/api/serviceaccounts/revert/2",
            &Auth::Bearer(&nine),
            json!({}),
        )
        .await;
    assert_legacy(&reverted, 200, "API key reverted");
    let keys = sim
        .get(AMG_94, "/api/auth/keys", &Auth::Bearer(&nine))
        .await;
    assert!(
        keys.text.contains("ci-deploy"),
        "reverted key is a plain key again"
    );

    let ten = sim.secret(AMG_104, "bootstrap-admin").await;
    let gone = sim
        .get(
            AMG_104,
            "/api/serviceaccounts/migrationstatus",
            &Auth::Bearer(&ten),
        )
        .await;
    assert_legacy(&gone, 404, "Not found");
}

// ---- §5 service accounts -----------------------------------------------------------------------

#[tokio::test]
async fn creating_a_service_account_returns_201_with_a_version_specific_login() {
    let sim = start().await;
    let created = sim
        .post(
            SELF_115,
            "/api/serviceaccounts/",
            &ADMIN_115,
            json!({"name": "Rotation Bot", "role": "Editor"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    assert_eq!(body["login"], "sa-1-rotation-bot");
    assert_eq!(body["role"], "Editor");
    assert_eq!(body["tokens"], 0);
    assert_eq!(body["isDisabled"], false);
    assert!(body["avatarUrl"].as_str().unwrap().starts_with("/avatar/"));

    let nine = sim.secret(AMG_94, "terraform-admin").await;
    let old = sim
        .post(
            AMG_94,
            "/api/serviceaccounts",
            &Auth::Bearer(&nine),
            json!({"name": "Rotation Bot"}),
        )
        .await;
    assert_eq!(old.status, 201);
    assert_eq!(old.json()["login"], "sa-rotation-bot");
    assert_eq!(old.json()["role"], "Viewer", "role defaults to Viewer");
}

#[tokio::test]
async fn service_account_creation_errors_follow_grafana() {
    let sim = start().await;
    sim.create_account(SELF_115, &ADMIN_115, "dup", "Viewer")
        .await;
    let duplicate = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &ADMIN_115,
            json!({"name": "DUP"}),
        )
        .await;
    assert_errutil(&duplicate, Errutil::SaExists);
    let bad_role = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &ADMIN_115,
            json!({"name": "x", "role": "Owner"}),
        )
        .await;
    assert_errutil(&bad_role, Errutil::SaBadRole);
    let malformed = sim
        .post_raw(SELF_115, "/api/serviceaccounts", &ADMIN_115, "{\"name\":")
        .await;
    assert_legacy(&malformed, 400, "Bad request data");
    let empty = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &ADMIN_115,
            json!({"name": ""}),
        )
        .await;
    assert_eq!(empty.status, 400);
}

#[tokio::test]
async fn service_account_search_paginates_and_filters() {
    let sim = start().await;
    for name in ["alpha", "beta", "gamma"] {
        sim.create_account(SELF_115, &ADMIN_115, name, "Viewer")
            .await;
    }
    let page = sim
        .get(
            SELF_115,
            "/api/serviceaccounts/search?perpage=2&page=2",
            &ADMIN_115,
        )
        .await
        .json();
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["perPage"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(page["serviceAccounts"].as_array().unwrap().len(), 1);
    assert_eq!(page["serviceAccounts"][0]["name"], "gamma");
    let defaults = sim
        .get(SELF_115, "/api/serviceaccounts/search", &ADMIN_115)
        .await
        .json();
    assert_eq!(defaults["perPage"], 1000);
    assert_eq!(defaults["page"], 1);
    let query = sim
        .get(SELF_115, "/api/serviceaccounts/search?query=ET", &ADMIN_115)
        .await
        .json();
    assert_eq!(query["totalCount"], 1);
    assert_eq!(query["serviceAccounts"][0]["name"], "beta");
    let beta = query["serviceAccounts"][0]["id"].as_i64().unwrap();
    sim.patch(
        SELF_115,
        &format!("/api/serviceaccounts/{beta}"),
        &ADMIN_115,
        json!({"isDisabled": true}),
    )
    .await;
    let disabled = sim
        .get(
            SELF_115,
            "/api/serviceaccounts/search?disabled=true",
            &ADMIN_115,
        )
        .await
        .json();
    assert_eq!(disabled["totalCount"], 1);
    assert_eq!(disabled["serviceAccounts"][0]["name"], "beta");
}

#[tokio::test]
async fn get_patch_and_delete_a_service_account() {
    let (sim, id) = start_with_account(SELF_115, &ADMIN_115, "lifecycle", "Viewer").await;
    let profile = sim
        .get(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await;
    assert_eq!(profile.status, 200);
    let body = profile.json();
    assert_eq!(body["teams"], json!([]));
    assert!(body["createdAt"].is_string() && body["updatedAt"].is_string());
    let patched = sim
        .patch(
            SELF_115,
            &format!("/api/serviceaccounts/{id}"),
            &ADMIN_115,
            json!({"name": "renamed", "role": "Editor"}),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["message"], "Service account updated");
    assert_eq!(patched.json()["serviceaccount"]["role"], "Editor");
    assert_eq!(patched.json()["serviceaccount"]["login"], "sa-1-renamed");
    let deleted = sim
        .delete(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await;
    assert_legacy(&deleted, 200, "Service account deleted");
    let missing = sim
        .get(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await;
    assert_errutil(&missing, Errutil::SaNotFound);
    let again = sim
        .delete(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await;
    assert_errutil(&again, Errutil::SaNotFound);
    let invalid = sim
        .get(SELF_115, "/api/serviceaccounts/abc", &ADMIN_115)
        .await;
    assert_legacy(&invalid, 400, "Service Account ID is invalid");
}

// ---- RBAC ----------------------------------------------------------------------------------

#[tokio::test]
async fn only_admins_manage_service_accounts_and_editors_create_folders() {
    let sim = start().await;
    let denied = sim
        .post(
            SELF_115,
            "/api/serviceaccounts",
            &EDITOR_115,
            json!({"name": "x"}),
        )
        .await;
    assert_rbac_denied(&denied, "serviceaccounts:create");
    let search = sim
        .get(SELF_115, "/api/serviceaccounts/search", &VIEWER_115)
        .await;
    assert_rbac_denied(&search, "serviceaccounts:read");
    let viewer_key = sim.secret(AMG_94, "status-page").await;
    let keys = sim
        .get(AMG_94, "/api/auth/keys", &Auth::Bearer(&viewer_key))
        .await;
    assert_rbac_denied(&keys, "apikeys:read");

    let folder = sim
        .post(
            SELF_115,
            "/api/folders",
            &EDITOR_115,
            json!({"title": "Team A"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.text);
    assert_eq!(folder.json()["title"], "Team A");
    let viewer_folder = sim
        .post(SELF_115, "/api/folders", &VIEWER_115, json!({"title": "B"}))
        .await;
    assert_rbac_denied(&viewer_folder, "folders:create");
    let folders = sim
        .get(SELF_115, "/api/folders?limit=10", &VIEWER_115)
        .await
        .json();
    let titles: Vec<&str> = folders
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Operations", "Team A"]);
    let hits = sim
        .get(SELF_115, "/api/search?limit=1", &VIEWER_115)
        .await
        .json();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["type"], "dash-folder");
}

#[tokio::test]
async fn permissions_endpoint_reflects_the_token_role() {
    let sim = start().await;
    let admin = sim
        .get(SELF_115, "/api/access-control/user/permissions", &ADMIN_115)
        .await
        .json();
    assert_eq!(admin["serviceaccounts:write"], json!(["serviceaccounts:*"]));
    let viewer = sim
        .get(
            SELF_115,
            "/api/access-control/user/permissions",
            &VIEWER_115,
        )
        .await
        .json();
    assert!(viewer.get("serviceaccounts:write").is_none());
    assert!(viewer.get("folders:read").is_some());
    let admin_121 = sim
        .get(SELF_121, "/api/access-control/user/permissions", &ADMIN_121)
        .await
        .json();
    assert!(
        admin_121.get("apikeys:read").is_none(),
        "apikeys actions removed in 12.1"
    );
}

// ---- §6 tokens -----------------------------------------------------------------------------

#[tokio::test]
async fn token_list_has_present_with_null_fields_and_the_seven_day_rule() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let terraform = sim.account_id(AMG_104, &auth, "terraform").await;
    let id = sim
        .create_token(AMG_104, &auth, terraform, "long-lived", 2_000_000)
        .await
        .0;
    let tokens = sim
        .get(
            AMG_104,
            &format!("/api/serviceaccounts/{terraform}/tokens"),
            &auth,
        )
        .await
        .json();
    let names: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["long-lived", "terraform-2024-q4", "terraform-2025-q1"]
    );
    let long = &tokens[0];
    assert_eq!(long["id"], id);
    assert!(
        long.get("lastUsedAt").unwrap().is_null(),
        "present with null"
    );
    assert_eq!(long["secondsUntilExpiration"], 0.0, "more than 7 days away");
    let expired = &tokens[1];
    assert_eq!(expired["hasExpired"], true);
    assert_eq!(expired["secondsUntilExpiration"], 0.0);
    let soon = &tokens[2];
    let seconds = soon["secondsUntilExpiration"].as_f64().unwrap();
    assert!(seconds > 170_000.0 && seconds <= 172_800.0, "{seconds}");
    assert!(soon["lastUsedAt"].is_string());
    assert_eq!(soon["isRevoked"], false);
    assert!(!tokens.to_string().contains("glsa_"));
}

#[tokio::test]
async fn a_minted_token_works_then_expires_when_the_clock_advances() {
    let sim = start().await;
    let (account, token_id, key) = sim
        .account_with_token(SELF_115, &ADMIN_115, ("minter", "Admin"), ("short", 3600))
        .await;
    assert!(key.starts_with("glsa_") && key.len() == 46);
    let org = sim.get(SELF_115, "/api/org", &Auth::Bearer(&key)).await;
    assert_eq!(org.status, 200);
    let tokens = sim
        .get(
            SELF_115,
            &format!("/api/serviceaccounts/{account}/tokens"),
            &ADMIN_115,
        )
        .await
        .json();
    let row = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token_id)
        .unwrap();
    assert!(row["lastUsedAt"].is_string(), "lastUsedAt updated on use");
    sim.advance_clock(3601).await;
    sim.assert_org_rejected(SELF_115, &key, Errutil::ExpiredKey)
        .await;
}

#[tokio::test]
async fn revoked_deleted_and_disabled_tokens_get_grafanas_401s() {
    let sim = start().await;
    let (account, revoked_id, revoked) = sim
        .account_with_token(SELF_115, &ADMIN_115, ("victim", "Editor"), ("r", 0))
        .await;
    let revoke = sim
        .control_post(
            "/revoke",
            json!({"workspace": SELF_115, "tokenId": revoked_id}),
        )
        .await;
    assert_eq!(revoke.status, 200);
    sim.assert_org_rejected(SELF_115, &revoked, Errutil::RevokedKey)
        .await;

    let (deleted_id, deleted) = sim
        .create_token(SELF_115, &ADMIN_115, account, "d", 0)
        .await;
    sim.assert_org_ok(SELF_115, &deleted).await;
    let removal = sim
        .delete(
            SELF_115,
            &format!("/api/serviceaccounts/{account}/tokens/{deleted_id}"),
            &ADMIN_115,
        )
        .await;
    assert_legacy(&removal, 200, "Service account token deleted");
    sim.assert_org_rejected(SELF_115, &deleted, Errutil::InvalidKey)
        .await;

    let (_, disabled) = sim
        .create_token(SELF_115, &ADMIN_115, account, "x", 0)
        .await;
    sim.patch(
        SELF_115,
        &format!("/api/serviceaccounts/{account}"),
        &ADMIN_115,
        json!({"isDisabled": true}),
    )
    .await;
    sim.assert_org_rejected(SELF_115, &disabled, Errutil::DisabledIdentity)
        .await;
}

#[tokio::test]
async fn a_deleted_token_on_an_older_server_gets_a_bare_unauthorized() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let (account, id, key) = sim
        .account_with_token(AMG_104, &auth, ("older", "Viewer"), ("gone", 3600))
        .await;
    let removal = sim
        .delete(
            AMG_104,
            &format!("/api/serviceaccounts/{account}/tokens/{id}"),
            &auth,
        )
        .await;
    assert_eq!(removal.status, 200);
    let answer = sim.get(AMG_104, "/api/org", &Auth::Bearer(&key)).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json(),
        json!({"message": "Unauthorized", "traceID": ""})
    );
}

#[tokio::test]
async fn token_names_are_unique_per_org_across_keys_and_tokens() {
    let (sim, account) = start_with_account(SELF_115, &ADMIN_115, "namer", "Viewer").await;
    let other = sim
        .create_account(SELF_115, &ADMIN_115, "other", "Viewer")
        .await;
    sim.create_token(SELF_115, &ADMIN_115, account, "shared", 0)
        .await;
    for (target, name) in [(other, "shared"), (account, "backup-job")] {
        let duplicate = sim
            .post(
                SELF_115,
                &format!("/api/serviceaccounts/{target}/tokens"),
                &ADMIN_115,
                json!({"name": name}),
            )
            .await;
        assert_errutil(&duplicate, Errutil::TokenNameTaken);
    }
    let nine = sim.secret(AMG_94, "terraform-admin").await;
    let old_account = sim
        .create_account(AMG_94, &Auth::Bearer(&nine), "old", "Viewer")
        .await;
    let old = sim
        .post(
            AMG_94,
            &format!("/api/serviceaccounts/{old_account}/tokens"),
            &Auth::Bearer(&nine),
            json!({"name": "ci-deploy"}),
        )
        .await;
    assert_eq!(old.status, 409, "older servers answer 409");
}

#[tokio::test]
async fn token_ttl_rules_follow_the_instance_settings() {
    let (sim, account) = start_with_account(SELF_115, &ADMIN_115, "ttl", "Viewer").await;
    let path = format!("/api/serviceaccounts/{account}/tokens");
    let negative = sim
        .post(
            SELF_115,
            &path,
            &ADMIN_115,
            json!({"name": "n", "secondsToLive": -1}),
        )
        .await;
    assert_errutil(&negative, Errutil::BadTtl);
    let beyond = sim
        .post(
            SELF_115,
            &path,
            &ADMIN_115,
            json!({"name": "b", "secondsToLive": 91 * 86_400}),
        )
        .await;
    assert_eq!(beyond.status, 400);
    assert!(
        beyond.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        beyond.text,
        "The expiration date input exceeds the limit for service account access tokens expiration date"
    );
    let malformed = sim.post_raw(SELF_115, &path, &ADMIN_115, "[").await;
    assert_legacy(&malformed, 400, "Bad request data");

    let admin = sim.secret(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let amg_account = sim
        .create_account(AMG_104, &auth, "amg-ttl", "Viewer")
        .await;
    let amg_path = format!("/api/serviceaccounts/{amg_account}/tokens");
    let unset = sim
        .post(AMG_104, &amg_path, &auth, json!({"name": "u"}))
        .await;
    assert_legacy(
        &unset,
        400,
        "Number of seconds before expiration should be set",
    );
    let above = sim
        .post(
            AMG_104,
            &amg_path,
            &auth,
            json!({"name": "u", "secondsToLive": 2_592_001}),
        )
        .await;
    assert_legacy(
        &above,
        400,
        "Number of seconds before expiration is greater than the global limit",
    );
}

#[tokio::test]
async fn token_routes_answer_unknown_ids_like_grafana() {
    let (sim, account) = start_with_account(SELF_115, &ADMIN_115, "owner", "Viewer").await;
    let other = sim
        .create_account(SELF_115, &ADMIN_115, "stranger", "Viewer")
        .await;
    let (token, _) = sim
        .create_token(SELF_115, &ADMIN_115, account, "mine", 0)
        .await;
    let cross = sim
        .delete(
            SELF_115,
            &format!("/api/serviceaccounts/{other}/tokens/{token}"),
            &ADMIN_115,
        )
        .await;
    assert_errutil(&cross, Errutil::TokenNotFound);
    let no_account = sim
        .post(
            SELF_115,
            "/api/serviceaccounts/9999/tokens",
            &ADMIN_115,
            json!({"name": "z"}),
        )
        .await;
    assert_errutil(&no_account, Errutil::SaNotFound);
    let bad_token_id = sim
        .delete(
            SELF_115,
            &format!("/api/serviceaccounts/{account}/tokens/abc"),
            &ADMIN_115,
        )
        .await;
    assert_eq!(bad_token_id.status, 400);
}

#[tokio::test]
async fn an_admin_token_can_rotate_tokens_of_other_accounts() {
    let (sim, rotator) = start_as(AMG_121, "rotation-admin-1").await;
    let auth = Auth::Bearer(&rotator);
    let (_, _, key) = sim
        .account_with_token(
            AMG_121,
            &auth,
            ("consumer", "Editor"),
            ("consumer-1", 86_400),
        )
        .await;
    let permissions = sim
        .get(
            AMG_121,
            "/api/access-control/user/permissions",
            &Auth::Bearer(&key),
        )
        .await
        .json();
    assert!(permissions.get("folders:create").is_some());
    assert!(permissions.get("serviceaccounts:write").is_none());
}

// ---- §7 /api/user --------------------------------------------------------------------------

#[tokio::test]
async fn api_user_answers_tokens_differently_per_version() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let (_, _, token) = sim
        .account_with_token(
            AMG_94,
            &Auth::Bearer(&nine),
            ("who", "Viewer"),
            ("who-1", 0),
        )
        .await;
    let profile = sim.get(AMG_94, "/api/user", &Auth::Bearer(&token)).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.json()["login"], "sa-who");

    let (_, _, token) = sim
        .account_with_token(SELF_115, &ADMIN_115, ("who", "Viewer"), ("who-1", 0))
        .await;
    let forbidden = sim.get(SELF_115, "/api/user", &Auth::Bearer(&token)).await;
    assert_legacy(&forbidden, 403, "Endpoint only available for users");
    let user = sim.get(SELF_115, "/api/user", &ADMIN_115).await;
    assert_eq!(user.json()["login"], "admin");

    let twelve = sim.secret(AMG_121, "rotation-admin-1").await;
    let minimal = sim
        .get(AMG_121, "/api/user", &Auth::Bearer(&twelve))
        .await
        .json();
    assert_eq!(minimal["isGrafanaAdmin"], false);
    assert_eq!(minimal["orgId"], 1);
    assert_eq!(minimal["login"], "sa-1-rotation-admin");
}
