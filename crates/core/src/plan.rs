//! The per-workspace plan: what keyshift will migrate, rotate and revoke, and why.
//!
//! [`compute_plan`] is a pure function of an [`Inventory`] (what discover-keys read), a
//! [`Policy`] and the time, so `keyshift plan`, discover-keys and the tests all get the same
//! answer, and every decision can be unit-tested without Grafana. The plan's
//! [`Plan::credentials`] are the items the state machine's Map iterates over: one per target
//! service account.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::model::duration::format_duration;
use crate::model::{
    AUTOGEN_ACCOUNT_PREFIX, GrafanaVersion, LegacyApiKey, MigrationMode, Policy, Role,
    ServiceAccount, ServiceAccountToken, WorkspaceRef,
};
use crate::naming::BOOTSTRAP_NAME_PREFIX;
use crate::ports::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretVersionInfo};

/// Everything discover-keys read from one workspace, the input of [`compute_plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The workspace inventoried.
    pub workspace: WorkspaceRef,
    /// Its Grafana version.
    pub version: GrafanaVersion,
    /// Legacy keys, expired ones included (empty on 12.1+, which has no key endpoints).
    pub legacy_keys: Vec<LegacyApiKey>,
    /// Every service account of the org with its tokens.
    pub accounts: Vec<AccountInventory>,
    /// What keyshift's own secrets say about the accounts they manage.
    pub managed_secrets: Vec<ManagedSecretState>,
}

/// A service account and its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInventory {
    /// The account.
    pub account: ServiceAccount,
    /// Its tokens (expired and revoked ones included).
    pub tokens: Vec<ServiceAccountToken>,
}

/// The state of one managed secret, reduced to the token ids its versions point at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedSecretState {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The account whose token the secret holds.
    pub service_account_name: String,
    /// Token id in the AWSCURRENT version (never revoked).
    #[serde(default)]
    pub current_token_id: Option<i64>,
    /// Token id in the AWSPREVIOUS version (never revoked while it holds that label).
    #[serde(default)]
    pub previous_token_id: Option<i64>,
    /// Token id in an AWSPENDING version that is not AWSCURRENT (a rotation in flight).
    #[serde(default)]
    pub pending_token_id: Option<i64>,
    /// Every token id any version of the secret has held, labelled or not; a keyshift token
    /// never stored anywhere is an orphan.
    #[serde(default)]
    pub stored_token_ids: BTreeSet<i64>,
}

impl ManagedSecretState {
    /// Builds the state from a secret's versions and the token id each version's value holds
    /// (discover-keys reads them with [`crate::ports::SecretStore::get`] by version id). An
    /// AWSPENDING label on the AWSCURRENT version is a finished rotation, not one in flight.
    pub fn from_versions<'v>(
        secret_id: &str,
        service_account_name: &str,
        versions: impl IntoIterator<Item = (&'v SecretVersionInfo, i64)>,
    ) -> Self {
        let mut state = Self {
            secret_id: secret_id.to_owned(),
            service_account_name: service_account_name.to_owned(),
            ..Self::default()
        };
        let mut pending = None;
        for (version, token_id) in versions {
            state.stored_token_ids.insert(token_id);
            if version.has_stage(AWSCURRENT) {
                state.current_token_id = Some(token_id);
            }
            if version.has_stage(AWSPREVIOUS) {
                state.previous_token_id = Some(token_id);
            }
            if version.has_stage(AWSPENDING) && !version.has_stage(AWSCURRENT) {
                pending = Some(token_id);
            }
        }
        state.pending_token_id = pending;
        state
    }

    /// Token ids that must not be revoked while the labels stay where they are.
    pub fn protected_token_ids(&self) -> BTreeSet<i64> {
        [
            self.current_token_id,
            self.previous_token_id,
            self.pending_token_id,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Every token id the secret has ever held (labelled versions included).
    pub fn all_stored_token_ids(&self) -> BTreeSet<i64> {
        let mut all = self.stored_token_ids.clone();
        all.extend(self.protected_token_ids());
        all
    }
}

/// Why a token is due for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RotationReason {
    /// The current token expires within `rotate_before`.
    ExpiresSoon,
    /// The current token is older than `max_age`.
    TooOld,
    /// The current token never expires; keyshift replaces it with one that does.
    NoExpiry,
    /// The secret points at no token that still authenticates (missing, expired, revoked,
    /// deleted, or the secret does not exist yet).
    AccountHasNoLiveToken,
}

/// Why a token or key is to be revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// A keyshift token no managed secret labels any more (after a newer one was promoted).
    Superseded,
    /// An expired keyshift token (AMG counts them toward its per-account cap) or expired key.
    Expired,
    /// A keyshift token that was minted but never stored (a crashed run).
    Orphan,
    /// A legacy key, or the token it became after migration, once its replacement is live.
    MigratedLegacyKey,
    /// The short-lived admin credential of this execution.
    BootstrapAdmin,
}

/// How one credential comes to be (the Map item's kind of work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CredentialAction {
    /// Migrate a legacy key: in place (Grafana's migrate endpoint) or by recreating an account.
    MigrateKey {
        /// The legacy key id (in place, also the id of the token it becomes).
        key_id: i64,
        /// The legacy key name.
        key_name: String,
        /// How.
        mode: MigrationMode,
    },
    /// Adopt an `sa-autogen-*` account Grafana made from a key (11.6+ automatic migration or an
    /// earlier manual one): give it a managed token and retire the migrated key.
    TakeOver {
        /// The account's id.
        service_account_id: i64,
    },
    /// Rotate the token of an account keyshift already manages.
    Rotate {
        /// The account's id.
        service_account_id: i64,
        /// Why now.
        reason: RotationReason,
    },
}

/// The service account a credential lives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetAccount {
    /// Its id when it exists already; `None` when create-sa (or migration) will create it.
    #[serde(default)]
    pub id: Option<i64>,
    /// Its name (create-sa finds it by this name first, so a retry does not duplicate it).
    pub name: String,
    /// The role it should have: the requested role capped by the role policy.
    pub role: Role,
    /// The role the key or account had, before capping.
    pub requested_role: Role,
}

/// A token to delete once the grace period is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRevocation {
    /// The owning account's id; `None` when the account will only exist after migration
    /// (revoke-old then uses the id create-sa reported).
    #[serde(default)]
    pub service_account_id: Option<i64>,
    /// The owning account's name.
    pub service_account_name: String,
    /// The token id.
    pub token_id: i64,
    /// The token name.
    pub token_name: String,
    /// Why.
    pub reason: RevocationReason,
    /// A sentence for people.
    pub why: String,
}

/// A legacy key to delete (expired, or replaced by a recreated account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyKeyDeletion {
    /// Key id.
    pub key_id: i64,
    /// Key name.
    pub key_name: String,
    /// Why.
    pub reason: RevocationReason,
    /// A sentence for people.
    pub why: String,
}

/// A key (or autogen account standing for one) that an exclude pattern protects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedKey {
    /// The key id, for a key still listed as a legacy key.
    #[serde(default)]
    pub key_id: Option<i64>,
    /// The autogen account id, for a key Grafana already migrated.
    #[serde(default)]
    pub service_account_id: Option<i64>,
    /// The key name.
    pub key_name: String,
    /// The matching pattern.
    pub pattern: String,
    /// A sentence for people.
    pub why: String,
}

/// An account the plan looked at and leaves alone this time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountNote {
    /// Account id.
    pub service_account_id: i64,
    /// Account name.
    pub name: String,
    /// A sentence for people.
    pub why: String,
}

/// One item of the state machine's Map: everything the per-credential steps need to know
/// about one target service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialPlan {
    /// The Secrets Manager secret the credential is stored in.
    pub secret_id: String,
    /// What kind of work this is.
    pub action: CredentialAction,
    /// The account the new token lives on.
    pub service_account: TargetAccount,
    /// TTL of the token to mint, seconds (policy TTL capped at AMG's 30 days).
    pub token_ttl_seconds: u64,
    /// Tokens of this account to revoke after the grace period, assuming this rotation
    /// succeeds. revoke-old re-checks each against the live secret labels before deleting.
    pub revocations: Vec<TokenRevocation>,
    /// Legacy keys to delete after the grace period (recreate mode).
    pub legacy_key_deletions: Vec<LegacyKeyDeletion>,
    /// A sentence for people.
    pub why: String,
}

/// The plan for one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The workspace planned for.
    pub workspace: WorkspaceRef,
    /// Its Grafana version (the plan is version-aware).
    pub version: GrafanaVersion,
    /// The time the plan was computed for.
    pub computed_at: DateTime<Utc>,
    /// The grace period in seconds, for the Wait state's `SecondsPath`.
    pub grace_period_seconds: u64,
    /// The Map items: one per service account that gets a new token.
    pub credentials: Vec<CredentialPlan>,
    /// Expired legacy keys: only deleted, never migrated.
    pub expired_keys: Vec<LegacyKeyDeletion>,
    /// Keys left alone because an exclude pattern matches.
    pub excluded_keys: Vec<ExcludedKey>,
    /// Token clean-up on managed accounts that need no new token (expired, superseded and
    /// orphaned keyshift tokens).
    pub token_cleanups: Vec<TokenRevocation>,
    /// Managed accounts whose current token is fine.
    pub up_to_date: Vec<AccountNote>,
    /// Accounts keyshift does not manage or cannot act on now.
    pub ignored_accounts: Vec<AccountNote>,
}

impl Plan {
    /// Whether the plan changes anything (for `keyshift plan` exit codes and reports).
    pub fn has_work(&self) -> bool {
        !(self.credentials.is_empty()
            && self.expired_keys.is_empty()
            && self.token_cleanups.is_empty())
    }
}

/// Inputs to [`select_revocations`]: one account's tokens and what protects them.
#[derive(Debug, Clone, Copy)]
pub struct RevocationRequest<'a> {
    /// The account.
    pub account: &'a ServiceAccount,
    /// Its tokens as listed now.
    pub tokens: &'a [ServiceAccountToken],
    /// Token ids that must survive: those labelled AWSCURRENT, AWSPREVIOUS or AWSPENDING (and,
    /// at revoke time, the token just promoted).
    pub protected: &'a BTreeSet<i64>,
    /// Token ids any secret version has held, to tell superseded tokens from orphans.
    pub stored: &'a BTreeSet<i64>,
    /// Live keyshift tokens that will exist but are not listed yet (1 when planning a
    /// rotation, 0 at revoke time).
    pub expected_new_tokens: u32,
    /// Whether non-keyshift tokens of an `sa-autogen-*` account are migrated legacy keys to
    /// retire (true once the account has a managed token to replace them).
    pub retire_migrated_keys: bool,
}

/// Picks the tokens of one account to revoke, honouring the invariants: a protected token is
/// never chosen; only tokens keyshift minted (recognised by the policy's token-name template)
/// or, when asked, migrated legacy keys are ever chosen, never tokens a person made; expired
/// keyshift tokens always go, and so do live ones no secret version ever held (orphans: nobody
/// has their plaintext); of the remaining stored keyshift tokens the newest are kept up to
/// `max_tokens_per_account` (counting protected and expected ones).
///
/// Used by [`compute_plan`] at plan time and by revoke-old against live state after the grace
/// period.
pub fn select_revocations(
    request: RevocationRequest<'_>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<TokenRevocation> {
    let account = request.account;
    let keyshift_token = policy.token_name_matcher();
    let is_keyshift_token = |token: &ServiceAccountToken| {
        keyshift_token
            .as_ref()
            .is_some_and(|matcher| matcher.is_match(&token.name))
    };
    let is_autogen = account.name.starts_with(AUTOGEN_ACCOUNT_PREFIX);

    let mut newest_first: Vec<&ServiceAccountToken> = request.tokens.iter().collect();
    newest_first.sort_by(|left, right| {
        right
            .created
            .cmp(&left.created)
            .then(right.id.cmp(&left.id))
    });

    let revocation =
        |token: &ServiceAccountToken, reason: RevocationReason, why: String| TokenRevocation {
            service_account_id: Some(account.id),
            service_account_name: account.name.clone(),
            token_id: token.id,
            token_name: token.name.clone(),
            reason,
            why,
        };

    let protected_live = newest_first
        .iter()
        .filter(|token| request.protected.contains(&token.id) && token.is_live(now))
        .count();
    let mut live_kept = protected_live.saturating_add(request.expected_new_tokens as usize);
    let max_live = policy.max_tokens_per_account as usize;
    let mut chosen = Vec::new();
    for token in newest_first {
        if request.protected.contains(&token.id) {
            continue;
        }
        if is_keyshift_token(token) {
            if !token.is_live(now) {
                chosen.push(revocation(
                    token,
                    RevocationReason::Expired,
                    format!("keyshift token {} is expired or revoked; it still counts toward the account's token cap", token.name),
                ));
            } else if !request.stored.contains(&token.id) {
                chosen.push(revocation(
                    token,
                    RevocationReason::Orphan,
                    format!(
                        "keyshift token {} was minted but never stored in its secret",
                        token.name
                    ),
                ));
            } else if live_kept < max_live {
                live_kept += 1;
            } else {
                chosen.push(revocation(
                    token,
                    RevocationReason::Superseded,
                    format!(
                        "keyshift token {} was replaced by a newer stored token",
                        token.name
                    ),
                ));
            }
        } else if is_autogen && request.retire_migrated_keys {
            chosen.push(revocation(
                token,
                RevocationReason::MigratedLegacyKey,
                format!(
                    "token {} is the migrated legacy key; its replacement is stored in the secret",
                    token.name
                ),
            ));
        }
    }
    chosen
}

struct Planner<'a> {
    inventory: &'a Inventory,
    policy: &'a Policy,
    now: DateTime<Utc>,
    accounts_by_name: BTreeMap<&'a str, &'a AccountInventory>,
    managed_by_name: BTreeMap<&'a str, &'a ManagedSecretState>,
    claimed_accounts: BTreeSet<String>,
    plan: Plan,
}

/// Computes the plan for one workspace.
///
/// Version-aware: keys are only read on versions that have key endpoints (< 12.1); in-place
/// migration needs the migrate endpoint (< 12.1); accounts Grafana created from keys
/// (`sa-autogen-*`, the norm from 11.6) are taken over; Grafana older than 9.1 (no GA service
/// accounts) is refused with `Grafana.UnsupportedVersion`. Fails with `Input.Invalid` on an
/// invalid policy or workspace.
pub fn compute_plan(inventory: &Inventory, policy: &Policy, now: DateTime<Utc>) -> Result<Plan> {
    policy.validate()?;
    inventory.workspace.validate()?;
    if !inventory.version.supports_service_accounts() {
        return Err(KeyshiftError::GrafanaUnsupportedVersion {
            version: inventory.version.to_string(),
            detail: "service accounts are generally available from Grafana 9.1".to_owned(),
        });
    }
    let mut planner = Planner {
        inventory,
        policy,
        now,
        accounts_by_name: inventory
            .accounts
            .iter()
            .map(|entry| (entry.account.name.as_str(), entry))
            .collect(),
        managed_by_name: inventory
            .managed_secrets
            .iter()
            .map(|state| (state.service_account_name.as_str(), state))
            .collect(),
        claimed_accounts: BTreeSet::new(),
        plan: Plan {
            workspace: inventory.workspace.clone(),
            version: inventory.version.clone(),
            computed_at: now,
            grace_period_seconds: policy.grace_period_seconds(),
            credentials: Vec::new(),
            expired_keys: Vec::new(),
            excluded_keys: Vec::new(),
            token_cleanups: Vec::new(),
            up_to_date: Vec::new(),
            ignored_accounts: Vec::new(),
        },
    };
    planner.plan_legacy_keys()?;
    planner.plan_accounts()?;
    Ok(planner.plan)
}

impl<'a> Planner<'a> {
    fn plan_legacy_keys(&mut self) -> Result<()> {
        if !self.inventory.version.has_legacy_key_endpoints() {
            return Ok(());
        }
        let mut keys: Vec<&LegacyApiKey> = self.inventory.legacy_keys.iter().collect();
        keys.sort_by(|left, right| left.name.cmp(&right.name).then(left.id.cmp(&right.id)));
        for key in keys {
            if key.name.starts_with(BOOTSTRAP_NAME_PREFIX) {
                continue;
            }
            if let Some(pattern) = self.policy.exclusion_for(&key.name) {
                self.plan.excluded_keys.push(ExcludedKey {
                    key_id: Some(key.id),
                    service_account_id: None,
                    key_name: key.name.clone(),
                    pattern: pattern.as_str().to_owned(),
                    why: format!(
                        "legacy key {} matches exclude pattern {}",
                        key.name,
                        pattern.as_str()
                    ),
                });
                continue;
            }
            if key.is_expired(self.now) {
                self.plan.expired_keys.push(LegacyKeyDeletion {
                    key_id: key.id,
                    key_name: key.name.clone(),
                    reason: RevocationReason::Expired,
                    why: format!(
                        "legacy key {} has expired; it is deleted, not migrated",
                        key.name
                    ),
                });
                continue;
            }
            self.plan_key_migration(key)?;
        }
        Ok(())
    }

    fn plan_key_migration(&mut self, key: &LegacyApiKey) -> Result<()> {
        let mut mode = self.policy.mode_for(&key.name);
        if mode == MigrationMode::InPlace && !self.inventory.version.has_migrate_endpoint() {
            mode = MigrationMode::Recreate;
        }
        let account_name = match mode {
            MigrationMode::InPlace => format!("{AUTOGEN_ACCOUNT_PREFIX}{}", key.name),
            MigrationMode::Recreate => self.policy.account_name_for(&key.name),
        };
        let existing = self.accounts_by_name.get(account_name.as_str()).copied();
        let role = self.policy.roles.cap(key.role);
        let mut revocations = Vec::new();
        let mut legacy_key_deletions = Vec::new();
        let mode_text = match mode {
            MigrationMode::InPlace => {
                revocations.push(TokenRevocation {
                    service_account_id: existing.map(|entry| entry.account.id),
                    service_account_name: account_name.clone(),
                    token_id: key.id,
                    token_name: key.name.clone(),
                    reason: RevocationReason::MigratedLegacyKey,
                    why: format!(
                        "legacy key {} keeps working as a token of {account_name} until the grace period ends",
                        key.name
                    ),
                });
                format!(
                    "migrate legacy key {} in place into {account_name}",
                    key.name
                )
            }
            MigrationMode::Recreate => {
                legacy_key_deletions.push(LegacyKeyDeletion {
                    key_id: key.id,
                    key_name: key.name.clone(),
                    reason: RevocationReason::MigratedLegacyKey,
                    why: format!(
                        "legacy key {} is replaced by a token of {account_name}",
                        key.name
                    ),
                });
                format!(
                    "replace legacy key {} with a new account {account_name}",
                    key.name
                )
            }
        };
        if let Some(entry) = existing {
            let protected = self.managed_protected(&account_name);
            let stored = self.managed_stored(&account_name);
            revocations.extend(select_revocations(
                RevocationRequest {
                    account: &entry.account,
                    tokens: &entry.tokens,
                    protected: &protected,
                    stored: &stored,
                    expected_new_tokens: 1,
                    retire_migrated_keys: false,
                },
                self.policy,
                self.now,
            ));
        }
        let why = format!("{mode_text}{}", self.capping_note(key.role, role));
        let credential = CredentialPlan {
            secret_id: self
                .policy
                .secret_name_for(&self.inventory.workspace, &account_name)?,
            action: CredentialAction::MigrateKey {
                key_id: key.id,
                key_name: key.name.clone(),
                mode,
            },
            service_account: TargetAccount {
                id: existing.map(|entry| entry.account.id),
                name: account_name.clone(),
                role,
                requested_role: key.role,
            },
            token_ttl_seconds: self.policy.token_ttl_seconds(),
            revocations,
            legacy_key_deletions,
            why,
        };
        self.claimed_accounts.insert(account_name);
        self.plan.credentials.push(credential);
        Ok(())
    }

    fn plan_accounts(&mut self) -> Result<()> {
        let mut accounts: Vec<&AccountInventory> = self.inventory.accounts.iter().collect();
        accounts.sort_by(|left, right| {
            left.account
                .name
                .cmp(&right.account.name)
                .then(left.account.id.cmp(&right.account.id))
        });
        for entry in accounts {
            let account = &entry.account;
            if self.claimed_accounts.contains(&account.name)
                || account.name.starts_with(BOOTSTRAP_NAME_PREFIX)
            {
                continue;
            }
            let managed = self.managed_by_name.get(account.name.as_str()).copied();
            let recreated = self.policy.recreated_key_name(&account.name).is_some();
            let autogen_key = account.autogen_key_name();
            if let Some(key_name) = autogen_key
                && let Some(pattern) = self.policy.exclusion_for(key_name)
            {
                self.plan.excluded_keys.push(ExcludedKey {
                    key_id: None,
                    service_account_id: Some(account.id),
                    key_name: key_name.to_owned(),
                    pattern: pattern.as_str().to_owned(),
                    why: format!(
                        "account {} stands for legacy key {key_name}, which matches exclude pattern {}",
                        account.name,
                        pattern.as_str()
                    ),
                });
                continue;
            }
            if account.is_disabled {
                self.note_ignored(
                    account,
                    "the account is disabled, so its tokens cannot authenticate".to_owned(),
                );
                continue;
            }
            if managed.is_some() || recreated {
                self.plan_managed_account(entry, managed)?;
            } else if autogen_key.is_some() {
                self.plan_takeover(entry)?;
            } else {
                self.note_ignored(account, "not created or managed by keyshift".to_owned());
            }
        }
        Ok(())
    }

    fn plan_managed_account(
        &mut self,
        entry: &AccountInventory,
        managed: Option<&ManagedSecretState>,
    ) -> Result<()> {
        let account = &entry.account;
        let current = managed
            .and_then(|state| state.current_token_id)
            .and_then(|token_id| entry.tokens.iter().find(|token| token.id == token_id));
        let due = self.rotation_due(current);
        let protected_now = managed
            .map(ManagedSecretState::protected_token_ids)
            .unwrap_or_default();
        let stored = managed
            .map(ManagedSecretState::all_stored_token_ids)
            .unwrap_or_default();
        match due {
            Some((reason, why)) => {
                // After promotion the current token becomes AWSPREVIOUS and the new token
                // AWSCURRENT; the old AWSPREVIOUS is then superseded.
                let mut protected_after: BTreeSet<i64> =
                    current.map(|token| token.id).into_iter().collect();
                if let Some(pending) = managed.and_then(|state| state.pending_token_id) {
                    protected_after.insert(pending);
                }
                let revocations = select_revocations(
                    RevocationRequest {
                        account,
                        tokens: &entry.tokens,
                        protected: &protected_after,
                        stored: &stored,
                        expected_new_tokens: 1,
                        retire_migrated_keys: true,
                    },
                    self.policy,
                    self.now,
                );
                let role = self.policy.roles.cap(account.role);
                let credential = CredentialPlan {
                    secret_id: self.secret_id_for(account, managed)?,
                    action: CredentialAction::Rotate {
                        service_account_id: account.id,
                        reason,
                    },
                    service_account: TargetAccount {
                        id: Some(account.id),
                        name: account.name.clone(),
                        role,
                        requested_role: account.role,
                    },
                    token_ttl_seconds: self.policy.token_ttl_seconds(),
                    revocations,
                    legacy_key_deletions: Vec::new(),
                    why: format!(
                        "rotate {}: {why}{}",
                        account.name,
                        self.capping_note(account.role, role)
                    ),
                };
                self.plan.credentials.push(credential);
            }
            None => {
                let cleanups = select_revocations(
                    RevocationRequest {
                        account,
                        tokens: &entry.tokens,
                        protected: &protected_now,
                        stored: &stored,
                        expected_new_tokens: 0,
                        retire_migrated_keys: true,
                    },
                    self.policy,
                    self.now,
                );
                self.plan.token_cleanups.extend(cleanups);
                let why =
                    current.map_or_else(String::new, |token| self.describe_token_health(token));
                self.plan.up_to_date.push(AccountNote {
                    service_account_id: account.id,
                    name: account.name.clone(),
                    why,
                });
            }
        }
        Ok(())
    }

    fn plan_takeover(&mut self, entry: &AccountInventory) -> Result<()> {
        let account = &entry.account;
        if !entry.tokens.iter().any(|token| token.is_live(self.now)) {
            self.note_ignored(
                account,
                "an account made from a legacy key, but none of its tokens still authenticates; nothing to take over".to_owned(),
            );
            return Ok(());
        }
        let protected = BTreeSet::new();
        let stored = BTreeSet::new();
        let revocations = select_revocations(
            RevocationRequest {
                account,
                tokens: &entry.tokens,
                protected: &protected,
                stored: &stored,
                expected_new_tokens: 1,
                retire_migrated_keys: true,
            },
            self.policy,
            self.now,
        );
        let role = self.policy.roles.cap(account.role);
        let credential = CredentialPlan {
            secret_id: self
                .policy
                .secret_name_for(&self.inventory.workspace, &account.name)?,
            action: CredentialAction::TakeOver {
                service_account_id: account.id,
            },
            service_account: TargetAccount {
                id: Some(account.id),
                name: account.name.clone(),
                role,
                requested_role: account.role,
            },
            token_ttl_seconds: self.policy.token_ttl_seconds(),
            revocations,
            legacy_key_deletions: Vec::new(),
            why: format!(
                "take over {}, which Grafana created from a legacy key, and give it a managed token{}",
                account.name,
                self.capping_note(account.role, role)
            ),
        };
        self.plan.credentials.push(credential);
        Ok(())
    }

    fn rotation_due(
        &self,
        current: Option<&ServiceAccountToken>,
    ) -> Option<(RotationReason, String)> {
        let Some(token) = current.filter(|token| token.is_live(self.now)) else {
            return Some((
                RotationReason::AccountHasNoLiveToken,
                "its secret holds no token that still authenticates".to_owned(),
            ));
        };
        let Some(remaining) = token.remaining(self.now) else {
            return Some((
                RotationReason::NoExpiry,
                format!("token {} never expires", token.name),
            ));
        };
        let rotate_before =
            chrono::Duration::from_std(self.policy.rotate_before).unwrap_or(chrono::Duration::MAX);
        if remaining <= rotate_before {
            return Some((
                RotationReason::ExpiresSoon,
                format!(
                    "token {} expires in {}, within the {} rotation window",
                    token.name,
                    describe(remaining),
                    format_duration(self.policy.rotate_before)
                ),
            ));
        }
        let max_age =
            chrono::Duration::from_std(self.policy.max_age).unwrap_or(chrono::Duration::MAX);
        let age = token.age(self.now);
        if age >= max_age {
            return Some((
                RotationReason::TooOld,
                format!(
                    "token {} is {} old, beyond the {} maximum age",
                    token.name,
                    describe(age),
                    format_duration(self.policy.max_age)
                ),
            ));
        }
        None
    }

    fn describe_token_health(&self, token: &ServiceAccountToken) -> String {
        let expiry = token.remaining(self.now).map_or_else(
            || "never expires".to_owned(),
            |remaining| format!("expires in {}", describe(remaining)),
        );
        format!(
            "token {} {expiry} and is {} old; not due",
            token.name,
            describe(token.age(self.now))
        )
    }

    fn secret_id_for(
        &self,
        account: &ServiceAccount,
        managed: Option<&ManagedSecretState>,
    ) -> Result<String> {
        match managed {
            Some(state) => Ok(state.secret_id.clone()),
            None => self
                .policy
                .secret_name_for(&self.inventory.workspace, &account.name),
        }
    }

    fn managed_protected(&self, account_name: &str) -> BTreeSet<i64> {
        self.managed_by_name
            .get(account_name)
            .map(|state| state.protected_token_ids())
            .unwrap_or_default()
    }

    fn managed_stored(&self, account_name: &str) -> BTreeSet<i64> {
        self.managed_by_name
            .get(account_name)
            .map(|state| state.all_stored_token_ids())
            .unwrap_or_default()
    }

    fn capping_note(&self, requested: Role, granted: Role) -> String {
        if requested == granted {
            String::new()
        } else {
            format!(
                " (role {requested} capped to {granted} by policy; allow it with roles.maxRole = {requested})"
            )
        }
    }

    fn note_ignored(&mut self, account: &ServiceAccount, why: String) {
        self.plan.ignored_accounts.push(AccountNote {
            service_account_id: account.id,
            name: account.name.clone(),
            why,
        });
    }
}

fn describe(duration: chrono::Duration) -> String {
    let hours = duration.num_hours();
    if hours.abs() >= 48 {
        format!("{}d", duration.num_days())
    } else if hours != 0 {
        format!("{hours}h")
    } else {
        format!("{}m", duration.num_minutes())
    }
}

#[cfg(test)]
mod tests;
