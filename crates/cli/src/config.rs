//! The fleet config file of `keyshift plan`/`run`: which workspaces, with which policy.
//!
//! JSON, every part optional, unknown fields rejected (a typo must not silently select the
//! wrong fleet):
//!
//! ```json
//! {
//!   "amg": {"regions": ["eu-west-1", "us-east-1"], "tags": {"keyshift": "managed"}, "orgId": 1},
//!   "selfHosted": [
//!     {"url": "https://grafana.example.com", "adminSecretId": "grafana/admin", "orgId": 1}
//!   ],
//!   "policy": {"gracePeriod": "24h", "roles": {"maxRole": "Editor"}},
//!   "maxConcurrency": 4
//! }
//! ```
//!
//! `amg` selects every ACTIVE workspace of the listed regions that carries all `tags` (no tags:
//! every workspace); `selfHosted` lists Grafana instances with the Secrets Manager id of their
//! admin credential; `policy` is keyshift's rotation policy (see the core `Policy` type).

use std::collections::BTreeMap;
use std::path::Path;

use keyshift_core::model::{Policy, WorkspaceRef};
use serde::{Deserialize, Serialize};

use crate::exit::{CliError, read_text};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetConfig {
    /// AMG selection.
    #[serde(default)]
    pub amg: Option<AmgSelection>,
    /// Self-hosted Grafana instances.
    #[serde(default)]
    pub self_hosted: Vec<SelfHostedTarget>,
    /// The rotation and migration policy.
    #[serde(default)]
    pub policy: Policy,
    /// Credentials processed at once per workspace.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
}

/// Which AMG workspaces to manage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmgSelection {
    /// Regions to list.
    pub regions: Vec<String>,
    /// Tags a workspace must all carry.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Grafana org managed in each selected workspace.
    #[serde(default = "default_org_id")]
    pub org_id: i64,
}

fn default_org_id() -> i64 {
    1
}

/// One self-hosted Grafana.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelfHostedTarget {
    /// Base URL without `/api`.
    pub url: String,
    /// Secrets Manager id of the admin credential.
    pub admin_secret_id: String,
    /// The organisation.
    #[serde(default = "default_org_id")]
    pub org_id: i64,
}

impl FleetConfig {
    /// Reads and checks a config file; every problem names the file and the field.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = read_text(path)?;
        let config: FleetConfig = serde_json::from_str(&text).map_err(|error| {
            CliError::invalid_file(path.display().to_string(), error.to_string())
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(CliError::invalid_file(
                path.display().to_string(),
                problems.join("; "),
            ))
        }
    }

    /// Every semantic problem (invalid policy, target or selection), as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = self.policy.validate() {
            problems.push(error.to_string());
        }
        if let Some(amg) = &self.amg {
            if amg.regions.is_empty() {
                problems.push("amg.regions: list at least one region".to_owned());
            }
            for region in &amg.regions {
                if let Err(error) = WorkspaceRef::amg("g-0000000000", region.clone(), amg.org_id) {
                    problems.push(format!("amg.regions: {error}"));
                }
            }
        }
        for (index, target) in self.self_hosted.iter().enumerate() {
            if let Err(error) = target.workspace_ref() {
                problems.push(format!("selfHosted[{index}]: {error}"));
            }
        }
        if self.max_concurrency == Some(0) {
            problems.push("maxConcurrency: must be at least 1".to_owned());
        }
        problems
    }
}

impl SelfHostedTarget {
    /// The validated workspace reference.
    pub fn workspace_ref(&self) -> keyshift_core::Result<WorkspaceRef> {
        WorkspaceRef::self_hosted(self.url.clone(), self.admin_secret_id.clone(), self.org_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_is_valid() {
        let text = r#"{
          "amg": {"regions": ["eu-west-1", "us-east-1"], "tags": {"keyshift": "managed"}, "orgId": 1},
          "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin", "orgId": 1}],
          "policy": {"gracePeriod": "24h", "roles": {"maxRole": "Editor"}},
          "maxConcurrency": 4
        }"#;
        let config: FleetConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(config.self_hosted.len(), 1);
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        assert!(serde_json::from_str::<FleetConfig>(r#"{"selfhosted": []}"#).is_err());
        let config: FleetConfig = serde_json::from_str(
            r#"{"amg": {"regions": ["moon"]}, "selfHosted": [{"url": "ftp://x", "adminSecretId": "a"}], "maxConcurrency": 0}"#,
        )
        .unwrap();
        let problems = config.problems().join("\n");
        assert!(problems.contains("amg.regions"), "{problems}");
        assert!(problems.contains("selfHosted[0]"), "{problems}");
        assert!(problems.contains("maxConcurrency"), "{problems}");
    }
}
