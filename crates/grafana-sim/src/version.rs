//! Grafana version numbers and the behaviour switches that depend on them.
//!
//! The value of the simulator is that it answers like the Grafana release it pretends to be,
//! so every version-dependent answer is decided by one named predicate here, each pointing at
//! the row of the version timeline (reference §1) it encodes. Thresholds the reference marks
//! UNCONFIRMED are chosen as a user would expect and say so.

use std::fmt;

use serde_with::{DeserializeFromStr, SerializeDisplay};

/// A Grafana release number; ordering drives every behaviour switch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, SerializeDisplay, DeserializeFromStr,
)]
pub struct GrafanaVersion {
    /// Major release (9, 10, 11, 12).
    pub major: u32,
    /// Minor release.
    pub minor: u32,
    /// Patch release; `/api/health` reports it.
    pub patch: u32,
}

/// Why a version string from a fleet file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionParseError {
    /// The string is not `MAJOR.MINOR[.PATCH]`.
    #[error("grafana version `{0}` is not MAJOR.MINOR or MAJOR.MINOR.PATCH")]
    Malformed(String),
}

impl GrafanaVersion {
    /// Builds a version for comparisons in code.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses `9.4`, `10.4.1` or `v11.6.0` (AMG reports `MAJOR.MINOR`).
    pub fn parse(text: &str) -> Result<Self, VersionParseError> {
        let trimmed = text.trim().trim_start_matches('v');
        let core = trimmed.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        let number = |index: usize| -> Result<u32, VersionParseError> {
            match parts.get(index) {
                Some(part) => part
                    .parse::<u32>()
                    .map_err(|_| VersionParseError::Malformed(text.to_string())),
                None => Ok(0),
            }
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(VersionParseError::Malformed(text.to_string()));
        }
        Ok(Self::new(number(0)?, number(1)?, number(2)?))
    }

    fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Self::new(major, minor, 0)
    }

    /// 9.x had migrationstatus / hideApiKeys / revert; removed around 9.5/10.0 (exact release
    /// UNCONFIRMED: we keep them up to 9.4 inclusive and drop them from 9.5).
    pub fn has_9x_migration_extras(self) -> bool {
        !self.at_least(9, 5)
    }

    /// Bulk migration answers a `MigrationResult` object from 10.1 (PR #68789).
    pub fn migrate_all_returns_result(self) -> bool {
        self.at_least(10, 1)
    }

    /// `POST /api/auth/keys` answers 410 from 11.3.0 (PR #92144).
    pub fn legacy_key_creation_gone(self) -> bool {
        self.at_least(11, 3)
    }

    /// All remaining keys are migrated when the server starts, from 11.6.0 (PR #96924).
    pub fn auto_migrates_on_start(self) -> bool {
        self.at_least(11, 6)
    }

    /// `/api/auth/keys*` and `/api/serviceaccounts/migrate*` are gone from 12.1.0 (#106019),
    /// and non-migrated legacy keys no longer authenticate (#105998).
    pub fn legacy_keys_removed(self) -> bool {
        self.at_least(12, 1)
    }

    /// errutil-era answer for duplicate token names (400) versus the older 409; the reference
    /// says "≤~10.0 → 409", so 10.1 is the first errutil release here.
    pub fn duplicate_token_is_bad_request(self) -> bool {
        self.at_least(10, 1)
    }

    /// Newer servers answer an unknown/deleted token with errutil `api-key.invalid`; older
    /// ones with a bare legacy `Unauthorized`. Switch release UNCONFIRMED: 11.0 chosen.
    pub fn unknown_token_is_errutil(self) -> bool {
        self.at_least(11, 0)
    }

    /// Logins of new service accounts include the org id (`sa-<orgId>-<name>`) and
    /// migrated-key logins are lowercased on newer servers; switch UNCONFIRMED (~10.x/11.x):
    /// 11.0 chosen.
    pub fn org_scoped_logins(self) -> bool {
        self.at_least(11, 0)
    }

    /// Newer migration code retries a taken login with `-001`…`-010`; older code records a
    /// failure. Tied to the same (UNCONFIRMED) 11.0 switch as the login format.
    pub fn migration_retries_login_suffixes(self) -> bool {
        self.at_least(11, 0)
    }

    /// 10.x+ have uid/isExternal on service accounts, errutil 404 on deletes of unknown
    /// service accounts and tokens, and the newer success messages. UNCONFIRMED exact release.
    pub fn modern_service_account_api(self) -> bool {
        self.at_least(10, 0)
    }

    /// Very old 9.x answered a duplicate service account with a legacy body.
    pub fn duplicate_service_account_is_errutil(self) -> bool {
        self.at_least(9, 4)
    }

    /// `lastUsedAt` appears in the legacy key list from ~10.x.
    pub fn key_list_has_last_used(self) -> bool {
        self.at_least(10, 0)
    }

    /// Whether authenticating with a service-account token refreshes its `lastUsedAt`.
    /// It stopped updating in 10.1 and was fixed later (grafana/grafana#78375, reference
    /// §6.1); the fix release is UNCONFIRMED: 10.3 chosen, so 10.1.x and 10.2.x never
    /// record token use. Legacy keys are not affected. Consumers of `lastUsedAt` must treat
    /// a missing or old value as "no evidence of use", never as proof of non-use.
    pub fn token_last_used_updates(self) -> bool {
        !self.at_least(10, 1) || self.at_least(10, 3)
    }

    /// How `GET /api/user` treats a non-user identity (reference §7).
    pub fn user_endpoint_for_tokens(self) -> UserEndpointBehaviour {
        if self.at_least(12, 0) {
            UserEndpointBehaviour::MinimalObject
        } else if self.at_least(10, 3) {
            UserEndpointBehaviour::OnlyForUsers
        } else {
            UserEndpointBehaviour::Profile
        }
    }
}

/// The three historical answers of `GET /api/user` to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEndpointBehaviour {
    /// ≤10.2: the service account's own profile.
    Profile,
    /// 10.3–11.x: 403 `Endpoint only available for users`.
    OnlyForUsers,
    /// 12.x: a minimal identity object.
    MinimalObject,
}

impl fmt::Display for GrafanaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for GrafanaVersion {
    type Err = VersionParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amg_and_full_versions() {
        assert_eq!(
            GrafanaVersion::parse("9.4").unwrap(),
            GrafanaVersion::new(9, 4, 0)
        );
        assert_eq!(
            GrafanaVersion::parse("v11.6.2").unwrap(),
            GrafanaVersion::new(11, 6, 2)
        );
        assert!(GrafanaVersion::parse("eleven").is_err());
        assert!(GrafanaVersion::parse("11").is_err());
    }

    #[test]
    fn timeline_switches_at_the_documented_releases() {
        let v = |s: &str| GrafanaVersion::parse(s).unwrap();
        assert!(!v("11.2").legacy_key_creation_gone());
        assert!(v("11.3").legacy_key_creation_gone());
        assert!(!v("11.5").auto_migrates_on_start());
        assert!(v("11.6").auto_migrates_on_start());
        assert!(!v("12.0").legacy_keys_removed());
        assert!(v("12.1").legacy_keys_removed());
        assert!(!v("10.0").migrate_all_returns_result());
        assert!(v("10.1").migrate_all_returns_result());
        assert!(v("9.4").has_9x_migration_extras());
        assert!(!v("10.4").has_9x_migration_extras());
        assert!(v("10.0").token_last_used_updates());
        assert!(!v("10.1").token_last_used_updates());
        assert!(!v("10.2.3").token_last_used_updates());
        assert!(v("10.3").token_last_used_updates());
    }
}
