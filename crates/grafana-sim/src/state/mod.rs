//! The simulator's state model: every simulated Grafana instance and what lives in it.
//!
//! Model (mirrors Grafana's own tables so its quirks fall out naturally):
//! - An [`Instance`] is one Grafana: an AMG workspace (`g-` + 10 hex, region, status, tags,
//!   endpoint `<id>.grafana-workspace.<region>.amazonaws.com`) or a self-hosted server (any
//!   slug). It has a [`GrafanaVersion`](crate::version::GrafanaVersion) that the HTTP layer
//!   consults for every version-dependent answer, and its own orgs, users, service accounts
//!   and folders.
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

mod instance;
mod rows;
mod seed;
mod views;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::clock::SimClock;
use crate::credentials::{
    HashCache, ParsedCredential, legacy_key_string, random_secret, service_account_token_string,
    token_checksum,
};
use crate::faults::FaultTable;
use crate::fleet::{FleetError, FleetSpec, WorkspaceKind};
use crate::version::GrafanaVersion;

pub use rows::{
    CredentialFormat, CredentialRow, FixedRole, Folder, Instance, Org, Role, SeededSecret,
    ServiceAccount, User, WorkspaceRecord,
};
pub use views::{
    ApiKeyView, CredentialIdentity, CredentialRejection, IssuedCredential, MigrationReport,
    NewServiceAccount, ServiceAccountUpdate, ServiceAccountView, TokenView, UserIdentity,
    WorkspaceView,
};

/// The org AMG operations act on (AMG workspaces have a single org).
pub const DEFAULT_ORG_ID: i64 = 1;

/// How often Grafana refreshes `last_used_at` at most (reference §6.1).
const LAST_USED_REFRESH: Duration = Duration::minutes(5);

/// Shared handle passed to every router.
pub type SharedState = Arc<SimState>;

/// Tokens an AMG service account may hold, expired and revoked ones included until deleted:
/// the cap users report for AMG (UNCONFIRMED by AWS, ../shared/reference/aws-services.md §1.5).
pub const AMG_TOKENS_PER_ACCOUNT: usize = 99;

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
    /// An AMG service account already holds [`AMG_TOKENS_PER_ACCOUNT`] tokens.
    #[error("service account {service_account_id} has reached the limit of {limit} tokens")]
    TokenLimitReached {
        /// The account.
        service_account_id: i64,
        /// The cap.
        limit: usize,
    },
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
    issued: Mutex<Vec<IssuedSecret>>,
    hashes: &'static HashCache,
}

/// A credential the simulator issued after seeding (a legacy key or a service-account token,
/// AMG bootstrap tokens included), remembered in full for tests only: leak scans need every
/// credential that ever existed, not just the seeded ones.
#[derive(Clone)]
pub struct IssuedSecret {
    /// Instance id.
    pub workspace: String,
    /// The owning service account's name; `None` for a legacy key.
    pub service_account: Option<String>,
    /// Credential name.
    pub name: String,
    /// The full credential string (its explicit purpose is to be shown to tests).
    pub key: String,
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("workspace", &self.workspace)
            .field("service_account", &self.service_account)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A short service-account uid drawn from the seeded generator, so runs are reproducible.
fn new_uid(rng: &mut StdRng) -> String {
    random_secret(rng).to_lowercase().chars().take(14).collect()
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

impl SimState {
    /// Builds the initial state from a fleet (validating it) and runs start-up behaviour such
    /// as 11.6's automatic key migration.
    pub fn from_fleet(fleet: FleetSpec) -> Result<SharedState, FleetError> {
        Self::with_hash_cache(fleet, HashCache::global())
    }

    /// [`SimState::from_fleet`] with its own hash cache (tests of the cache's bound).
    fn with_hash_cache(
        fleet: FleetSpec,
        hashes: &'static HashCache,
    ) -> Result<SharedState, FleetError> {
        let clock = SimClock::new();
        let mut rng = StdRng::seed_from_u64(fleet.seed);
        let world = World::build(&fleet, clock.now(), &mut rng, hashes)?;
        Ok(Arc::new(Self {
            fleet,
            world: Mutex::new(world),
            rng: Mutex::new(rng),
            clock,
            faults: FaultTable::default(),
            requests: Mutex::new(BTreeMap::new()),
            issued: Mutex::new(Vec::new()),
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
        lock(&self.issued).clear();
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
            .filter(|workspace| workspace.record.kind == WorkspaceKind::Amg)
            .collect()
    }

    /// One instance (DescribeWorkspace / routing).
    pub fn workspace(&self, id: &str) -> Option<WorkspaceView> {
        lock(&self.world).instances.get(id).map(Instance::view)
    }

    /// The behaviour version of one instance, for routing: every request needs it, and
    /// building the whole [`WorkspaceView`] (strings, tags) for it would copy per request what
    /// the handler never reads.
    pub fn instance_version(&self, id: &str) -> Option<GrafanaVersion> {
        lock(&self.world)
            .instances
            .get(id)
            .map(|instance| instance.version)
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
        new_uid(&mut lock(&self.rng))
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
        let hash = self.hashes.encode_issued(&secret, name);
        let issued = self.with_instance(workspace, |instance, now| {
            if instance.version.legacy_keys_removed() {
                return Err(StateError::LegacyKeysRemoved);
            }
            instance.require_org(org_id)?;
            instance.require_free_credential_name(org_id, name)?;
            let expires = expiry_after(now, seconds_to_live)?;
            let id = instance.insert_credential(CredentialRow {
                role,
                expires,
                ..CredentialRow::issued(org_id, name, hash, CredentialFormat::LegacyKey, now)
            });
            Ok(IssuedCredential {
                id,
                name: name.to_string(),
                key: legacy_key_string(&secret, name, org_id),
            })
        })??;
        self.remember_issued(workspace, None, &issued);
        Ok(issued)
    }

    fn remember_issued(
        &self,
        workspace: &str,
        service_account: Option<String>,
        issued: &IssuedCredential,
    ) {
        lock(&self.issued).push(IssuedSecret {
            workspace: workspace.to_owned(),
            service_account,
            name: issued.name.clone(),
            key: issued.key.clone(),
        });
    }

    /// Every credential issued since seeding (or the last reset), in order, optionally of one
    /// instance. For tests only (leak scans); the seeded ones are [`Self::seeded_secrets`].
    pub fn issued_secrets(&self, workspace: Option<&str>) -> Vec<IssuedSecret> {
        lock(&self.issued)
            .iter()
            .filter(|secret| workspace.is_none_or(|wanted| wanted == secret.workspace))
            .cloned()
            .collect()
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
            accounts.sort_by(|a, b| a.row.login.cmp(&b.row.login));
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
        let hash = self.hashes.encode_issued(&secret, &token_checksum(&secret));
        let (issued, account) = self.with_instance(workspace, |instance, now| {
            let account = instance
                .require_service_account(org_id, service_account_id)?
                .name
                .clone();
            if seconds_to_live < 0 {
                return Err(StateError::NegativeSecondsToLive);
            }
            if name.trim().is_empty() {
                return Err(StateError::EmptyName);
            }
            instance.require_free_credential_name(org_id, name)?;
            instance.check_token_cap(service_account_id)?;
            let expires = expiry_after(now, seconds_to_live)?;
            let format = CredentialFormat::ServiceAccountToken;
            let id = instance.insert_credential(CredentialRow {
                expires,
                service_account_id: Some(service_account_id),
                ..CredentialRow::issued(org_id, name, hash, format, now)
            });
            Ok((
                IssuedCredential {
                    id,
                    name: name.to_string(),
                    key: service_account_token_string(&secret),
                },
                account,
            ))
        })??;
        self.remember_issued(workspace, Some(account), &issued);
        Ok(issued)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_distinct_wrong_credentials_keep_the_hash_cache_bounded() {
        const CAPACITY: usize = 8;
        let hashes: &'static HashCache = Box::leak(Box::new(HashCache::with_capacity(CAPACITY)));
        let fleet = FleetSpec::from_json(
            r#"{"workspaces": [{"kind": "selfHosted", "id": "cache", "version": "11.5.0",
                "apiKeys": [{"name": "k", "role": "Admin"}],
                "serviceAccounts": [{"name": "sa", "tokens": [{"name": "t"}]}]}]}"#,
        )
        .unwrap();
        let state = SimState::with_hash_cache(fleet, hashes).unwrap();
        let seeded = state.seeded_secrets(Some("cache"));
        assert_eq!(seeded.len(), 2);
        // The two issued credentials made room for themselves; wrong ones make none.
        let bound = CAPACITY + seeded.len();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..(CAPACITY * 6) {
            let secret = random_secret(&mut rng);
            let wrong = if attempt % 2 == 0 {
                service_account_token_string(&secret)
            } else {
                legacy_key_string(&secret, "k", DEFAULT_ORG_ID)
            };
            let answer = state.authenticate_credential("cache", &wrong).unwrap();
            assert_eq!(answer.unwrap_err(), CredentialRejection::Invalid);
            assert!(
                hashes.len() <= bound,
                "{} cached hashes after {} wrong credentials",
                hashes.len(),
                attempt + 1
            );
        }
        assert_eq!(hashes.len(), bound);
        for secret in &seeded {
            let identity = state.authenticate_credential("cache", &secret.key).unwrap();
            assert_eq!(identity.unwrap().credential_id, secret.id);
        }
    }

    #[test]
    fn every_issued_credential_is_remembered_with_its_owner_until_reset() {
        let fleet = FleetSpec::from_json(
            r#"{"workspaces": [{"kind": "selfHosted", "id": "issued", "version": "11.5.0",
                "serviceAccounts": [{"name": "sa"}]}]}"#,
        )
        .unwrap();
        let state = SimState::from_fleet(fleet).unwrap();
        let account = state.list_service_accounts("issued", 1).unwrap()[0].row.id;
        let token = state.create_token("issued", 1, account, "t", 0).unwrap();
        let key = state
            .create_legacy_key("issued", 1, "k", Role::Viewer, 0)
            .unwrap();
        // A refused creation issues nothing.
        assert!(state.create_token("issued", 1, account, "t", 0).is_err());
        let issued = state.issued_secrets(Some("issued"));
        let listed: Vec<(Option<&str>, &str, &str)> = issued
            .iter()
            .map(|s| {
                (
                    s.service_account.as_deref(),
                    s.name.as_str(),
                    s.key.as_str(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (Some("sa"), "t", token.key.as_str()),
                (None, "k", key.key.as_str())
            ]
        );
        assert!(!format!("{issued:?}").contains(&token.key));
        assert!(state.issued_secrets(Some("other")).is_empty());
        state.reset().unwrap();
        assert!(state.issued_secrets(None).is_empty());
    }
}
