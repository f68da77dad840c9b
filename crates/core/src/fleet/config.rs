//! The fleet config: which workspaces, with which policy. The same JSON is `keyshift
//! plan`/`run`/`fleet start --config` and the fleet-start Lambda's event.
//!
//! JSON, every part optional, unknown fields rejected (a typo must not silently select the
//! wrong fleet):
//!
//! ```json
//! {
//!   "amg": {"regions": ["eu-west-1", "us-east-1"], "tags": {"keyshift": "managed"}, "orgId": 1,
//!           "secretNames": {"g-0123456789": "prod-grafana"}},
//!   "accounts": [
//!     {"roleArn": "arn:aws:iam::210987654321:role/keyshift", "externalId": "keyshift-prod",
//!      "regions": ["eu-west-1"], "tags": {"keyshift": "managed"}}
//!   ],
//!   "selfHosted": [
//!     {"url": "https://grafana.example.com", "adminSecretId": "grafana/admin", "orgId": 1,
//!      "secretName": "ops-grafana"}
//!   ],
//!   "policy": {"gracePeriod": "24h", "roles": {"maxRole": "Editor"}},
//!   "maxConcurrency": 4,
//!   "startConcurrency": 10
//! }
//! ```
//!
//! `maxConcurrency` is how many credentials of one workspace are processed at once (the
//! state machine's Map); `startConcurrency` is how many executions fleet-start starts at once.
//! They are separate because one bounds load on a single Grafana and the other calls to Step
//! Functions.
//!
//! `amg` selects every ACTIVE workspace of the listed regions that carries all `tags` (no tags:
//! every workspace); each of `accounts` does the same in another AWS account, reached by
//! assuming its `roleArn` (with `externalId` when its trust policy requires one); `selfHosted` lists Grafana instances with the Secrets Manager id of their
//! admin credential; `policy` is keyshift's rotation policy (see the core `Policy` type).
//! `secretName` (self-hosted) and `secretNames` (AMG, by workspace id) set what stands for a
//! Grafana in its secrets' names instead of the slug of its URL or id, so a Grafana moved to a
//! new URL keeps its secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AssumeRole, Policy, WorkspaceRef};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetConfig {
    /// AMG selection.
    #[serde(default)]
    pub amg: Option<AmgSelection>,
    /// AMG selections in other AWS accounts, each reached through a role.
    #[serde(default)]
    pub accounts: Vec<AccountSelection>,
    /// Self-hosted Grafana instances.
    #[serde(default)]
    pub self_hosted: Vec<SelfHostedTarget>,
    /// The rotation and migration policy.
    #[serde(default)]
    pub policy: Policy,
    /// Credentials processed at once per workspace (the Map's MaxConcurrency), in local runs
    /// and in the executions fleet-start starts.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Executions fleet-start starts at once.
    #[serde(default)]
    pub start_concurrency: Option<u32>,
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
    /// The `secretName` of some workspaces, by workspace id (see
    /// [`SelfHostedTarget::secret_name`]).
    #[serde(default)]
    pub secret_names: BTreeMap<String, String>,
}

/// The AMG workspaces of another AWS account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSelection {
    /// The role to assume in that account.
    pub role_arn: String,
    /// The external id the role's trust policy requires, if any.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Regions to list.
    pub regions: Vec<String>,
    /// Tags a workspace must all carry.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Grafana org managed in each selected workspace.
    #[serde(default = "default_org_id")]
    pub org_id: i64,
}

impl AccountSelection {
    /// The role as the execution input carries it.
    pub fn assume_role(&self) -> AssumeRole {
        AssumeRole {
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }
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
    /// What stands for this Grafana in its secrets' names (default: the slug of its URL), so
    /// that moving it to a new URL keeps its secrets.
    #[serde(default)]
    pub secret_name: Option<String>,
}

impl FleetConfig {
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
            for (workspace_id, secret_name) in &amg.secret_names {
                let region = amg.regions.first().map_or("us-east-1", String::as_str);
                let checked = WorkspaceRef::amg(workspace_id.clone(), region, amg.org_id)
                    .and_then(|reference| reference.with_secret_name(Some(secret_name.clone())));
                if let Err(error) = checked {
                    problems.push(format!("amg.secretNames.{workspace_id}: {error}"));
                }
            }
        }
        for (index, account) in self.accounts.iter().enumerate() {
            let place = format!("accounts[{index}]");
            if let Err(error) = account.assume_role().validate(&place) {
                problems.push(error.to_string());
            }
            if account.regions.is_empty() {
                problems.push(format!("{place}.regions: list at least one region"));
            }
            for region in &account.regions {
                if let Err(error) =
                    WorkspaceRef::amg("g-0000000000", region.clone(), account.org_id)
                {
                    problems.push(format!("{place}.regions: {error}"));
                }
            }
        }
        for (index, target) in self.self_hosted.iter().enumerate() {
            if let Err(error) = target.workspace_ref() {
                problems.push(format!("selfHosted[{index}]: {error}"));
            }
        }
        problems.extend(self.shared_secret_names());
        if self.max_concurrency == Some(0) {
            problems.push("maxConcurrency: must be at least 1".to_owned());
        }
        if self.start_concurrency == Some(0) {
            problems.push("startConcurrency: must be at least 1".to_owned());
        }
        problems
    }
}

impl FleetConfig {
    /// Two targets of the same org with the same `secretName` would write the same secrets.
    fn shared_secret_names(&self) -> Vec<String> {
        let amg_org = self.amg.as_ref().map_or(1, |amg| amg.org_id);
        let amg_names = self.amg.iter().flat_map(|amg| {
            amg.secret_names
                .iter()
                .map(|(id, name)| (format!("amg.secretNames.{id}"), name, amg_org))
        });
        let self_hosted_names =
            self.self_hosted
                .iter()
                .enumerate()
                .filter_map(|(index, target)| {
                    target.secret_name.as_ref().map(|name| {
                        (
                            format!("selfHosted[{index}].secretName"),
                            name,
                            target.org_id,
                        )
                    })
                });
        let mut seen: BTreeMap<(&String, i64), String> = BTreeMap::new();
        let mut problems = Vec::new();
        for (place, name, org) in amg_names.chain(self_hosted_names) {
            match seen.get(&(name, org)) {
                Some(first) => problems.push(format!(
                    "{place}: {name:?} is already the secretName of {first} in org {org}; their secrets would collide"
                )),
                None => {
                    seen.insert((name, org), place);
                }
            }
        }
        problems
    }

    /// The `secretName` the config gives AMG workspace `workspace_id`, if any.
    pub fn amg_secret_name(&self, workspace_id: &str) -> Option<String> {
        self.amg
            .as_ref()
            .and_then(|amg| amg.secret_names.get(workspace_id).cloned())
    }
}

impl SelfHostedTarget {
    /// The validated workspace reference.
    pub fn workspace_ref(&self) -> crate::Result<WorkspaceRef> {
        WorkspaceRef::self_hosted(self.url.clone(), self.admin_secret_id.clone(), self.org_id)?
            .with_secret_name(self.secret_name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_is_valid() {
        let text = r#"{
          "amg": {"regions": ["eu-west-1", "us-east-1"], "tags": {"keyshift": "managed"}, "orgId": 1,
                  "secretNames": {"g-0123456789": "prod-grafana"}},
          "accounts": [{"roleArn": "arn:aws:iam::210987654321:role/keyshift", "externalId": "keyshift-prod",
                        "regions": ["eu-west-1"], "tags": {"keyshift": "managed"}}],
          "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin", "orgId": 1,
                          "secretName": "ops-grafana"}],
          "policy": {"gracePeriod": "24h", "roles": {"maxRole": "Editor"}},
          "maxConcurrency": 4
        }"#;
        let config: FleetConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(config.self_hosted.len(), 1);
        assert_eq!(config.accounts[0].org_id, 1);
        assert_eq!(
            config.accounts[0].assume_role().external_id.as_deref(),
            Some("keyshift-prod")
        );
        assert_eq!(
            config.self_hosted[0]
                .workspace_ref()
                .unwrap()
                .secret_name_part(),
            "ops-grafana"
        );
        assert_eq!(
            config.amg_secret_name("g-0123456789").as_deref(),
            Some("prod-grafana")
        );
    }

    #[test]
    fn bad_and_shared_secret_names_are_named() {
        let config: FleetConfig = serde_json::from_str(
            r#"{"amg": {"regions": ["eu-west-1"], "secretNames": {"g-0123456789": "bad name", "nope": "x"}},
                "selfHosted": [
                  {"url": "https://a.example.com", "adminSecretId": "a", "secretName": "ops"},
                  {"url": "https://b.example.com", "adminSecretId": "b", "secretName": "ops"},
                  {"url": "https://c.example.com", "adminSecretId": "c", "secretName": "ops", "orgId": 2},
                  {"url": "https://d.example.com", "adminSecretId": "d", "secretName": "/x"}
                ]}"#,
        )
        .unwrap();
        let problems = config.problems();
        let joined = problems.join("\n");
        let has = |place: &str, text: &str| {
            problems
                .iter()
                .any(|problem| problem.starts_with(place) && problem.contains(text))
        };
        assert!(
            has("amg.secretNames.g-0123456789: ", "workspace.secretName"),
            "{joined}"
        );
        assert!(
            has("amg.secretNames.nope: ", "workspace.workspaceId"),
            "{joined}"
        );
        assert!(
            has(
                "selfHosted[1].secretName: ",
                "is already the secretName of selfHosted[0].secretName in org 1"
            ),
            "{joined}"
        );
        assert!(
            !joined.contains("selfHosted[2]"),
            "another org is no collision: {joined}"
        );
        assert!(has("selfHosted[3]: ", "workspace.secretName"), "{joined}");
        assert_eq!(problems.len(), 4, "{joined}");
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
