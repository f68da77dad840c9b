//! Crash injection around the real adapters: the Nth remote call (Grafana, secret store or AMG
//! control plane) is performed and then reported as a lost answer, as when a Lambda dies right
//! after a request went out. Re-running the failed step must converge.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::model::{
    AmgWorkspace, GrafanaCredential, GrafanaVersion, LegacyApiKey, MigrationReport, MintedToken,
    Org, OrgId, Permissions, Role, ServiceAccount, ServiceAccountToken,
};
use keyshift_core::ports::{
    AmgControlPlane, AmgMintedToken, AmgServiceAccount, AmgServiceAccountToken,
    AmgWorkspaceSummary, GrafanaApi, GrafanaConnector, SecretDescription, SecretStore,
    SecretVersionValue, StageUpdate, VersionSelector,
};
use keyshift_core::secret::SecretString;
use keyshift_core::{KeyshiftError, Result};

/// Counts remote calls and fails the one numbered `crash_at` after performing it.
#[derive(Debug, Default)]
pub struct CrashSwitch {
    calls: AtomicU64,
    crash_at: AtomicU64,
    crashed: AtomicBool,
    operations: Mutex<Vec<String>>,
}

impl CrashSwitch {
    /// A switch that crashes at call `crash_at` (1-based; 0 never).
    pub fn new(crash_at: u64) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU64::new(0),
            crash_at: AtomicU64::new(crash_at),
            crashed: AtomicBool::new(false),
            operations: Mutex::new(Vec::new()),
        })
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

    /// Counts a Grafana or secret-store call that was performed, and loses its answer when it
    /// is the one to crash at.
    fn after<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        self.report(operation, result, crash)
    }

    /// As [`Self::after`], for AWS calls: a lost AWS answer looks like `Aws.Unavailable`.
    fn after_aws<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        self.report(operation, result, aws_crash)
    }

    /// Counts one performed call; the one numbered `crash_at` returns what `lost` makes of
    /// its operation instead of its result.
    fn report<T>(
        &self,
        operation: &str,
        result: Result<T>,
        lost: fn(&str) -> KeyshiftError,
    ) -> Result<T> {
        let number = self.count(operation);
        if number == self.crash_at.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(lost(operation));
        }
        result
    }
}

const CRASH_DETAIL: &str = "injected crash after the call";

/// The error an injected crash produces (what a lost answer looks like to a step).
pub fn crash(operation: &str) -> KeyshiftError {
    KeyshiftError::GrafanaUnavailable {
        operation: operation.to_owned(),
        detail: CRASH_DETAIL.to_owned(),
    }
}

/// The error an injected crash produces on an AWS call (what the SDK reports when the
/// connection dies after the request went out).
pub fn aws_crash(operation: &str) -> KeyshiftError {
    KeyshiftError::AwsUnavailable {
        service: "grafana".to_owned(),
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

/// Writes a crashing wrapper's impl of a port: every method performs the real call on
/// `self.inner`, then hands the result to `self.switch.$report` under its operation name, so
/// each remote call is one crash point, counted after the request went out.
macro_rules! crashing_impl {
    ($port:ident for $wrapper:ty, $report:ident {
        $(fn $method:ident($($arg:ident: $ty:ty),* $(,)?) -> $ok:ty = $operation:literal;)*
    }) => {
        #[async_trait]
        impl $port for $wrapper {
            $(
                async fn $method(&self, $($arg: $ty),*) -> Result<$ok> {
                    let result = self.inner.$method($($arg),*).await;
                    self.switch.$report($operation, result)
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
    GrafanaApi for CrashingApi, after {
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
    SecretStore for CrashingStore, after {
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
    AmgControlPlane for CrashingAmg, after_aws {
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
