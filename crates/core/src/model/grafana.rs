//! The Grafana objects keyshift reads and changes: legacy keys, service accounts, tokens.
//!
//! These are keyshift's view of Grafana, not Grafana's wire format: adapters translate
//! Grafana's JSON (and its quirks per version) into these types.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::role::Role;
use super::workspace::OrgId;
use crate::error::{KeyshiftError, Result};
use crate::secret::SecretString;

/// The name prefix Grafana gives service accounts it creates when migrating a legacy key.
pub const AUTOGEN_ACCOUNT_PREFIX: &str = "sa-autogen-";

/// A legacy API key as listed by `GET /api/auth/keys` (never includes the key string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyApiKey {
    /// Key id; after an in-place migration the same id becomes the token id.
    pub id: i64,
    /// Key name, unique per org (shared with token names).
    pub name: String,
    /// The key's role.
    pub role: Role,
    /// When the key stops working; `None` means never.
    #[serde(default)]
    pub expiration: Option<DateTime<Utc>>,
    /// Last use, when Grafana reports it (≥ ~10.x).
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl LegacyApiKey {
    /// Grafana keeps a key listed while `expires >= now`, so it is expired strictly after.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration.is_some_and(|expiration| expiration < now)
    }
}

/// A service account as returned by search or get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Numeric id (what the token endpoints take).
    pub id: i64,
    /// UID on newer Grafana, absent on older.
    #[serde(default)]
    pub uid: Option<String>,
    /// Display name, unique per org (case-insensitively, via the login).
    pub name: String,
    /// Login (`sa-<name>` or `sa-autogen-<org>-<key>`).
    #[serde(default)]
    pub login: String,
    /// The organisation the account lives in.
    pub org_id: OrgId,
    /// The account's basic role.
    pub role: Role,
    /// Disabled accounts' tokens do not authenticate.
    #[serde(default)]
    pub is_disabled: bool,
    /// Number of tokens, as Grafana counts them (expired ones included).
    #[serde(default)]
    pub tokens: i64,
}

impl ServiceAccount {
    /// For accounts Grafana created from a legacy key, the key's name.
    pub fn autogen_key_name(&self) -> Option<&str> {
        self.name.strip_prefix(AUTOGEN_ACCOUNT_PREFIX)
    }
}

/// A service-account token as listed (never includes the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountToken {
    /// Token id (shared id space with legacy keys: a migrated key keeps its id).
    pub id: i64,
    /// Token name, unique per org.
    pub name: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Expiry; `None` means the token never expires.
    #[serde(default)]
    pub expiration: Option<DateTime<Utc>>,
    /// Last use, refreshed by Grafana at most every few minutes.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Grafana's own expired flag (computed at list time).
    #[serde(default)]
    pub has_expired: bool,
    /// Revoked by secret scanning; there is no public revoke API.
    #[serde(default)]
    pub is_revoked: bool,
}

impl ServiceAccountToken {
    /// Expired by Grafana's flag or by the clock (the flag is computed at list time, the
    /// clock may have moved since).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.has_expired || self.expiration.is_some_and(|expiration| expiration <= now)
    }

    /// Whether the token can still authenticate.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.is_revoked && !self.is_expired(now)
    }

    /// Time left before expiry; `None` when the token never expires.
    pub fn remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.expiration.map(|expiration| expiration - now)
    }

    /// How long ago the token was created.
    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        now - self.created
    }
}

/// A token just created: the only moment its secret is visible. Deliberately not
/// `Serialize`; step outputs carry a [`crate::ports::SealedToken`] instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// Token id.
    pub id: i64,
    /// Token name.
    pub name: String,
    /// The secret (`glsa_…`).
    pub key: SecretString,
    /// Expiry derived from the requested TTL, when known.
    pub expiration: Option<DateTime<Utc>>,
}

/// The organisation a credential belongs to (`GET /api/org`), used to check a token works
/// in the intended org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    /// Org id.
    pub id: OrgId,
    /// Org name.
    pub name: String,
}

/// Effective permissions of a credential (`GET /api/access-control/user/permissions`):
/// action → scopes. Used to verify that a token holds its intended role without relying on
/// `/api/user`, which is unreliable for service accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Permissions(pub BTreeMap<String, Vec<String>>);

impl Permissions {
    /// Whether the credential may perform `action` (on any scope).
    pub fn allows(&self, action: &str) -> bool {
        self.0.contains_key(action)
    }

    /// The highest basic role these permissions imply. Heuristic on actions Grafana grants
    /// to each basic role: Admin manages service accounts / org users, Editor creates
    /// dashboards or folders, Viewer reads dashboards or folders.
    pub fn implied_role(&self) -> Role {
        const ADMIN_ACTIONS: [&str; 3] = [
            "serviceaccounts:write",
            "serviceaccounts:create",
            "org.users:add",
        ];
        const EDITOR_ACTIONS: [&str; 2] = ["dashboards:create", "folders:create"];
        const VIEWER_ACTIONS: [&str; 2] = ["dashboards:read", "folders:read"];
        if ADMIN_ACTIONS.iter().any(|action| self.allows(action)) {
            Role::Admin
        } else if EDITOR_ACTIONS.iter().any(|action| self.allows(action)) {
            Role::Editor
        } else if VIEWER_ACTIONS.iter().any(|action| self.allows(action)) {
            Role::Viewer
        } else {
            Role::None
        }
    }
}

/// What bulk migration reported. Before 10.1 Grafana answers only a message, so the counts
/// are unknown (`None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Keys considered, when reported.
    #[serde(default)]
    pub total: Option<u64>,
    /// Keys migrated, when reported.
    #[serde(default)]
    pub migrated: Option<u64>,
    /// Keys that failed, when reported.
    #[serde(default)]
    pub failed: Option<u64>,
    /// Ids of the keys that failed.
    #[serde(default)]
    pub failed_key_ids: Vec<i64>,
    /// Grafana's per-key failure messages (key name and error; no secrets).
    #[serde(default)]
    pub failed_details: Vec<String>,
}

/// How keyshift authenticates to a Grafana: a bearer token (AMG bootstrap key/token, a token
/// under verification, a self-hosted admin token) or Basic credentials (self-hosted admin user).
#[derive(Clone, PartialEq, Eq)]
pub enum GrafanaCredential {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The admin user name (not secret).
        username: String,
        /// The password.
        password: SecretString,
    },
}

impl fmt::Debug for GrafanaCredential {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => formatter.write_str("Bearer([REDACTED])"),
            Self::Basic { username, .. } => write!(formatter, "Basic({username}:[REDACTED])"),
        }
    }
}

#[derive(Deserialize)]
struct AdminSecretJson {
    #[serde(default)]
    token: Option<SecretString>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<SecretString>,
}

impl GrafanaCredential {
    /// Reads a self-hosted admin credential as stored in Secrets Manager: either JSON
    /// `{"token": "glsa_…"}`, JSON `{"username": "admin", "password": "…"}`, or a bare token
    /// string. Errors never echo the value.
    pub fn from_admin_secret(value: &SecretString) -> Result<Self> {
        let text = value.expose().trim();
        let invalid = |reason: &str| KeyshiftError::invalid_input("adminSecret", reason.to_owned());
        if text.is_empty() {
            return Err(invalid("the admin secret is empty"));
        }
        if text.starts_with('{') {
            let parsed: AdminSecretJson = serde_json::from_str(text).map_err(|_| {
                invalid("the admin secret is JSON but not {token} or {username, password}")
            })?;
            return match parsed {
                AdminSecretJson {
                    token: Some(token), ..
                } if !token.is_empty() => Ok(Self::Bearer(token)),
                AdminSecretJson {
                    username: Some(username),
                    password: Some(password),
                    ..
                } if !username.is_empty() && !password.is_empty() => {
                    Ok(Self::Basic { username, password })
                }
                _ => Err(invalid(
                    "the admin secret JSON needs a token or a username and password",
                )),
            };
        }
        if text.chars().any(char::is_whitespace) {
            return Err(invalid("a bare admin token must not contain whitespace"));
        }
        Ok(Self::Bearer(SecretString::new(text)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn legacy_key_expiry_follows_grafana() {
        let mut key = LegacyApiKey {
            id: 1,
            name: "ci".into(),
            role: Role::Editor,
            expiration: Some(at(10)),
            last_used_at: None,
        };
        assert!(!key.is_expired(at(9)));
        assert!(!key.is_expired(at(10)));
        assert!(key.is_expired(at(11)));
        key.expiration = None;
        assert!(!key.is_expired(at(31)));
    }

    #[test]
    fn legacy_key_parses_grafana_list_item_without_optional_fields() {
        let key: LegacyApiKey =
            serde_json::from_str(r#"{"id":3,"name":"ci","role":"Admin"}"#).unwrap();
        assert_eq!(key.expiration, None);
        assert_eq!(key.role, Role::Admin);
    }

    #[test]
    fn token_liveness_and_timing() {
        let token = ServiceAccountToken {
            id: 5,
            name: "t".into(),
            created: at(1),
            expiration: Some(at(20)),
            last_used_at: None,
            has_expired: false,
            is_revoked: false,
        };
        assert!(token.is_live(at(19)));
        assert!(!token.is_live(at(20)));
        assert_eq!(token.remaining(at(13)), Some(Duration::days(7)));
        assert_eq!(token.age(at(11)), Duration::days(10));
        let revoked = ServiceAccountToken {
            is_revoked: true,
            ..token.clone()
        };
        assert!(!revoked.is_live(at(2)));
        let flagged = ServiceAccountToken {
            has_expired: true,
            ..token
        };
        assert!(!flagged.is_live(at(2)));
    }

    #[test]
    fn autogen_accounts_expose_their_key_name() {
        let account = ServiceAccount {
            id: 2,
            uid: None,
            name: "sa-autogen-ci-deploy".into(),
            login: "sa-autogen-1-ci-deploy".into(),
            org_id: 1,
            role: Role::Editor,
            is_disabled: false,
            tokens: 1,
        };
        assert_eq!(account.autogen_key_name(), Some("ci-deploy"));
    }

    #[test]
    fn minted_token_debug_hides_the_key() {
        let minted = MintedToken {
            id: 1,
            name: "keyshift-x".into(),
            key: SecretString::new("glsa_supersecret"),
            expiration: None,
        };
        let debug = format!("{minted:?}");
        assert!(!debug.contains("supersecret"), "{debug}");
    }

    #[test]
    fn permissions_imply_roles() {
        let permissions = |actions: &[&str]| {
            Permissions(
                actions
                    .iter()
                    .map(|action| ((*action).to_owned(), vec!["*".to_owned()]))
                    .collect(),
            )
        };
        assert_eq!(permissions(&[]).implied_role(), Role::None);
        assert_eq!(
            permissions(&["dashboards:read"]).implied_role(),
            Role::Viewer
        );
        assert_eq!(
            permissions(&["dashboards:read", "dashboards:create"]).implied_role(),
            Role::Editor
        );
        assert_eq!(
            permissions(&["dashboards:create", "serviceaccounts:write"]).implied_role(),
            Role::Admin
        );
    }

    #[test]
    fn admin_secret_forms() {
        let bearer = GrafanaCredential::from_admin_secret(&SecretString::new("glsa_abc")).unwrap();
        assert_eq!(
            bearer,
            GrafanaCredential::Bearer(SecretString::new("glsa_abc"))
        );
        let json_token =
            GrafanaCredential::from_admin_secret(&SecretString::new(r#"{"token":"t1"}"#)).unwrap();
        assert_eq!(
            json_token,
            GrafanaCredential::Bearer(SecretString::new("t1"))
        );
        let basic = GrafanaCredential::from_admin_secret(&SecretString::new(
            r#"{"username":"admin","password":"pw"}"#,
        ))
        .unwrap();
        assert_eq!(format!("{basic:?}"), "Basic(admin:[REDACTED])");
        for bad in ["", "{\"password\":\"sekrit\"}", "two words", "{broken"] {
            let error = GrafanaCredential::from_admin_secret(&SecretString::new(bad)).unwrap_err();
            assert_eq!(error.asl_name(), "Input.Invalid");
            assert!(!error.to_string().contains("sekrit"));
        }
    }
}
