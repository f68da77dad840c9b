//! The Grafana HTTP adapter against grafana-sim over real HTTP, on every simulated version.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use grafana_sim::{FaultKind, FaultSpec, FleetSpec, RunningSim, Simulator};
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaConnector, RetryPolicy};
use keyshift_core::model::{GrafanaCredential, Role};
use keyshift_core::ports::{GrafanaApi, GrafanaConnector};
use keyshift_core::secret::SecretString;
use serde_json::json;

const VERSIONS: &[&str] = &["9.4.7", "10.4.1", "11.2.0", "11.5.0", "11.6.0", "12.1.0"];
const BULK_ACCOUNTS: usize = 23;
const ADMIN_SECRET: &str = "AdminTokenSecret0123456789abcdef";

fn instance_id(version: &str) -> String {
    format!("grafana-{}", version.replace('.', "-"))
}

fn fleet() -> FleetSpec {
    let workspaces: Vec<serde_json::Value> = VERSIONS
        .iter()
        .map(|version| {
            let mut accounts = vec![
                json!({"name": "keyshift-admin", "role": "Admin",
                       "tokens": [{"name": "bootstrap", "secret": ADMIN_SECRET}]}),
                json!({"name": "reader", "role": "Viewer"}),
            ];
            for index in 0..BULK_ACCOUNTS {
                accounts.push(json!({"name": format!("bulk-{index:02}"), "role": "Editor"}));
            }
            json!({
                "kind": "selfHosted",
                "id": instance_id(version),
                "version": version,
                "users": [{"login": "admin", "password": "admin-password", "roles": {"1": "Admin"}}],
                "apiKeys": [
                    {"name": "ci-deploy", "role": "Editor"},
                    {"name": "old-expired", "role": "Viewer", "expires": "-1d"}
                ],
                "serviceAccounts": accounts
            })
        })
        .collect();
    FleetSpec::from_json(&json!({"seed": 7, "workspaces": workspaces}).to_string()).unwrap()
}

async fn start() -> RunningSim {
    Simulator::from_fleet(fleet())
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The simulator and a client with the test settings, for tests that connect more than once.
async fn start_with_connector() -> (RunningSim, HttpGrafanaConnector) {
    (
        start().await,
        HttpGrafanaConnector::new(settings()).unwrap(),
    )
}

fn settings() -> GrafanaHttpSettings {
    GrafanaHttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_millis(1500),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        max_body_bytes: 1024 * 1024,
        page_size: 7,
        allow_loopback_http: true,
    }
}

fn admin_token(sim: &RunningSim, version: &str) -> SecretString {
    let id = instance_id(version);
    let seeded = sim.state().seeded_secrets(Some(&id));
    let bootstrap = seeded
        .iter()
        .find(|secret| secret.name == "bootstrap")
        .unwrap();
    SecretString::new(bootstrap.key.clone())
}

async fn admin(sim: &RunningSim, version: &str) -> Arc<dyn GrafanaApi> {
    HttpGrafanaConnector::new(settings())
        .unwrap()
        .connect(
            &sim.instance_url(&instance_id(version)),
            1,
            GrafanaCredential::Bearer(admin_token(sim, version)),
        )
        .await
        .unwrap()
}

fn is_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap()) >= (major, minor)
}

#[tokio::test]
async fn lists_keys_accounts_and_tokens_on_every_version() {
    let sim = start().await;
    for version in VERSIONS {
        let api = admin(&sim, version).await;
        let reported = api.health().await.unwrap();
        assert_eq!(reported.to_string(), *version);

        let keys = api.list_legacy_keys(true).await;
        if is_at_least(version, 12, 1) {
            assert_eq!(
                keys.unwrap_err().asl_name(),
                "Grafana.NotFound",
                "{version}"
            );
        } else if is_at_least(version, 11, 6) {
            assert!(
                keys.unwrap().is_empty(),
                "{version}: keys auto-migrated at start"
            );
        } else {
            let names: BTreeSet<String> = keys.unwrap().into_iter().map(|key| key.name).collect();
            assert_eq!(
                names,
                BTreeSet::from(["ci-deploy".to_owned(), "old-expired".to_owned()])
            );
            let unexpired = api.list_legacy_keys(false).await.unwrap();
            assert_eq!(unexpired.len(), 1, "{version}");
        }

        // 25+ accounts at 7 per page: several pages, each account exactly once.
        let workspace = instance_id(version);
        let pages_before = count(&sim, &workspace, "GET /api/serviceaccounts/search");
        let accounts = api.search_service_accounts("").await.unwrap();
        let pages = count(&sim, &workspace, "GET /api/serviceaccounts/search") - pages_before;
        assert!(pages >= 4, "{version}: only {pages} pages requested");
        let names: Vec<&str> = accounts
            .iter()
            .map(|account| account.name.as_str())
            .collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "{version}: duplicates in {names:?}"
        );
        for index in 0..BULK_ACCOUNTS {
            assert!(
                unique.contains(format!("bulk-{index:02}").as_str()),
                "{version}"
            );
        }
        assert!(unique.contains("keyshift-admin") && unique.contains("reader"));
        if is_at_least(version, 11, 6) {
            assert!(
                unique.contains("sa-autogen-ci-deploy"),
                "{version}: {names:?}"
            );
        }
        let filtered = api.search_service_accounts("keyshift-admin").await.unwrap();
        assert_eq!(filtered.len(), 1);
        let admin_account = &filtered[0];
        assert_eq!(admin_account.role, Role::Admin);
        assert_eq!(admin_account.org_id, 1);

        let tokens = api.list_tokens(admin_account.id).await.unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].name, "bootstrap");
        assert!(!tokens[0].has_expired && !tokens[0].is_revoked);
        let fetched = api.get_service_account(admin_account.id).await.unwrap();
        assert_eq!(fetched.name, "keyshift-admin");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn creates_verifies_and_deletes_accounts_and_tokens_on_every_version() {
    let (sim, connector) = start_with_connector().await;
    for version in VERSIONS {
        let api = admin(&sim, version).await;
        let account = api
            .create_service_account("rotated", Role::Editor)
            .await
            .unwrap();
        assert_eq!(account.role, Role::Editor);
        assert_eq!(
            api.create_service_account("rotated", Role::Editor)
                .await
                .unwrap_err()
                .asl_name(),
            "Grafana.Conflict",
            "{version}"
        );
        let minted = api
            .create_token(account.id, "keyshift-exec-1", 3600, Utc::now())
            .await
            .unwrap();
        assert!(minted.key.expose().starts_with("glsa_"), "{version}");
        assert!(minted.expiration.is_some());
        assert!(!format!("{minted:?}").contains(minted.key.expose()));
        let duplicate = api
            .create_token(account.id, "keyshift-exec-1", 3600, Utc::now())
            .await
            .unwrap_err();
        assert_eq!(duplicate.asl_name(), "Grafana.Conflict", "{version}");

        let as_token = connector
            .connect(
                &sim.instance_url(&instance_id(version)),
                1,
                GrafanaCredential::Bearer(minted.key.clone()),
            )
            .await
            .unwrap();
        assert_eq!(as_token.org().await.unwrap().id, 1);
        let permissions = as_token.permissions().await.unwrap();
        assert_eq!(permissions.implied_role(), Role::Editor, "{version}");

        let listed = api.list_tokens(account.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![minted.id]
        );
        api.delete_token(account.id, minted.id).await.unwrap();
        let rejected = as_token.org().await.unwrap_err();
        assert_eq!(rejected.asl_name(), "Grafana.Unauthorized", "{version}");
        assert!(!rejected.to_string().contains(minted.key.expose()));
        assert_eq!(
            api.delete_token(account.id, minted.id)
                .await
                .unwrap_err()
                .asl_name(),
            "Grafana.NotFound"
        );

        let updated = api
            .update_service_account_role(account.id, Role::Viewer)
            .await
            .unwrap();
        assert_eq!(updated.role, Role::Viewer, "{version}");
        api.delete_service_account(account.id).await.unwrap();
        assert_eq!(
            api.get_service_account(account.id)
                .await
                .unwrap_err()
                .asl_name(),
            "Grafana.NotFound",
            "{version}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn migrates_legacy_keys_where_the_version_allows() {
    let sim = start().await;
    for version in VERSIONS
        .iter()
        .filter(|version| !is_at_least(version, 11, 6))
    {
        let api = admin(&sim, version).await;
        let keys = api.list_legacy_keys(false).await.unwrap();
        let key = keys.iter().find(|key| key.name == "ci-deploy").unwrap();
        api.migrate_legacy_key(key.id).await.unwrap();
        let migrated = api
            .search_service_accounts("sa-autogen-ci-deploy")
            .await
            .unwrap();
        assert_eq!(migrated.len(), 1, "{version}");
        assert_eq!(migrated[0].autogen_key_name(), Some("ci-deploy"));
        let tokens = api.list_tokens(migrated[0].id).await.unwrap();
        assert_eq!(
            tokens[0].id, key.id,
            "{version}: the key keeps its id as a token"
        );
        let report = api.migrate_all_legacy_keys().await.unwrap();
        if is_at_least(version, 10, 1) {
            assert!(report.total.is_some(), "{version}: {report:?}");
        }
    }
    let newest = admin(&sim, "12.1.0").await;
    assert_eq!(
        newest.migrate_legacy_key(1).await.unwrap_err().asl_name(),
        "Grafana.NotFound"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_auth_and_org_header_are_sent() {
    let (sim, connector) = start_with_connector().await;
    let url = sim.instance_url(&instance_id("10.4.1"));
    let basic = GrafanaCredential::Basic {
        username: "admin".to_owned(),
        password: SecretString::new("admin-password"),
    };
    let api = connector.connect(&url, 1, basic).await.unwrap();
    assert_eq!(api.org().await.unwrap().id, 1);
    let wrong = GrafanaCredential::Basic {
        username: "admin".to_owned(),
        password: SecretString::new("not-the-password"),
    };
    let error = connector
        .connect(&url, 1, wrong)
        .await
        .unwrap()
        .org()
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Unauthorized");
    assert!(!error.to_string().contains("not-the-password"));

    let other_org = connector
        .connect(
            &url,
            2,
            GrafanaCredential::Bearer(admin_token(&sim, "10.4.1")),
        )
        .await
        .unwrap();
    assert_eq!(
        other_org.org().await.unwrap_err().asl_name(),
        "Grafana.Unauthorized"
    );
    sim.shutdown().await;
}

fn fault(workspace: &str, endpoint: &str, kind: FaultKind, times: u32) -> FaultSpec {
    FaultSpec {
        workspace: workspace.to_owned(),
        endpoint: endpoint.to_owned(),
        kind,
        times: Some(times),
        probability: None,
        seed: None,
    }
}

fn status(status: u16, retry_after_seconds: Option<u64>) -> FaultKind {
    FaultKind::Status {
        status,
        retry_after_seconds,
    }
}

fn count(sim: &RunningSim, workspace: &str, endpoint: &str) -> u64 {
    sim.state()
        .request_counts(Some(workspace))
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

async fn fault_mappings_on(sim: &RunningSim, version: &str) {
    let workspace = instance_id(version);
    let api = admin(sim, version).await;
    let faults = sim.state().faults();
    let org = "GET /api/org";
    let reset = || {
        faults.clear(Some(&workspace));
    };

    // 429 twice with Retry-After 1: honoured and retried within budget.
    reset();
    let before = count(sim, &workspace, org);
    faults
        .add(fault(&workspace, org, status(429, Some(1)), 2))
        .unwrap();
    api.org().await.unwrap();
    assert_eq!(count(sim, &workspace, org) - before, 3, "{version}");

    // 429 beyond the budget: named, retryable, with the server's pause.
    reset();
    faults
        .add(fault(&workspace, org, status(429, Some(1)), 5))
        .unwrap();
    let error = api.org().await.unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Throttled", "{version}");
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));

    // A pause longer than we accept in-process is handed back at once.
    reset();
    let before = count(sim, &workspace, org);
    faults
        .add(fault(&workspace, org, status(429, Some(3600)), 1))
        .unwrap();
    let error = api.org().await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(count(sim, &workspace, org) - before, 1, "{version}");

    for code in [500, 502, 503, 504] {
        reset();
        faults
            .add(fault(&workspace, org, status(code, None), 1))
            .unwrap();
        api.org().await.unwrap();
        faults
            .add(fault(&workspace, org, status(code, None), 5))
            .unwrap();
        assert_eq!(
            api.org().await.unwrap_err().asl_name(),
            "Grafana.Unavailable"
        );
    }

    // Token creation is never retried blindly.
    reset();
    let tokens = "POST /api/serviceaccounts/:id/tokens";
    let account = api
        .search_service_accounts("reader")
        .await
        .unwrap()
        .remove(0);
    let before = count(sim, &workspace, tokens);
    faults
        .add(fault(&workspace, tokens, status(503, None), 1))
        .unwrap();
    let error = api
        .create_token(account.id, "never-minted", 60, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Unavailable");
    assert_eq!(
        count(sim, &workspace, tokens) - before,
        1,
        "{version}: POST retried"
    );
    assert!(api.list_tokens(account.id).await.unwrap().is_empty());

    reset();
    faults
        .add(fault(&workspace, org, FaultKind::Drop, 5))
        .unwrap();
    let error = api.org().await.unwrap_err();
    assert_eq!(
        error.asl_name(),
        "Grafana.Unavailable",
        "{version}: {error}"
    );

    reset();
    faults
        .add(fault(&workspace, org, FaultKind::Latency { ms: 4000 }, 5))
        .unwrap();
    let error = api.org().await.unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Unavailable");
    assert!(error.to_string().contains("timed out"), "{error}");

    reset();
    let search = "GET /api/serviceaccounts/search";
    faults
        .add(fault(&workspace, search, FaultKind::MalformedJson, 1))
        .unwrap();
    let error = api.search_service_accounts("").await.unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.BadResponse", "{version}");
    faults
        .add(fault(
            &workspace,
            "GET /api/serviceaccounts/:id/tokens",
            FaultKind::MalformedJson,
            1,
        ))
        .unwrap();
    assert_eq!(
        api.list_tokens(account.id).await.unwrap_err().asl_name(),
        "Grafana.BadResponse"
    );

    reset();
    faults
        .add(fault(&workspace, org, status(401, None), 1))
        .unwrap();
    assert_eq!(
        api.org().await.unwrap_err().asl_name(),
        "Grafana.Unauthorized"
    );
    faults
        .add(fault(&workspace, org, status(403, None), 1))
        .unwrap();
    assert_eq!(api.org().await.unwrap_err().asl_name(), "Grafana.Forbidden");
    reset();
}

#[tokio::test]
async fn injected_faults_map_to_named_errors_on_every_version() {
    let sim = start().await;
    join_all(
        VERSIONS
            .iter()
            .map(|version| fault_mappings_on(&sim, version)),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn real_401_and_403_from_grafana_itself() {
    let (sim, connector) = start_with_connector().await;
    for version in VERSIONS {
        let url = sim.instance_url(&instance_id(version));
        let forged = "glsa_notARealTokenAtAll0123456789ab_00000000";
        let stranger = connector
            .connect(
                &url,
                1,
                GrafanaCredential::Bearer(SecretString::new(forged)),
            )
            .await
            .unwrap();
        let error = stranger.search_service_accounts("").await.unwrap_err();
        assert_eq!(error.asl_name(), "Grafana.Unauthorized", "{version}");
        assert!(!format!("{error} {error:?}").contains(forged));

        let api = admin(&sim, version).await;
        let reader = api
            .search_service_accounts("reader")
            .await
            .unwrap()
            .remove(0);
        let minted = api
            .create_token(reader.id, "reader-token", 600, Utc::now())
            .await
            .unwrap();
        let viewer = connector
            .connect(&url, 1, GrafanaCredential::Bearer(minted.key))
            .await
            .unwrap();
        let error = viewer.search_service_accounts("").await.unwrap_err();
        assert_eq!(error.asl_name(), "Grafana.Forbidden", "{version}");
        assert!(!error.is_retryable());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn token_expiry_follows_the_callers_clock_not_wall_time() {
    let sim = start().await;
    let version = VERSIONS[VERSIONS.len() - 1];
    let api = admin(&sim, version).await;
    let account = api
        .create_service_account("clocked", Role::Viewer)
        .await
        .unwrap();
    // A virtual clock years away from wall time, as in `keyshift demo`.
    let virtual_now = Utc.with_ymd_and_hms(2041, 3, 1, 12, 0, 0).unwrap();
    let minted = api
        .create_token(account.id, "clocked-1", 7200, virtual_now)
        .await
        .unwrap();
    assert_eq!(
        minted.expiration,
        Some(virtual_now + chrono::Duration::seconds(7200))
    );
    let forever = api
        .create_token(account.id, "clocked-2", 0, virtual_now)
        .await
        .unwrap();
    assert_eq!(forever.expiration, None);
    sim.shutdown().await;
}
