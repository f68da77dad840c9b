//! What the operator decides: when to rotate, how to migrate, what to leave alone.

use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::duration;
use super::role::RolePolicy;
use super::workspace::WorkspaceRef;
use crate::error::{KeyshiftError, Result};
use crate::naming::{NamePattern, NameTemplate, short_hash};

/// AMG's maximum `secondsToLive` for API keys and service-account tokens (30 days).
pub const AMG_MAX_SECONDS_TO_LIVE: u64 = 2_592_000;

/// Secrets Manager's limit on secret names.
const MAX_SECRET_NAME_LEN: usize = 512;

const DAY: u64 = 86_400;

/// `maxGracePeriod` when only `revokeWhenUnusedFor` is set: a superseded token still in use is
/// kept at most 7 days after it was superseded.
pub const DEFAULT_MAX_GRACE_PERIOD_SECONDS: u64 = 7 * DAY;

/// The longest `revokeWhenUnusedFor` or `maxGracePeriod` accepted: a superseded token kept for
/// longer than a year is a forgotten credential, not a grace period.
pub const MAX_USAGE_SECONDS: u64 = 365 * DAY;

/// Time the bootstrap credential must survive beyond the grace period (steps and retries).
const BOOTSTRAP_MARGIN_SECONDS: u64 = 6 * 3_600;

/// How a legacy key becomes a service-account credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationMode {
    /// Grafana's migrate endpoint turns the key into a token of `sa-autogen-<key>`; the old key
    /// string keeps working until keyshift revokes it after the grace period.
    #[default]
    InPlace,
    /// A new account named by [`Policy::account_name_template`] gets a fresh token; the legacy
    /// key is deleted after the grace period.
    Recreate,
}

/// A per-key-name choice of migration mode; the first matching override wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeOverride {
    /// Glob over legacy key names.
    pub pattern: NamePattern,
    /// Mode for matching keys.
    pub mode: MigrationMode,
}

fn default_rotate_before() -> Duration {
    Duration::from_secs(7 * DAY)
}
fn default_max_age() -> Duration {
    Duration::from_secs(25 * DAY)
}
fn default_token_ttl() -> Duration {
    Duration::from_secs(30 * DAY)
}
fn default_grace_period() -> Duration {
    Duration::from_secs(DAY)
}
fn default_max_tokens_per_account() -> u32 {
    2
}
fn default_account_name_template() -> NameTemplate {
    NameTemplate::trusted("keyshift-{key_name}")
}
fn default_token_name_template() -> NameTemplate {
    NameTemplate::trusted("keyshift-{execution}-{account}")
}
fn default_secret_name_template() -> NameTemplate {
    NameTemplate::trusted("keyshift/{workspace}/{org_id}/{service_account}/token")
}

/// The operator's rotation and migration policy. Every field has the default a user would
/// expect, so `{}` is a valid policy. Durations are written `"7d"`, `"24h"`, `"90m"`, `"30s"`
/// or as seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Rotate a token that expires within this window (default 7 days).
    #[serde(default = "default_rotate_before", with = "duration")]
    pub rotate_before: Duration,
    /// Rotate a token older than this, whatever its expiry (default 25 days).
    #[serde(default = "default_max_age", with = "duration")]
    pub max_age: Duration,
    /// Lifetime of newly minted tokens (default 30 days; capped at AMG's 30-day limit, see
    /// [`Policy::token_ttl_seconds`]).
    #[serde(default = "default_token_ttl", with = "duration")]
    pub token_ttl: Duration,
    /// How long superseded credentials keep working after promotion, so consumers that cached
    /// the old value can refresh (default 24 hours).
    #[serde(default = "default_grace_period", with = "duration")]
    pub grace_period: Duration,
    /// Usage-aware revocation: a superseded token Grafana saw in use within this window (its
    /// `lastUsedAt`) is kept past the grace period, reported as a straggler, and revoked by a
    /// later run once unused for this long or once [`Policy::max_grace_period`] has passed.
    /// Unset (the default): superseded tokens are revoked when the grace period ends.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub revoke_when_unused_for: Option<Duration>,
    /// Hard cap on keeping a straggler, measured from when it was superseded (the promotion of
    /// the secret's current version); at the cap it is revoked even if still in use. Needs
    /// `revokeWhenUnusedFor`; at least the grace period; default 7 days
    /// ([`DEFAULT_MAX_GRACE_PERIOD_SECONDS`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub max_grace_period: Option<Duration>,
    /// Live keyshift tokens kept per account: AWSCURRENT and AWSPREVIOUS always, plus the
    /// newest others up to this number (default 2, minimum 2).
    #[serde(default = "default_max_tokens_per_account")]
    pub max_tokens_per_account: u32,
    /// Migration mode for keys no override matches (default `in-place`).
    #[serde(default)]
    pub migration_mode: MigrationMode,
    /// Per-key-name mode overrides, first match wins.
    #[serde(default)]
    pub mode_overrides: Vec<ModeOverride>,
    /// Globs over legacy key names (and the key names behind `sa-autogen-*` accounts) that
    /// keyshift must not touch at all.
    #[serde(default)]
    pub exclude: Vec<NamePattern>,
    /// Name of accounts created in `recreate` mode; placeholder `{key_name}` (default
    /// `keyshift-{key_name}`).
    #[serde(default = "default_account_name_template")]
    pub account_name_template: NameTemplate,
    /// Name of minted tokens; placeholders `{execution}` (the execution name) and `{account}`
    /// (8 hex digits identifying the account; token names are unique per org across accounts).
    /// Default `keyshift-{execution}-{account}`.
    #[serde(default = "default_token_name_template")]
    pub token_name_template: NameTemplate,
    /// Secrets Manager name of each managed credential; placeholders `{workspace}` (the
    /// target's `secretName`, else its slug), `{org_id}`, `{service_account}` (sanitised
    /// account name). Default
    /// `keyshift/{workspace}/{org_id}/{service_account}/token`; the fixed `/token` suffix avoids
    /// names ending in `-` plus six characters, which Secrets Manager confuses with ARN suffixes.
    #[serde(default = "default_secret_name_template")]
    pub secret_name_template: NameTemplate,
    /// Least-privilege cap on roles.
    #[serde(default)]
    pub roles: RolePolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            rotate_before: default_rotate_before(),
            max_age: default_max_age(),
            token_ttl: default_token_ttl(),
            grace_period: default_grace_period(),
            revoke_when_unused_for: None,
            max_grace_period: None,
            max_tokens_per_account: default_max_tokens_per_account(),
            migration_mode: MigrationMode::default(),
            mode_overrides: Vec::new(),
            exclude: Vec::new(),
            account_name_template: default_account_name_template(),
            token_name_template: default_token_name_template(),
            secret_name_template: default_secret_name_template(),
            roles: RolePolicy::default(),
        }
    }
}

impl Policy {
    /// Rejects policies that would rotate on every run, let tokens lapse, or produce colliding
    /// names, each with the offending field named.
    pub fn validate(&self) -> Result<()> {
        let ttl = self.token_ttl_seconds();
        if self.token_ttl.as_secs() == 0 {
            return Err(KeyshiftError::invalid_input(
                "policy.tokenTtl",
                "must be positive",
            ));
        }
        if self.rotate_before.as_secs() >= ttl {
            return Err(KeyshiftError::invalid_input(
                "policy.rotateBefore",
                format!(
                    "must be shorter than the effective token TTL ({}), or every run would rotate",
                    duration::format_duration(Duration::from_secs(ttl))
                ),
            ));
        }
        if self.max_age.as_secs() == 0 {
            return Err(KeyshiftError::invalid_input(
                "policy.maxAge",
                "must be positive",
            ));
        }
        if self
            .grace_period
            .as_secs()
            .saturating_add(BOOTSTRAP_MARGIN_SECONDS)
            > AMG_MAX_SECONDS_TO_LIVE
        {
            return Err(KeyshiftError::invalid_input(
                "policy.gracePeriod",
                "must leave 6 hours within AMG's 30-day credential lifetime, or the bootstrap credential would expire before revoke-old",
            ));
        }
        self.validate_usage_revocation()?;
        if self.max_tokens_per_account < 2 {
            return Err(KeyshiftError::invalid_input(
                "policy.maxTokensPerAccount",
                "must be at least 2: the AWSCURRENT and AWSPREVIOUS tokens are always kept",
            ));
        }
        NameTemplate::parse(
            "policy.accountNameTemplate",
            self.account_name_template.as_str(),
            &["key_name"],
            &["key_name"],
        )?;
        NameTemplate::parse(
            "policy.tokenNameTemplate",
            self.token_name_template.as_str(),
            &["execution", "account"],
            &["execution", "account"],
        )?;
        NameTemplate::parse(
            "policy.secretNameTemplate",
            self.secret_name_template.as_str(),
            &["workspace", "org_id", "service_account"],
            &["workspace", "org_id", "service_account"],
        )?;
        Ok(())
    }

    fn validate_usage_revocation(&self) -> Result<()> {
        match (self.revoke_when_unused_for, self.max_grace_period) {
            (None, Some(_)) => Err(KeyshiftError::invalid_input(
                "policy.maxGracePeriod",
                "needs policy.revokeWhenUnusedFor: without it superseded tokens are revoked when the grace period ends",
            )),
            (Some(window), _) if window.as_secs() == 0 => Err(KeyshiftError::invalid_input(
                "policy.revokeWhenUnusedFor",
                "must be positive",
            )),
            (Some(window), _) if window.as_secs() > MAX_USAGE_SECONDS => Err(
                KeyshiftError::invalid_input("policy.revokeWhenUnusedFor", "must be at most 365d"),
            ),
            (Some(_), Some(cap)) if cap.as_secs() > MAX_USAGE_SECONDS => Err(
                KeyshiftError::invalid_input("policy.maxGracePeriod", "must be at most 365d"),
            ),
            (Some(_), _) => {
                let cap = self
                    .usage_rule()
                    .map_or(0, |rule| rule.max_grace_period_seconds);
                if cap < self.grace_period.as_secs() {
                    return Err(KeyshiftError::invalid_input(
                        "policy.maxGracePeriod",
                        format!(
                            "must be at least the grace period ({})",
                            duration::format_duration(self.grace_period)
                        ),
                    ));
                }
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// The usage-aware revocation rule, when `revokeWhenUnusedFor` is set (the cap defaulted).
    pub fn usage_rule(&self) -> Option<UsageRule> {
        let window = self.revoke_when_unused_for?;
        Some(UsageRule {
            unused_for_seconds: window.as_secs(),
            max_grace_period_seconds: self
                .max_grace_period
                .map_or(DEFAULT_MAX_GRACE_PERIOD_SECONDS, |cap| cap.as_secs()),
        })
    }

    /// Lifetime requested for new tokens, in seconds: the configured TTL capped at AMG's
    /// 30-day maximum, because a longer request is refused by AMG and pointless elsewhere.
    pub fn token_ttl_seconds(&self) -> u64 {
        self.token_ttl.as_secs().min(AMG_MAX_SECONDS_TO_LIVE)
    }

    /// Lifetime of the AMG bootstrap admin credential an execution mints: it must outlive the
    /// grace period, because revoke-old uses it after the Wait. Grace plus a margin for the
    /// steps and their retries, capped at AMG's maximum.
    pub fn bootstrap_ttl_seconds(&self) -> u64 {
        self.grace_period
            .as_secs()
            .saturating_add(BOOTSTRAP_MARGIN_SECONDS)
            .min(AMG_MAX_SECONDS_TO_LIVE)
    }

    /// The grace period in whole seconds, for the state machine's Wait `SecondsPath`.
    pub fn grace_period_seconds(&self) -> u64 {
        self.grace_period.as_secs()
    }

    /// The migration mode for a key, honouring overrides in order.
    pub fn mode_for(&self, key_name: &str) -> MigrationMode {
        self.mode_overrides
            .iter()
            .find(|entry| entry.pattern.matches(key_name))
            .map_or(self.migration_mode, |entry| entry.mode)
    }

    /// The exclude pattern matching a key name, if any (returned so the plan can say which).
    pub fn exclusion_for(&self, key_name: &str) -> Option<&NamePattern> {
        self.exclude
            .iter()
            .find(|pattern| pattern.matches(key_name))
    }

    /// Name of the account a `recreate` migration creates for `key_name`.
    pub fn account_name_for(&self, key_name: &str) -> String {
        self.account_name_template.render(&[("key_name", key_name)])
    }

    /// Recognises accounts keyshift created in `recreate` mode, returning the key name.
    pub fn recreated_key_name<'a>(&self, account_name: &'a str) -> Option<&'a str> {
        let matcher = self.account_name_template.matcher(&[])?;
        let captures = matcher.captures(account_name)?;
        let key_name = captures.get(1)?;
        account_name.get(key_name.start()..key_name.end())
    }

    /// Name of the token an execution mints on an account: deterministic, so a retry finds
    /// its own token, and distinct per account, because token names are unique per org.
    pub fn token_name_for(&self, execution_name: &str, account_name: &str) -> String {
        self.token_name_template.render(&[
            ("execution", execution_name),
            ("account", &short_hash(account_name)),
        ])
    }

    /// A regex recognising token names this policy mints, so keyshift only ever revokes tokens
    /// it created (or migrated legacy keys), never tokens a person made by hand.
    pub fn token_name_matcher(&self) -> Option<Regex> {
        self.token_name_template.matcher(&[
            ("execution", "[0-9A-Za-z_-]{1,80}"),
            ("account", "[0-9a-f]{8}"),
        ])
    }

    /// The Secrets Manager name of the credential of `account_name` in `workspace`. Characters
    /// Secrets Manager does not allow become `-`.
    pub fn secret_name_for(&self, workspace: &WorkspaceRef, account_name: &str) -> Result<String> {
        let org = workspace.org_id.to_string();
        let name = self.secret_name_template.render(&[
            ("workspace", &workspace.secret_name_part()),
            ("org_id", &org),
            ("service_account", &sanitize_secret_component(account_name)),
        ]);
        if name.is_empty() || name.len() > MAX_SECRET_NAME_LEN {
            return Err(KeyshiftError::invalid_input(
                "policy.secretNameTemplate",
                format!(
                    "renders a name of {} characters (1-{MAX_SECRET_NAME_LEN} allowed)",
                    name.len()
                ),
            ));
        }
        let ambiguous_suffix = name.rsplit_once('-').is_some_and(|(_, tail)| {
            tail.len() == 6
                && tail
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric())
        });
        if ambiguous_suffix {
            return Err(KeyshiftError::invalid_input(
                "policy.secretNameTemplate",
                format!(
                    "renders {name:?}, which ends like an ARN suffix (- and 6 characters); add a fixed suffix"
                ),
            ));
        }
        Ok(name)
    }
}

/// [`Policy::revoke_when_unused_for`] and [`Policy::max_grace_period`] resolved, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRule {
    /// A superseded token used within this many seconds is kept.
    pub unused_for_seconds: u64,
    /// Kept at most this many seconds after it was superseded.
    pub max_grace_period_seconds: u64,
}

/// Serde for an optional policy duration, in the format of [`duration`].
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => super::duration::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::duration")] Duration);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(duration)| duration))
    }
}

fn sanitize_secret_component(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || "/_+=.@-".contains(character) {
                character
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::role::Role;

    #[test]
    fn empty_json_gives_the_documented_defaults() {
        let policy: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, Policy::default());
        assert_eq!(policy.rotate_before, Duration::from_secs(7 * DAY));
        assert_eq!(policy.max_age, Duration::from_secs(25 * DAY));
        assert_eq!(policy.token_ttl_seconds(), 2_592_000);
        assert_eq!(policy.grace_period_seconds(), 86_400);
        assert_eq!(policy.bootstrap_ttl_seconds(), 86_400 + 6 * 3_600);
        assert_eq!(policy.max_tokens_per_account, 2);
        assert_eq!(policy.migration_mode, MigrationMode::InPlace);
        assert_eq!(policy.roles.max_role, Role::Editor);
        policy.validate().unwrap();
    }

    #[test]
    fn serializes_durations_readably_and_round_trips() {
        let json = serde_json::to_value(Policy::default()).unwrap();
        assert_eq!(json["rotateBefore"], "7d");
        assert_eq!(json["gracePeriod"], "1d");
        assert_eq!(json["migrationMode"], "in-place");
        let back: Policy = serde_json::from_value(json).unwrap();
        assert_eq!(back, Policy::default());
    }

    #[test]
    fn ttl_is_capped_at_the_amg_limit() {
        let policy: Policy = serde_json::from_str(r#"{"tokenTtl":"90d"}"#).unwrap();
        assert_eq!(policy.token_ttl_seconds(), AMG_MAX_SECONDS_TO_LIVE);
        let short: Policy =
            serde_json::from_str(r#"{"tokenTtl":"14d","rotateBefore":"3d"}"#).unwrap();
        assert_eq!(short.token_ttl_seconds(), 14 * DAY);
        short.validate().unwrap();
    }

    #[test]
    fn validation_names_the_field() {
        let table = [
            (r#"{"tokenTtl":0}"#, "policy.tokenTtl"),
            (
                r#"{"tokenTtl":"7d","rotateBefore":"7d"}"#,
                "policy.rotateBefore",
            ),
            (r#"{"maxAge":0}"#, "policy.maxAge"),
            (r#"{"gracePeriod":"30d"}"#, "policy.gracePeriod"),
            (r#"{"maxTokensPerAccount":1}"#, "policy.maxTokensPerAccount"),
            (r#"{"maxGracePeriod":"3d"}"#, "policy.maxGracePeriod"),
            (
                r#"{"revokeWhenUnusedFor":"1d","gracePeriod":"2d","maxGracePeriod":"1d"}"#,
                "policy.maxGracePeriod",
            ),
            (
                r#"{"revokeWhenUnusedFor":"1d","gracePeriod":"8d"}"#,
                "policy.maxGracePeriod",
            ),
            (r#"{"revokeWhenUnusedFor":0}"#, "policy.revokeWhenUnusedFor"),
            (
                r#"{"revokeWhenUnusedFor":"366d"}"#,
                "policy.revokeWhenUnusedFor",
            ),
            (
                r#"{"revokeWhenUnusedFor":"1d","maxGracePeriod":"99999999d"}"#,
                "policy.maxGracePeriod",
            ),
            (
                r#"{"accountNameTemplate":"fixed"}"#,
                "policy.accountNameTemplate",
            ),
            (
                r#"{"tokenNameTemplate":"keyshift-{execution}"}"#,
                "policy.tokenNameTemplate",
            ),
            (
                r#"{"secretNameTemplate":"{service_account}/{org_id}/{wat}"}"#,
                "policy.secretNameTemplate",
            ),
        ];
        for (json, field) in table {
            let policy: Policy = serde_json::from_str(json).unwrap();
            match policy.validate() {
                Err(KeyshiftError::InputInvalid { field: got, .. }) => {
                    assert_eq!(got, field, "{json}")
                }
                other => panic!("{json}: expected InputInvalid, got {other:?}"),
            }
        }
        assert!(serde_json::from_str::<Policy>(r#"{"rotateBefore":"soon"}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"migrationMode":"sideways"}"#).is_err());
    }

    #[test]
    fn usage_revocation_is_off_by_default_and_the_cap_defaults_to_seven_days() {
        assert_eq!(Policy::default().usage_rule(), None);
        let only_window: Policy = serde_json::from_str(r#"{"revokeWhenUnusedFor":"2d"}"#).unwrap();
        only_window.validate().unwrap();
        assert_eq!(
            only_window.usage_rule(),
            Some(UsageRule {
                unused_for_seconds: 2 * DAY,
                max_grace_period_seconds: 7 * DAY
            })
        );
        let both: Policy =
            serde_json::from_str(r#"{"revokeWhenUnusedFor":"12h","maxGracePeriod":"3d"}"#).unwrap();
        both.validate().unwrap();
        assert_eq!(both.usage_rule().unwrap().max_grace_period_seconds, 3 * DAY);
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(json["revokeWhenUnusedFor"], "12h");
        assert_eq!(json["maxGracePeriod"], "3d");
        assert_eq!(serde_json::from_value::<Policy>(json).unwrap(), both);
        let equal: Policy = serde_json::from_str(
            r#"{"revokeWhenUnusedFor":"1h","gracePeriod":"2d","maxGracePeriod":"2d"}"#,
        )
        .unwrap();
        equal.validate().unwrap();
        assert!(serde_json::from_str::<Policy>(r#"{"maxGracePeriod":"soon"}"#).is_err());
    }

    #[test]
    fn overrides_and_exclusions_by_glob() {
        let policy: Policy = serde_json::from_str(
            r#"{"migrationMode":"in-place","modeOverrides":[{"pattern":"tf-*","mode":"recreate"}],"exclude":["break-glass*"]}"#,
        )
        .unwrap();
        assert_eq!(policy.mode_for("tf-prod"), MigrationMode::Recreate);
        assert_eq!(policy.mode_for("ci"), MigrationMode::InPlace);
        assert_eq!(
            policy
                .exclusion_for("break-glass-1")
                .map(NamePattern::as_str),
            Some("break-glass*")
        );
        assert!(policy.exclusion_for("ci").is_none());
    }

    #[test]
    fn names_are_rendered_and_recognised() {
        let policy = Policy::default();
        assert_eq!(policy.account_name_for("ci deploy"), "keyshift-ci deploy");
        assert_eq!(
            policy.recreated_key_name("keyshift-ci deploy"),
            Some("ci deploy")
        );
        assert_eq!(policy.recreated_key_name("sa-autogen-ci"), None);
        let token = policy.token_name_for("ks-run-1", "keyshift-ci");
        assert_eq!(
            token,
            format!("keyshift-ks-run-1-{}", short_hash("keyshift-ci"))
        );
        assert_ne!(token, policy.token_name_for("ks-run-1", "keyshift-cd"));
        let matcher = policy.token_name_matcher().unwrap();
        assert!(matcher.is_match(&token));
        assert!(!matcher.is_match("ci-deploy"));
    }

    #[test]
    fn secret_names_are_sanitised_and_checked() {
        let policy = Policy::default();
        let workspace = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
        assert_eq!(
            policy
                .secret_name_for(&workspace, "ci deploy:prod")
                .unwrap(),
            "keyshift/g-0123456789/1/ci-deploy-prod/token"
        );
        let bare: Policy = serde_json::from_str(
            r#"{"secretNameTemplate":"{workspace}/{org_id}/{service_account}"}"#,
        )
        .unwrap();
        let error = bare.secret_name_for(&workspace, "ci-deploy").unwrap_err();
        assert_eq!(error.asl_name(), "Input.Invalid");
    }
}
