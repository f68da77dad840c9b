//! Grafana organisation roles and the least-privilege cap keyshift applies to them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};

use crate::error::KeyshiftError;
use crate::model::workspace::WorkspaceRef;

/// A Grafana basic organisation role. Ordered by privilege so capping is a `min`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    SerializeDisplay,
    DeserializeFromStr,
)]
pub enum Role {
    /// No basic role (Grafana ≥ 10 allows service accounts without one).
    None,
    /// Read-only access; Grafana's default for new service accounts.
    #[default]
    Viewer,
    /// Can create and change dashboards, folders, alerts.
    Editor,
    /// Org administrator: can manage users, service accounts and tokens.
    Admin,
}

impl Role {
    /// The spelling Grafana's HTTP API uses (`"Editor"`).
    pub fn as_grafana(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Viewer => "Viewer",
            Self::Editor => "Editor",
            Self::Admin => "Admin",
        }
    }

    /// The spelling the AMG control plane uses (`"EDITOR"`); AMG has no `None` role.
    pub fn as_amg(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Viewer => Some("VIEWER"),
            Self::Editor => Some("EDITOR"),
            Self::Admin => Some("ADMIN"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_grafana())
    }
}

impl FromStr for Role {
    type Err = KeyshiftError;

    /// Accepts both Grafana (`Editor`) and AMG (`EDITOR`) spellings, since keyshift reads
    /// roles from both APIs.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            _ => Err(KeyshiftError::invalid_input(
                "role",
                format!(
                    "{:?} is not one of None, Viewer, Editor, Admin",
                    text.chars().take(32).collect::<String>()
                ),
            )),
        }
    }
}

fn default_max_role() -> Role {
    Role::Editor
}

/// Least privilege for migrated and rotated credentials: a legacy Admin key does not
/// automatically become an Admin service account unless the operator allows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePolicy {
    /// The highest role keyshift will give a service account. Default `Editor`; set `Admin`
    /// to allow admin credentials to be migrated as such.
    #[serde(default = "default_max_role")]
    pub max_role: Role,
}

impl Default for RolePolicy {
    fn default() -> Self {
        Self {
            max_role: default_max_role(),
        }
    }
}

impl RolePolicy {
    /// The role actually granted for a requested one.
    pub fn cap(&self, requested: Role) -> Role {
        requested.min(self.max_role)
    }

    /// The role a credential stored in `secret_id` of `workspace` gets: the capped one, except
    /// keyshift's own adopted admin credential, which keeps what it holds
    /// ([`WorkspaceRef::is_adopted_admin_secret`]). The planner, create-sa and native rotation
    /// all ask here, so the one exception cannot differ between them.
    pub fn granted(
        &self,
        workspace: &WorkspaceRef,
        account_name: &str,
        secret_id: &str,
        requested: Role,
    ) -> Role {
        if workspace.is_adopted_admin_secret(account_name, secret_id) {
            requested
        } else {
            self.cap(requested)
        }
    }

    /// Whether `role` is above the policy, so the plan can explain why it was lowered.
    pub fn would_lower(&self, requested: Role) -> bool {
        self.cap(requested) != requested
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege() {
        assert!(
            Role::None < Role::Viewer && Role::Viewer < Role::Editor && Role::Editor < Role::Admin
        );
    }

    #[test]
    fn default_policy_caps_admin_to_editor() {
        let policy = RolePolicy::default();
        let table = [
            (Role::None, Role::None),
            (Role::Viewer, Role::Viewer),
            (Role::Editor, Role::Editor),
            (Role::Admin, Role::Editor),
        ];
        for (requested, granted) in table {
            assert_eq!(policy.cap(requested), granted, "{requested}");
        }
        assert!(policy.would_lower(Role::Admin));
        assert!(!policy.would_lower(Role::Viewer));
    }

    #[test]
    fn admin_only_when_allowed() {
        let policy = RolePolicy {
            max_role: Role::Admin,
        };
        assert_eq!(policy.cap(Role::Admin), Role::Admin);
        let strict = RolePolicy {
            max_role: Role::Viewer,
        };
        assert_eq!(strict.cap(Role::Editor), Role::Viewer);
    }

    #[test]
    fn parses_both_spellings_and_rejects_others() {
        assert_eq!("EDITOR".parse::<Role>().unwrap(), Role::Editor);
        assert_eq!(
            serde_json::from_str::<Role>(r#""Admin""#).unwrap(),
            Role::Admin
        );
        assert_eq!(serde_json::to_string(&Role::Viewer).unwrap(), r#""Viewer""#);
        assert_eq!(
            "Superuser".parse::<Role>().unwrap_err().asl_name(),
            "Input.Invalid"
        );
        assert_eq!(Role::None.as_amg(), None);
        assert_eq!(Role::Admin.as_amg(), Some("ADMIN"));
    }
}
