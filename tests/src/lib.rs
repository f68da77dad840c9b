//! Test support for keyshift's end-to-end scenarios: a grafana-sim fleet served over real HTTP,
//! the real adapters (reqwest Grafana client, in-memory store or Secrets Manager on moto, the
//! AMG SDK client against the simulator), and a runner that chains the six steps the way the
//! state machine does, passing every payload through JSON as Step Functions would.

#![warn(missing_docs)]

pub mod accounts;
pub mod crash;
pub mod logs;

pub use accounts::{AmgAccounts, E2E_SESSION};
pub use keyshift_test_support::leaks::KnownCredentials;
pub use logs::LogCapture;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::{DateTime, Utc};
use grafana_sim::{FaultKind, FaultSpec, FleetSpec, RunningSim, SharedState, Simulator};
use keyshift_aws::{
    AmgControlPlaneClient, AwsAmgConnector, AwsContext, AwsService, EndpointOverrides,
    GrafanaHttpSettings, HttpGrafanaConnector, RetryPolicy, SecretsManagerStore,
};
use keyshift_core::model::{ManagedSecretValue, Policy, WorkspaceRef};
use keyshift_core::ports::{
    AmgControlPlane, Clock, GrafanaConnector, Sealer, SecretStore, SingleAccountAmg,
    VersionSelector,
};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::io::{
    CreateSaInput, CredentialContext, DiscoverInput, DiscoverOutput, MintTokenInput,
    RevokeOldInput, RevokeOldOutput, StoreSecretInput, StoreSecretOutput, VerifyInput,
    WorkspaceRevokeInput,
};
use keyshift_core::steps::{
    StepDeps, create_service_account, discover_keys, mint_token, revoke_old, store_secret,
    verify_token,
};
use keyshift_core::{KeyshiftError, Result};
use keyshift_local::{InMemorySecretStore, LocalSealer, RecordingMetrics};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Self-hosted instances of the test fleet: (instance id, Grafana version). One per behaviour
/// line of the version timeline.
pub const SELF_HOSTED: [(&str, &str); 5] = [
    ("sh-94", "9.4.7"),
    ("sh-104", "10.4.1"),
    ("sh-115", "11.5.2"),
    ("sh-116", "11.6.0"),
    ("sh-121", "12.1.0"),
];

/// AMG workspaces of the test fleet: (workspace id, AMG version label).
pub const AMG: [(&str, &str); 3] = [
    ("g-0000000094", "9.4"),
    ("g-0000000104", "10.4"),
    ("g-0000000121", "12.1"),
];

/// The admin password of every self-hosted test instance.
pub const ADMIN_PASSWORD: &str = "admin-pass-e2e";

/// Legacy keys every test instance starts with: one of each role, one already expired, one an
/// exclude pattern protects.
pub const KEYS: [(&str, &str, Option<&str>); 5] = [
    ("ci-deploy", "Editor", Some("20d")),
    ("terraform-admin", "Admin", None),
    ("status-page", "Viewer", Some("40d")),
    ("old-exporter", "Viewer", Some("-2d")),
    ("break-glass", "Admin", None),
];

/// The fleet file of the tests, built from [`SELF_HOSTED`], [`AMG`] and [`KEYS`].
pub fn test_fleet() -> FleetSpec {
    let keys: Vec<Value> = KEYS
        .iter()
        .map(|(name, role, expires)| {
            let mut key = serde_json::json!({"name": name, "role": role});
            if let Some(expires) = expires {
                key["expires"] = Value::from(*expires);
            }
            key
        })
        .collect();
    let mut workspaces: Vec<Value> = SELF_HOSTED
        .iter()
        .map(|(id, version)| {
            serde_json::json!({
                "kind": "selfHosted", "id": id, "version": version,
                "users": [{"login": "admin", "password": ADMIN_PASSWORD, "isGrafanaAdmin": true, "roles": {"1": "Admin"}}],
                "apiKeys": keys,
                "folders": [{"uid": "ops", "title": "Operations"}]
            })
        })
        .collect();
    workspaces.extend(AMG.iter().map(|(id, version)| {
        serde_json::json!({
            "kind": "amg", "id": id, "region": "eu-west-1", "status": "ACTIVE", "version": version,
            "apiKeys": keys,
            "folders": [{"uid": "ops", "title": "Operations"}]
        })
    }));
    let fleet = serde_json::json!({"seed": 7, "workspaces": workspaces});
    match serde_json::from_value(fleet) {
        Ok(fleet) => fleet,
        Err(error) => panic!("the test fleet is invalid: {error}"),
    }
}

/// Reads "now" from the simulator, so the steps and Grafana agree on expiry while tests
/// fast-forward through grace periods.
#[derive(Debug, Clone)]
pub struct SimClockPort(pub SharedState);

impl Clock for SimClockPort {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// Which secret store the steps use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// keyshift-local's in-memory store.
    Memory,
    /// Secrets Manager on the moto server at `KEYSHIFT_MOTO_ENDPOINT`.
    Moto,
}

/// The moto endpoint, or `None` with a notice when it is absent and tools are not required.
pub fn moto_endpoint() -> Option<String> {
    keyshift_test_support::moto_endpoint("the Secrets Manager (moto) variant")
}

/// Grafana client settings for tests: short timeouts and a small, fast retry budget.
pub fn grafana_settings() -> GrafanaHttpSettings {
    GrafanaHttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    }
}

/// The ports whose calls leave the process, each possibly behind a crash wrapper.
type RemotePorts = (
    Arc<dyn GrafanaConnector>,
    Arc<dyn SecretStore>,
    Arc<dyn AmgControlPlane>,
    Arc<dyn Sealer>,
);

/// Which remote calls a [`crash::CrashSwitch`] counts and crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashScope {
    /// The Grafana HTTP API, the secret store and the sealer (KMS when deployed).
    GrafanaAndStore,
    /// The AMG control plane only, so a test can walk through every AMG call of a run.
    Amg,
}

/// How a [`Harness`] is built; `Default` is the test fleet on the in-memory store with no
/// crashes and the emulator's AMG SDK settings (no SDK retries, no SDK timeouts).
pub struct HarnessOptions {
    /// Which secret store the steps use.
    pub kind: StoreKind,
    /// The simulated fleet.
    pub fleet: FleetSpec,
    /// Grafana HTTP client settings.
    pub settings: GrafanaHttpSettings,
    /// Crash injection, when wanted.
    pub crash: Option<(Arc<crash::CrashSwitch>, CrashScope)>,
    /// The AMG SDK client's retry configuration, to prove SDK retries stay within bounds the
    /// way deployed Lambdas (aws-config's standard retries) would run.
    pub amg_retry: Option<RetryConfig>,
    /// The AMG SDK client's timeouts, to turn a slow control plane into a named error.
    pub amg_timeout: Option<TimeoutConfig>,
    /// Assume workspaces' roles through STS on moto ([`AmgAccounts::AssumedOnMoto`]) instead
    /// of treating grafana-sim as the only account; the harness is `None` without moto.
    pub assume_roles_on_moto: bool,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        Self {
            kind: StoreKind::Memory,
            fleet: test_fleet(),
            settings: grafana_settings(),
            crash: None,
            amg_retry: None,
            amg_timeout: None,
            assume_roles_on_moto: false,
        }
    }
}

/// A running simulator with the real adapters wired to it.
pub struct Harness {
    /// The simulator, serving on loopback.
    pub sim: RunningSim,
    /// The ports the steps run against.
    pub deps: StepDeps,
    /// The secret store (also in `deps`), for assertions.
    pub store: Arc<dyn SecretStore>,
    /// A prefix unique to this harness for every secret name, so tests sharing one moto
    /// server never see each other's secrets.
    pub prefix: String,
    /// When set, the steps' remote calls (per [`CrashScope`]) go through this switch, and a step
    /// failing with an injected crash is re-run once (as the state machine's retry would).
    pub crash_switch: Option<Arc<crash::CrashSwitch>>,
    /// The metrics the steps emitted (also in `deps`), for counting.
    pub metrics: Arc<RecordingMetrics>,
    /// The AMG connector in `deps`, for checking which roles the steps used.
    pub amg_accounts: AmgAccounts,
}

impl Harness {
    /// Starts the test fleet; `None` when the store is moto and moto is not available.
    pub async fn start(kind: StoreKind) -> Option<Self> {
        Self::start_with(kind, test_fleet(), grafana_settings()).await
    }

    /// Starts a given fleet with given Grafana client settings.
    pub async fn start_with(
        kind: StoreKind,
        fleet: FleetSpec,
        settings: GrafanaHttpSettings,
    ) -> Option<Self> {
        Self::start_options(HarnessOptions {
            kind,
            fleet,
            settings,
            ..HarnessOptions::default()
        })
        .await
    }

    /// Starts the test fleet with every remote call of the steps counted, the `crash_at`-th one
    /// performed and then reported as a lost answer (see [`crash`]).
    pub async fn start_crashing(crash_at: u64) -> Option<Self> {
        Self::start_crashing_timed(crash_at, crash::CrashTiming::AfterCall).await
    }

    /// As [`Self::start_crashing`], with the crash before or after the call as `timing` says.
    pub async fn start_crashing_timed(crash_at: u64, timing: crash::CrashTiming) -> Option<Self> {
        Self::start_options(HarnessOptions {
            crash: Some((
                crash::CrashSwitch::with_timing(crash_at, timing),
                CrashScope::GrafanaAndStore,
            )),
            ..HarnessOptions::default()
        })
        .await
    }

    /// Starts the test fleet with only the AMG control-plane calls counted, the `crash_at`-th
    /// one performed and then reported as a lost answer.
    pub async fn start_crashing_amg(crash_at: u64) -> Option<Self> {
        Self::start_options(HarnessOptions {
            crash: Some((crash::CrashSwitch::new(crash_at), CrashScope::Amg)),
            ..HarnessOptions::default()
        })
        .await
    }

    /// Starts a harness as `options` describe.
    pub async fn start_options(options: HarnessOptions) -> Option<Self> {
        let HarnessOptions {
            kind,
            fleet,
            settings,
            crash,
            amg_retry,
            amg_timeout,
            assume_roles_on_moto,
        } = options;
        // A fleet the simulator rejects is a broken test, never a skipped one.
        let simulator = match Simulator::from_fleet(fleet) {
            Ok(simulator) => simulator,
            Err(error) => panic!("the test fleet is invalid: {error}"),
        };
        let loopback = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        let sim = match simulator.with_amg_signer_log().serve(loopback).await {
            Ok(sim) => sim,
            Err(error) => panic!("grafana-sim did not start: {error}"),
        };
        let endpoints = if assume_roles_on_moto {
            EndpointOverrides::for_all(moto_endpoint()?)
                .with_service(AwsService::Grafana, sim.amg_endpoint_url())
        } else {
            EndpointOverrides::for_all(sim.amg_endpoint_url())
        };
        let mut amg_context = AwsContext::for_emulator(endpoints).await;
        if amg_retry.is_some() || amg_timeout.is_some() {
            let mut sdk_config = amg_context.sdk_config().to_builder();
            if let Some(retry) = amg_retry {
                sdk_config = sdk_config.retry_config(retry);
            }
            if let Some(timeout) = amg_timeout {
                sdk_config = sdk_config.timeout_config(timeout);
            }
            amg_context = amg_context.with_sdk_config(sdk_config.build());
        }
        let amg_client: Arc<dyn AmgControlPlane> =
            Arc::new(AmgControlPlaneClient::new(&amg_context.grafana_client()));
        let store: Arc<dyn SecretStore> = match kind {
            StoreKind::Memory => Arc::new(InMemorySecretStore::new()),
            StoreKind::Moto => {
                let endpoint = moto_endpoint()?;
                let context = AwsContext::for_emulator(EndpointOverrides::for_all(endpoint)).await;
                Arc::new(SecretsManagerStore::new(context.secrets_manager_client()))
            }
        };
        let connector = match HttpGrafanaConnector::new(settings) {
            Ok(connector) => connector,
            Err(error) => panic!("cannot build the Grafana client: {error}"),
        };
        let crash_switch = crash.as_ref().map(|(switch, _)| Arc::clone(switch));
        let sealer: Arc<dyn Sealer> = Arc::new(LocalSealer::random());
        let (grafana, secrets, amg, sealer): RemotePorts = match crash {
            Some((switch, CrashScope::GrafanaAndStore)) => (
                Arc::new(crash::CrashingConnector {
                    inner: Arc::new(connector),
                    switch: Arc::clone(&switch),
                }),
                Arc::new(crash::CrashingStore {
                    inner: Arc::clone(&store),
                    switch: Arc::clone(&switch),
                }),
                amg_client,
                Arc::new(crash::CrashingSealer {
                    inner: sealer,
                    switch,
                }),
            ),
            Some((switch, CrashScope::Amg)) => (
                Arc::new(connector),
                Arc::clone(&store),
                Arc::new(crash::CrashingAmg {
                    inner: amg_client,
                    switch,
                }),
                sealer,
            ),
            None => (Arc::new(connector), Arc::clone(&store), amg_client, sealer),
        };
        let amg_accounts = if assume_roles_on_moto {
            assert!(
                crash_switch.is_none(),
                "crashes are injected on the single-account control plane only"
            );
            AmgAccounts::AssumedOnMoto(Arc::new(AwsAmgConnector::new(amg_context, E2E_SESSION)))
        } else {
            AmgAccounts::Single(Arc::new(SingleAccountAmg::new(amg)))
        };
        let metrics = Arc::new(RecordingMetrics::new());
        let deps = StepDeps {
            grafana,
            secrets,
            sealer,
            amg: Some(amg_accounts.connector()),
            clock: Arc::new(SimClockPort(sim.state().clone())),
            amg_url_template: Some(format!("{}/g/{{workspace_id}}", sim.base_url())),
            metrics: metrics.clone(),
            events: Arc::new(keyshift_core::ports::NoEvents),
        };
        let prefix = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let harness = Self {
            sim,
            deps,
            store,
            prefix,
            crash_switch,
            metrics,
            amg_accounts,
        };
        for (id, _) in SELF_HOSTED {
            harness.seed_admin_secret(id).await;
        }
        if let Some(switch) = &harness.crash_switch {
            let instances = SELF_HOSTED
                .iter()
                .chain(AMG.iter())
                .map(|(instance, _)| (instance.to_string(), harness.workspace(instance).key()))
                .collect();
            switch.watch(crash::CredentialWatcher::new(
                Arc::clone(&harness.store),
                harness.state().clone(),
                instances,
            ));
        }
        Some(harness)
    }

    /// The simulator's state (faults, clock, objects).
    pub fn state(&self) -> &SharedState {
        self.sim.state()
    }

    /// Where a self-hosted instance's admin credential is kept.
    pub fn admin_secret_id(&self, instance: &str) -> String {
        format!("{}/admin/{instance}", self.prefix)
    }

    async fn seed_admin_secret(&self, instance: &str) {
        let secret_id = self.admin_secret_id(instance);
        let value = SecretString::new(
            serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
        );
        let created = self
            .store
            .ensure_secret(&secret_id, "e2e admin", &BTreeMap::new())
            .await;
        assert!(
            created.is_ok(),
            "cannot create the admin secret: {created:?}"
        );
        let token =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, secret_id.as_bytes()).to_string();
        let put = self.store.put_pending(&secret_id, &token, &value).await;
        assert!(put.is_ok(), "cannot write the admin secret: {put:?}");
    }

    /// The workspace reference keyshift uses for a test instance (org 1).
    pub fn workspace(&self, instance: &str) -> WorkspaceRef {
        let reference = if instance.starts_with("g-") {
            WorkspaceRef::amg(instance, "eu-west-1", 1)
        } else {
            WorkspaceRef::self_hosted(
                self.sim.instance_url(instance),
                self.admin_secret_id(instance),
                1,
            )
        };
        match reference {
            Ok(reference) => reference,
            Err(error) => panic!("invalid test workspace {instance}: {error}"),
        }
    }

    /// A policy whose secret names carry this harness's prefix; `extra` is merged in (JSON).
    pub fn policy(&self, extra: Value) -> Policy {
        let mut json = serde_json::json!({
            "secretNameTemplate": format!("{}/{{workspace}}/{{org_id}}/{{service_account}}/token", self.prefix),
            "exclude": ["break-glass*"],
        });
        if let (Some(target), Value::Object(extra)) = (json.as_object_mut(), extra) {
            target.extend(extra);
        }
        match serde_json::from_value(json) {
            Ok(policy) => policy,
            Err(error) => panic!("invalid test policy: {error}"),
        }
    }

    /// Runs one step as the state machine's Retry would: a transient failure (including an
    /// injected crash, which disarms the switch) runs the step again with the same input, up
    /// to twice.
    pub async fn attempt<I, O, F, Fut>(&self, input: I, step: F) -> Result<O>
    where
        I: Clone,
        F: Fn(I) -> Fut,
        Fut: Future<Output = Result<O>>,
    {
        let mut outcome = step(input.clone()).await;
        for _ in 0..2 {
            match &outcome {
                Err(error) if error.is_retryable() => {
                    if crash::is_crash(error)
                        && let Some(switch) = &self.crash_switch
                    {
                        switch.disarm();
                    }
                    outcome = step(input.clone()).await;
                }
                _ => break,
            }
        }
        outcome
    }

    /// The payload the state machine gives discover-keys (execution input plus its name).
    pub fn discover_input(
        &self,
        workspace: &WorkspaceRef,
        policy: &Policy,
        execution: &str,
    ) -> Result<DiscoverInput> {
        hop(
            &serde_json::json!({"workspace": workspace, "policy": policy}),
            serde_json::json!({"executionName": execution}),
        )
    }

    /// Runs discover-keys once (no retry), so tests see its raw outcome.
    pub async fn discover(
        &self,
        workspace: &WorkspaceRef,
        policy: &Policy,
        execution: &str,
    ) -> Result<DiscoverOutput> {
        discover_keys(
            &self.deps,
            self.discover_input(workspace, policy, execution)?,
        )
        .await
    }

    /// Runs the whole per-workspace flow like the state machine: discover, then per credential
    /// create-sa → mint-token → stage → verify → promote, the grace period (fast-forwarded on
    /// the simulator's clock), revoke-old per credential, and the workspace-scope revoke-old.
    /// Every payload goes through JSON; all of them are recorded.
    pub async fn run_execution(
        &self,
        workspace: &WorkspaceRef,
        policy: &Policy,
        execution: &str,
    ) -> Result<ExecutionRecord> {
        self.run_execution_with(workspace, policy, execution, |_| {})
            .await
    }

    /// [`Harness::run_execution`], calling `after_grace` once the grace period has passed and
    /// before revoke-old: what consumers do meanwhile (e.g. keep using an old token).
    pub async fn run_execution_with(
        &self,
        workspace: &WorkspaceRef,
        policy: &Policy,
        execution: &str,
        after_grace: impl Fn(&Self),
    ) -> Result<ExecutionRecord> {
        self.run_execution_around_grace(workspace, policy, execution, |_| {}, after_grace)
            .await
    }

    /// [`Harness::run_execution_with`], also calling `during_grace` twice while the grace period
    /// runs: right after the last promotion and one second before the period ends, so a test
    /// sees what consumers of the superseded credentials see at both edges of the period.
    pub async fn run_execution_around_grace(
        &self,
        workspace: &WorkspaceRef,
        policy: &Policy,
        execution: &str,
        during_grace: impl Fn(&Self),
        after_grace: impl Fn(&Self),
    ) -> Result<ExecutionRecord> {
        let mut record = ExecutionRecord::default();
        let input = self.discover_input(workspace, policy, execution)?;
        let discovered = self
            .attempt(input, |input| discover_keys(&self.deps, input))
            .await?;
        record.push(&discovered);
        let mut promoted_items = Vec::new();
        for credential in &discovered.plan.credentials {
            let context = CredentialContext {
                execution_name: discovered.execution_name.clone(),
                workspace: discovered.workspace.clone(),
                grafana_url: discovered.grafana_url.clone(),
                bootstrap: discovered.bootstrap.clone(),
                policy: discovered.policy.clone(),
                grace_period_seconds: discovered.plan.grace_period_seconds,
                credential: credential.clone(),
            };
            let promoted = self.run_credential(&context, &mut record).await?;
            promoted_items.push(promoted);
        }
        let grace = i64::try_from(discovered.plan.grace_period_seconds).unwrap_or(i64::MAX);
        during_grace(self);
        if grace > 1 {
            self.state().clock().advance_seconds(grace - 1);
            during_grace(self);
            self.state().clock().advance_seconds(1);
        } else {
            self.state().clock().advance_seconds(grace);
        }
        after_grace(self);
        for promoted in promoted_items {
            let input: RevokeOldInput = hop(&promoted, serde_json::json!({"scope": "credential"}))?;
            let revoked = self
                .attempt(input, |input| revoke_old(&self.deps, input))
                .await?;
            record.push(&revoked);
            record.credential_revokes.push(revoked);
        }
        let input: RevokeOldInput = hop(
            &WorkspaceRevokeInput {
                execution_name: discovered.execution_name.clone(),
                workspace: discovered.workspace.clone(),
                grafana_url: discovered.grafana_url.clone(),
                bootstrap: discovered.bootstrap.clone(),
                policy: discovered.policy.clone(),
                plan: discovered.plan.clone(),
            },
            serde_json::json!({"scope": "workspace"}),
        )?;
        let revoked = self
            .attempt(input, |input| revoke_old(&self.deps, input))
            .await?;
        record.push(&revoked);
        record.workspace_revoke = Some(revoked);
        record.discovered = Some(discovered);
        Ok(record)
    }

    /// One Map item up to promotion.
    pub async fn run_credential(
        &self,
        context: &CredentialContext,
        record: &mut ExecutionRecord,
    ) -> Result<StoreSecretOutput> {
        let create_input: CreateSaInput = hop(context, Value::Null)?;
        let created = self
            .attempt(create_input, |input| {
                create_service_account(&self.deps, input)
            })
            .await?;
        record.push(&created);
        let mint_input: MintTokenInput = hop(&created, Value::Null)?;
        let minted = self
            .attempt(mint_input, |input| mint_token(&self.deps, input))
            .await?;
        record.push(&minted);
        let stage_input: StoreSecretInput = hop(&minted, serde_json::json!({"action": "stage"}))?;
        let staged = self
            .attempt(stage_input, |input| store_secret(&self.deps, input))
            .await?;
        record.push(&staged);
        let verify_input: VerifyInput = hop(&staged, Value::Null)?;
        let verified = self
            .attempt(verify_input, |input| verify_token(&self.deps, input))
            .await?;
        record.push(&verified);
        let promote_input: StoreSecretInput =
            hop(&verified, serde_json::json!({"action": "promote"}))?;
        let promoted = self
            .attempt(promote_input, |input| store_secret(&self.deps, input))
            .await?;
        record.push(&promoted);
        Ok(promoted)
    }

    /// The AWSCURRENT value of a managed secret.
    pub async fn current_value(&self, secret_id: &str) -> ManagedSecretValue {
        let stored = self.store.get(secret_id, &VersionSelector::current()).await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => panic!("no AWSCURRENT in {secret_id}: {error}"),
        };
        match ManagedSecretValue::parse(&stored.value, secret_id) {
            Ok(value) => value,
            Err(error) => panic!("unparsable AWSCURRENT in {secret_id}: {error}"),
        }
    }

    /// Runs a whole execution (after an injected crash, or none) and asserts the rotation
    /// converged: three managed credentials, each with exactly one live token, the one its
    /// AWSCURRENT holds, and that token authenticates. Crash suites share it so every kind of
    /// crash is held to the same end state; the record is returned for further checks.
    pub async fn assert_execution_converges(
        &self,
        instance: &str,
        execution: &str,
        label: &str,
    ) -> ExecutionRecord {
        self.assert_converges_under(instance, serde_json::json!({}), execution, label)
            .await
    }

    /// [`Self::assert_execution_converges`] under a policy with `extra` merged in (e.g. the
    /// migration mode).
    pub async fn assert_converges_under(
        &self,
        instance: &str,
        extra: Value,
        execution: &str,
        label: &str,
    ) -> ExecutionRecord {
        let workspace = self.workspace(instance);
        let policy = self.policy(extra);
        let record = match self.run_execution(&workspace, &policy, execution).await {
            Ok(record) => record,
            Err(error) => panic!(
                "{label}: the execution did not converge: {} {error}",
                error.asl_name()
            ),
        };
        let Some(discovered) = record.discovered.as_ref() else {
            panic!("{label}: the execution recorded no discover-keys output");
        };
        let plan = &discovered.plan;
        assert_eq!(plan.credentials.len(), 3, "{label}: {plan:?}");
        let live = self.live_tokens(instance);
        for credential in &plan.credentials {
            let account = &credential.service_account.name;
            let on_account: Vec<&str> = live
                .iter()
                .filter(|(owner, _)| owner == account)
                .map(|(_, token)| token.as_str())
                .collect();
            assert_eq!(
                on_account.len(),
                1,
                "{label}: exactly one live token on {account}: {on_account:?}"
            );
            let value = self.current_value(&credential.secret_id).await;
            assert_eq!(
                on_account.first().copied(),
                Some(value.token_name.as_str()),
                "{label}: the live token is AWSCURRENT's"
            );
            assert!(
                self.authenticates(instance, value.token.expose()),
                "{label}: AWSCURRENT authenticates"
            );
        }
        record
    }

    /// Whether a credential string authenticates on a simulated instance right now.
    pub fn authenticates(&self, instance: &str, credential: &str) -> bool {
        matches!(
            self.state().authenticate_credential(instance, credential),
            Ok(Ok(_))
        )
    }

    /// Live tokens (account, token name) of keyshift's AMG bootstrap accounts on `instance`:
    /// every run revokes its own, so after a run there must be none.
    pub fn live_bootstrap_tokens(&self, instance: &str) -> Vec<(String, String)> {
        self.live_tokens(instance)
            .into_iter()
            .filter(|(account, _)| {
                account.starts_with(keyshift_core::naming::BOOTSTRAP_NAME_PREFIX)
            })
            .collect()
    }

    /// Live (unexpired, unrevoked) tokens of every service account of org 1: (account, token).
    pub fn live_tokens(&self, instance: &str) -> Vec<(String, String)> {
        let mut live = Vec::new();
        let accounts = self
            .state()
            .list_service_accounts(instance, 1)
            .unwrap_or_default();
        for account in accounts {
            for token in self
                .state()
                .list_tokens(instance, 1, account.row.id)
                .unwrap_or_default()
            {
                if !token.has_expired && !token.is_revoked {
                    live.push((account.row.name.clone(), token.name.clone()));
                }
            }
        }
        live.sort();
        live
    }

    /// Plain (unmigrated) legacy key names of org 1, expired included.
    pub fn plain_keys(&self, instance: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .state()
            .with_instance(instance, |grafana, now| {
                grafana.list_plain_keys(1, true, now)
            })
            .unwrap_or_default()
            .into_iter()
            .map(|key| key.name)
            .collect();
        names.sort();
        names
    }

    /// Every credential string the simulator seeded (legacy keys and tokens), for leak scans.
    pub fn seeded_credentials(&self) -> Vec<String> {
        self.state()
            .seeded_secrets(None)
            .into_iter()
            .map(|secret| secret.key)
            .collect()
    }
}

/// Everything one execution produced, for assertions and leak scans.
#[derive(Debug, Default)]
pub struct ExecutionRecord {
    /// Every step output, as the JSON Step Functions would carry.
    pub payloads: Vec<Value>,
    /// discover-keys' output.
    pub discovered: Option<DiscoverOutput>,
    /// revoke-old outputs per credential.
    pub credential_revokes: Vec<RevokeOldOutput>,
    /// The workspace-scope revoke-old output.
    pub workspace_revoke: Option<RevokeOldOutput>,
}

impl ExecutionRecord {
    /// The credentials discover planned (none when discover did not finish).
    pub fn planned_credentials(&self) -> &[keyshift_core::plan::CredentialPlan] {
        self.discovered
            .as_ref()
            .map_or(&[], |discovered| discovered.plan.credentials.as_slice())
    }

    fn push(&mut self, output: &impl Serialize) {
        if let Ok(value) = serde_json::to_value(output) {
            self.payloads.push(value);
        }
    }

    /// All payloads as one string.
    pub fn payload_text(&self) -> String {
        self.payloads
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Passes a step's output to the next step through JSON, merging the fields the ASL adds
/// (`action`, `scope`, `executionName`), as Step Functions does between states.
pub fn hop<T: Serialize, U: DeserializeOwned>(output: &T, extra: Value) -> Result<U> {
    let mut value = serde_json::to_value(output)?;
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), extra) {
        target.extend(extra);
    }
    Ok(serde_json::from_value(value)?)
}

/// A fault on one endpoint (Grafana route or AMG operation) of `target`, firing `times` times,
/// deterministic (no probability), as the fault suites inject them.
pub fn fault_on(target: &str, endpoint: &str, kind: FaultKind, times: u32) -> FaultSpec {
    FaultSpec {
        workspace: target.to_owned(),
        endpoint: endpoint.to_owned(),
        kind,
        times: Some(times),
        probability: None,
        seed: None,
    }
}

/// An HTTP status fault; a 429 carries `Retry-After: 0` so retried throttling costs no time.
pub fn status_fault(status: u16) -> FaultKind {
    FaultKind::Status {
        status,
        retry_after_seconds: if status == 429 { Some(0) } else { None },
    }
}

/// Asserts that none of `secrets` appears in `text`, naming only the position of a leak.
pub fn assert_no_leak(text: &str, secrets: &[String], what: &str) {
    for (index, secret) in secrets.iter().enumerate() {
        assert!(
            secret.len() < 8 || !text.contains(secret.as_str()),
            "credential #{index} (len {}) leaked into {what}",
            secret.len()
        );
    }
}

/// The error a failing step reported, for tests that expect one.
pub fn expect_error<T: std::fmt::Debug>(result: Result<T>) -> KeyshiftError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}
