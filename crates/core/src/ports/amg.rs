//! The Amazon Managed Grafana control plane (service `grafana`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{AmgWorkspace, GrafanaVersion, Role};
use crate::secret::SecretString;

/// The only AMG status in which keyshift works on a workspace.
pub const AMG_STATUS_ACTIVE: &str = "ACTIVE";

/// A workspace as listed or described; what fleet-start and discover need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmgWorkspaceSummary {
    /// Workspace id and region.
    #[serde(flatten)]
    pub workspace: AmgWorkspace,
    /// Display name, when set.
    #[serde(default)]
    pub name: Option<String>,
    /// Hostname (or URL) of the workspace's Grafana; see [`crate::model::amg_base_url`].
    pub endpoint: String,
    /// AMG's version string (e.g. `"10.4"`), parsed.
    pub grafana_version: GrafanaVersion,
    /// AMG status (`ACTIVE`, `UPDATING`, …), kept as a string because AWS adds values.
    pub status: String,
    /// Resource tags, used to select the fleet.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl AmgWorkspaceSummary {
    /// Only ACTIVE workspaces accept work; others answer conflicts or time out.
    pub fn is_active(&self) -> bool {
        self.status == AMG_STATUS_ACTIVE
    }
}

/// A service account as the control plane reports it (ids are strings there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmgServiceAccount {
    /// Service-account id (a string in the AMG API).
    pub id: String,
    /// Name, unique in the workspace.
    pub name: String,
    /// Grafana role.
    pub role: Role,
    /// AMG models this as a string; adapters parse `"true"`/`"false"`.
    pub is_disabled: bool,
}

/// A service-account token as the control plane lists it (no key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmgServiceAccountToken {
    /// Token id (string in the AMG API).
    pub id: String,
    /// Token name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry (AMG tokens always expire).
    pub expires_at: DateTime<Utc>,
    /// Last use, when reported.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token minted through the control plane: the only time its key is visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmgMintedToken {
    /// Token id (string in the AMG API).
    pub id: String,
    /// Token name.
    pub name: String,
    /// The token (`glsa_…`).
    pub key: SecretString,
}

/// The AMG control-plane operations keyshift uses: fleet listing and the short-lived
/// bootstrap admin credential that lets an execution call the workspace's Grafana API without
/// any standing admin key. Implementations map ThrottlingException → `AwsThrottled` (with
/// Retry-After), InternalServerException → `AwsUnavailable`, ResourceNotFoundException →
/// `WorkspaceNotFound` (or `GrafanaNotFound` for accounts/tokens), others → `AwsFailed`.
#[async_trait]
pub trait AmgControlPlane: Send + Sync {
    /// ListWorkspaces in a region, all pages.
    async fn list_workspaces(&self, region: &str) -> Result<Vec<AmgWorkspaceSummary>>;

    /// DescribeWorkspace.
    async fn describe_workspace(&self, workspace: &AmgWorkspace) -> Result<AmgWorkspaceSummary>;

    /// CreateWorkspaceApiKey (Grafana 8–10 workspaces); returns the key (shown once).
    async fn create_workspace_api_key(
        &self,
        workspace: &AmgWorkspace,
        key_name: &str,
        role: Role,
        seconds_to_live: u64,
    ) -> Result<SecretString>;

    /// DeleteWorkspaceApiKey.
    async fn delete_workspace_api_key(
        &self,
        workspace: &AmgWorkspace,
        key_name: &str,
    ) -> Result<()>;

    /// CreateWorkspaceServiceAccount.
    async fn create_workspace_service_account(
        &self,
        workspace: &AmgWorkspace,
        name: &str,
        role: Role,
    ) -> Result<AmgServiceAccount>;

    /// ListWorkspaceServiceAccounts, all pages.
    async fn list_workspace_service_accounts(
        &self,
        workspace: &AmgWorkspace,
    ) -> Result<Vec<AmgServiceAccount>>;

    /// DeleteWorkspaceServiceAccount.
    async fn delete_workspace_service_account(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
    ) -> Result<()>;

    /// CreateWorkspaceServiceAccountToken (TTL 1..2 592 000 s).
    async fn create_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        name: &str,
        seconds_to_live: u64,
    ) -> Result<AmgMintedToken>;

    /// ListWorkspaceServiceAccountTokens, all pages.
    async fn list_workspace_service_account_tokens(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
    ) -> Result<Vec<AmgServiceAccountToken>>;

    /// DeleteWorkspaceServiceAccountToken.
    async fn delete_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        token_id: &str,
    ) -> Result<()>;
}
