//! The fleet file: the initial state of every simulated Grafana.
//!
//! Tests, the demo and benchmarks each need a different fleet (versions, orgs, keys about to
//! expire, an account already migrated…), so the simulator's starting point is data, not code.
//! The format is JSON with camelCase keys; see `fleets/sample.json` for a complete example:
//!
//! ```json
//! { "seed": 42,
//!   "workspaces": [
//!     { "kind": "amg", "id": "g-0123456789", "region": "eu-west-1", "name": "prod",
//!       "status": "ACTIVE", "tags": {"team": "sre"}, "version": "10.4",
//!       "settings": { "apiKeyMaxSecondsToLive": 2592000, "tokenExpirationDayLimit": 30,
//!                     "hideVersion": false, "autoMigrateOnStart": true },
//!       "orgs": [ { "id": 1, "name": "Main Org." } ],
//!       "users": [ { "login": "admin", "password": "pw", "roles": { "1": "Admin" } },
//!                  { "login": "sa-manager", "password": "pw", "roles": { "1": "Editor" },
//!                    "fixedRoles": { "1": ["fixed:serviceaccounts:writer"] } } ],
//!       "apiKeys": [ { "name": "ci", "role": "Admin", "expires": "30d", "secret": "…32 chars…",
//!                      "migrated": false } ],
//!       "serviceAccounts": [ { "name": "terraform", "role": "Editor",
//!                              "tokens": [ { "name": "tf-1", "expires": "5d" } ] } ],
//!       "folders": [ { "uid": "ops", "title": "Operations" } ] } ] }
//! ```
//!
//! Expiries are relative to the simulator's start (`"-2d"`, `"30d"`, `"12h"`, `"90m"`,
//! `"3600s"`, `"never"`) or absolute RFC 3339 timestamps. Secrets are the 32-character
//! `[0-9A-Za-z]` part of a credential; when absent they are generated from the fleet seed, and
//! tests read the full credential strings from `GET /_sim/secrets`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::version::GrafanaVersion;

/// The sample fleet shipped with the crate, used when the binary gets no `--fleet`.
pub const SAMPLE_FLEET_JSON: &str = include_str!("../fleets/sample.json");

/// Why a fleet file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The file is not valid fleet JSON. It names the place and the field, never a value:
    /// serde's own messages quote input, and a fleet file holds seeded secrets and passwords.
    #[error("fleet file is not valid: {problem} at {path} (line {line}, column {column})")]
    Parse {
        /// What is wrong, in words from the fleet format, not from the file.
        problem: String,
        /// Where in the document, as `workspaces[0].apiKeys[1].orgId`; `?` stands for a key
        /// that is not a fleet field name.
        path: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The file could not be read.
    #[error("cannot read fleet file {path}: {source}")]
    Read {
        /// Path given on the command line.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A workspace id does not fit its kind.
    #[error(
        "workspace id `{0}` is invalid (AMG ids are `g-` + 10 hex digits; self-hosted ids are [a-z0-9-]+)"
    )]
    InvalidWorkspaceId(String),
    /// Two workspaces share an id.
    #[error("workspace id `{0}` appears twice")]
    DuplicateWorkspace(String),
    /// An expiry could not be understood.
    #[error(
        "expiry `{0}` is neither relative (`-2d`, `30d`, `12h`, `90m`, `10s`, `never`) nor RFC 3339"
    )]
    InvalidExpiry(String),
    /// An object refers to an org the workspace does not declare.
    #[error("workspace `{workspace}` refers to unknown org {org_id}")]
    UnknownOrg {
        /// Workspace id.
        workspace: String,
        /// Org id referred to.
        org_id: i64,
    },
    /// A provided secret is not 32 characters of `[0-9A-Za-z]`.
    #[error("a secret in workspace `{0}` is not 32 characters of [0-9A-Za-z]")]
    InvalidSecret(String),
    /// Two credentials of one org share a name (Grafana's table forbids it).
    #[error("workspace `{workspace}` org {org_id} has two credentials named `{name}`")]
    DuplicateCredentialName {
        /// Workspace id.
        workspace: String,
        /// Org id.
        org_id: i64,
        /// The repeated name.
        name: String,
    },
    /// A role is not `None`, `Viewer`, `Editor` or `Admin` (or, for `fixedRoles`, not one of
    /// the fixed roles the simulator knows).
    #[error("workspace `{workspace}` uses unknown role `{role}`")]
    InvalidRole {
        /// Workspace id.
        workspace: String,
        /// The role text.
        role: String,
    },
    /// Two service accounts would get the same login.
    #[error("workspace `{workspace}` has two service accounts with login `{login}`")]
    DuplicateServiceAccount {
        /// Workspace id.
        workspace: String,
        /// The colliding login.
        login: String,
    },
}

/// The whole fleet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    /// Seed for every generated secret, id and uid, so runs are reproducible.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The simulated instances.
    pub workspaces: Vec<WorkspaceSpec>,
}

fn default_seed() -> u64 {
    1
}

/// Whether an instance is an AMG workspace (also visible to the AMG control plane) or a
/// self-hosted Grafana.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum WorkspaceKind {
    /// Amazon Managed Grafana workspace.
    Amg,
    /// Self-hosted Grafana reached with an admin credential.
    SelfHosted,
}

/// One simulated Grafana instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// AMG or self-hosted.
    pub kind: WorkspaceKind,
    /// `g-` + 10 lowercase hex for AMG; any `[a-z0-9-]+` slug for self-hosted.
    pub id: String,
    /// AWS region (AMG only; defaults to `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Optional AMG description.
    #[serde(default)]
    pub description: Option<String>,
    /// AMG status; defaults to `ACTIVE`.
    #[serde(default)]
    pub status: Option<String>,
    /// AMG tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Grafana version this instance behaves as.
    pub version: GrafanaVersion,
    /// Per-instance Grafana settings.
    #[serde(default)]
    pub settings: InstanceSettings,
    /// Orgs; defaults to org 1 `Main Org.`.
    #[serde(default)]
    pub orgs: Vec<OrgSpec>,
    /// Users with basic-auth passwords (self-hosted; AMG users come from SSO).
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// Legacy API keys, optionally already migrated.
    #[serde(default)]
    pub api_keys: Vec<ApiKeySpec>,
    /// Existing service accounts and their tokens.
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    /// Folders, so `/api/search` and `/api/folders` return something.
    #[serde(default)]
    pub folders: Vec<FolderSpec>,
}

/// Grafana settings that change answers of the token endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceSettings {
    /// `[auth] api_key_max_seconds_to_live`; -1 = unlimited (Grafana's default).
    #[serde(default = "minus_one")]
    pub api_key_max_seconds_to_live: i64,
    /// `[service_accounts] token_expiration_day_limit`; ≤0 = off (Grafana's default).
    #[serde(default = "minus_one")]
    pub token_expiration_day_limit: i64,
    /// Hide version and commit in `/api/health` (anonymous `hide_version`).
    #[serde(default)]
    pub hide_version: bool,
    /// Override the 11.6+ start-up migration of every key (default: on from 11.6). Turning
    /// it off models keys whose automatic migration failed, which 12.1 then rejects.
    #[serde(default)]
    pub auto_migrate_on_start: Option<bool>,
}

fn minus_one() -> i64 {
    -1
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            api_key_max_seconds_to_live: -1,
            token_expiration_day_limit: -1,
            hide_version: false,
            auto_migrate_on_start: None,
        }
    }
}

/// An org of an instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgSpec {
    /// Org id (1 is Grafana's default org).
    pub id: i64,
    /// Org name.
    pub name: String,
}

/// A user that can log in with basic auth.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    /// Login name.
    pub login: String,
    /// Basic-auth password.
    pub password: String,
    /// Email; defaults to `<login>@example.invalid`.
    #[serde(default)]
    pub email: Option<String>,
    /// Grafana server admin flag.
    #[serde(default)]
    pub is_grafana_admin: bool,
    /// Role per org id (keys are org ids as strings, as JSON requires).
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// RBAC fixed roles granted per org id on top of the basic role, e.g.
    /// `{"1": ["fixed:serviceaccounts:writer"]}` for an Editor allowed to manage service
    /// accounts. Known: `fixed:serviceaccounts:{reader,creator,writer}`,
    /// `fixed:apikeys:{reader,writer}`.
    #[serde(default)]
    pub fixed_roles: BTreeMap<String, Vec<String>>,
}

/// A legacy API key.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeySpec {
    /// Key name (unique per org across keys and tokens).
    pub name: String,
    /// `Viewer`, `Editor` or `Admin`.
    pub role: String,
    /// Owning org; defaults to 1.
    #[serde(default = "default_org")]
    pub org_id: i64,
    /// Expiry (relative or absolute); absent = never.
    #[serde(default)]
    pub expires: Option<String>,
    /// Last use (relative, e.g. `-3h`, or absolute); absent = never used.
    #[serde(default)]
    pub last_used: Option<String>,
    /// The `k` part of the key; generated from the seed when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Already migrated: the key is a token of `sa-autogen-<name>`.
    #[serde(default)]
    pub migrated: bool,
}

fn default_org() -> i64 {
    1
}

/// An existing service account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountSpec {
    /// Display name.
    pub name: String,
    /// `None`, `Viewer`, `Editor` or `Admin`; defaults to `Viewer`.
    #[serde(default)]
    pub role: Option<String>,
    /// Owning org; defaults to 1.
    #[serde(default = "default_org")]
    pub org_id: i64,
    /// Disabled accounts' tokens fail with `identity.disabled`.
    #[serde(default)]
    pub is_disabled: bool,
    /// Existing tokens.
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
}

/// An existing service-account token.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSpec {
    /// Token name (unique per org across keys and tokens).
    pub name: String,
    /// Expiry (relative or absolute); absent = never.
    #[serde(default)]
    pub expires: Option<String>,
    /// Last use (relative or absolute); absent = never used.
    #[serde(default)]
    pub last_used: Option<String>,
    /// Created (relative or absolute); defaults to the start time.
    #[serde(default)]
    pub created: Option<String>,
    /// The 32-character secret; generated from the seed when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Already revoked by secret scanning.
    #[serde(default)]
    pub revoked: bool,
}

// Only fields that are not secret: a fleet printed with `{:?}` never shows a seeded password.
debug_listing_only!(UserSpec {
    login,
    is_grafana_admin,
    roles
});

// Only fields that are not secret: a fleet printed with `{:?}` never shows a seeded key secret.
debug_listing_only!(ApiKeySpec {
    name,
    role,
    org_id,
    migrated
});

// Only fields that are not secret: a fleet printed with `{:?}` never shows a seeded token secret.
debug_listing_only!(TokenSpec {
    name,
    expires,
    revoked
});

/// A dashboard folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FolderSpec {
    /// Folder uid.
    pub uid: String,
    /// Folder title.
    pub title: String,
    /// Owning org; defaults to 1.
    #[serde(default = "default_org")]
    pub org_id: i64,
}

impl FleetSpec {
    /// Parses fleet JSON.
    pub fn from_json(text: &str) -> Result<Self, FleetError> {
        let mut document = serde_json::Deserializer::from_str(text);
        let fleet = serde_path_to_error::deserialize(&mut document)
            .map_err(|error| parse_error(Some(error.path()), error.inner()))?;
        document.end().map_err(|error| parse_error(None, &error))?;
        Ok(fleet)
    }

    /// Reads and parses a fleet file.
    pub fn from_path(path: &std::path::Path) -> Result<Self, FleetError> {
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// The fleet shipped with the crate.
    pub fn sample() -> Result<Self, FleetError> {
        Self::from_json(SAMPLE_FLEET_JSON)
    }
}

/// Every field name of the fleet format: the only words of the file a parse error repeats.
const FIELD_NAMES: &[&str] = &[
    "seed",
    "workspaces",
    "kind",
    "id",
    "region",
    "name",
    "description",
    "status",
    "tags",
    "version",
    "settings",
    "orgs",
    "users",
    "apiKeys",
    "serviceAccounts",
    "folders",
    "apiKeyMaxSecondsToLive",
    "tokenExpirationDayLimit",
    "hideVersion",
    "autoMigrateOnStart",
    "login",
    "password",
    "email",
    "isGrafanaAdmin",
    "roles",
    "fixedRoles",
    "role",
    "orgId",
    "expires",
    "lastUsed",
    "secret",
    "migrated",
    "isDisabled",
    "tokens",
    "created",
    "revoked",
    "uid",
    "title",
];

/// A [`FleetError::Parse`] built only from the fleet format's own words, the error's
/// position and the path's indices.
fn parse_error(path: Option<&serde_path_to_error::Path>, error: &serde_json::Error) -> FleetError {
    use serde_path_to_error::Segment;
    let mut shown = String::new();
    for segment in path.into_iter().flat_map(|path| path.iter()) {
        match segment {
            Segment::Seq { index } => shown.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !shown.is_empty() {
                    shown.push('.');
                }
                shown.push_str(if FIELD_NAMES.contains(&key.as_str()) {
                    key
                } else {
                    "?"
                });
            }
            Segment::Unknown => shown.push_str(".?"),
        }
    }
    if shown.is_empty() {
        shown.push_str("the top level");
    }
    FleetError::Parse {
        problem: parse_problem(error),
        path: shown,
        line: error.line(),
        column: error.column(),
    }
}

/// serde_json's message without any quoted input. Syntax messages are fixed texts; data
/// messages keep only the part that comes from the format (`missing field `name``, what was
/// expected), and a message of unknown shape (a custom one) becomes a plain "invalid value".
fn parse_problem(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(text, _)| text);
    if !error.is_data() {
        return message.to_string();
    }
    // What was expected comes from the format; keep it only when the input cannot have
    // contributed a second ", expected " that would make the split ambiguous.
    let expected = match message.split_once(", expected ") {
        Some((_, expected)) if !expected.contains(", expected ") => {
            format!(", expected {expected}")
        }
        _ => String::new(),
    };
    let missing_field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
        .filter(|field| FIELD_NAMES.contains(field));
    if let Some(field) = missing_field {
        format!("missing field `{field}`")
    } else if message.starts_with("unknown field ") {
        format!("unknown field{expected}")
    } else if message.starts_with("duplicate field ") {
        "a field appears twice".to_string()
    } else if message.starts_with("unknown variant ") {
        format!("unknown variant{expected}")
    } else if message.starts_with("invalid type: ") {
        format!("wrong type{expected}")
    } else if message.starts_with("invalid length ") {
        format!("wrong number of elements{expected}")
    } else if message.starts_with("invalid value: ") {
        format!("invalid value{expected}")
    } else {
        "invalid value".to_string()
    }
}

/// Resolves a fleet-file time (`"-2d"`, `"30d"`, `"never"`, RFC 3339) against `now`;
/// `Ok(None)` means "never".
pub fn resolve_time(text: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, FleetError> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if let Ok(absolute) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(Some(absolute.with_timezone(&Utc)));
    }
    let invalid = || FleetError::InvalidExpiry(text.to_string());
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let unit_start = body
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (digits, unit) = body.split_at(unit_start);
    let amount: i64 = digits.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid()),
    };
    let seconds = amount.checked_mul(seconds_per_unit).ok_or_else(invalid)?;
    let offset =
        Duration::try_seconds(if negative { -seconds } else { seconds }).ok_or_else(invalid)?;
    now.checked_add_signed(offset).map(Some).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_a_fleet_hides_passwords_and_secrets() {
        let secret = "Zq7Xw2Lm9Pa4Rt6Yu8Io1As3Df5Gh0Jk";
        let fleet = FleetSpec::from_json(&format!(
            r#"{{"workspaces": [{{"kind": "selfHosted", "id": "dbg", "version": "11.5.0",
                "users": [{{"login": "admin", "password": "hunter2-password"}}],
                "apiKeys": [{{"name": "k", "role": "Admin", "secret": "{secret}"}}],
                "serviceAccounts": [{{"name": "sa", "tokens": [{{"name": "t", "secret": "{secret}"}}]}}]}}]}}"#
        ))
        .unwrap();
        let printed = format!("{fleet:?}");
        assert!(printed.contains("admin") && printed.contains("sa"));
        assert!(!printed.contains("hunter2-password"));
        assert!(!printed.contains(secret));
    }

    const SECRET: &str = "Zq7Xw2Lm9Pa4Rt6Yu8Io1As3Df5Gh0Jk";
    const PASSWORD: &str = "hunter2-password";

    /// A workspace with the seeded secret and password, plus `extra` members.
    fn fleet_with(extra: &str) -> String {
        format!(
            r#"{{"workspaces": [{{"kind": "selfHosted", "id": "p", "version": "11.5.0",
                "users": [{{"login": "admin", "password": "{PASSWORD}"}}],
                "apiKeys": [{{"name": "k", "role": "Admin", "secret": "{SECRET}"}}]{extra}}}]}}"#
        )
    }

    #[test]
    fn parse_errors_name_the_place_but_never_quote_a_seeded_secret_or_password() {
        let cases = [
            (
                fleet_with(&format!(r#", "orgs": [{{"id": "{SECRET}", "name": "o"}}]"#)),
                "wrong type, expected i64 at workspaces[0].orgs[0].id",
            ),
            (
                fleet_with("").replace(
                    r#""login": "admin","#,
                    &format!(r#""login": "admin", "isGrafanaAdmin": "{PASSWORD}","#),
                ),
                "wrong type, expected a boolean at workspaces[0].users[0].isGrafanaAdmin",
            ),
            (
                fleet_with(&format!(r#", "{SECRET}": 1"#)),
                "unknown field, expected one of `kind`",
            ),
            (
                fleet_with(&format!(r#", "tags": {{"{PASSWORD}": 5}}"#)),
                "wrong type, expected a string at workspaces[0].tags.?",
            ),
            (
                fleet_with("").replace(r#""selfHosted""#, &format!(r#""{PASSWORD}""#)),
                "unknown variant, expected `amg` or `selfHosted` at workspaces[0].kind",
            ),
            (
                fleet_with("").replace("11.5.0", SECRET),
                "invalid value at workspaces[0].version",
            ),
            (
                fleet_with(&format!(r#", "folders": [{{"uid": "{SECRET}\x"}}]"#)),
                "invalid escape at workspaces[0].folders[0].uid",
            ),
            (
                format!("{} {SECRET}", fleet_with("")),
                "trailing characters at the top level",
            ),
            (
                fleet_with("").replace(r#""role": "Admin", "#, ""),
                "missing field `role` at workspaces[0].apiKeys[0]",
            ),
        ];
        for (text, wanted) in cases {
            let error = FleetSpec::from_json(&text).unwrap_err().to_string();
            assert!(error.contains(wanted), "{error:?} lacks {wanted:?}");
            assert!(error.contains("(line "), "{error:?} has no position");
            assert!(
                !error.contains(SECRET) && !error.contains(PASSWORD),
                "{error:?} quotes a seeded secret"
            );
        }
    }

    #[test]
    fn every_field_of_the_fleet_format_may_be_named_in_a_parse_error() {
        let fleet = FleetSpec::from_json(&fleet_with(
            r#", "orgs": [{"id": 1, "name": "o"}], "folders": [{"uid": "f", "title": "F"}],
               "serviceAccounts": [{"name": "sa", "tokens": [{"name": "t"}]}]"#,
        ))
        .unwrap();
        fn walk(value: &serde_json::Value, names: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(members) => {
                    for (name, member) in members {
                        names.push(name.clone());
                        if !matches!(name.as_str(), "tags" | "roles" | "fixedRoles") {
                            walk(member, names);
                        }
                    }
                }
                serde_json::Value::Array(items) => {
                    items.iter().for_each(|item| walk(item, names));
                }
                _ => {}
            }
        }
        let mut names = Vec::new();
        walk(&serde_json::to_value(&fleet).unwrap(), &mut names);
        assert!(names.len() >= FIELD_NAMES.len());
        for name in names {
            assert!(FIELD_NAMES.contains(&name.as_str()), "{name} missing");
        }
    }

    #[test]
    fn relative_and_absolute_times_resolve() {
        let now = DateTime::parse_from_rfc3339("2025-01-10T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            resolve_time("-2d", now).unwrap().unwrap().to_rfc3339(),
            "2025-01-08T00:00:00+00:00"
        );
        assert_eq!(
            resolve_time("12h", now).unwrap().unwrap().to_rfc3339(),
            "2025-01-10T12:00:00+00:00"
        );
        assert_eq!(resolve_time("never", now).unwrap(), None);
        assert_eq!(
            resolve_time("2026-01-01T00:00:00Z", now)
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(resolve_time("soon", now).is_err());
        assert!(resolve_time("5y", now).is_err());
    }

    #[test]
    fn the_sample_fleet_parses() {
        let fleet = FleetSpec::sample().unwrap();
        assert!(fleet.workspaces.len() >= 5);
    }
}
