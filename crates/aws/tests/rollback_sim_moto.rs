//! `rollback_secret` on Secrets Manager (moto) and Grafana (grafana-sim over real HTTP): a
//! working previous token is restored (dry run first, which changes nothing), and a revoked
//! or expired previous token, or a secret without AWSPREVIOUS, is refused with
//! `Rollback.Refused` and the secret left as it was.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaConnector, SecretsManagerStore};
use keyshift_core::model::{GrafanaCredential, ManagedSecretValue, Role, WorkspaceRef};
use keyshift_core::ports::{
    AWSCURRENT, AWSPREVIOUS, GrafanaApi, GrafanaConnector, ManualClock, NoMetrics,
    ROLLBACK_REFUSED, SECRET_ROTATED, SecretStore,
};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::{RollbackInput, StepDeps, rollback_secret};
use keyshift_local::{LocalEventQueue, LocalSealer};
use serde_json::json;

const INSTANCE: &str = "grafana-rollback";
const ADMIN_SECRET: &str = "AdminTokenSecret0123456789abcdef";

async fn start_sim() -> RunningSim {
    let fleet = json!({"seed": 3, "workspaces": [{
        "kind": "selfHosted", "id": INSTANCE, "version": "11.2.0",
        "users": [{"login": "admin", "password": "admin-password", "roles": {"1": "Admin"}}],
        "serviceAccounts": [
            {"name": "keyshift-admin", "role": "Admin",
             "tokens": [{"name": "bootstrap", "secret": ADMIN_SECRET}]},
            {"name": "ci", "role": "Editor"}
        ]
    }]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

struct World {
    sim: RunningSim,
    store: Arc<SecretsManagerStore>,
    admin: Arc<dyn GrafanaApi>,
    connector: HttpGrafanaConnector,
    workspace: WorkspaceRef,
    account_id: i64,
}

impl World {
    fn deps(&self, clock: Arc<ManualClock>, events: Arc<LocalEventQueue>) -> StepDeps {
        StepDeps {
            grafana: Arc::new(self.connector.clone()),
            secrets: self.store.clone(),
            sealer: Arc::new(LocalSealer::random()),
            amg: None,
            clock,
            amg_url_template: None,
            metrics: Arc::new(NoMetrics),
            events,
        }
    }

    /// Mints a token of `ci` (living `ttl_seconds`, 0 = forever) and writes it as a new version
    /// of `secret_id`, promoted to AWSCURRENT; returns (version id, token id, token).
    async fn rotate_in(&self, secret_id: &str, ttl_seconds: u64, n: u32) -> (String, i64, String) {
        let minted = self
            .admin
            .create_token(self.account_id, &format!("ci-{n}"), ttl_seconds, Utc::now())
            .await
            .unwrap();
        let value = ManagedSecretValue {
            token: minted.key.clone(),
            workspace: self.workspace.clone(),
            grafana_url: self.sim.instance_url(INSTANCE),
            service_account_id: self.account_id,
            service_account_name: "ci".into(),
            token_id: minted.id,
            token_name: minted.name.clone(),
            expires_at: minted.expiration,
            rotated_at: Utc::now(),
            execution_name: format!("ks-test-{n}"),
        };
        self.store
            .ensure_secret(secret_id, "rollback test", &BTreeMap::new())
            .await
            .unwrap();
        let version = format!("00000000-0000-4000-8000-00000000000{n}");
        self.store
            .put_pending(secret_id, &version, &value.to_secret_string().unwrap())
            .await
            .unwrap();
        let described = self.store.describe(secret_id).await.unwrap();
        self.store
            .promote(secret_id, &version, &described)
            .await
            .unwrap();
        (version, minted.id, minted.key.expose().to_owned())
    }

    async fn stages(&self, secret_id: &str) -> (Option<String>, Option<String>) {
        let described = self.store.describe(secret_id).await.unwrap();
        (
            described.version_with_stage(AWSCURRENT).map(str::to_owned),
            described.version_with_stage(AWSPREVIOUS).map(str::to_owned),
        )
    }
}

/// The seeded admin token, as the simulator issued it.
fn bootstrap_key(sim: &RunningSim) -> String {
    sim.state()
        .seeded_secrets(Some(INSTANCE))
        .into_iter()
        .find(|secret| secret.name == "bootstrap")
        .unwrap()
        .key
}

async fn world(test: &str) -> Option<World> {
    let aws = common::moto_context(test).await?;
    let sim = start_sim().await;
    let connector = HttpGrafanaConnector::new(GrafanaHttpSettings {
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    })
    .unwrap();
    let admin = connector
        .connect(
            &sim.instance_url(INSTANCE),
            1,
            GrafanaCredential::Bearer(SecretString::new(bootstrap_key(&sim))),
        )
        .await
        .unwrap();
    let account_id = admin.search_service_accounts("ci").await.unwrap()[0].id;
    let workspace =
        WorkspaceRef::self_hosted(sim.instance_url(INSTANCE), "grafana/admin", 1).unwrap();
    Some(World {
        store: Arc::new(SecretsManagerStore::new(aws.secrets_manager_client())),
        sim,
        admin,
        connector,
        workspace,
        account_id,
    })
}

fn input(secret_id: &str, dry_run: bool) -> RollbackInput {
    RollbackInput {
        secret_id: secret_id.to_owned(),
        expected_role: Role::Editor,
        run_name: "ks-rollback-test".into(),
        dry_run,
    }
}

#[tokio::test]
async fn a_working_previous_token_is_restored_after_a_dry_run_that_changes_nothing() {
    let Some(world) = world("rollback_restores").await else {
        return;
    };
    let secret = keyshift_test_support::aws::unique("keyshift-rollback");
    let (first, _, first_token) = world.rotate_in(&secret, 0, 1).await;
    let (second, _, second_token) = world.rotate_in(&secret, 0, 2).await;
    let events = Arc::new(LocalEventQueue::new());
    let deps = world.deps(Arc::new(ManualClock::new(Utc::now())), events.clone());

    let dry = rollback_secret(&deps, input(&secret, true)).await.unwrap();
    assert!(!dry.applied);
    assert_eq!(
        (dry.from_version_id.as_str(), dry.to_version_id.as_str()),
        (second.as_str(), first.as_str())
    );
    assert_eq!(
        world.stages(&secret).await,
        (Some(second.clone()), Some(first.clone()))
    );
    assert_eq!(events.published().len(), 0, "a dry run publishes nothing");

    let done = rollback_secret(&deps, input(&secret, false)).await.unwrap();
    assert!(done.applied);
    assert_eq!(done.role, Role::Editor);
    assert_eq!(
        world.stages(&secret).await,
        (Some(first.clone()), Some(second.clone()))
    );
    let published = events.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].detail_type, SECRET_ROTATED);
    assert_eq!(published[0].detail["reason"], "rollback");
    assert_eq!(published[0].detail["versionId"], first.as_str());
    let body = published[0].detail.to_string();
    assert!(
        !body.contains(&first_token) && !body.contains(&second_token),
        "{body}"
    );
}

/// Asserts that rolling `secret_id` back is refused, naming `why` and advising a fresh rotation.
async fn assert_refused(deps: &StepDeps, secret_id: &str, dry_run: bool, why: &str) {
    let error = rollback_secret(deps, input(secret_id, dry_run))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Rollback.Refused", "{error}");
    assert!(error.to_string().contains(why), "{error}");
    assert!(error.to_string().contains("fresh rotation"), "{error}");
}

#[tokio::test]
async fn a_revoked_expired_or_missing_previous_token_is_refused_and_nothing_changes() {
    let Some(world) = world("rollback_refuses").await else {
        return;
    };
    let events = Arc::new(LocalEventQueue::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let deps = world.deps(clock.clone(), events.clone());
    let mut refusals = 0;

    // Revoked: the previous token was deleted in Grafana, as revoke-old does after the grace.
    let revoked = keyshift_test_support::aws::unique("keyshift-rollback-revoked");
    let (_, old_token_id, _) = world.rotate_in(&revoked, 0, 1).await;
    world.rotate_in(&revoked, 0, 2).await;
    world
        .admin
        .delete_token(world.account_id, old_token_id)
        .await
        .unwrap();
    let before = world.stages(&revoked).await;
    for dry_run in [true, false] {
        assert_refused(&deps, &revoked, dry_run, "no longer works").await;
        refusals += 1;
    }
    assert_eq!(world.stages(&revoked).await, before);

    // Expired: the previous token lives one hour; the clock is two hours on.
    let expired = keyshift_test_support::aws::unique("keyshift-rollback-expired");
    world.rotate_in(&expired, 3600, 3).await;
    world.rotate_in(&expired, 0, 4).await;
    let before = world.stages(&expired).await;
    clock.advance(Duration::hours(2));
    assert_refused(&deps, &expired, false, "expired").await;
    refusals += 1;
    assert_eq!(world.stages(&expired).await, before);

    // No AWSPREVIOUS: a secret with a single version.
    let single = keyshift_test_support::aws::unique("keyshift-rollback-single");
    world.rotate_in(&single, 0, 5).await;
    assert_refused(&deps, &single, false, "no AWSPREVIOUS").await;
    refusals += 1;

    assert_eq!(refusals, 4);
    assert_eq!(
        events.count(SECRET_ROTATED),
        0,
        "a refused rollback publishes no rotation"
    );
    let refused = events.published();
    assert_eq!(
        refused.len(),
        3,
        "one Rollback Refused per refusal outside a dry run: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|event| event.detail_type == ROLLBACK_REFUSED)
    );
    assert_eq!(refused[0].detail["secretId"], revoked.as_str());
}
