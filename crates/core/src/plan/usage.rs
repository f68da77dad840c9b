//! Usage-aware revocation: whether a superseded token Grafana still sees in use is kept past
//! the grace period ([`crate::model::Policy::revoke_when_unused_for`]) or revoked.

use chrono::{DateTime, Duration, Utc};

use super::types::RevocationReason;
use crate::model::UsageRule;

/// What to do with one superseded token at revoke time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageDecision {
    /// Revoke it now; the sentence says why (for logs and the step's output).
    Revoke(String),
    /// Keep it (a straggler): a later run revokes it once unused, at the latest at
    /// `kept_until`.
    Keep {
        /// When the hard cap ends: superseded time plus `maxGracePeriod`.
        kept_until: DateTime<Utc>,
    },
}

/// Whether usage can spare a revocation of this kind: only credentials a consumer may still
/// hold: superseded keyshift tokens, migrated legacy keys, and "orphans". A later run sees a
/// kept straggler as an orphan, because its secret version lost its last label when it was
/// superseded and Secrets Manager no longer lists it; a true orphan (minted, never stored, so
/// never verified nor handed to anyone) has no recorded use and is revoked by
/// [`usage_decision`] all the same. Expired tokens and bootstrap credentials always go.
pub fn usage_may_spare(reason: RevocationReason) -> bool {
    matches!(
        reason,
        RevocationReason::Superseded
            | RevocationReason::MigratedLegacyKey
            | RevocationReason::Orphan
    )
}

/// Keep or revoke a superseded token, from Grafana's `lastUsedAt` for it, when it was superseded
/// (the promotion of the secret's current version: the cap is measured from there) and now.
///
/// - used within `unused_for` and `now` before `superseded_at + max_grace_period` → kept;
/// - not used within the window → revoked;
/// - at or past the cap → revoked, even if still in use;
/// - `last_used_at` unknown (`None`: never used, or a Grafana that does not report it) →
///   revoked, as without the rule; so is a token whose superseded time is unknown.
///
/// Grafana 10.1 and 10.2 never refresh a service-account token's `lastUsedAt`
/// (grafana#78375): there a token shows its last use before the upgrade, or `None`, so a token
/// still in use looks unused and is revoked when the grace period ends, exactly as without the
/// rule (the rule never revokes earlier than the grace period; it only keeps). Legacy keys, and
/// tokens on other versions, report their use and are kept as described.
pub fn usage_decision(
    rule: UsageRule,
    last_used_at: Option<DateTime<Utc>>,
    superseded_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> UsageDecision {
    let Some(superseded_at) = superseded_at else {
        return UsageDecision::Revoke(
            "when it was superseded is not known, so the cap cannot be measured".to_owned(),
        );
    };
    let Some(kept_until) = superseded_at.checked_add_signed(seconds(rule.max_grace_period_seconds))
    else {
        return UsageDecision::Revoke("the maximum grace period is out of range".to_owned());
    };
    if now >= kept_until {
        return UsageDecision::Revoke(format!(
            "the maximum grace period ended at {}",
            kept_until.to_rfc3339()
        ));
    }
    let Some(last_used_at) = last_used_at else {
        return UsageDecision::Revoke("Grafana records no use of it".to_owned());
    };
    if now - last_used_at >= seconds(rule.unused_for_seconds) {
        return UsageDecision::Revoke(format!(
            "its last use ({}) is outside the revokeWhenUnusedFor window",
            last_used_at.to_rfc3339()
        ));
    }
    UsageDecision::Keep { kept_until }
}

fn seconds(seconds: u64) -> Duration {
    Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1_000))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const HOUR: i64 = 3_600;

    fn rule() -> UsageRule {
        UsageRule {
            unused_for_seconds: 2 * 24 * 3_600,
            max_grace_period_seconds: 7 * 24 * 3_600,
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(hours * HOUR)
    }

    #[test]
    fn used_within_the_window_and_under_the_cap_is_kept_until_the_cap() {
        assert_eq!(
            usage_decision(rule(), Some(at(23)), Some(at(0)), at(24)),
            UsageDecision::Keep {
                kept_until: at(7 * 24)
            }
        );
    }

    #[test]
    fn unused_for_the_window_is_revoked() {
        let decision = usage_decision(rule(), Some(at(0)), Some(at(0)), at(48));
        assert!(matches!(decision, UsageDecision::Revoke(why) if why.contains("window")));
    }

    #[test]
    fn past_the_cap_is_revoked_even_if_used() {
        let decision = usage_decision(rule(), Some(at(7 * 24)), Some(at(0)), at(7 * 24));
        assert!(matches!(decision, UsageDecision::Revoke(why) if why.contains("maximum")));
    }

    #[test]
    fn unknown_last_use_or_superseded_time_is_revoked() {
        assert!(matches!(
            usage_decision(rule(), None, Some(at(0)), at(24)),
            UsageDecision::Revoke(_)
        ));
        assert!(matches!(
            usage_decision(rule(), Some(at(23)), None, at(24)),
            UsageDecision::Revoke(_)
        ));
    }

    #[test]
    fn a_cap_beyond_any_date_revokes_instead_of_overflowing() {
        let endless = UsageRule {
            unused_for_seconds: u64::MAX,
            max_grace_period_seconds: u64::MAX,
        };
        let decision = usage_decision(endless, Some(at(23)), Some(at(0)), at(24));
        assert!(matches!(decision, UsageDecision::Revoke(why) if why.contains("out of range")));
    }

    #[test]
    fn expired_and_bootstrap_credentials_are_never_spared() {
        assert!(usage_may_spare(RevocationReason::Superseded));
        assert!(usage_may_spare(RevocationReason::MigratedLegacyKey));
        assert!(usage_may_spare(RevocationReason::Orphan));
        assert!(!usage_may_spare(RevocationReason::Expired));
        assert!(!usage_may_spare(RevocationReason::BootstrapAdmin));
    }
}
