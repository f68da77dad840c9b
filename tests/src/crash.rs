//! Crash injection around the real adapters: the Nth remote call (Grafana, secret store, sealer
//! (KMS when deployed) or AMG control plane) is either performed and then reported as a lost
//! answer, as when a Lambda dies right after a request went out, or failed before it leaves, as
//! when it dies just before. Re-running the failed step must converge. A [`CredentialWatcher`]
//! can check before every call that each managed secret's AWSCURRENT still authenticates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use grafana_sim::SharedState;
use keyshift_core::model::ManagedSecretValue;
use keyshift_core::model::{
    AmgWorkspace, GrafanaCredential, GrafanaVersion, LegacyApiKey, MigrationReport, MintedToken,
    Org, OrgId, Permissions, Role, ServiceAccount, ServiceAccountToken,
};
use keyshift_core::ports::{
    AWSCURRENT, AmgControlPlane, AmgMintedToken, AmgServiceAccount, AmgServiceAccountToken,
    AmgWorkspaceSummary, GrafanaApi, GrafanaConnector, SealContext, SealedToken, Sealer,
    SecretDescription, SecretStore, SecretVersionValue, StageUpdate, VersionSelector,
};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::store_secret::WORKSPACE_TAG;
use keyshift_core::{KeyshiftError, Result};

/// When, around the call it is set at, a crash strikes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CrashTiming {
    /// The call is performed and its answer lost.
    #[default]
    AfterCall,
    /// The call never leaves.
    BeforeCall,
}

/// Counts remote calls and fails the one numbered `crash_at`, before or after performing it.
#[derive(Debug, Default)]
pub struct CrashSwitch {
    calls: AtomicU64,
    crash_at: AtomicU64,
    timing: CrashTiming,
    crashed: AtomicBool,
    operations: Mutex<Vec<String>>,
    watcher: OnceLock<Arc<CredentialWatcher>>,
}

impl CrashSwitch {
    /// A switch that loses the answer of call `crash_at` (1-based; 0 never).
    pub fn new(crash_at: u64) -> Arc<Self> {
        Self::with_timing(crash_at, CrashTiming::AfterCall)
    }

    /// A switch that crashes at call `crash_at` at the given moment around it.
    pub fn with_timing(crash_at: u64, timing: CrashTiming) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU64::new(0),
            crash_at: AtomicU64::new(crash_at),
            timing,
            crashed: AtomicBool::new(false),
            operations: Mutex::new(Vec::new()),
            watcher: OnceLock::new(),
        })
    }

    /// Has `watcher` check the fleet's credentials before every call from now on.
    pub fn watch(&self, watcher: Arc<CredentialWatcher>) {
        let _ = self.watcher.set(watcher);
    }

    /// The watcher, when one is set.
    pub fn watcher(&self) -> Option<&Arc<CredentialWatcher>> {
        self.watcher.get()
    }

    /// The watcher's verdict on a run: no instant without a working AWSCURRENT, and exactly
    /// one look before each call (so a watch that never ran cannot pass).
    pub fn assert_watched(&self, label: &str) {
        let watcher = self
            .watcher()
            .expect("crash harnesses watch the credentials");
        let violations = watcher.violations();
        assert!(violations.is_empty(), "{label}: {violations:#?}");
        assert_eq!(
            watcher.checks(),
            self.calls(),
            "{label}: one look before each call"
        );
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether the crash was injected, so a test can tell a crash the step absorbed from one
    /// that never happened.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// The operation of every call so far, in order (call `n` is at index `n - 1`), so a test
    /// can name the call it crashed and check that every kind of call was covered.
    pub fn operations(&self) -> Vec<String> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops crashing (for the re-run).
    pub fn disarm(&self) {
        self.crash_at.store(0, Ordering::SeqCst);
    }

    /// Records one call and returns its number (1-based); numbering and the operation log
    /// advance together under one lock.
    fn count(&self, operation: &str) -> u64 {
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        operations.push(operation.to_owned());
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Starts one call: the watcher (if any) checks the credentials as they are at this
    /// instant, then the call is counted; returns its number.
    async fn begin(&self, operation: &str) -> u64 {
        if let Some(watcher) = self.watcher.get() {
            watcher.check(operation).await;
        }
        self.count(operation)
    }

    /// Whether call `number` crashes at `moment`, recording that the crash fired.
    fn fires(&self, number: u64, moment: CrashTiming) -> bool {
        let fires = moment == self.timing && number == self.crash_at.load(Ordering::SeqCst);
        if fires {
            self.crashed.store(true, Ordering::SeqCst);
        }
        fires
    }
}

const CRASH_DETAIL: &str = "injected crash";

/// Checks, at every instant a crash run could stop at, that each managed secret of the fleet
/// has an AWSCURRENT that authenticates on its instance: what consumers read must never be a
/// dead token, whatever call a crash interrupts.
pub struct CredentialWatcher {
    /// The store underneath the crashing one, so the watcher's reads are not crash points.
    store: Arc<dyn SecretStore>,
    state: SharedState,
    /// (simulated instance, workspace key) of every instance watched.
    instances: Vec<(String, String)>,
    checks: AtomicU64,
    secrets_checked: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl std::fmt::Debug for CredentialWatcher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CredentialWatcher")
            .field("instances", &self.instances)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl CredentialWatcher {
    /// A watcher over the managed secrets `store` holds for `instances` (instance id and the
    /// workspace key its secrets are tagged with).
    pub fn new(
        store: Arc<dyn SecretStore>,
        state: SharedState,
        instances: Vec<(String, String)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            state,
            instances,
            checks: AtomicU64::new(0),
            secrets_checked: AtomicU64::new(0),
            violations: Mutex::new(Vec::new()),
        })
    }

    /// One look at every managed secret, before the call `moment` names.
    pub async fn check(&self, moment: &str) {
        self.checks.fetch_add(1, Ordering::SeqCst);
        for (instance, workspace_key) in &self.instances {
            let names = match self.store.list_tagged(WORKSPACE_TAG, workspace_key).await {
                Ok(names) => names,
                Err(error) => {
                    self.violation(format!(
                        "before {moment}: cannot list {instance}'s secrets: {error}"
                    ));
                    continue;
                }
            };
            for name in names {
                if let Some(problem) = self.current_problem(instance, &name).await {
                    self.violation(format!("before {moment}: {name}: {problem}"));
                }
                self.secrets_checked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// What is wrong with `name`'s AWSCURRENT, if anything; a secret with no version yet has
    /// nothing consumers could read, so nothing wrong.
    async fn current_problem(&self, instance: &str, name: &str) -> Option<String> {
        let description = match self.store.describe(name).await {
            Ok(description) => description,
            Err(error) => return Some(format!("cannot describe it: {error}")),
        };
        let current = description.version_with_stage(AWSCURRENT)?.to_owned();
        let stored = match self.store.get(name, &VersionSelector::Id(current)).await {
            Ok(stored) => stored,
            Err(error) => return Some(format!("cannot read AWSCURRENT: {error}")),
        };
        let value = match ManagedSecretValue::parse(&stored.value, name) {
            Ok(value) => value,
            Err(error) => return Some(format!("AWSCURRENT is not a keyshift value: {error}")),
        };
        match self
            .state
            .authenticate_credential(instance, value.token.expose())
        {
            Ok(Ok(_)) => None,
            other => Some(format!(
                "AWSCURRENT ({}) does not authenticate: {other:?}",
                value.token_name
            )),
        }
    }

    fn violation(&self, what: String) {
        self.violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }

    /// Looks taken so far (one before each call, plus any a test asks for).
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::SeqCst)
    }

    /// Secrets examined over all looks, so a test can tell a watch that saw secrets from one
    /// that ran before any existed.
    pub fn secrets_checked(&self) -> u64 {
        self.secrets_checked.load(Ordering::SeqCst)
    }

    /// Every instant a managed secret's AWSCURRENT did not authenticate.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The error an injected crash produces (what a lost answer looks like to a step).
pub fn crash(operation: &str) -> KeyshiftError {
    KeyshiftError::GrafanaUnavailable {
        operation: operation.to_owned(),
        detail: CRASH_DETAIL.to_owned(),
    }
}

/// The error an injected crash produces on an AMG call (what the SDK reports when the
/// connection dies around the request).
pub fn aws_crash(operation: &str) -> KeyshiftError {
    aws_crash_on("grafana", operation)
}

/// The error an injected crash produces on a KMS call.
pub fn kms_crash(operation: &str) -> KeyshiftError {
    aws_crash_on("kms", operation)
}

fn aws_crash_on(service: &str, operation: &str) -> KeyshiftError {
    KeyshiftError::AwsUnavailable {
        service: service.to_owned(),
        operation: operation.to_owned(),
        detail: CRASH_DETAIL.to_owned(),
    }
}

/// Whether an error is an injected crash.
pub fn is_crash(error: &KeyshiftError) -> bool {
    matches!(
        error,
        KeyshiftError::GrafanaUnavailable { detail, .. }
            | KeyshiftError::AwsUnavailable { detail, .. } if detail == CRASH_DETAIL
    )
}

/// Writes a crashing wrapper's impl of a port: every method counts itself on `self.switch`
/// under its operation name, then performs the real call on `self.inner` unless the crash is
/// set before it, and loses the answer when the crash is set after it; `$lost` makes the
/// error a crash looks like. Each remote call is one crash point.
macro_rules! crashing_impl {
    ($port:ident for $wrapper:ty, $lost:ident {
        $(fn $method:ident($($arg:ident: $ty:ty),* $(,)?) -> $ok:ty = $operation:literal;)*
    }) => {
        #[async_trait]
        impl $port for $wrapper {
            $(
                async fn $method(&self, $($arg: $ty),*) -> Result<$ok> {
                    let number = self.switch.begin($operation).await;
                    if self.switch.fires(number, CrashTiming::BeforeCall) {
                        return Err($lost($operation));
                    }
                    let result = self.inner.$method($($arg),*).await;
                    if self.switch.fires(number, CrashTiming::AfterCall) {
                        return Err($lost($operation));
                    }
                    result
                }
            )*
        }
    };
}

/// A connector whose clients report through a [`CrashSwitch`].
pub struct CrashingConnector {
    /// The real connector.
    pub inner: Arc<dyn GrafanaConnector>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

#[async_trait]
impl GrafanaConnector for CrashingConnector {
    async fn connect(
        &self,
        base_url: &str,
        org_id: OrgId,
        credential: GrafanaCredential,
    ) -> Result<Arc<dyn GrafanaApi>> {
        let inner = self.inner.connect(base_url, org_id, credential).await?;
        Ok(Arc::new(CrashingApi {
            inner,
            switch: Arc::clone(&self.switch),
        }))
    }
}

struct CrashingApi {
    inner: Arc<dyn GrafanaApi>,
    switch: Arc<CrashSwitch>,
}

crashing_impl! {
    GrafanaApi for CrashingApi, crash {
        fn health() -> GrafanaVersion = "health";
        fn org() -> Org = "org";
        fn permissions() -> Permissions = "permissions";
        fn list_legacy_keys(include_expired: bool) -> Vec<LegacyApiKey> = "list_legacy_keys";
        fn delete_legacy_key(key_id: i64) -> () = "delete_legacy_key";
        fn migrate_legacy_key(key_id: i64) -> () = "migrate_legacy_key";
        fn migrate_all_legacy_keys() -> MigrationReport = "migrate_all_legacy_keys";
        fn search_service_accounts(query: &str) -> Vec<ServiceAccount> = "search_service_accounts";
        fn get_service_account(service_account_id: i64) -> ServiceAccount = "get_service_account";
        fn create_service_account(name: &str, role: Role) -> ServiceAccount =
            "create_service_account";
        fn update_service_account_role(service_account_id: i64, role: Role) -> ServiceAccount =
            "update_service_account_role";
        fn delete_service_account(service_account_id: i64) -> () = "delete_service_account";
        fn list_tokens(service_account_id: i64) -> Vec<ServiceAccountToken> = "list_tokens";
        fn create_token(
            service_account_id: i64, name: &str, seconds_to_live: u64, requested_at: DateTime<Utc>
        ) -> MintedToken = "create_token";
        fn delete_token(service_account_id: i64, token_id: i64) -> () = "delete_token";
    }
}

/// A secret store whose calls report through a [`CrashSwitch`].
pub struct CrashingStore {
    /// The real store.
    pub inner: Arc<dyn SecretStore>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

crashing_impl! {
    SecretStore for CrashingStore, crash {
        fn describe(secret_id: &str) -> SecretDescription = "describe";
        fn get(secret_id: &str, selector: &VersionSelector) -> SecretVersionValue = "get";
        fn ensure_secret(name: &str, description: &str, tags: &BTreeMap<String, String>) -> String =
            "ensure_secret";
        fn put_pending(secret_id: &str, client_request_token: &str, value: &SecretString) -> String =
            "put_pending";
        fn apply_stage_update(secret_id: &str, update: &StageUpdate) -> () = "apply_stage_update";
        fn list_tagged(key: &str, value: &str) -> Vec<String> = "list_tagged";
        fn set_tag(secret_id: &str, key: &str, value: Option<&str>) -> () = "set_tag";
    }
}

/// An AMG control plane whose calls report through a [`CrashSwitch`].
pub struct CrashingAmg {
    /// The real control-plane client.
    pub inner: Arc<dyn AmgControlPlane>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

crashing_impl! {
    AmgControlPlane for CrashingAmg, aws_crash {
        fn list_workspaces(region: &str) -> Vec<AmgWorkspaceSummary> = "ListWorkspaces";
        fn describe_workspace(workspace: &AmgWorkspace) -> AmgWorkspaceSummary = "DescribeWorkspace";
        fn create_workspace_service_account(workspace: &AmgWorkspace, name: &str, role: Role)
            -> AmgServiceAccount = "CreateWorkspaceServiceAccount";
        fn list_workspace_service_accounts(workspace: &AmgWorkspace) -> Vec<AmgServiceAccount> =
            "ListWorkspaceServiceAccounts";
        fn create_workspace_service_account_token(
            workspace: &AmgWorkspace, service_account_id: &str, name: &str, seconds_to_live: u64
        ) -> AmgMintedToken = "CreateWorkspaceServiceAccountToken";
        fn list_workspace_service_account_tokens(
            workspace: &AmgWorkspace, service_account_id: &str
        ) -> Vec<AmgServiceAccountToken> = "ListWorkspaceServiceAccountTokens";
        fn delete_workspace_service_account_token(
            workspace: &AmgWorkspace, service_account_id: &str, token_id: &str
        ) -> () = "DeleteWorkspaceServiceAccountToken";
    }
}

/// A sealer (KMS when deployed) whose calls report through a [`CrashSwitch`].
pub struct CrashingSealer {
    /// The real sealer.
    pub inner: Arc<dyn Sealer>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

crashing_impl! {
    Sealer for CrashingSealer, kms_crash {
        fn seal(plaintext: &SecretString, context: &SealContext) -> SealedToken = "Encrypt";
        fn unseal(sealed: &SealedToken, context: &SealContext) -> SecretString = "Decrypt";
    }
}
