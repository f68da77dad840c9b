//! Grafana versions and what each can do with legacy keys and service accounts.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_with::{DeserializeFromStr, SerializeDisplay};

use crate::error::KeyshiftError;

/// A Grafana version as reported by `/api/health` (`"10.4.1"`, `"12.1.0-pre"`,
/// `"12.1.0+security-01"`) or by AMG (`"10.4"`).
///
/// Ordering and all capability checks use only major.minor.patch: Grafana's `-pre` builds of
/// a release line already contain that line's changes (a `12.1.0-pre` build has the key
/// endpoints removed), so semver's "pre-release sorts first" rule would be wrong here.
#[derive(Debug, Clone, SerializeDisplay, DeserializeFromStr)]
pub struct GrafanaVersion {
    /// Major version (e.g. 11).
    pub major: u32,
    /// Minor version (e.g. 6).
    pub minor: u32,
    /// Patch version (0 when the string had only two components).
    pub patch: u32,
    /// Everything after the numeric part (`-pre`, `+security-01`), kept for display.
    pub suffix: String,
}

impl GrafanaVersion {
    /// Builds a version from numbers, mostly for tests and fixtures.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
            suffix: String::new(),
        }
    }

    fn triple(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// What an AMG workspace without service accounts must do before keyshift can serve it
    /// (AMG's first version with them is 9.4); said by fleet-start's skip and the inventory.
    pub const AMG_UPGRADE_ADVICE: &'static str = "upgrade to 9.4 or later first";

    /// Service accounts are GA from 9.1 (8.5–9.0 had them behind a feature toggle);
    /// keyshift needs them to do anything.
    pub fn supports_service_accounts(&self) -> bool {
        self.at_least(9, 1)
    }

    /// `/api/auth/keys` (list, delete) exists before 12.1; from 12.1 it answers 404.
    pub fn has_legacy_key_endpoints(&self) -> bool {
        !self.at_least(12, 1)
    }

    /// `POST /api/auth/keys` works before 11.3; from 11.3 it answers 410 Gone.
    pub fn can_create_legacy_keys(&self) -> bool {
        !self.at_least(11, 3)
    }

    /// `POST /api/serviceaccounts/migrate[/:keyId]` exists before 12.1.
    pub fn has_migrate_endpoint(&self) -> bool {
        !self.at_least(12, 1)
    }

    /// From 11.6 Grafana migrates every remaining key to an `sa-autogen-*` account at start-up,
    /// so keyshift finds accounts to take over rather than keys.
    pub fn auto_migrates_keys(&self) -> bool {
        self.at_least(11, 6)
    }

    /// From 10.1 bulk migrate answers a `MigrationResult` (with failures) instead of a message.
    pub fn migrate_all_returns_result(&self) -> bool {
        self.at_least(10, 1)
    }
}

impl PartialEq for GrafanaVersion {
    fn eq(&self, other: &Self) -> bool {
        self.triple() == other.triple()
    }
}

impl Eq for GrafanaVersion {}

impl PartialOrd for GrafanaVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GrafanaVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple())
    }
}

impl fmt::Display for GrafanaVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.suffix
        )
    }
}

impl FromStr for GrafanaVersion {
    type Err = KeyshiftError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || KeyshiftError::GrafanaUnsupportedVersion {
            version: text.chars().take(64).collect(),
            detail: "not a Grafana version string (expected MAJOR.MINOR[.PATCH][-pre|+build])"
                .to_owned(),
        };
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
        let numeric_end = trimmed
            .find(|character: char| !(character.is_ascii_digit() || character == '.'))
            .unwrap_or(trimmed.len());
        let (numeric, suffix) = trimmed.split_at(numeric_end);
        if !(suffix.is_empty() || suffix.starts_with('-') || suffix.starts_with('+')) {
            return Err(invalid());
        }
        let parts: Vec<&str> = numeric.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid());
        }
        let mut numbers = [0_u32; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || part.len() > 6 {
                return Err(invalid());
            }
            *slot = part.parse().map_err(|_| invalid())?;
        }
        let [major, minor, patch] = numbers;
        Ok(Self {
            major,
            minor,
            patch,
            suffix: suffix.chars().take(64).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> GrafanaVersion {
        text.parse().unwrap()
    }

    #[test]
    fn parses_health_and_amg_version_strings() {
        let cases = [
            ("9.4.7", (9, 4, 7), ""),
            ("10.4.1", (10, 4, 1), ""),
            ("11.6.0", (11, 6, 0), ""),
            ("12.1.0-pre", (12, 1, 0), "-pre"),
            ("12.1.0+security-01", (12, 1, 0), "+security-01"),
            ("10.4", (10, 4, 0), ""),
            ("v11.5.2", (11, 5, 2), ""),
            ("12.0.0-89264", (12, 0, 0), "-89264"),
        ];
        for (text, (major, minor, patch), suffix) in cases {
            let parsed = version(text);
            assert_eq!(
                (parsed.major, parsed.minor, parsed.patch),
                (major, minor, patch),
                "{text}"
            );
            assert_eq!(parsed.suffix, suffix, "{text}");
        }
        assert_eq!(
            version("12.1.0+security-01").to_string(),
            "12.1.0+security-01"
        );
    }

    #[test]
    fn rejects_garbage_with_a_named_error() {
        for text in [
            "",
            "latest",
            "10",
            "10.x",
            "1.2.3.4",
            "10..1",
            "10.4beta",
            "99999999.1",
        ] {
            let error = text.parse::<GrafanaVersion>().unwrap_err();
            assert_eq!(error.asl_name(), "Grafana.UnsupportedVersion", "{text}");
        }
    }

    #[test]
    fn capabilities_follow_the_version_timeline() {
        // (version, legacy endpoints, can create keys, migrate endpoint, auto-migrates, migrate-all result)
        let table = [
            ("9.4.7", true, true, true, false, false),
            ("10.0.3", true, true, true, false, false),
            ("10.1.0", true, true, true, false, true),
            ("10.4.1", true, true, true, false, true),
            ("11.2.9", true, true, true, false, true),
            ("11.3.0", true, false, true, false, true),
            ("11.5.2", true, false, true, false, true),
            ("11.6.0", true, false, true, true, true),
            ("12.0.2", true, false, true, true, true),
            ("12.1.0-pre", false, false, false, true, true),
            ("12.1.0", false, false, false, true, true),
            ("13.0.0", false, false, false, true, true),
        ];
        for (text, legacy, create, migrate, auto, result) in table {
            let parsed = version(text);
            let found = [
                parsed.has_legacy_key_endpoints(),
                parsed.can_create_legacy_keys(),
                parsed.has_migrate_endpoint(),
                parsed.auto_migrates_keys(),
                parsed.migrate_all_returns_result(),
            ];
            assert_eq!(
                found,
                [legacy, create, migrate, auto, result],
                "{text}: legacy endpoints, create keys, migrate, auto-migrate, migrate result"
            );
        }
        assert!(!version("9.0.0").supports_service_accounts());
        assert!(version("9.1.0").supports_service_accounts());
    }

    #[test]
    fn ordering_ignores_suffix() {
        assert_eq!(version("12.1.0-pre"), version("12.1.0"));
        assert!(version("10.4.1") < version("11.0.0"));
        assert!(version("9.10.0") > version("9.4.7"));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let parsed: GrafanaVersion = serde_json::from_str(r#""11.6.0""#).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#""11.6.0""#);
        assert!(serde_json::from_str::<GrafanaVersion>(r#""nope""#).is_err());
    }
}
