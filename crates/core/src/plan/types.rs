//! The plan's data: what discover-keys read (the inventory) and what the planner decided.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    GrafanaVersion, LegacyApiKey, MigrationMode, Role, ServiceAccount, ServiceAccountToken,
    WorkspaceRef,
};
use crate::ports::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretVersionInfo};

/// Everything discover-keys read from one workspace, the input of [`super::compute_plan`].
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

/// The state of one managed secret, reduced to the token ids its versions point at: the one
/// model of a secret's labels, which the planner, discover-keys and revoke-old all read (values
/// never leave [`crate::steps`]; only ids do).
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
    /// The AWSCURRENT version's id, so revoke-old can tell whether this execution's version is
    /// the one consumers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version_id: Option<String>,
    /// When the AWSCURRENT version's token was promoted (its value's `rotatedAt`): when the
    /// tokens it replaced were superseded, the start of `policy.maxGracePeriod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_rotated_at: Option<DateTime<Utc>>,
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
    /// The secret's `keyshift:stragglers` tag as revoke-old last wrote it, so the next revoke
    /// pass rewrites it (or removes it) without another DescribeSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stragglers_tag: Option<String>,
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
                state.current_version_id = Some(version.version_id.clone());
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
#[serde(tag = "kind", rename_all = "camelCase")]
#[serde(rename_all_fields = "camelCase")]
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

impl CredentialPlan {
    /// One credential handled on its own, outside discover's plan and the ASL's Map
    /// (`keyshift secret create`, Secrets Manager native rotation): nothing else of the
    /// account is revoked or deleted in this pass, so a later scheduled run does that clean-up.
    pub fn standalone(
        secret_id: String,
        action: CredentialAction,
        service_account: TargetAccount,
        token_ttl_seconds: u64,
        why: &str,
    ) -> Self {
        Self {
            secret_id,
            action,
            service_account,
            token_ttl_seconds,
            revocations: Vec::new(),
            legacy_key_deletions: Vec::new(),
            why: why.to_owned(),
        }
    }
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
