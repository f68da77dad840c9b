//! The planner: turns an inventory, a policy and the time into a plan.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::revocation::{RevocationRequest, select_revocations};
use super::types::{
    AccountInventory, AccountNote, CredentialAction, CredentialPlan, ExcludedKey, Inventory,
    LegacyKeyDeletion, ManagedSecretState, Plan, RevocationReason, RotationReason, TargetAccount,
    TokenRevocation,
};
use crate::error::{KeyshiftError, Result};
use crate::model::duration::format_duration;
use crate::model::{
    AUTOGEN_ACCOUNT_PREFIX, LegacyApiKey, MigrationMode, Policy, Role, ServiceAccount,
    ServiceAccountToken,
};
use crate::naming::{BOOTSTRAP_NAME_PREFIX, NamePattern};

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
                self.plan.excluded_keys.push(excluded(
                    Some(key.id),
                    None,
                    &key.name,
                    pattern,
                    format!("legacy key {}", key.name),
                ));
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
                self.plan.excluded_keys.push(excluded(
                    None,
                    Some(account.id),
                    key_name,
                    pattern,
                    format!(
                        "account {} stands for legacy key {key_name}, which",
                        account.name
                    ),
                ));
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
                let revocations = self.superseded_by_new_token(entry, &protected_after, &stored);
                let credential = self.credential_on(
                    account,
                    self.secret_id_for(account, managed)?,
                    CredentialAction::Rotate {
                        service_account_id: account.id,
                        reason,
                    },
                    revocations,
                    &format!("rotate {}: {why}", account.name),
                );
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
        let revocations = self.superseded_by_new_token(entry, &BTreeSet::new(), &BTreeSet::new());
        let credential = self.credential_on(
            account,
            self.policy
                .secret_name_for(&self.inventory.workspace, &account.name)?,
            CredentialAction::TakeOver {
                service_account_id: account.id,
            },
            revocations,
            &format!(
                "take over {}, which Grafana created from a legacy key, and give it a managed token",
                account.name
            ),
        );
        self.plan.credentials.push(credential);
        Ok(())
    }

    /// The tokens of an account that one new token (and the migration that made the account,
    /// if any) supersedes, minus `protected`.
    fn superseded_by_new_token(
        &self,
        entry: &AccountInventory,
        protected: &BTreeSet<i64>,
        stored: &BTreeSet<i64>,
    ) -> Vec<TokenRevocation> {
        select_revocations(
            RevocationRequest {
                account: &entry.account,
                tokens: &entry.tokens,
                protected,
                stored,
                expected_new_tokens: 1,
                retire_migrated_keys: true,
            },
            self.policy,
            self.now,
        )
    }

    /// A new token on an account that already exists: its role capped by the policy, the
    /// policy's TTL, no legacy key to delete; `why` gets the capping note appended.
    fn credential_on(
        &self,
        account: &ServiceAccount,
        secret_id: String,
        action: CredentialAction,
        revocations: Vec<TokenRevocation>,
        why: &str,
    ) -> CredentialPlan {
        let role = self.policy.roles.granted(
            &self.inventory.workspace,
            &account.name,
            &secret_id,
            account.role,
        );
        CredentialPlan {
            secret_id,
            action,
            service_account: TargetAccount {
                id: Some(account.id),
                name: account.name.clone(),
                role,
                requested_role: account.role,
            },
            token_ttl_seconds: self.policy.token_ttl_seconds(),
            revocations,
            legacy_key_deletions: Vec::new(),
            why: format!("{why}{}", self.capping_note(account.role, role)),
        }
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

/// The note for a key an exclude pattern protects; `subject` says what matched ("legacy key
/// x", or the autogen account standing for one).
fn excluded(
    key_id: Option<i64>,
    service_account_id: Option<i64>,
    key_name: &str,
    pattern: &NamePattern,
    subject: String,
) -> ExcludedKey {
    ExcludedKey {
        key_id,
        service_account_id,
        key_name: key_name.to_owned(),
        pattern: pattern.as_str().to_owned(),
        why: format!("{subject} matches exclude pattern {}", pattern.as_str()),
    }
}
