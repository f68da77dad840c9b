//! Which Grafana a piece of work targets.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::naming::validate_secret_name_part;

/// Grafana organisation ids are int64 in Grafana's API.
pub type OrgId = i64;

/// Grafana's default organisation; almost every installation only has this one.
pub const DEFAULT_ORG_ID: OrgId = 1;

fn default_org_id() -> OrgId {
    DEFAULT_ORG_ID
}

/// One Grafana organisation keyshift works on: the unit of one state-machine execution.
///
/// JSON: `{"kind":"amg","workspaceId":"g-0123456789","region":"eu-west-1","orgId":1}` or
/// `{"kind":"selfHosted","url":"https://grafana.example.com","adminSecretId":"grafana/admin"}`,
/// either with an optional `"secretName":"ops-grafana"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRef {
    /// Where the Grafana lives and how keyshift gets admin access to it.
    #[serde(flatten)]
    pub target: WorkspaceTarget,
    /// The Grafana organisation inside that instance (tokens belong to exactly one org).
    #[serde(default = "default_org_id")]
    pub org_id: OrgId,
    /// The name this Grafana goes by in its secrets' names (the `{workspace}` part of
    /// `policy.secretNameTemplate`) instead of the slug of its URL or workspace id, so a
    /// Grafana that moves to a new URL keeps its secrets. Absent: the slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The IAM role of another AWS account through which this AMG workspace is reached, as
    /// fleet-start (or `keyshift plan`/`run`/`status`) found it (config `accounts`). Absent:
    /// the caller's own credentials. It travels in every step's input, and every step that
    /// calls the AMG control plane opens it under this role
    /// ([`crate::ports::AmgConnector`]), so the workspace's own account sees the calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
}

/// An IAM role to assume (STS AssumeRole) to reach workspaces of another AWS account.
/// JSON: `{"roleArn": "arn:aws:iam::123456789012:role/keyshift", "externalId": "…"}`. The
/// external id is the confused-deputy guard AWS recommends; it is not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The external id the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

static ROLE_ARN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$").ok()
});
static EXTERNAL_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$").ok());

impl AssumeRole {
    /// Rejects what STS would refuse anyway, named by `field`, so a config typo is reported
    /// when the config is read instead of as an AssumeRole failure on every tick.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !matches(&ROLE_ARN, &self.role_arn) {
            return Err(KeyshiftError::invalid_input(
                format!("{field}.roleArn"),
                format!(
                    "{:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                    truncate(&self.role_arn)
                ),
            ));
        }
        if let Some(external_id) = &self.external_id
            && !matches(&EXTERNAL_ID, external_id)
        {
            return Err(KeyshiftError::invalid_input(
                format!("{field}.externalId"),
                "must be 2-1224 characters of letters, digits and +=,.@:/_-",
            ));
        }
        Ok(())
    }

    /// The account id in the role ARN, for summaries and logs.
    pub fn account_id(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }
}

/// The two kinds of Grafana keyshift manages; they differ in how admin access is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[serde(rename_all_fields = "camelCase")]
pub enum WorkspaceTarget {
    /// An Amazon Managed Grafana workspace: admin access is a short-lived credential minted
    /// through the AMG control plane for each execution.
    Amg {
        /// AMG workspace id, `g-` and ten hex digits.
        workspace_id: String,
        /// AWS region of the workspace, e.g. `eu-west-1`.
        region: String,
    },
    /// A self-hosted Grafana reached over HTTP(S): admin access is a credential kept in
    /// Secrets Manager.
    SelfHosted {
        /// Base URL of Grafana (scheme, host, optional port and sub-path), without `/api`.
        url: String,
        /// Secrets Manager id of the admin credential (a token or a username/password JSON).
        admin_secret_id: String,
    },
}

static AMG_WORKSPACE_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^g-[0-9a-f]{10}$").ok());
static AWS_REGION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$").ok());
static BASE_URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$",
    )
    .ok()
});

fn matches(pattern: &LazyLock<Option<Regex>>, text: &str) -> bool {
    pattern.as_ref().is_some_and(|regex| regex.is_match(text))
}

impl WorkspaceRef {
    /// Whether `secret_id` is this self-hosted workspace's admin secret and `account_name` the
    /// `keyshift-admin` account `keyshift admin adopt` stored in it: keyshift's own admin
    /// credential, the one the policy's role cap must not lower (a capped admin token could no
    /// longer manage the workspace, and the next run would have no admin). Any other account of
    /// that name, or that account under another secret, is capped like the rest.
    pub fn is_adopted_admin_secret(&self, account_name: &str, secret_id: &str) -> bool {
        matches!(
            &self.target,
            WorkspaceTarget::SelfHosted { admin_secret_id, .. }
                if account_name == crate::naming::ADMIN_ACCOUNT_NAME && admin_secret_id == secret_id
        )
    }

    /// Builds and validates an AMG reference, so callers never hold an invalid one.
    pub fn amg(
        workspace_id: impl Into<String>,
        region: impl Into<String>,
        org_id: OrgId,
    ) -> Result<Self> {
        Self::validated(
            WorkspaceTarget::Amg {
                workspace_id: workspace_id.into(),
                region: region.into(),
            },
            org_id,
        )
    }

    /// Builds and validates a self-hosted reference.
    pub fn self_hosted(
        url: impl Into<String>,
        admin_secret_id: impl Into<String>,
        org_id: OrgId,
    ) -> Result<Self> {
        Self::validated(
            WorkspaceTarget::SelfHosted {
                url: url.into(),
                admin_secret_id: admin_secret_id.into(),
            },
            org_id,
        )
    }

    /// A reference to `target` with default secret names and no role to assume, validated.
    fn validated(target: WorkspaceTarget, org_id: OrgId) -> Result<Self> {
        let reference = Self {
            target,
            org_id,
            secret_name: None,
            assume_role: None,
        };
        reference.validate()?;
        Ok(reference)
    }

    /// The same reference with its secrets named after `secret_name` (see the field); `None`
    /// keeps the default. Validated like the rest of the reference.
    pub fn with_secret_name(mut self, secret_name: Option<String>) -> Result<Self> {
        self.secret_name = secret_name;
        self.validate()?;
        Ok(self)
    }

    /// The same reference reached through `role` (see [`Self::assume_role`]); validated.
    pub fn with_assume_role(mut self, role: Option<AssumeRole>) -> Result<Self> {
        self.assume_role = role;
        self.validate()?;
        Ok(self)
    }

    /// Rejects references that would make keyshift call the wrong host or leak a credential
    /// (user-info in a URL), with a named error pointing at the field.
    pub fn validate(&self) -> Result<()> {
        if self.org_id <= 0 {
            return Err(KeyshiftError::invalid_input(
                "workspace.orgId",
                format!("must be a positive Grafana org id, got {}", self.org_id),
            ));
        }
        if let Some(secret_name) = &self.secret_name {
            validate_secret_name_part("workspace.secretName", secret_name)?;
        }
        if let Some(role) = &self.assume_role {
            role.validate("workspace.assumeRole")?;
        }
        match &self.target {
            WorkspaceTarget::Amg {
                workspace_id,
                region,
            } => {
                if !matches(&AMG_WORKSPACE_ID, workspace_id) {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.workspaceId",
                        format!(
                            "{:?} is not an AMG workspace id (g- and ten hex digits)",
                            truncate(workspace_id)
                        ),
                    ));
                }
                if !matches(&AWS_REGION, region) {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.region",
                        format!("{:?} is not an AWS region name", truncate(region)),
                    ));
                }
            }
            WorkspaceTarget::SelfHosted {
                url,
                admin_secret_id,
            } => {
                if url.contains('@')
                    && url
                        .split('/')
                        .nth(2)
                        .is_some_and(|authority| authority.contains('@'))
                {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.url",
                        "credentials must not be embedded in the URL; put them in the admin secret",
                    ));
                }
                if url.contains('?') || url.contains('#') {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.url",
                        "a Grafana base URL has no query string or fragment",
                    ));
                }
                if !matches(&BASE_URL, url) {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.url",
                        format!("{:?} is not an http(s) base URL", truncate(url)),
                    ));
                }
                if admin_secret_id.trim().is_empty() || admin_secret_id.len() > 2048 {
                    return Err(KeyshiftError::invalid_input(
                        "workspace.adminSecretId",
                        "must name a Secrets Manager secret (1..2048 characters)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A stable, unique, human-readable identity used in seal contexts, DLQ messages, logs
    /// and execution names' inputs: `amg:eu-west-1:g-0123456789:1`, `self:https://host:1`.
    pub fn key(&self) -> String {
        match &self.target {
            WorkspaceTarget::Amg {
                workspace_id,
                region,
            } => {
                format!("amg:{region}:{workspace_id}:{}", self.org_id)
            }
            WorkspaceTarget::SelfHosted { url, .. } => {
                format!("self:{}:{}", url.trim_end_matches('/'), self.org_id)
            }
        }
    }

    /// A short name made only of `[A-Za-z0-9-]`, usable inside secret names and execution
    /// names (which forbid `:` and `/`): the AMG workspace id, or the self-hosted host and port.
    pub fn slug(&self) -> String {
        let raw = match &self.target {
            WorkspaceTarget::Amg { workspace_id, .. } => workspace_id.clone(),
            WorkspaceTarget::SelfHosted { url, .. } => {
                let without_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let host_and_path = without_scheme.trim_end_matches('/');
                host_and_path.to_owned()
            }
        };
        let mut slug = String::with_capacity(raw.len());
        for character in raw.chars() {
            if character.is_ascii_alphanumeric() {
                slug.push(character.to_ascii_lowercase());
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.trim_matches('-').to_owned()
    }

    /// What stands for this Grafana in its secrets' names: the configured `secretName`, else
    /// [`Self::slug`].
    pub fn secret_name_part(&self) -> String {
        self.secret_name.clone().unwrap_or_else(|| self.slug())
    }

    /// The target as people name it, for output and error messages: `workspace g-0123456789
    /// in eu-west-1 (org 1)` or `https://grafana.example.com (org 1)`. Not an identity: use
    /// [`Self::key`] for that.
    pub fn label(&self) -> String {
        match &self.target {
            WorkspaceTarget::Amg {
                workspace_id,
                region,
            } => format!("workspace {workspace_id} in {region} (org {})", self.org_id),
            WorkspaceTarget::SelfHosted { url, .. } => {
                format!("{} (org {})", url.trim_end_matches('/'), self.org_id)
            }
        }
    }

    /// The Grafana base URL when it is known without asking AWS (self-hosted); AMG endpoints
    /// come from DescribeWorkspace.
    pub fn static_base_url(&self) -> Option<&str> {
        match &self.target {
            WorkspaceTarget::SelfHosted { url, .. } => Some(url.trim_end_matches('/')),
            WorkspaceTarget::Amg { .. } => None,
        }
    }

    /// The AMG coordinates, for steps that must use the control plane.
    pub fn amg_workspace(&self) -> Option<AmgWorkspace> {
        match &self.target {
            WorkspaceTarget::Amg {
                workspace_id,
                region,
            } => Some(AmgWorkspace {
                workspace_id: workspace_id.clone(),
                region: region.clone(),
            }),
            WorkspaceTarget::SelfHosted { .. } => None,
        }
    }
}

/// Displays the [`WorkspaceRef::label`], so logs and messages name targets as people do.
impl fmt::Display for WorkspaceRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.label())
    }
}

/// Where an AMG workspace lives: control-plane calls are regional, so both parts are needed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmgWorkspace {
    /// AMG workspace id (`g-…`).
    pub workspace_id: String,
    /// AWS region.
    pub region: String,
}

/// Builds the base URL of an AMG workspace from DescribeWorkspace's `endpoint`, which is
/// believed to be a bare hostname (UNCONFIRMED in the reference): a scheme is added only when
/// absent, and a trailing slash removed, so either form works.
pub fn amg_base_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amg_json_round_trip_with_default_org() {
        let parsed: WorkspaceRef = serde_json::from_str(
            r#"{"kind":"amg","workspaceId":"g-0123456789","region":"eu-west-1"}"#,
        )
        .unwrap();
        assert_eq!(parsed.org_id, 1);
        parsed.validate().unwrap();
        let json = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"amg","workspaceId":"g-0123456789","region":"eu-west-1","orgId":1})
        );
        assert_eq!(parsed.key(), "amg:eu-west-1:g-0123456789:1");
        assert_eq!(parsed.slug(), "g-0123456789");
    }

    #[test]
    fn self_hosted_json_round_trip() {
        let parsed: WorkspaceRef = serde_json::from_str(
            r#"{"kind":"selfHosted","url":"http://127.0.0.1:3000/","adminSecretId":"grafana/admin","orgId":2}"#,
        )
        .unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed.static_base_url(), Some("http://127.0.0.1:3000"));
        assert_eq!(parsed.slug(), "127-0-0-1-3000");
        assert_eq!(parsed.key(), "self:http://127.0.0.1:3000:2");
    }

    #[test]
    fn rejects_invalid_references_with_the_field_named() {
        let amg = |id, region, org| WorkspaceRef::amg(id, region, org);
        let hosted = |url, secret| WorkspaceRef::self_hosted(url, secret, 1);
        let cases = [
            (amg("g-XYZ", "eu-west-1", 1), "workspaceId"),
            (amg("g-0123456789a", "eu-west-1", 1), "workspaceId"),
            (amg("g-0123456789", "Europe", 1), "region"),
            (amg("g-0123456789", "eu-west-1", 0), "orgId"),
            (hosted("ftp://grafana", "s"), "url"),
            (hosted("https://admin:pw@grafana.example.com", "s"), "url"),
            (hosted("https://grafana.example.com/?x=1", "s"), "url"),
            (hosted("https://grafana.example.com", " "), "adminSecretId"),
        ];
        for (result, expected_field) in cases {
            let expected_field = format!("workspace.{expected_field}");
            match result {
                Err(KeyshiftError::InputInvalid { field, .. }) => assert_eq!(field, expected_field),
                other => panic!("expected InputInvalid on {expected_field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_secret_name_replaces_the_slug_in_secret_names_only() {
        let parsed: WorkspaceRef = serde_json::from_str(
            r#"{"kind":"selfHosted","url":"http://127.0.0.1:3000","adminSecretId":"a","secretName":"ops-grafana"}"#,
        )
        .unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed.secret_name_part(), "ops-grafana");
        assert_eq!(parsed.slug(), "127-0-0-1-3000");
        assert_eq!(parsed.key(), "self:http://127.0.0.1:3000:1");
        let moved = WorkspaceRef::self_hosted("https://grafana.example.com", "a", 1)
            .unwrap()
            .with_secret_name(Some("ops-grafana".to_owned()))
            .unwrap();
        let policy = crate::model::Policy::default();
        assert_eq!(
            policy.secret_name_for(&parsed, "ci").unwrap(),
            policy.secret_name_for(&moved, "ci").unwrap(),
            "moving a Grafana keeps its secrets"
        );
        assert_eq!(
            serde_json::to_value(&moved).unwrap()["secretName"],
            "ops-grafana"
        );
        let plain = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
        assert_eq!(plain.secret_name_part(), "g-0123456789");
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("secretName")
                .is_none()
        );
        match plain.with_secret_name(Some("bad name".to_owned())) {
            Err(KeyshiftError::InputInvalid { field, .. }) => {
                assert_eq!(field, "workspace.secretName");
            }
            other => panic!("expected InputInvalid, got {other:?}"),
        }
    }

    #[test]
    fn labels_name_targets_as_people_do() {
        let amg = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
        assert_eq!(amg.label(), "workspace g-0123456789 in eu-west-1 (org 1)");
        let own = WorkspaceRef::self_hosted("http://127.0.0.1:1/", "x", 1).unwrap();
        assert_eq!(own.label(), "http://127.0.0.1:1 (org 1)");
        assert_eq!(own.to_string(), own.label());
    }

    #[test]
    fn accepts_sub_paths_ports_and_ipv6() {
        for url in [
            "https://grafana.example.com/grafana",
            "http://[::1]:3000",
            "https://g.example.com:8443/",
        ] {
            WorkspaceRef::self_hosted(url, "secret", 1).unwrap();
        }
    }

    #[test]
    fn amg_endpoint_gets_a_scheme_only_when_missing() {
        assert_eq!(
            amg_base_url("g-0123456789.grafana-workspace.eu-west-1.amazonaws.com"),
            "https://g-0123456789.grafana-workspace.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            amg_base_url("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000"
        );
    }
}
