//! What the APIs show of the rows (never a secret or hash), and the requests and outcomes
//! of state operations.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rows::{FixedRole, Role, ServiceAccount, WorkspaceRecord};

/// What the AMG control plane and the instance list show about a workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    /// The stored record (id, kind, region, name, status, tags, times).
    #[serde(flatten)]
    pub record: WorkspaceRecord,
    /// Version label (`10.4`).
    pub grafana_version: String,
    /// Full behaviour version (`10.4.0`).
    pub behaviour_version: String,
    /// AMG endpoint hostname (`<id>.grafana-workspace.<region>.amazonaws.com`); `None` for
    /// self-hosted.
    pub endpoint: Option<String>,
}

/// A service account as the APIs show it: its row plus the token count Grafana reports.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccountView {
    /// The stored row (no secret lives on a service account).
    #[serde(flatten)]
    pub row: ServiceAccount,
    /// Number of tokens.
    pub tokens: usize,
}

/// A token as the APIs show it (never the secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// Token id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Created.
    pub created: DateTime<Utc>,
    /// Expiry.
    pub expiration: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expired now.
    pub has_expired: bool,
    /// Revoked by secret scanning.
    pub is_revoked: bool,
    /// Seconds until expiry when within 7 days and not expired, else 0 (Grafana's rule).
    pub seconds_until_expiration: f64,
}

/// A plain legacy key as the APIs show it (never the secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// Key id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Org.
    pub org_id: i64,
    /// Expiry.
    pub expiration: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A freshly issued credential: the only moment its secret exists in the simulator.
#[derive(Clone, Serialize)]
pub struct IssuedCredential {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The credential string, shown once (its explicit purpose).
    pub key: String,
}

impl fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Request to create a service account.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Start disabled.
    pub is_disabled: bool,
}

/// Changes to a service account (absent fields unchanged).
#[derive(Debug, Clone, Default)]
pub struct ServiceAccountUpdate {
    /// New name (login is regenerated from it).
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New disabled flag.
    pub is_disabled: Option<bool>,
}

/// Outcome of a bulk migration (Grafana's `MigrationResult`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Keys attempted.
    pub total: usize,
    /// Keys converted.
    pub migrated: usize,
    /// Keys that failed.
    pub failed: usize,
    /// Ids of failed keys.
    #[serde(rename = "failedApikeyIDs")]
    pub failed_apikey_ids: Vec<i64>,
    /// `API key name: <name> - Error: <err>` per failure.
    pub failed_details: Vec<String>,
}

/// Who a valid credential belongs to.
#[derive(Debug, Clone)]
pub struct CredentialIdentity {
    /// Row id.
    pub credential_id: i64,
    /// Org of the row.
    pub org_id: i64,
    /// Effective role (the SA's for tokens, the key's for plain keys).
    pub role: Role,
    /// Owning service account, when the row is a token.
    pub service_account: Option<ServiceAccountView>,
}

/// Why a presented credential was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRejection {
    /// Neither format, or a `glsa_` token with a bad checksum.
    Malformed,
    /// Well-formed but unknown (deleted, never issued, wrong secret), or a legacy key on ≥12.1.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Revoked by secret scanning.
    Revoked,
    /// Its service account is disabled.
    Disabled,
}

/// A user whose basic-auth password matched.
#[derive(Debug, Clone)]
pub struct UserIdentity {
    /// User id.
    pub id: i64,
    /// Login.
    pub login: String,
    /// Email.
    pub email: String,
    /// Server admin.
    pub is_grafana_admin: bool,
    /// Roles per org.
    pub roles: BTreeMap<i64, Role>,
    /// Fixed roles granted per org on top of the basic role.
    pub fixed_roles: BTreeMap<i64, Vec<FixedRole>>,
}
