//! More documented behaviours of `reference/grafana-http-api.md`, over real HTTP: version
//! quirks the sample fleet cannot show, RBAC grants that make the "role higher than yours"
//! answers reachable, list caps and orderings, and field presence rules.

mod common;

use common::*;
use grafana_sim::FleetSpec;
use serde_json::{Value, json};

const OLD: &str = "audit-104";
const NEW: &str = "audit-115";
const HIDDEN: &str = "audit-hidden";

const OLD_ADMIN: Auth<'static> = Auth::User("admin", "old-admin");
const OLD_KEY_EDITOR: Auth<'static> = Auth::User("key-editor", "old-key-editor");
const NEW_ADMIN: Auth<'static> = Auth::User("admin", "new-admin");
const NEW_SA_MANAGER: Auth<'static> = Auth::User("sa-manager", "new-sa-manager");

/// A 10.4 and an 11.5 self-hosted Grafana with two orgs each, Editors granted fixed roles,
/// a user squatting the login a migration wants, and an instance hiding its version.
fn audit_fleet() -> FleetSpec {
    FleetSpec::from_json(
        r#"{ "seed": 7, "workspaces": [
          { "kind": "selfHosted", "id": "audit-104", "version": "10.4.0",
            "orgs": [ { "id": 1, "name": "Main Org." }, { "id": 2, "name": "Second" } ],
            "users": [
              { "login": "admin", "password": "old-admin", "roles": { "1": "Admin", "2": "Admin" } },
              { "login": "key-editor", "password": "old-key-editor", "roles": { "1": "Editor" },
                "fixedRoles": { "1": ["fixed:apikeys:writer"] } } ],
            "apiKeys": [ { "name": "Mixed Case Key", "role": "Viewer" },
                         { "name": "ci-deploy", "role": "Editor" } ] },
          { "kind": "selfHosted", "id": "audit-115", "version": "11.5.0",
            "orgs": [ { "id": 1, "name": "Main Org." }, { "id": 2, "name": "Second" } ],
            "users": [
              { "login": "admin", "password": "new-admin", "roles": { "1": "Admin", "2": "Admin" } },
              { "login": "sa-manager", "password": "new-sa-manager", "roles": { "1": "Editor" },
                "fixedRoles": { "1": ["fixed:serviceaccounts:writer"] } },
              { "login": "sa-autogen-1-deploy-bot", "password": "squatter", "roles": { "1": "Viewer" } } ],
            "apiKeys": [ { "name": "Deploy Bot", "role": "Editor" } ],
            "folders": [ { "uid": "ops", "title": "Operations" } ] },
          { "kind": "selfHosted", "id": "audit-hidden", "version": "11.5.0",
            "settings": { "hideVersion": true } } ] }"#,
    )
    .unwrap()
}

fn names_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_string())
        .collect()
}

fn in_org(org: &str, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    builder.header("X-Grafana-Org-Id", org)
}

async fn first_token_last_used(sim: &Sim, path: &str) -> String {
    sim.get(NEW, path, &NEW_ADMIN).await.json()[0]["lastUsedAt"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---- §2.1 presenting a credential, §8 health ---------------------------------------------------

#[tokio::test]
async fn the_api_key_basic_form_carries_service_account_tokens_too() {
    let sim = start_with(audit_fleet()).await;
    let (_, _, token) = sim
        .account_with_token(
            NEW,
            &NEW_ADMIN,
            ("basic-form", "Viewer"),
            ("basic-form-1", 0),
        )
        .await;
    let answer = sim.get(NEW, "/api/org", &Auth::ApiKeyBasic(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let wrong = sim
        .get(
            NEW,
            "/api/org",
            &Auth::ApiKeyBasic("glsa_abcdefghijklmnopqrstuvwxyz012345_00000000"),
        )
        .await;
    assert_errutil(&wrong, Errutil::InvalidKey);
}

#[tokio::test]
async fn healthz_is_plain_ok_and_hide_version_drops_version_and_commit() {
    let sim = start_with(audit_fleet()).await;
    let healthz = sim.get(NEW, "/healthz", &Auth::None).await;
    assert_eq!(healthz.status, 200);
    assert_eq!(healthz.text, "Ok");
    let shown = sim.get(NEW, "/api/health", &Auth::None).await.json();
    assert_eq!(shown["version"], "11.5.0");
    assert!(shown["commit"].is_string());
    let hidden = sim.get(HIDDEN, "/api/health", &Auth::None).await.json();
    assert_eq!(hidden, json!({"database": "ok"}));
}

#[tokio::test]
async fn unknown_api_routes_are_404_with_or_without_credentials() {
    let sim = start_with(audit_fleet()).await;
    for auth in [Auth::None, NEW_ADMIN] {
        let answer = sim.get(NEW, "/api/no/such/route", &auth).await;
        assert_legacy(&answer, 404, "Not found");
    }
}

// ---- §3 legacy keys ------------------------------------------------------------------------------

#[tokio::test]
async fn key_list_shows_last_used_only_from_10_x_and_expiration_only_when_set() {
    let sim = start().await;
    // 9.4: terraform-admin was used two hours ago (fleet) and again by this request, yet the
    // 9.x list has no lastUsedAt field at all.
    let nine = sim.secret(AMG_94, "terraform-admin").await;
    let list = sim
        .get(AMG_94, "/api/auth/keys", &Auth::Bearer(&nine))
        .await
        .json();
    let admin = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "terraform-admin")
        .unwrap();
    assert!(admin.get("lastUsedAt").is_none(), "{admin}");
    assert!(
        admin["expiration"].is_string(),
        "expiring key has expiration"
    );

    // 10.4: the key used for this request reports lastUsedAt; the never-used one omits it.
    let ten = sim.secret(AMG_104, "bootstrap-admin").await;
    let list = sim
        .get(AMG_104, "/api/auth/keys", &Auth::Bearer(&ten))
        .await
        .json();
    let find = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(find("bootstrap-admin")["lastUsedAt"].is_string());
    let wallboard = find("wallboard");
    assert!(wallboard.get("lastUsedAt").is_none(), "{wallboard}");
    assert!(!list.to_string().contains("null"), "omitted, never null");
}

#[tokio::test]
async fn created_keys_are_base64_json_with_fields_k_n_id() {
    use base64::Engine;
    let sim = start_with(audit_fleet()).await;
    let created = sim
        .send(
            in_org(
                "2",
                sim.request(reqwest::Method::POST, OLD, "/api/auth/keys", &OLD_ADMIN),
            )
            .json(&json!({"name": "format-check", "role": "Viewer"})),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let key = created.json()["key"].as_str().unwrap().to_string();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .unwrap();
    let text = String::from_utf8(decoded).unwrap();
    assert!(text.starts_with("{\"k\":\""), "{text}");
    assert!(
        text.ends_with(",\"n\":\"format-check\",\"id\":2}"),
        "{text}"
    );
    let secret = serde_json::from_str::<Value>(&text).unwrap()["k"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[tokio::test]
async fn key_names_are_unique_per_org_across_keys_and_tokens() {
    let sim = start_with(audit_fleet()).await;
    let account = sim
        .create_account(OLD, &OLD_ADMIN, "holder", "Viewer")
        .await;
    sim.create_token(OLD, &OLD_ADMIN, account, "shared-name", 0)
        .await;
    let clash = sim
        .post(
            OLD,
            "/api/auth/keys",
            &OLD_ADMIN,
            json!({"name": "shared-name", "role": "Viewer"}),
        )
        .await;
    assert_legacy(
        &clash,
        409,
        "API key, organization ID and name must be unique",
    );
    let other_org = sim
        .send(
            in_org(
                "2",
                sim.request(reqwest::Method::POST, OLD, "/api/auth/keys", &OLD_ADMIN),
            )
            .json(&json!({"name": "shared-name", "role": "Viewer"})),
        )
        .await;
    assert_eq!(other_org.status, 200, "{}", other_org.text);
}

#[tokio::test]
async fn a_key_role_above_the_callers_is_403_for_an_editor_granted_key_management() {
    let sim = start_with(audit_fleet()).await;
    let above = sim
        .post(
            OLD,
            "/api/auth/keys",
            &OLD_KEY_EDITOR,
            json!({"name": "too-strong", "role": "Admin"}),
        )
        .await;
    assert_legacy(&above, 403, "Cannot assign a role higher than user's role");
    let equal = sim
        .post(
            OLD,
            "/api/auth/keys",
            &OLD_KEY_EDITOR,
            json!({"name": "just-right", "role": "Editor"}),
        )
        .await;
    assert_eq!(equal.status, 200, "{}", equal.text);
    let list = sim.get(OLD, "/api/auth/keys", &OLD_KEY_EDITOR).await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains("just-right"));
    let accounts = sim
        .get(OLD, "/api/serviceaccounts/search", &OLD_KEY_EDITOR)
        .await;
    assert_rbac_denied(&accounts, "serviceaccounts:read");
}

// ---- §4 migration --------------------------------------------------------------------------------

#[tokio::test]
async fn migrated_logins_keep_their_case_on_10_x_and_are_lowercased_with_suffixes_on_11_x() {
    let sim = start_with(audit_fleet()).await;
    let all = sim
        .post(OLD, "/api/serviceaccounts/migrate", &OLD_ADMIN, json!({}))
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let search = sim
        .get(OLD, "/api/serviceaccounts/search?query=Mixed", &OLD_ADMIN)
        .await
        .json();
    assert_eq!(
        search["serviceAccounts"][0]["name"],
        "sa-autogen-Mixed Case Key"
    );
    assert_eq!(
        search["serviceAccounts"][0]["login"],
        "sa-autogen-1-Mixed Case Key"
    );

    let keys = sim.get(NEW, "/api/auth/keys", &NEW_ADMIN).await.json();
    let id = keys[0]["id"].as_i64().unwrap();
    let one = sim
        .post(
            NEW,
            &format!("/api/serviceaccounts/migrate/{id}"),
            &NEW_ADMIN,
            json!({}),
        )
        .await;
    assert_legacy(&one, 200, "Service accounts migrated");
    let account = sim
        .account_id(NEW, &NEW_ADMIN, "sa-autogen-Deploy Bot")
        .await;
    let profile = sim
        .get(NEW, &format!("/api/serviceaccounts/{account}"), &NEW_ADMIN)
        .await
        .json();
    assert_eq!(
        profile["login"], "sa-autogen-1-deploy-bot-001",
        "lowercased, and a user already holds the plain login"
    );
}

#[tokio::test]
async fn bulk_migration_up_to_10_0_fails_with_500_when_a_key_cannot_be_converted() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let auth = Auth::Bearer(&nine);
    // 9.4 logins are `sa-<name>`: this account takes the login the migration of ci-deploy wants.
    sim.create_account(AMG_94, &auth, "autogen-1-ci-deploy", "Viewer")
        .await;
    let answer = sim
        .post(AMG_94, "/api/serviceaccounts/migrate", &auth, json!({}))
        .await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert!(answer.json()["message"].is_string());
}

// ---- §5 service accounts ---------------------------------------------------------------------------

#[tokio::test]
async fn a_role_above_the_callers_is_403_for_an_editor_granted_service_account_management() {
    let sim = start_with(audit_fleet()).await;
    let permissions = sim
        .get(NEW, "/api/access-control/user/permissions", &NEW_SA_MANAGER)
        .await
        .json();
    assert_eq!(
        permissions["serviceaccounts:write"],
        json!(["serviceaccounts:*"])
    );
    assert!(
        permissions.get("folders:create").is_some(),
        "still an Editor"
    );
    let above = sim
        .post(
            NEW,
            "/api/serviceaccounts",
            &NEW_SA_MANAGER,
            json!({"name": "too-strong", "role": "Admin"}),
        )
        .await;
    assert_errutil(&above, Errutil::RoleForbidden);
    let id = sim
        .create_account(NEW, &NEW_SA_MANAGER, "managed", "Editor")
        .await;
    let promote = sim
        .patch(
            NEW,
            &format!("/api/serviceaccounts/{id}"),
            &NEW_SA_MANAGER,
            json!({"role": "Admin"}),
        )
        .await;
    assert_errutil(&promote, Errutil::RoleForbidden);
    let (_, token) = sim
        .create_token(NEW, &NEW_SA_MANAGER, id, "managed-1", 3600)
        .await;
    sim.assert_org_ok(NEW, &token).await;
}

#[tokio::test]
async fn a_service_account_with_role_none_authenticates_but_sees_nothing() {
    let sim = start_with(audit_fleet()).await;
    let created = sim
        .post(
            NEW,
            "/api/serviceaccounts",
            &NEW_ADMIN,
            json!({"name": "nobody", "role": "None"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["role"], "None");
    let id = created.json()["id"].as_i64().unwrap();
    let (_, token) = sim.create_token(NEW, &NEW_ADMIN, id, "nobody-1", 0).await;
    let auth = Auth::Bearer(&token);
    // UNCONFIRMED in the reference; the simulator answers with the RBAC deny body.
    assert_rbac_denied(&sim.get(NEW, "/api/org", &auth).await, "orgs:read");
    let search = sim.get(NEW, "/api/search?limit=1", &auth).await;
    assert_eq!(search.status, 200);
    assert_eq!(search.json(), json!([]));
    assert_eq!(sim.get(NEW, "/api/folders", &auth).await.json(), json!([]));
    assert_eq!(
        sim.get(NEW, "/api/access-control/user/actions", &auth)
            .await
            .json(),
        json!({})
    );
}

#[tokio::test]
async fn service_account_logins_include_the_org_only_on_newer_servers() {
    let sim = start_with(audit_fleet()).await;
    for (instance, admin, second_org_status) in [(OLD, OLD_ADMIN, 400), (NEW, NEW_ADMIN, 201)] {
        sim.create_account(instance, &admin, "twin", "Viewer").await;
        let second = sim
            .send(
                in_org(
                    "2",
                    sim.request(
                        reqwest::Method::POST,
                        instance,
                        "/api/serviceaccounts",
                        &admin,
                    ),
                )
                .json(&json!({"name": "twin"})),
            )
            .await;
        assert_eq!(second.status.as_u16(), second_org_status, "{}", second.text);
        if second_org_status == 400 {
            assert_errutil(&second, Errutil::SaExists);
        } else {
            assert_eq!(second.json()["login"], "sa-2-twin");
            assert_eq!(second.json()["orgId"], 2);
        }
    }
}

#[tokio::test]
async fn renaming_into_a_taken_name_is_400_and_other_patch_errors_follow_create() {
    let sim = start_with(audit_fleet()).await;
    sim.create_account(NEW, &NEW_ADMIN, "first", "Viewer").await;
    let second = sim
        .create_account(NEW, &NEW_ADMIN, "second", "Viewer")
        .await;
    let path = format!("/api/serviceaccounts/{second}");
    let collision = sim
        .patch(NEW, &path, &NEW_ADMIN, json!({"name": "First"}))
        .await;
    assert_errutil(&collision, Errutil::SaExists);
    let same = sim
        .patch(NEW, &path, &NEW_ADMIN, json!({"name": "Second"}))
        .await;
    assert_eq!(
        same.status, 200,
        "renaming to its own login is no collision"
    );
    let bad_role = sim
        .patch(NEW, &path, &NEW_ADMIN, json!({"role": "Owner"}))
        .await;
    assert_errutil(&bad_role, Errutil::SaBadRole);
    let missing = sim
        .patch(
            NEW,
            "/api/serviceaccounts/424242",
            &NEW_ADMIN,
            json!({"name": "x"}),
        )
        .await;
    assert_errutil(&missing, Errutil::SaNotFound);
}

#[tokio::test]
async fn search_filters_expired_tokens_and_adds_access_control_on_request() {
    let (sim, admin) = start_as(AMG_104, "bootstrap-admin").await;
    let auth = Auth::Bearer(&admin);
    let expired = sim
        .get(
            AMG_104,
            "/api/serviceaccounts/search?expiredTokens=true",
            &auth,
        )
        .await
        .json();
    let names: Vec<&str> = expired["serviceAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["terraform"], "only it holds an expired token");
    assert_eq!(expired["totalCount"], 1);
    assert!(expired["serviceAccounts"][0].get("accessControl").is_none());
    let with_access = sim
        .get(
            AMG_104,
            "/api/serviceaccounts/search?accesscontrol=true&perpage=1",
            &auth,
        )
        .await
        .json();
    assert_eq!(
        with_access["serviceAccounts"][0]["accessControl"]["serviceaccounts:write"],
        true
    );
    assert!(with_access["serviceAccounts"][0]["tokens"].is_u64());
}

#[tokio::test]
async fn older_servers_answer_unknown_account_and_token_deletes_with_legacy_bodies() {
    let (sim, nine) = start_as(AMG_94, "terraform-admin").await;
    let auth = Auth::Bearer(&nine);
    let gone = sim
        .delete(AMG_94, "/api/serviceaccounts/424242", &auth)
        .await;
    assert_legacy(&gone, 500, "Service account deletion error");
    let (account, token, _) = sim
        .account_with_token(AMG_94, &auth, ("old-style", "Viewer"), ("old-style-1", 0))
        .await;
    let path = format!("/api/serviceaccounts/{account}/tokens/{token}");
    assert_legacy(
        &sim.delete(AMG_94, &path, &auth).await,
        200,
        "API key deleted",
    );
    assert_legacy(
        &sim.delete(AMG_94, &path, &auth).await,
        404,
        "Failed to delete service account token",
    );
}

// ---- §6 tokens -------------------------------------------------------------------------------------

#[tokio::test]
async fn token_list_is_ordered_by_name_and_capped_at_300() {
    let sim = start_with(audit_fleet()).await;
    let account = sim.create_account(NEW, &NEW_ADMIN, "many", "Viewer").await;
    // Created in reverse name order so ordering by id would fail.
    for index in (0..301).rev() {
        sim.create_token(NEW, &NEW_ADMIN, account, &format!("t-{index:03}"), 0)
            .await;
    }
    let list = sim
        .get(
            NEW,
            &format!("/api/serviceaccounts/{account}/tokens"),
            &NEW_ADMIN,
        )
        .await
        .json();
    let expected: Vec<String> = (0..300).map(|index| format!("t-{index:03}")).collect();
    assert_eq!(names_of(&list), expected);
    let profile = sim
        .get(NEW, &format!("/api/serviceaccounts/{account}"), &NEW_ADMIN)
        .await
        .json();
    assert_eq!(profile["tokens"], 301, "the count is not capped");
}

#[tokio::test]
async fn a_token_without_ttl_has_null_expiration_and_zero_seconds_left() {
    let sim = start_with(audit_fleet()).await;
    let account = sim
        .create_account(NEW, &NEW_ADMIN, "forever", "Viewer")
        .await;
    sim.create_token(NEW, &NEW_ADMIN, account, "forever-1", 0)
        .await;
    let list = sim
        .get(
            NEW,
            &format!("/api/serviceaccounts/{account}/tokens"),
            &NEW_ADMIN,
        )
        .await
        .json();
    let token = &list[0];
    for key in [
        "id",
        "name",
        "created",
        "lastUsedAt",
        "expiration",
        "secondsUntilExpiration",
        "hasExpired",
        "isRevoked",
    ] {
        assert!(token.get(key).is_some(), "{key} missing: {token}");
    }
    assert!(token["expiration"].is_null());
    assert!(token["lastUsedAt"].is_null());
    assert_eq!(token["secondsUntilExpiration"], 0.0);
    assert_eq!(token["hasExpired"], false);
}

#[tokio::test]
async fn seconds_until_expiration_counts_down_only_inside_the_last_seven_days() {
    let sim = start_with(audit_fleet()).await;
    let account = sim
        .create_account(NEW, &NEW_ADMIN, "countdown", "Viewer")
        .await;
    sim.create_token(NEW, &NEW_ADMIN, account, "eight-days", 8 * 86_400)
        .await;
    let path = format!("/api/serviceaccounts/{account}/tokens");
    let seconds = |list: &Value| list[0]["secondsUntilExpiration"].as_f64().unwrap();
    let before = sim.get(NEW, &path, &NEW_ADMIN).await.json();
    assert_eq!(seconds(&before), 0.0, "eight days away");
    sim.advance_clock(2 * 86_400).await;
    let inside = sim.get(NEW, &path, &NEW_ADMIN).await.json();
    let left = seconds(&inside);
    assert!(left > 5.9 * 86_400.0 && left <= 6.0 * 86_400.0, "{left}");
    sim.advance_clock(7 * 86_400).await;
    let after = sim.get(NEW, &path, &NEW_ADMIN).await.json();
    assert_eq!(seconds(&after), 0.0, "expired tokens report 0");
    assert_eq!(after[0]["hasExpired"], true);
}

#[tokio::test]
async fn last_used_at_is_refreshed_at_most_every_five_minutes() {
    let sim = start_with(audit_fleet()).await;
    let (account, _, token) = sim
        .account_with_token(NEW, &NEW_ADMIN, ("user", "Viewer"), ("user-1", 0))
        .await;
    let path = format!("/api/serviceaccounts/{account}/tokens");
    sim.get(NEW, "/api/org", &Auth::Bearer(&token)).await;
    let first = first_token_last_used(&sim, &path).await;
    sim.advance_clock(120).await;
    sim.get(NEW, "/api/org", &Auth::Bearer(&token)).await;
    assert_eq!(
        first_token_last_used(&sim, &path).await,
        first,
        "two minutes later: unchanged"
    );
    sim.advance_clock(240).await;
    sim.get(NEW, "/api/org", &Auth::Bearer(&token)).await;
    assert_ne!(
        first_token_last_used(&sim, &path).await,
        first,
        "six minutes later: refreshed"
    );
}

#[tokio::test]
async fn listing_tokens_of_an_unknown_account_is_404_and_a_bad_id_is_400() {
    let sim = start_with(audit_fleet()).await;
    let unknown = sim
        .get(NEW, "/api/serviceaccounts/424242/tokens", &NEW_ADMIN)
        .await;
    assert_errutil(&unknown, Errutil::SaNotFound);
    let invalid = sim
        .get(NEW, "/api/serviceaccounts/x1/tokens", &NEW_ADMIN)
        .await;
    assert_legacy(&invalid, 400, "Service Account ID is invalid");
}

#[tokio::test]
async fn deleting_an_account_deletes_its_tokens_which_then_fail_authentication() {
    let sim = start_with(audit_fleet()).await;
    let (account, _, token) = sim
        .account_with_token(
            NEW,
            &NEW_ADMIN,
            ("short-lived", "Viewer"),
            ("short-lived-1", 0),
        )
        .await;
    let deleted = sim
        .delete(NEW, &format!("/api/serviceaccounts/{account}"), &NEW_ADMIN)
        .await;
    assert_legacy(&deleted, 200, "Service account deleted");
    sim.assert_org_rejected(NEW, &token, Errutil::InvalidKey)
        .await;
}

// ---- §8 verification endpoints --------------------------------------------------------------------

#[tokio::test]
async fn user_actions_mirror_user_permissions() {
    let sim = start_with(audit_fleet()).await;
    let permissions = sim
        .get(NEW, "/api/access-control/user/permissions", &NEW_ADMIN)
        .await
        .json();
    let actions = sim
        .get(NEW, "/api/access-control/user/actions", &NEW_ADMIN)
        .await
        .json();
    let permission_keys: Vec<&String> = permissions.as_object().unwrap().keys().collect();
    let mut action_keys: Vec<&String> = actions.as_object().unwrap().keys().collect();
    action_keys.sort();
    assert_eq!(permission_keys, action_keys);
    assert!(actions.as_object().unwrap().values().all(|v| v == true));
    assert_eq!(actions["serviceaccounts:create"], true);
}

/// 10.1 and 10.2 never refreshed a service-account token's `lastUsedAt` (grafana#78375);
/// a client that reads it as "unused" there would revoke a token still in use, so the
/// simulator must reproduce the quirk: the token authenticates and the field stays null.
#[tokio::test]
async fn a_10_2_server_never_records_service_account_token_use() {
    const OLD_TOKENS: &str = "tokens-102";
    const ADMIN: Auth<'static> = Auth::User("admin", "admin-102");
    let sim = start_with(
        FleetSpec::from_json(
            r#"{ "seed": 3, "workspaces": [
              { "kind": "selfHosted", "id": "tokens-102", "version": "10.2.3",
                "users": [ { "login": "admin", "password": "admin-102", "roles": { "1": "Admin" } } ] } ] }"#,
        )
        .unwrap(),
    )
    .await;
    let (account, _, token) = sim
        .account_with_token(OLD_TOKENS, &ADMIN, ("user", "Viewer"), ("user-1", 0))
        .await;
    let used = sim.get(OLD_TOKENS, "/api/org", &Auth::Bearer(&token)).await;
    assert_eq!(used.status, 200, "the token authenticates");
    sim.advance_clock(600).await;
    sim.get(OLD_TOKENS, "/api/org", &Auth::Bearer(&token)).await;
    let path = format!("/api/serviceaccounts/{account}/tokens");
    let list = sim.get(OLD_TOKENS, &path, &ADMIN).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert!(list[0]["lastUsedAt"].is_null(), "{list}");
}
