//! The simulator's state model: every simulated Grafana instance and what lives in it.
//!
//! Model (mirrors Grafana's own tables so its quirks fall out naturally):
//! - An [`Instance`] is one Grafana: an AMG workspace (`g-` + 10 hex, region, status, tags,
//!   endpoint `<id>.grafana-workspace.<region>.amazonaws.com`) or a self-hosted server (any
//!   slug). It has a [`GrafanaVersion`] that the HTTP layer consults for every
//!   version-dependent answer, and its own orgs, users, service accounts and folders.
//! - Users and service accounts share one id sequence and one login namespace per instance,
//!   as in Grafana's `user` table: that is why duplicate service-account names collide on the
//!   lowercased login.
//! - Legacy API keys and service-account tokens live in ONE credential table per instance
//!   (Grafana's `api_key` table) with names unique per org across both. A row with a
//!   `service_account_id` is a token; migrating a key just sets that column, so the migrated
//!   key keeps its id, name, expiry, hash and its old (base64) string keeps authenticating.
//! - Secrets are never stored: only Grafana's PBKDF2 hashes. Fleet-seeded credentials are
//!   additionally remembered in full for `GET /_sim/secrets`, which tests use to log in.
//! - Time comes from the shared [`SimClock`]; faults from the [`FaultTable`]; every request is
//!   counted per (workspace, endpoint).
//!
//! Note for the AMG control-plane layer (`amg.rs`): call only the `pub` methods of
//! [`SimState`]: [`SimState::amg_workspaces`], [`SimState::workspace`],
//! [`SimState::create_legacy_key`], [`SimState::delete_legacy_key_by_name`],
//! [`SimState::create_service_account`], [`SimState::list_service_accounts`],
//! [`SimState::delete_service_account`], [`SimState::create_token`],
//! [`SimState::list_tokens`], [`SimState::delete_token`], plus [`SimState::now`],
//! [`SimState::faults`] (`check(workspace, "CreateWorkspaceServiceAccountToken")`) and
//! [`SimState::record_request`]. AMG works on org 1 ([`DEFAULT_ORG_ID`]). Errors are
//! [`StateError`] variants to map onto AMG's exceptions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::SimClock;
use crate::credentials::{
    HashCache, ParsedCredential, legacy_key_string, random_secret, service_account_token_string,
    token_checksum,
};
use crate::faults::FaultTable;
use crate::fleet::{FleetError, FleetSpec, WorkspaceKind, WorkspaceSpec, resolve_time};
use crate::version::GrafanaVersion;

/// The org AMG operations act on (AMG workspaces have a single org).
pub const DEFAULT_ORG_ID: i64 = 1;

/// How often Grafana refreshes `last_used_at` at most (reference §6.1).
const LAST_USED_REFRESH: Duration = Duration::minutes(5);

/// Shared handle passed to every router.
pub type SharedState = Arc<SimState>;

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

/// Failures of state operations; the HTTP and AMG layers map them to their own answers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// No instance with that id.
    #[error("workspace `{0}` not found")]
    WorkspaceNotFound(String),
    /// The instance has no such org.
    #[error("org {0} not found")]
    OrgNotFound(i64),
    /// No service account with that id in the org.
    #[error("service account {0} not found")]
    ServiceAccountNotFound(i64),
    /// No token with that id on that service account.
    #[error("service account token {0} not found")]
    TokenNotFound(i64),
    /// No plain (non-migrated) legacy key with that id or name.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// A role outside None/Viewer/Editor/Admin (or None where not allowed).
    #[error("invalid role specified")]
    InvalidRole,
    /// Name missing or blank.
    #[error("name is required")]
    EmptyName,
    /// The generated login is taken.
    #[error("service account already exists")]
    ServiceAccountAlreadyExists,
    /// A key or token of the org already has that name.
    #[error("a key or token named `{0}` already exists in the organization")]
    CredentialNameTaken(String),
    /// `secondsToLive` < 0.
    #[error("invalid SecondsToLive value")]
    NegativeSecondsToLive,
    /// `secondsToLive` so large that the expiry is not a representable date. Grafana's Go
    /// arithmetic silently overflows here (UNCONFIRMED what it then answers); the simulator
    /// refuses the request as bad input instead of inventing a date.
    #[error("SecondsToLive value out of range")]
    SecondsToLiveOutOfRange,
    /// `api_key_max_seconds_to_live` is set and no TTL was given.
    #[error("Number of seconds before expiration should be set")]
    SecondsToLiveRequired,
    /// TTL above `api_key_max_seconds_to_live`.
    #[error("Number of seconds before expiration is greater than the global limit")]
    SecondsToLiveAboveLimit,
    /// Expiry beyond `token_expiration_day_limit`.
    #[error(
        "The expiration date input exceeds the limit for service account access tokens expiration date"
    )]
    ExpirationBeyondDayLimit,
    /// The org has no plain keys left to convert.
    #[error("no API keys to convert found")]
    NoApiKeysToMigrate,
    /// The version no longer has legacy keys (≥12.1).
    #[error("legacy API keys are not available on this Grafana version")]
    LegacyKeysRemoved,
}

/// The persistent Grafana-side objects and the machinery around them.
pub struct SimState {
    fleet: FleetSpec,
    world: Mutex<World>,
    rng: Mutex<StdRng>,
    clock: SimClock,
    faults: FaultTable,
    requests: Mutex<BTreeMap<(String, String), u64>>,
    hashes: &'static HashCache,
}

impl fmt::Debug for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimState")
            .field("workspaces", &self.fleet.workspaces.len())
            .finish_non_exhaustive()
    }
}

struct World {
    order: Vec<String>,
    instances: BTreeMap<String, Instance>,
    seeded_secrets: Vec<SeededSecret>,
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

impl fmt::Debug for SeededSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededSecret")
            .field("workspace", &self.workspace)
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

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
    password: String,
    /// Grafana server admin.
    pub is_grafana_admin: bool,
    /// Role per org.
    pub roles: BTreeMap<i64, Role>,
    /// Fixed roles granted per org on top of the basic role.
    pub fixed_roles: BTreeMap<i64, Vec<FixedRole>>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// A service account.
#[derive(Debug, Clone)]
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
    hash: String,
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

impl fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRow")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("service_account_id", &self.service_account_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl CredentialRow {
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

/// One simulated Grafana instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Instance id (AMG workspace id or self-hosted slug).
    pub id: String,
    /// AMG or self-hosted.
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
    /// Behaviour version.
    pub version: GrafanaVersion,
    /// The version string as the fleet gave it (AMG reports `MAJOR.MINOR`).
    pub version_label: String,
    /// Grafana settings.
    pub settings: crate::fleet::InstanceSettings,
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
    next_user_id: i64,
    next_credential_id: i64,
    next_folder_id: i64,
}

/// What the AMG control plane and the instance list show about a workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    /// Instance id.
    pub id: String,
    /// `amg` or `selfHosted`.
    pub kind: WorkspaceKind,
    /// AWS region.
    pub region: String,
    /// Display name.
    pub name: String,
    /// AMG description.
    pub description: Option<String>,
    /// AMG status.
    pub status: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Modified.
    pub modified: DateTime<Utc>,
    /// Version label (`10.4`).
    pub grafana_version: String,
    /// Full behaviour version (`10.4.0`).
    pub behaviour_version: String,
    /// AMG endpoint hostname (`<id>.grafana-workspace.<region>.amazonaws.com`); `None` for
    /// self-hosted.
    pub endpoint: Option<String>,
}

/// A service account as the APIs show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountView {
    /// Id.
    pub id: i64,
    /// Uid.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Login.
    pub login: String,
    /// Org.
    pub org_id: i64,
    /// Role.
    pub role: Role,
    /// Disabled.
    pub is_disabled: bool,
    /// Number of tokens.
    pub tokens: usize,
    /// Created.
    pub created: DateTime<Utc>,
    /// Updated.
    pub updated: DateTime<Utc>,
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When a credential created at `now` with `seconds_to_live` expires (`None`: never, for 0).
/// Checked arithmetic: the TTL comes straight from a request body.
fn expiry_after(
    now: DateTime<Utc>,
    seconds_to_live: i64,
) -> Result<Option<DateTime<Utc>>, StateError> {
    if seconds_to_live <= 0 {
        return Ok(None);
    }
    Duration::try_seconds(seconds_to_live)
        .and_then(|ttl| now.checked_add_signed(ttl))
        .map(Some)
        .ok_or(StateError::SecondsToLiveOutOfRange)
}

fn slug(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "-")
}

impl SimState {
    /// Builds the initial state from a fleet (validating it) and runs start-up behaviour such
    /// as 11.6's automatic key migration.
    pub fn from_fleet(fleet: FleetSpec) -> Result<SharedState, FleetError> {
        let clock = SimClock::new();
        let hashes = HashCache::global();
        let mut rng = StdRng::seed_from_u64(fleet.seed);
        let world = World::build(&fleet, clock.now(), &mut rng, hashes)?;
        Ok(Arc::new(Self {
            fleet,
            world: Mutex::new(world),
            rng: Mutex::new(rng),
            clock,
            faults: FaultTable::default(),
            requests: Mutex::new(BTreeMap::new()),
            hashes,
        }))
    }

    /// Back to the fleet's initial state: objects, secrets, clock, faults and counters.
    pub fn reset(&self) -> Result<(), FleetError> {
        self.clock.reset();
        let mut rng = StdRng::seed_from_u64(self.fleet.seed);
        let world = World::build(&self.fleet, self.clock.now(), &mut rng, self.hashes)?;
        *lock(&self.world) = world;
        *lock(&self.rng) = rng;
        self.faults.clear(None);
        lock(&self.requests).clear();
        Ok(())
    }

    /// The fleet this state was built from.
    pub fn fleet(&self) -> &FleetSpec {
        &self.fleet
    }

    /// Simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The controllable clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The fault table.
    pub fn faults(&self) -> &FaultTable {
        &self.faults
    }

    /// Counts one request to `endpoint` of `workspace` (tests assert call counts).
    pub fn record_request(&self, workspace: &str, endpoint: &str) {
        *lock(&self.requests)
            .entry((workspace.to_string(), endpoint.to_string()))
            .or_insert(0) += 1;
    }

    /// Request counts per endpoint for one workspace (or all, keyed `workspace endpoint`).
    pub fn request_counts(&self, workspace: Option<&str>) -> BTreeMap<String, u64> {
        lock(&self.requests)
            .iter()
            .filter(|((ws, _), _)| workspace.is_none_or(|wanted| wanted == ws))
            .map(|((ws, endpoint), count)| {
                let key = if workspace.is_some() {
                    endpoint.clone()
                } else {
                    format!("{ws} {endpoint}")
                };
                (key, *count)
            })
            .collect()
    }

    /// Forgets all request counts.
    pub fn clear_request_counts(&self) {
        lock(&self.requests).clear();
    }

    /// Every instance in fleet order.
    pub fn workspaces(&self) -> Vec<WorkspaceView> {
        let world = lock(&self.world);
        world
            .order
            .iter()
            .filter_map(|id| world.instances.get(id))
            .map(Instance::view)
            .collect()
    }

    /// The AMG workspaces in fleet order (ListWorkspaces).
    pub fn amg_workspaces(&self) -> Vec<WorkspaceView> {
        self.workspaces()
            .into_iter()
            .filter(|workspace| workspace.kind == WorkspaceKind::Amg)
            .collect()
    }

    /// One instance (DescribeWorkspace / routing).
    pub fn workspace(&self, id: &str) -> Option<WorkspaceView> {
        lock(&self.world).instances.get(id).map(Instance::view)
    }

    /// Runs `action` on one instance under the state lock; the HTTP layer uses it for reads
    /// and multi-step changes. Keep `action` short: it blocks every other request.
    pub fn with_instance<R>(
        &self,
        id: &str,
        action: impl FnOnce(&mut Instance, DateTime<Utc>) -> R,
    ) -> Result<R, StateError> {
        let now = self.now();
        let mut world = lock(&self.world);
        let instance = world
            .instances
            .get_mut(id)
            .ok_or_else(|| StateError::WorkspaceNotFound(id.to_string()))?;
        Ok(action(instance, now))
    }

    fn fresh_secret(&self) -> String {
        random_secret(&mut *lock(&self.rng))
    }

    /// A new short uid for a service account (drawn from the seeded generator).
    pub(crate) fn fresh_uid(&self) -> String {
        let secret = self.fresh_secret();
        secret.to_lowercase().chars().take(14).collect()
    }

    /// Creates a plain legacy key (AMG CreateWorkspaceApiKey, HTTP `POST /api/auth/keys`).
    /// `seconds_to_live` 0 means never expires. Version gates (410/404) are the caller's job;
    /// ≥12.1 instances refuse with [`StateError::LegacyKeysRemoved`].
    pub fn create_legacy_key(
        &self,
        workspace: &str,
        org_id: i64,
        name: &str,
        role: Role,
        seconds_to_live: i64,
    ) -> Result<IssuedCredential, StateError> {
        if name.trim().is_empty() {
            return Err(StateError::EmptyName);
        }
        if seconds_to_live < 0 {
            return Err(StateError::NegativeSecondsToLive);
        }
        let secret = self.fresh_secret();
        let hash = self.hashes.encode(&secret, name);
        self.with_instance(workspace, |instance, now| {
            if instance.version.legacy_keys_removed() {
                return Err(StateError::LegacyKeysRemoved);
            }
            instance.require_org(org_id)?;
            instance.require_free_credential_name(org_id, name)?;
            let expires = expiry_after(now, seconds_to_live)?;
            let id = instance.insert_credential(CredentialRow {
                id: 0,
                org_id,
                name: name.to_string(),
                role,
                hash,
                format: CredentialFormat::LegacyKey,
                created: now,
                expires,
                last_used_at: None,
                service_account_id: None,
                is_revoked: false,
            });
            Ok(IssuedCredential {
                id,
                name: name.to_string(),
                key: legacy_key_string(&secret, name, org_id),
            })
        })?
    }

    /// Deletes a plain legacy key by name (AMG DeleteWorkspaceApiKey).
    pub fn delete_legacy_key_by_name(
        &self,
        workspace: &str,
        org_id: i64,
        name: &str,
    ) -> Result<(), StateError> {
        self.with_instance(workspace, |instance, _| {
            let id = instance
                .credentials
                .values()
                .find(|row| {
                    row.org_id == org_id && row.name == name && row.service_account_id.is_none()
                })
                .map(|row| row.id)
                .ok_or(StateError::ApiKeyNotFound)?;
            instance.credentials.remove(&id);
            Ok(())
        })?
    }

    /// Creates a service account (HTTP `POST /api/serviceaccounts`, AMG
    /// CreateWorkspaceServiceAccount).
    pub fn create_service_account(
        &self,
        workspace: &str,
        org_id: i64,
        request: NewServiceAccount,
    ) -> Result<ServiceAccountView, StateError> {
        let uid = self.fresh_uid();
        self.with_instance(workspace, |instance, now| {
            instance.create_service_account(org_id, request, uid, now)
        })?
    }

    /// Service accounts of an org ordered by login (AMG ListWorkspaceServiceAccounts).
    pub fn list_service_accounts(
        &self,
        workspace: &str,
        org_id: i64,
    ) -> Result<Vec<ServiceAccountView>, StateError> {
        self.with_instance(workspace, |instance, _| {
            instance.require_org(org_id)?;
            let mut accounts: Vec<ServiceAccountView> = instance
                .service_accounts
                .values()
                .filter(|account| account.org_id == org_id)
                .map(|account| instance.service_account_view(account))
                .collect();
            accounts.sort_by(|a, b| a.login.cmp(&b.login));
            Ok(accounts)
        })?
    }

    /// Deletes a service account and all its tokens.
    pub fn delete_service_account(
        &self,
        workspace: &str,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<(), StateError> {
        self.with_instance(workspace, |instance, _| {
            instance.delete_service_account(org_id, service_account_id)
        })?
    }

    /// Mints a `glsa_` token. `seconds_to_live` 0 = never expires; instance TTL settings are
    /// NOT applied here (see [`Instance::check_token_ttl_settings`]).
    pub fn create_token(
        &self,
        workspace: &str,
        org_id: i64,
        service_account_id: i64,
        name: &str,
        seconds_to_live: i64,
    ) -> Result<IssuedCredential, StateError> {
        let secret = self.fresh_secret();
        let hash = self.hashes.encode(&secret, &token_checksum(&secret));
        self.with_instance(workspace, |instance, now| {
            instance.require_service_account(org_id, service_account_id)?;
            if seconds_to_live < 0 {
                return Err(StateError::NegativeSecondsToLive);
            }
            if name.trim().is_empty() {
                return Err(StateError::EmptyName);
            }
            instance.require_free_credential_name(org_id, name)?;
            let expires = expiry_after(now, seconds_to_live)?;
            let id = instance.insert_credential(CredentialRow {
                id: 0,
                org_id,
                name: name.to_string(),
                role: Role::Viewer,
                hash,
                format: CredentialFormat::ServiceAccountToken,
                created: now,
                expires,
                last_used_at: None,
                service_account_id: Some(service_account_id),
                is_revoked: false,
            });
            Ok(IssuedCredential {
                id,
                name: name.to_string(),
                key: service_account_token_string(&secret),
            })
        })?
    }

    /// Tokens of a service account ordered by name.
    pub fn list_tokens(
        &self,
        workspace: &str,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<Vec<TokenView>, StateError> {
        self.with_instance(workspace, |instance, now| {
            instance.list_tokens(org_id, service_account_id, now)
        })?
    }

    /// Deletes one token of a service account (filtered by SA, as Grafana does).
    pub fn delete_token(
        &self,
        workspace: &str,
        org_id: i64,
        service_account_id: i64,
        token_id: i64,
    ) -> Result<(), StateError> {
        self.with_instance(workspace, |instance, _| {
            instance.delete_token(org_id, service_account_id, token_id)
        })?
    }

    /// Marks a credential revoked, as Grafana's secret scanning does (no public API exists).
    pub fn revoke_credential(&self, workspace: &str, credential_id: i64) -> Result<(), StateError> {
        self.with_instance(workspace, |instance, _| {
            let row = instance
                .credentials
                .get_mut(&credential_id)
                .ok_or(StateError::TokenNotFound(credential_id))?;
            row.is_revoked = true;
            Ok(())
        })?
    }

    /// Checks a presented Bearer / `api_key:` credential and records its use.
    pub fn authenticate_credential(
        &self,
        workspace: &str,
        presented: &str,
    ) -> Result<Result<CredentialIdentity, CredentialRejection>, StateError> {
        let parsed = ParsedCredential::parse(presented);
        let computed = parsed.as_ref().map(|parsed| match parsed {
            ParsedCredential::LegacyKey { secret, name, .. } => self.hashes.encode(secret, name),
            ParsedCredential::ServiceAccountToken { secret, checksum } => {
                self.hashes.encode(secret, checksum)
            }
        });
        self.with_instance(workspace, |instance, now| {
            let (Some(parsed), Some(hash)) = (parsed, computed) else {
                return Err(CredentialRejection::Malformed);
            };
            let row_id = match &parsed {
                ParsedCredential::LegacyKey { name, org_id, .. } => instance
                    .credentials
                    .values()
                    .find(|row| {
                        row.org_id == *org_id
                            && row.name == *name
                            && row.format == CredentialFormat::LegacyKey
                            && row.hash == hash
                    })
                    .map(|row| row.id),
                ParsedCredential::ServiceAccountToken { .. } => instance
                    .credentials
                    .values()
                    .find(|row| {
                        row.format == CredentialFormat::ServiceAccountToken && row.hash == hash
                    })
                    .map(|row| row.id),
            }
            .ok_or(CredentialRejection::Invalid)?;
            instance.identify_row(row_id, now)
        })
    }

    /// Checks basic-auth user credentials.
    pub fn authenticate_user(
        &self,
        workspace: &str,
        login: &str,
        password: &str,
    ) -> Result<Option<UserIdentity>, StateError> {
        self.with_instance(workspace, |instance, _| {
            instance
                .users
                .iter()
                .find(|user| {
                    (user.login == login || user.email == login) && user.password == password
                })
                .map(|user| UserIdentity {
                    id: user.id,
                    login: user.login.clone(),
                    email: user.email.clone(),
                    is_grafana_admin: user.is_grafana_admin,
                    roles: user.roles.clone(),
                    fixed_roles: user.fixed_roles.clone(),
                })
        })
    }

    /// Fleet-seeded credentials in full, for tests.
    pub fn seeded_secrets(&self, workspace: Option<&str>) -> Vec<SeededSecret> {
        lock(&self.world)
            .seeded_secrets
            .iter()
            .filter(|secret| workspace.is_none_or(|wanted| wanted == secret.workspace))
            .cloned()
            .collect()
    }

    /// A JSON dump of the whole state without secrets or hashes, for debugging tests.
    pub fn snapshot(&self) -> Value {
        let now = self.now();
        let world = lock(&self.world);
        let instances: Vec<Value> = world
            .order
            .iter()
            .filter_map(|id| world.instances.get(id))
            .map(|instance| instance.snapshot(now))
            .collect();
        json!({
            "now": now,
            "clockOffsetSeconds": self.clock.offset_seconds(),
            "workspaces": instances,
            "faults": self.faults.list(),
        })
    }
}

impl World {
    fn build(
        fleet: &FleetSpec,
        now: DateTime<Utc>,
        rng: &mut StdRng,
        hashes: &HashCache,
    ) -> Result<Self, FleetError> {
        let mut world = World {
            order: Vec::new(),
            instances: BTreeMap::new(),
            seeded_secrets: Vec::new(),
        };
        for spec in &fleet.workspaces {
            validate_workspace_id(spec)?;
            if world.instances.contains_key(&spec.id) {
                return Err(FleetError::DuplicateWorkspace(spec.id.clone()));
            }
            let instance = Instance::build(spec, now, rng, hashes, &mut world.seeded_secrets)?;
            world.order.push(spec.id.clone());
            world.instances.insert(spec.id.clone(), instance);
        }
        Ok(world)
    }
}

fn validate_workspace_id(spec: &WorkspaceSpec) -> Result<(), FleetError> {
    let id = spec.id.as_str();
    let valid = match spec.kind {
        WorkspaceKind::Amg => {
            id.len() == 12
                && id.starts_with("g-")
                && id
                    .chars()
                    .skip(2)
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        }
        WorkspaceKind::SelfHosted => {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
    };
    if valid {
        Ok(())
    } else {
        Err(FleetError::InvalidWorkspaceId(id.to_string()))
    }
}

fn valid_secret(secret: &str) -> bool {
    secret.len() == 32 && secret.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Instance {
    fn build(
        spec: &WorkspaceSpec,
        now: DateTime<Utc>,
        rng: &mut StdRng,
        hashes: &HashCache,
        seeded: &mut Vec<SeededSecret>,
    ) -> Result<Self, FleetError> {
        let time = |text: &Option<String>| -> Result<Option<DateTime<Utc>>, FleetError> {
            match text {
                Some(text) => resolve_time(text, now),
                None => Ok(None),
            }
        };
        let mut orgs: BTreeMap<i64, Org> = spec
            .orgs
            .iter()
            .map(|org| {
                (
                    org.id,
                    Org {
                        id: org.id,
                        name: org.name.clone(),
                    },
                )
            })
            .collect();
        if orgs.is_empty() {
            orgs.insert(
                DEFAULT_ORG_ID,
                Org {
                    id: DEFAULT_ORG_ID,
                    name: "Main Org.".to_string(),
                },
            );
        }
        let created = now - Duration::days(90);
        let mut instance = Instance {
            id: spec.id.clone(),
            kind: spec.kind,
            region: spec
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_string()),
            name: spec.name.clone().unwrap_or_else(|| spec.id.clone()),
            description: spec.description.clone(),
            status: spec.status.clone().unwrap_or_else(|| "ACTIVE".to_string()),
            tags: spec.tags.clone(),
            created,
            modified: created,
            version: spec.version,
            version_label: if spec.kind == WorkspaceKind::Amg {
                format!("{}.{}", spec.version.major, spec.version.minor)
            } else {
                spec.version.to_string()
            },
            settings: spec.settings.clone(),
            orgs,
            users: Vec::new(),
            service_accounts: BTreeMap::new(),
            credentials: BTreeMap::new(),
            folders: Vec::new(),
            hidden_api_key_orgs: BTreeSet::new(),
            next_user_id: 1,
            next_credential_id: 1,
            next_folder_id: 1,
        };
        let unknown_org = |org_id: i64| FleetError::UnknownOrg {
            workspace: spec.id.clone(),
            org_id,
        };
        for user in &spec.users {
            let mut roles = BTreeMap::new();
            for (org, role) in &user.roles {
                let org_id: i64 = org.parse().map_err(|_| unknown_org(-1))?;
                if !instance.orgs.contains_key(&org_id) {
                    return Err(unknown_org(org_id));
                }
                let role = Role::parse(role).ok_or_else(|| FleetError::InvalidRole {
                    workspace: spec.id.clone(),
                    role: role.clone(),
                })?;
                roles.insert(org_id, role);
            }
            let mut fixed_roles = BTreeMap::new();
            for (org, names) in &user.fixed_roles {
                let org_id: i64 = org.parse().map_err(|_| unknown_org(-1))?;
                if !instance.orgs.contains_key(&org_id) {
                    return Err(unknown_org(org_id));
                }
                let granted = names
                    .iter()
                    .map(|name| {
                        FixedRole::parse(name).ok_or_else(|| FleetError::InvalidRole {
                            workspace: spec.id.clone(),
                            role: name.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                fixed_roles.insert(org_id, granted);
            }
            let id = instance.next_user_id;
            instance.next_user_id += 1;
            instance.users.push(User {
                id,
                login: user.login.clone(),
                email: user
                    .email
                    .clone()
                    .unwrap_or_else(|| format!("{}@example.invalid", user.login)),
                password: user.password.clone(),
                is_grafana_admin: user.is_grafana_admin,
                roles,
                fixed_roles,
                created,
            });
        }
        for folder in &spec.folders {
            if !instance.orgs.contains_key(&folder.org_id) {
                return Err(unknown_org(folder.org_id));
            }
            let id = instance.next_folder_id;
            instance.next_folder_id += 1;
            instance.folders.push(Folder {
                id,
                uid: folder.uid.clone(),
                title: folder.title.clone(),
                org_id: folder.org_id,
            });
        }
        let invalid_role = |role: &str| FleetError::InvalidRole {
            workspace: spec.id.clone(),
            role: role.to_string(),
        };
        let duplicate = |org_id: i64, name: &str| FleetError::DuplicateCredentialName {
            workspace: spec.id.clone(),
            org_id,
            name: name.to_string(),
        };
        let mut migrate_ids = Vec::new();
        for key in &spec.api_keys {
            if !instance.orgs.contains_key(&key.org_id) {
                return Err(unknown_org(key.org_id));
            }
            let secret = match &key.secret {
                Some(secret) if valid_secret(secret) => secret.clone(),
                Some(_) => return Err(FleetError::InvalidSecret(spec.id.clone())),
                None => random_secret(rng),
            };
            let role = Role::parse(&key.role).ok_or_else(|| invalid_role(&key.role))?;
            instance
                .require_free_credential_name(key.org_id, &key.name)
                .map_err(|_| duplicate(key.org_id, &key.name))?;
            let id = instance.insert_credential(CredentialRow {
                id: 0,
                org_id: key.org_id,
                name: key.name.clone(),
                role,
                hash: hashes.encode(&secret, &key.name),
                format: CredentialFormat::LegacyKey,
                created,
                expires: time(&key.expires)?,
                last_used_at: time(&key.last_used)?,
                service_account_id: None,
                is_revoked: false,
            });
            seeded.push(SeededSecret {
                workspace: spec.id.clone(),
                org_id: key.org_id,
                kind: "apiKey",
                name: key.name.clone(),
                id,
                key: legacy_key_string(&secret, &key.name, key.org_id),
            });
            if key.migrated {
                migrate_ids.push((key.org_id, id));
            }
        }
        for account in &spec.service_accounts {
            let role = match &account.role {
                Some(role) => Role::parse(role).ok_or_else(|| invalid_role(role))?,
                None => Role::Viewer,
            };
            let uid: String = random_secret(rng).to_lowercase().chars().take(14).collect();
            let view = instance
                .create_service_account(
                    account.org_id,
                    NewServiceAccount {
                        name: account.name.clone(),
                        role,
                        is_disabled: account.is_disabled,
                    },
                    uid,
                    created,
                )
                .map_err(|error| match error {
                    StateError::OrgNotFound(org_id) => unknown_org(org_id),
                    _ => FleetError::DuplicateServiceAccount {
                        workspace: spec.id.clone(),
                        login: account.name.clone(),
                    },
                })?;
            for token in &account.tokens {
                let secret = match &token.secret {
                    Some(secret) if valid_secret(secret) => secret.clone(),
                    Some(_) => return Err(FleetError::InvalidSecret(spec.id.clone())),
                    None => random_secret(rng),
                };
                instance
                    .require_free_credential_name(account.org_id, &token.name)
                    .map_err(|_| duplicate(account.org_id, &token.name))?;
                let id = instance.insert_credential(CredentialRow {
                    id: 0,
                    org_id: account.org_id,
                    name: token.name.clone(),
                    role: Role::Viewer,
                    hash: hashes.encode(&secret, &token_checksum(&secret)),
                    format: CredentialFormat::ServiceAccountToken,
                    created: time(&token.created)?.unwrap_or(created),
                    expires: time(&token.expires)?,
                    last_used_at: time(&token.last_used)?,
                    service_account_id: Some(view.id),
                    is_revoked: token.revoked,
                });
                seeded.push(SeededSecret {
                    workspace: spec.id.clone(),
                    org_id: account.org_id,
                    kind: "serviceAccountToken",
                    name: token.name.clone(),
                    id,
                    key: service_account_token_string(&secret),
                });
            }
        }
        for (org_id, key_id) in migrate_ids {
            let uid: String = random_secret(rng).to_lowercase().chars().take(14).collect();
            instance
                .migrate_key(org_id, key_id, uid, created)
                .map_err(|_| FleetError::DuplicateServiceAccount {
                    workspace: spec.id.clone(),
                    login: format!("sa-autogen-{org_id}"),
                })?;
        }
        let auto_migrate = instance
            .settings
            .auto_migrate_on_start
            .unwrap_or(instance.version.auto_migrates_on_start());
        if auto_migrate {
            let org_ids: Vec<i64> = instance.orgs.keys().copied().collect();
            for org_id in org_ids {
                let plain: Vec<i64> = instance.plain_key_ids(org_id);
                let uids: Vec<String> = plain
                    .iter()
                    .map(|_| random_secret(rng).to_lowercase().chars().take(14).collect())
                    .collect();
                instance.migrate_all(org_id, uids, now);
            }
        }
        Ok(instance)
    }

    /// AMG hostname of this workspace, if it is one.
    pub fn endpoint_hostname(&self) -> Option<String> {
        (self.kind == WorkspaceKind::Amg).then(|| {
            format!(
                "{}.grafana-workspace.{}.amazonaws.com",
                self.id, self.region
            )
        })
    }

    fn view(&self) -> WorkspaceView {
        WorkspaceView {
            id: self.id.clone(),
            kind: self.kind,
            region: self.region.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            status: self.status.clone(),
            tags: self.tags.clone(),
            created: self.created,
            modified: self.modified,
            grafana_version: self.version_label.clone(),
            behaviour_version: self.version.to_string(),
            endpoint: self.endpoint_hostname(),
        }
    }

    /// Errors unless the org exists.
    pub fn require_org(&self, org_id: i64) -> Result<&Org, StateError> {
        self.orgs
            .get(&org_id)
            .ok_or(StateError::OrgNotFound(org_id))
    }

    /// Errors unless the service account exists in that org.
    pub fn require_service_account(
        &self,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<&ServiceAccount, StateError> {
        self.service_accounts
            .get(&service_account_id)
            .filter(|account| account.org_id == org_id)
            .ok_or(StateError::ServiceAccountNotFound(service_account_id))
    }

    fn require_free_credential_name(&self, org_id: i64, name: &str) -> Result<(), StateError> {
        if self
            .credentials
            .values()
            .any(|row| row.org_id == org_id && row.name == name)
        {
            Err(StateError::CredentialNameTaken(name.to_string()))
        } else {
            Ok(())
        }
    }

    fn insert_credential(&mut self, mut row: CredentialRow) -> i64 {
        let id = self.next_credential_id;
        self.next_credential_id += 1;
        row.id = id;
        self.credentials.insert(id, row);
        id
    }

    fn login_taken(&self, login: &str) -> bool {
        let wanted = login.to_lowercase();
        self.users
            .iter()
            .any(|user| user.login.to_lowercase() == wanted)
            || self
                .service_accounts
                .values()
                .any(|account| account.login.to_lowercase() == wanted)
    }

    /// The login Grafana generates for a new service account of this version.
    pub fn service_account_login(&self, org_id: i64, name: &str) -> String {
        if self.version.org_scoped_logins() {
            format!("sa-{org_id}-{}", slug(name))
        } else {
            format!("sa-{}", slug(name))
        }
    }

    fn create_service_account(
        &mut self,
        org_id: i64,
        request: NewServiceAccount,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        self.require_org(org_id)?;
        if request.name.trim().is_empty() {
            return Err(StateError::EmptyName);
        }
        let login = self.service_account_login(org_id, &request.name);
        self.insert_service_account(org_id, request, login, uid, now)
    }

    fn insert_service_account(
        &mut self,
        org_id: i64,
        request: NewServiceAccount,
        login: String,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        if self.login_taken(&login) {
            return Err(StateError::ServiceAccountAlreadyExists);
        }
        let id = self.next_user_id;
        self.next_user_id += 1;
        let account = ServiceAccount {
            id,
            uid,
            name: request.name,
            login,
            org_id,
            role: request.role,
            is_disabled: request.is_disabled,
            created: now,
            updated: now,
        };
        let view = self.service_account_view(&account);
        self.service_accounts.insert(id, account);
        Ok(view)
    }

    /// The API view of a service account (with its token count).
    pub fn service_account_view(&self, account: &ServiceAccount) -> ServiceAccountView {
        ServiceAccountView {
            id: account.id,
            uid: account.uid.clone(),
            name: account.name.clone(),
            login: account.login.clone(),
            org_id: account.org_id,
            role: account.role,
            is_disabled: account.is_disabled,
            tokens: self
                .credentials
                .values()
                .filter(|row| row.service_account_id == Some(account.id))
                .count(),
            created: account.created,
            updated: account.updated,
        }
    }

    /// Applies a PATCH; renaming regenerates the login and may collide.
    pub fn update_service_account(
        &mut self,
        org_id: i64,
        service_account_id: i64,
        update: ServiceAccountUpdate,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        self.require_service_account(org_id, service_account_id)?;
        let new_login = match &update.name {
            Some(name) if name.trim().is_empty() => return Err(StateError::EmptyName),
            Some(name) => {
                let login = self.service_account_login(org_id, name);
                let own_login = self
                    .service_accounts
                    .get(&service_account_id)
                    .map(|account| account.login.to_lowercase());
                if own_login.as_deref() != Some(login.to_lowercase().as_str())
                    && self.login_taken(&login)
                {
                    return Err(StateError::ServiceAccountAlreadyExists);
                }
                Some(login)
            }
            None => None,
        };
        let account = self
            .service_accounts
            .get_mut(&service_account_id)
            .ok_or(StateError::ServiceAccountNotFound(service_account_id))?;
        if let (Some(name), Some(login)) = (update.name, new_login) {
            account.name = name;
            account.login = login;
        }
        if let Some(role) = update.role {
            account.role = role;
        }
        if let Some(is_disabled) = update.is_disabled {
            account.is_disabled = is_disabled;
        }
        account.updated = now;
        let account = account.clone();
        Ok(self.service_account_view(&account))
    }

    fn delete_service_account(
        &mut self,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<(), StateError> {
        self.require_service_account(org_id, service_account_id)?;
        self.service_accounts.remove(&service_account_id);
        self.credentials
            .retain(|_, row| row.service_account_id != Some(service_account_id));
        Ok(())
    }

    /// The API view of a token row at `now`.
    pub fn token_view(row: &CredentialRow, now: DateTime<Utc>) -> TokenView {
        let has_expired = row.has_expired(now);
        let seconds_until_expiration = match row.expires {
            Some(expires) if !has_expired && expires - now <= Duration::days(7) => {
                (expires - now).num_milliseconds() as f64 / 1000.0
            }
            _ => 0.0,
        };
        TokenView {
            id: row.id,
            name: row.name.clone(),
            created: row.created,
            expiration: row.expires,
            last_used_at: row.last_used_at,
            has_expired,
            is_revoked: row.is_revoked,
            seconds_until_expiration,
        }
    }

    fn list_tokens(
        &self,
        org_id: i64,
        service_account_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenView>, StateError> {
        self.require_service_account(org_id, service_account_id)?;
        let mut tokens: Vec<TokenView> = self
            .credentials
            .values()
            .filter(|row| row.service_account_id == Some(service_account_id))
            .map(|row| Self::token_view(row, now))
            .collect();
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        tokens.truncate(300);
        Ok(tokens)
    }

    fn delete_token(
        &mut self,
        org_id: i64,
        service_account_id: i64,
        token_id: i64,
    ) -> Result<(), StateError> {
        let matches = self.credentials.get(&token_id).is_some_and(|row| {
            row.org_id == org_id && row.service_account_id == Some(service_account_id)
        });
        if !matches {
            return Err(StateError::TokenNotFound(token_id));
        }
        self.credentials.remove(&token_id);
        Ok(())
    }

    /// Applies `api_key_max_seconds_to_live` and `token_expiration_day_limit` to a requested
    /// TTL, as `POST /api/serviceaccounts/:id/tokens` does.
    pub fn check_token_ttl_settings(&self, seconds_to_live: i64) -> Result<(), StateError> {
        let max = self.settings.api_key_max_seconds_to_live;
        if max != -1 {
            if seconds_to_live == 0 {
                return Err(StateError::SecondsToLiveRequired);
            }
            if seconds_to_live > max {
                return Err(StateError::SecondsToLiveAboveLimit);
            }
        }
        // Grafana compares day-truncated dates and lets 0 (no expiry) through this check.
        let day_limit = self.settings.token_expiration_day_limit;
        if day_limit > 0 && seconds_to_live > day_limit.saturating_mul(86_400) {
            return Err(StateError::ExpirationBeyondDayLimit);
        }
        Ok(())
    }

    /// Plain (non-migrated) keys of an org, ordered by name.
    pub fn plain_keys(&self, org_id: i64) -> Vec<&CredentialRow> {
        let mut keys: Vec<&CredentialRow> = self
            .credentials
            .values()
            .filter(|row| row.org_id == org_id && row.service_account_id.is_none())
            .collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        keys
    }

    fn plain_key_ids(&self, org_id: i64) -> Vec<i64> {
        self.plain_keys(org_id).iter().map(|row| row.id).collect()
    }

    /// Converts one plain key into a token of a new `sa-autogen-<name>` account (§4.1).
    pub fn migrate_key(
        &mut self,
        org_id: i64,
        key_id: i64,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        let (name, role) = match self.credentials.get(&key_id) {
            Some(row) if row.org_id == org_id && row.service_account_id.is_none() => {
                (row.name.clone(), row.role)
            }
            _ => return Err(StateError::ApiKeyNotFound),
        };
        let base_login = if self.version.org_scoped_logins() {
            format!("sa-autogen-{org_id}-{}", slug(&name))
        } else {
            format!("sa-autogen-{org_id}-{name}")
        };
        let mut login = base_login.clone();
        if self.login_taken(&login) && self.version.migration_retries_login_suffixes() {
            login = (1..=10)
                .map(|suffix| format!("{base_login}-{suffix:03}"))
                .find(|candidate| !self.login_taken(candidate))
                .unwrap_or(base_login);
        }
        let account = self.insert_service_account(
            org_id,
            NewServiceAccount {
                name: format!("sa-autogen-{name}"),
                role,
                is_disabled: false,
            },
            login,
            uid,
            now,
        )?;
        if let Some(row) = self.credentials.get_mut(&key_id) {
            row.service_account_id = Some(account.id);
        }
        Ok(self
            .service_account_view_by_id(account.id)
            .unwrap_or(account))
    }

    fn service_account_view_by_id(&self, id: i64) -> Option<ServiceAccountView> {
        self.service_accounts
            .get(&id)
            .map(|account| self.service_account_view(account))
    }

    /// Migrates every plain key of an org, collecting failures like Grafana ≥10.1.
    /// `uids` supplies one fresh uid per key (generated outside the lock).
    pub fn migrate_all(
        &mut self,
        org_id: i64,
        uids: Vec<String>,
        now: DateTime<Utc>,
    ) -> MigrationReport {
        let keys: Vec<(i64, String)> = self
            .plain_keys(org_id)
            .iter()
            .map(|row| (row.id, row.name.clone()))
            .collect();
        let mut report = MigrationReport {
            total: keys.len(),
            ..MigrationReport::default()
        };
        let mut uids = uids.into_iter();
        for (key_id, name) in keys {
            let uid = uids.next().unwrap_or_else(|| format!("autogen{key_id:07}"));
            match self.migrate_key(org_id, key_id, uid, now) {
                Ok(_) => report.migrated += 1,
                Err(error) => {
                    report.failed += 1;
                    report.failed_apikey_ids.push(key_id);
                    report
                        .failed_details
                        .push(format!("API key name: {name} - Error: {error}"));
                }
            }
        }
        report
    }

    /// 9.x revert: turns a migrated key back into a plain key and deletes its account.
    pub fn revert_key(&mut self, org_id: i64, key_id: i64) -> Result<(), StateError> {
        let account_id = match self.credentials.get(&key_id) {
            Some(row) if row.org_id == org_id => {
                row.service_account_id.ok_or(StateError::ApiKeyNotFound)?
            }
            _ => return Err(StateError::ApiKeyNotFound),
        };
        if let Some(row) = self.credentials.get_mut(&key_id) {
            row.service_account_id = None;
        }
        self.service_accounts.remove(&account_id);
        self.credentials
            .retain(|_, row| row.service_account_id != Some(account_id));
        Ok(())
    }

    /// Deletes a plain key by id; tokens are not deletable here (Grafana's 404).
    pub fn delete_plain_key(&mut self, org_id: i64, key_id: i64) -> Result<(), StateError> {
        let is_plain = self
            .credentials
            .get(&key_id)
            .is_some_and(|row| row.org_id == org_id && row.service_account_id.is_none());
        if !is_plain {
            return Err(StateError::ApiKeyNotFound);
        }
        self.credentials.remove(&key_id);
        Ok(())
    }

    /// The key list of `GET /api/auth/keys`: plain keys, unexpired unless asked, ≤100.
    pub fn list_plain_keys(
        &self,
        org_id: i64,
        include_expired: bool,
        now: DateTime<Utc>,
    ) -> Vec<ApiKeyView> {
        self.plain_keys(org_id)
            .into_iter()
            .filter(|row| include_expired || !row.has_expired(now))
            .take(100)
            .map(|row| ApiKeyView {
                id: row.id,
                name: row.name.clone(),
                role: row.role,
                org_id: row.org_id,
                expiration: row.expires,
                last_used_at: row.last_used_at,
            })
            .collect()
    }

    /// Creates a folder.
    pub fn create_folder(&mut self, org_id: i64, title: &str, uid: Option<String>) -> Folder {
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let folder = Folder {
            id,
            uid: uid.unwrap_or_else(|| format!("f{id:013}")),
            title: title.to_string(),
            org_id,
        };
        self.folders.push(folder.clone());
        folder
    }

    fn identify_row(
        &mut self,
        row_id: i64,
        now: DateTime<Utc>,
    ) -> Result<CredentialIdentity, CredentialRejection> {
        let row = self
            .credentials
            .get(&row_id)
            .ok_or(CredentialRejection::Invalid)?
            .clone();
        if row.service_account_id.is_none() && self.version.legacy_keys_removed() {
            return Err(CredentialRejection::Invalid);
        }
        if row.has_expired(now) {
            return Err(CredentialRejection::Expired);
        }
        if row.is_revoked {
            return Err(CredentialRejection::Revoked);
        }
        let service_account = match row.service_account_id {
            Some(account_id) => {
                let account = self
                    .service_accounts
                    .get(&account_id)
                    .ok_or(CredentialRejection::Invalid)?;
                if account.is_disabled {
                    return Err(CredentialRejection::Disabled);
                }
                Some(self.service_account_view(account))
            }
            None => None,
        };
        let stale = row
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_REFRESH);
        if stale && let Some(stored) = self.credentials.get_mut(&row_id) {
            stored.last_used_at = Some(now);
        }
        Ok(CredentialIdentity {
            credential_id: row.id,
            org_id: row.org_id,
            role: service_account
                .as_ref()
                .map_or(row.role, |account| account.role),
            service_account,
        })
    }

    fn snapshot(&self, now: DateTime<Utc>) -> Value {
        let accounts: Vec<Value> = self
            .service_accounts
            .values()
            .map(|account| {
                let view = self.service_account_view(account);
                let tokens: Vec<TokenView> = self
                    .credentials
                    .values()
                    .filter(|row| row.service_account_id == Some(account.id))
                    .map(|row| Self::token_view(row, now))
                    .collect();
                json!({ "account": view, "tokenList": tokens })
            })
            .collect();
        let keys: Vec<Value> = self
            .credentials
            .values()
            .filter(|row| row.service_account_id.is_none())
            .map(|row| {
                json!({
                    "id": row.id, "orgId": row.org_id, "name": row.name, "role": row.role,
                    "expiration": row.expires, "lastUsedAt": row.last_used_at,
                    "hasExpired": row.has_expired(now), "isRevoked": row.is_revoked,
                })
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|user| json!({"id": user.id, "login": user.login, "roles": user.roles}))
            .collect();
        json!({
            "workspace": self.view(),
            "orgs": self.orgs.values().collect::<Vec<_>>(),
            "users": users,
            "serviceAccounts": accounts,
            "apiKeys": keys,
            "folders": self.folders,
        })
    }
}
