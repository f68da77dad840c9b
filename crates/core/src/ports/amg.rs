//! The Amazon Managed Grafana control plane (service `grafana`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{AmgWorkspace, AssumeRole, GrafanaVersion, Role};
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

/// Opens the AMG control plane of the account a workspace lives in: the caller's own
/// (`role` absent) or another account's, reached through the IAM role its execution input
/// carries ([`crate::model::WorkspaceRef::assume_role`]). A port, like
/// [`crate::ports::GrafanaConnector`], so every step that calls AMG signs its calls as the
/// workspace's account, and fleet listing and steps share one cache of assumed roles.
#[async_trait]
pub trait AmgConnector: Send + Sync {
    /// The control plane under `role` (assumed on first use, then reused); the caller's own
    /// without one. A role that cannot be assumed is a named error, never a silent fallback
    /// to the caller's own account.
    async fn control_plane(&self, role: Option<&AssumeRole>) -> Result<Arc<dyn AmgControlPlane>>;
}

/// An [`AmgConnector`] for a world of one AWS account (grafana-sim, mocks, a local run
/// against one control plane): every role opens the same control plane, and each request is
/// counted under its role so tests can see which role a step asked for.
///
/// Why not refuse roles: grafana-sim emulates a single account, so a workspace fleet-start
/// found "through" a role lives in that same account there; refusing would make local runs of
/// a multi-account config fail for no reason, and ignoring the role silently would hide a
/// step that forgot to pass it. Counting keeps the role visible.
pub struct SingleAccountAmg {
    plane: Arc<dyn AmgControlPlane>,
    requests: Mutex<BTreeMap<Option<AssumeRole>, usize>>,
}

impl SingleAccountAmg {
    /// Serves `plane` for the caller's own account and every role.
    pub fn new(plane: Arc<dyn AmgControlPlane>) -> Self {
        Self {
            plane,
            requests: Mutex::new(BTreeMap::new()),
        }
    }

    /// How many times the control plane was opened under each role (`None`: without one).
    pub fn requests(&self) -> BTreeMap<Option<AssumeRole>, usize> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for SingleAccountAmg {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SingleAccountAmg")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AmgConnector for SingleAccountAmg {
    async fn control_plane(&self, role: Option<&AssumeRole>) -> Result<Arc<dyn AmgControlPlane>> {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(role.cloned())
            .or_default() += 1;
        Ok(Arc::clone(&self.plane))
    }
}
