//! The rows of an instance, shaped like Grafana's own tables (`org`, `user`, `api_key`,
//! `folder`), and the instance that owns them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::fleet::{InstanceSettings, WorkspaceKind};
use crate::version::GrafanaVersion;

/// Grafana's org roles, ordered by privilege so "higher than the caller's" is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Role {
    /// No basic role.
    None,
    /// Read-only.
    Viewer,
    /// Can edit dashboards and folders.
    Editor,
    /// Org admin: manages service accounts and keys.
    Admin,
}

impl Role {
    /// Parses Grafana's exact spelling (`None`, `Viewer`, `Editor`, `Admin`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "None" => Some(Self::None),
            "Viewer" => Some(Self::Viewer),
            "Editor" => Some(Self::Editor),
            "Admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Grafana's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Viewer => "Viewer",
            Self::Editor => "Editor",
            Self::Admin => "Admin",
        }
    }
}

/// A Grafana RBAC fixed role granted to a user on top of their basic org role (what an admin
/// does with role assignments). It is how a non-admin reaches service-account management, and
/// thereby Grafana's "can not assign a role higher than user's role" answer, which an Org
/// Admin can never trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FixedRole {
    /// `fixed:serviceaccounts:reader`: read service accounts.
    ServiceAccountsReader,
    /// `fixed:serviceaccounts:creator`: create service accounts.
    ServiceAccountsCreator,
    /// `fixed:serviceaccounts:writer`: read, create, write, delete service accounts.
    ServiceAccountsWriter,
    /// `fixed:apikeys:reader`: list legacy keys (gone with the key endpoints in 12.1).
    ApiKeysReader,
    /// `fixed:apikeys:writer`: list, create and delete legacy keys (gone in 12.1).
    ApiKeysWriter,
}

impl FixedRole {
    /// Parses Grafana's role name (`fixed:serviceaccounts:writer`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "fixed:serviceaccounts:reader" => Some(Self::ServiceAccountsReader),
            "fixed:serviceaccounts:creator" => Some(Self::ServiceAccountsCreator),
            "fixed:serviceaccounts:writer" => Some(Self::ServiceAccountsWriter),
            "fixed:apikeys:reader" => Some(Self::ApiKeysReader),
            "fixed:apikeys:writer" => Some(Self::ApiKeysWriter),
            _ => None,
        }
    }
}

/// A fleet-seeded credential in full, for `GET /_sim/secrets` only.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededSecret {
    /// Instance id.
    pub workspace: String,
    /// Org id.
    pub org_id: i64,
    /// `apiKey` or `serviceAccountToken`.
    pub kind: &'static str,
    /// Credential name.
    pub name: String,
    /// Row id.
    pub id: i64,
    /// The full credential string (its explicit purpose is to be shown to tests).
    pub key: String,
}

debug_listing_only!(SeededSecret {
    workspace,
    name,
    id
});

/// An org of an instance.
#[derive(Debug, Clone, Serialize)]
pub struct Org {
    /// Org id.
    pub id: i64,
    /// Org name.
    pub name: String,
}

/// A human user (basic auth).
#[derive(Clone)]
pub struct User {
    /// User id (shared sequence with service accounts).
    pub id: i64,
    /// Login.
    pub login: String,
    /// Email.
    pub email: String,
    pub(super) password: String,
    /// Grafana server admin.
    pub is_grafana_admin: bool,
    /// Role per org.
    pub roles: BTreeMap<i64, Role>,
    /// Fixed roles granted per org on top of the basic role.
    pub fixed_roles: BTreeMap<i64, Vec<FixedRole>>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

debug_listing_only!(User { id, login, roles });

/// A service account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Id (shared sequence with users).
    pub id: i64,
    /// Short uid.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// Generated login.
    pub login: String,
    /// Owning org.
    pub org_id: i64,
    /// Basic role.
    pub role: Role,
    /// Disabled accounts cannot authenticate.
    pub is_disabled: bool,
    /// Created.
    pub created: DateTime<Utc>,
    /// Updated.
    pub updated: DateTime<Utc>,
}

/// The two credential string formats a row can have been issued in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CredentialFormat {
    /// base64 JSON legacy key (also after migration).
    LegacyKey,
    /// `glsa_` token.
    ServiceAccountToken,
}

/// A row of Grafana's `api_key` table: a legacy key, or a token when `service_account_id` is set.
#[derive(Clone)]
pub struct CredentialRow {
    /// Row id (key id = token id).
    pub id: i64,
    /// Owning org.
    pub org_id: i64,
    /// Name, unique per org.
    pub name: String,
    /// Key role (irrelevant for tokens; the SA role governs).
    pub role: Role,
    pub(super) hash: String,
    /// Issued format.
    pub format: CredentialFormat,
    /// Created.
    pub created: DateTime<Utc>,
    /// Expiry; `None` = never.
    pub expires: Option<DateTime<Utc>>,
    /// Last authenticated use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Owning service account; `None` = plain legacy key.
    pub service_account_id: Option<i64>,
    /// Set by secret scanning (simulated through `/_sim`).
    pub is_revoked: bool,
}

debug_listing_only!(CredentialRow {
    id,
    org_id,
    name,
    service_account_id,
    expires
});

impl CredentialRow {
    /// A credential of `format` as issued at `created`: never used, unrevoked, without expiry
    /// or owner until the caller sets them; [`Instance::insert_credential`] assigns the id. Keys
    /// set their own role; a token's is irrelevant and stays Viewer.
    pub(super) fn issued(
        org_id: i64,
        name: &str,
        hash: String,
        format: CredentialFormat,
        created: DateTime<Utc>,
    ) -> Self {
        Self {
            id: 0,
            org_id,
            name: name.to_string(),
            role: Role::Viewer,
            hash,
            format,
            created,
            expires: None,
            last_used_at: None,
            service_account_id: None,
            is_revoked: false,
        }
    }

    /// Expired at `now` (Grafana: `expires <= now`).
    pub fn has_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }
}

/// A dashboard folder.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    /// Folder id.
    pub id: i64,
    /// Folder uid.
    pub uid: String,
    /// Title.
    pub title: String,
    /// Owning org.
    pub org_id: i64,
}

/// What the AMG control plane and the instance list say about a workspace, stored once on
/// the [`Instance`] and shown as it is in every [`super::WorkspaceView`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRecord {
    /// Instance id (AMG workspace id or self-hosted slug).
    pub id: String,
    /// `amg` or `selfHosted`.
    pub kind: WorkspaceKind,
    /// AWS region (AMG).
    pub region: String,
    /// Display name.
    pub name: String,
    /// AMG description.
    pub description: Option<String>,
    /// AMG status.
    pub status: String,
    /// AMG tags.
    pub tags: BTreeMap<String, String>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last modification time.
    pub modified: DateTime<Utc>,
}

/// One simulated Grafana instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The workspace as the control plane lists it.
    pub record: WorkspaceRecord,
    /// Behaviour version.
    pub version: GrafanaVersion,
    /// The version string as the fleet gave it (AMG reports `MAJOR.MINOR`).
    pub version_label: String,
    /// Grafana settings.
    pub settings: InstanceSettings,
    /// Orgs by id.
    pub orgs: BTreeMap<i64, Org>,
    /// Users.
    pub users: Vec<User>,
    /// Service accounts by id.
    pub service_accounts: BTreeMap<i64, ServiceAccount>,
    /// The credential table by row id.
    pub credentials: BTreeMap<i64, CredentialRow>,
    /// Folders.
    pub folders: Vec<Folder>,
    /// Orgs whose keys were hidden through 9.x `hideApiKeys`.
    pub hidden_api_key_orgs: BTreeSet<i64>,
    pub(super) next_user_id: i64,
    pub(super) next_credential_id: i64,
    pub(super) next_folder_id: i64,
}
