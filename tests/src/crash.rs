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
    SecretVersionValue, VersionSelector,
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

    fn after<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        let number = self.count(operation);
        if number == self.crash_at.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(crash(operation));
        }
        result
    }

    /// As [`Self::after`], for AWS calls: a lost AWS answer looks like `Aws.Unavailable`.
    fn after_aws<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        let number = self.count(operation);
        if number == self.crash_at.load(Ordering::SeqCst) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(aws_crash(operation));
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

#[async_trait]
impl GrafanaApi for CrashingApi {
    async fn health(&self) -> Result<GrafanaVersion> {
        self.switch.after("health", self.inner.health().await)
    }
    async fn org(&self) -> Result<Org> {
        self.switch.after("org", self.inner.org().await)
    }
    async fn permissions(&self) -> Result<Permissions> {
        self.switch
            .after("permissions", self.inner.permissions().await)
    }
    async fn list_legacy_keys(&self, include_expired: bool) -> Result<Vec<LegacyApiKey>> {
        self.switch.after(
            "list_legacy_keys",
            self.inner.list_legacy_keys(include_expired).await,
        )
    }
    async fn delete_legacy_key(&self, key_id: i64) -> Result<()> {
        self.switch.after(
            "delete_legacy_key",
            self.inner.delete_legacy_key(key_id).await,
        )
    }
    async fn migrate_legacy_key(&self, key_id: i64) -> Result<()> {
        self.switch.after(
            "migrate_legacy_key",
            self.inner.migrate_legacy_key(key_id).await,
        )
    }
    async fn migrate_all_legacy_keys(&self) -> Result<MigrationReport> {
        self.switch.after(
            "migrate_all_legacy_keys",
            self.inner.migrate_all_legacy_keys().await,
        )
    }
    async fn search_service_accounts(&self, query: &str) -> Result<Vec<ServiceAccount>> {
        self.switch.after(
            "search_service_accounts",
            self.inner.search_service_accounts(query).await,
        )
    }
    async fn get_service_account(&self, service_account_id: i64) -> Result<ServiceAccount> {
        self.switch.after(
            "get_service_account",
            self.inner.get_service_account(service_account_id).await,
        )
    }
    async fn create_service_account(&self, name: &str, role: Role) -> Result<ServiceAccount> {
        self.switch.after(
            "create_service_account",
            self.inner.create_service_account(name, role).await,
        )
    }
    async fn update_service_account_role(
        &self,
        service_account_id: i64,
        role: Role,
    ) -> Result<ServiceAccount> {
        let result = self
            .inner
            .update_service_account_role(service_account_id, role)
            .await;
        self.switch.after("update_service_account_role", result)
    }
    async fn delete_service_account(&self, service_account_id: i64) -> Result<()> {
        self.switch.after(
            "delete_service_account",
            self.inner.delete_service_account(service_account_id).await,
        )
    }
    async fn list_tokens(&self, service_account_id: i64) -> Result<Vec<ServiceAccountToken>> {
        self.switch.after(
            "list_tokens",
            self.inner.list_tokens(service_account_id).await,
        )
    }
    async fn create_token(
        &self,
        service_account_id: i64,
        name: &str,
        seconds_to_live: u64,
        requested_at: DateTime<Utc>,
    ) -> Result<MintedToken> {
        let result = self
            .inner
            .create_token(service_account_id, name, seconds_to_live, requested_at)
            .await;
        self.switch.after("create_token", result)
    }
    async fn delete_token(&self, service_account_id: i64, token_id: i64) -> Result<()> {
        self.switch.after(
            "delete_token",
            self.inner.delete_token(service_account_id, token_id).await,
        )
    }
}

/// A secret store whose calls report through a [`CrashSwitch`].
pub struct CrashingStore {
    /// The real store.
    pub inner: Arc<dyn SecretStore>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

#[async_trait]
impl SecretStore for CrashingStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription> {
        self.switch
            .after("describe", self.inner.describe(secret_id).await)
    }
    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue> {
        self.switch
            .after("get", self.inner.get(secret_id, selector).await)
    }
    async fn ensure_secret(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        self.switch.after(
            "ensure_secret",
            self.inner.ensure_secret(name, description, tags).await,
        )
    }
    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String> {
        let result = self
            .inner
            .put_pending(secret_id, client_request_token, value)
            .await;
        self.switch.after("put_pending", result)
    }
    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to_version: &str,
        from_version: Option<&str>,
    ) -> Result<()> {
        let result = self
            .inner
            .move_stage(secret_id, stage, to_version, from_version)
            .await;
        self.switch.after("move_stage", result)
    }
    async fn remove_stage(&self, secret_id: &str, stage: &str, from_version: &str) -> Result<()> {
        self.switch.after(
            "remove_stage",
            self.inner
                .remove_stage(secret_id, stage, from_version)
                .await,
        )
    }
    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        self.switch
            .after("list_tagged", self.inner.list_tagged(key, value).await)
    }
}

/// An AMG control plane whose calls report through a [`CrashSwitch`].
pub struct CrashingAmg {
    /// The real control-plane client.
    pub inner: Arc<dyn AmgControlPlane>,
    /// The shared switch.
    pub switch: Arc<CrashSwitch>,
}

#[async_trait]
impl AmgControlPlane for CrashingAmg {
    async fn list_workspaces(&self, region: &str) -> Result<Vec<AmgWorkspaceSummary>> {
        self.switch
            .after_aws("ListWorkspaces", self.inner.list_workspaces(region).await)
    }
    async fn describe_workspace(&self, workspace: &AmgWorkspace) -> Result<AmgWorkspaceSummary> {
        self.switch.after_aws(
            "DescribeWorkspace",
            self.inner.describe_workspace(workspace).await,
        )
    }
    async fn create_workspace_api_key(
        &self,
        workspace: &AmgWorkspace,
        key_name: &str,
        role: Role,
        seconds_to_live: u64,
    ) -> Result<SecretString> {
        let result = self
            .inner
            .create_workspace_api_key(workspace, key_name, role, seconds_to_live)
            .await;
        self.switch.after_aws("CreateWorkspaceApiKey", result)
    }
    async fn delete_workspace_api_key(
        &self,
        workspace: &AmgWorkspace,
        key_name: &str,
    ) -> Result<()> {
        let result = self
            .inner
            .delete_workspace_api_key(workspace, key_name)
            .await;
        self.switch.after_aws("DeleteWorkspaceApiKey", result)
    }
    async fn create_workspace_service_account(
        &self,
        workspace: &AmgWorkspace,
        name: &str,
        role: Role,
    ) -> Result<AmgServiceAccount> {
        let result = self
            .inner
            .create_workspace_service_account(workspace, name, role)
            .await;
        self.switch
            .after_aws("CreateWorkspaceServiceAccount", result)
    }
    async fn list_workspace_service_accounts(
        &self,
        workspace: &AmgWorkspace,
    ) -> Result<Vec<AmgServiceAccount>> {
        let result = self.inner.list_workspace_service_accounts(workspace).await;
        self.switch
            .after_aws("ListWorkspaceServiceAccounts", result)
    }
    async fn delete_workspace_service_account(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
    ) -> Result<()> {
        let result = self
            .inner
            .delete_workspace_service_account(workspace, service_account_id)
            .await;
        self.switch
            .after_aws("DeleteWorkspaceServiceAccount", result)
    }
    async fn create_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        name: &str,
        seconds_to_live: u64,
    ) -> Result<AmgMintedToken> {
        let result = self
            .inner
            .create_workspace_service_account_token(
                workspace,
                service_account_id,
                name,
                seconds_to_live,
            )
            .await;
        self.switch
            .after_aws("CreateWorkspaceServiceAccountToken", result)
    }
    async fn list_workspace_service_account_tokens(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
    ) -> Result<Vec<AmgServiceAccountToken>> {
        let result = self
            .inner
            .list_workspace_service_account_tokens(workspace, service_account_id)
            .await;
        self.switch
            .after_aws("ListWorkspaceServiceAccountTokens", result)
    }
    async fn delete_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        token_id: &str,
    ) -> Result<()> {
        let result = self
            .inner
            .delete_workspace_service_account_token(workspace, service_account_id, token_id)
            .await;
        self.switch
            .after_aws("DeleteWorkspaceServiceAccountToken", result)
    }
}
