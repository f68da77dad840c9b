//! Deterministic names: the backbone of idempotency.
//!
//! A retried or redriven step must find the objects its earlier attempt created instead of
//! creating a second one. Every name keyshift gives to a Grafana token, a Secrets Manager
//! version or an execution is therefore a pure function of the execution identity and the
//! target, never of time or randomness.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{KeyshiftError, Result};
use crate::model::workspace::WorkspaceRef;

/// Step Functions' limit on execution names.
pub const MAX_EXECUTION_NAME_LEN: usize = 80;

/// Prefix of the names of the short-lived admin credentials keyshift mints for itself on
/// AMG; the plan never migrates or rotates anything carrying it.
pub const BOOTSTRAP_NAME_PREFIX: &str = "keyshift-bootstrap";

/// The service account `keyshift admin adopt` creates on a self-hosted Grafana: keyshift's own
/// Admin identity, whose token lives in the admin secret and is rotated like a managed token.
pub const ADMIN_ACCOUNT_NAME: &str = "keyshift-admin";

/// Namespace for keyshift's UUIDv5 ClientRequestTokens (a fixed random UUID, so tokens
/// never collide with other tools' v5 ids).
const CLIENT_REQUEST_TOKEN_NAMESPACE: Uuid =
    Uuid::from_u128(0x6b65_7973_6869_4674_a5c1_3f0d_92e4_7b18);

/// The longest `secretName` a target may set: half of Secrets Manager's 512-character limit on
/// a whole name, leaving room for the rest of the secret name template.
pub const MAX_SECRET_NAME_PART_LEN: usize = 256;

static EXECUTION_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[0-9A-Za-z_-]{1,80}$").ok());

/// Checks an execution name against the subset of Step Functions' rules that is also safe for
/// CloudWatch Logs and for embedding in token names: 1–80 of `[0-9A-Za-z_-]`.
pub fn validate_execution_name(execution_name: &str) -> Result<()> {
    if EXECUTION_NAME
        .as_ref()
        .is_some_and(|regex| regex.is_match(execution_name))
    {
        Ok(())
    } else {
        Err(KeyshiftError::invalid_input(
            "executionName",
            format!(
                "{:?} must be 1-80 characters of [0-9A-Za-z_-]",
                execution_name.chars().take(100).collect::<String>()
            ),
        ))
    }
}

/// Checks a target's `secretName` (what replaces its slug in secret names): 1 to
/// [`MAX_SECRET_NAME_PART_LEN`] characters Secrets Manager allows in names (`A-Z a-z 0-9` and
/// `/_+=.@-`), not starting or ending with `/` (which would leave an empty path segment).
/// `field` names the setting in the error.
pub fn validate_secret_name_part(field: &str, text: &str) -> Result<()> {
    let shown = || text.chars().take(80).collect::<String>();
    if text.is_empty() || text.len() > MAX_SECRET_NAME_PART_LEN {
        return Err(KeyshiftError::invalid_input(
            field,
            format!(
                "must have 1-{MAX_SECRET_NAME_PART_LEN} characters, got {}",
                text.chars().count()
            ),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || "/_+=.@-".contains(*character)))
    {
        return Err(KeyshiftError::invalid_input(
            field,
            format!(
                "{:?} contains {bad:?}; Secrets Manager names allow only letters, digits and /_+=.@-",
                shown()
            ),
        ));
    }
    if text.starts_with('/') || text.ends_with('/') {
        return Err(KeyshiftError::invalid_input(
            field,
            format!("{:?} must not start or end with /", shown()),
        ));
    }
    Ok(())
}

/// Eight hex digits identifying `text`, used where a full name would not fit.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(digest).chars().take(8).collect()
}

/// The Secrets Manager ClientRequestToken (and so version id) for the token this execution
/// stores in `secret_id`: a UUIDv5 (36 characters, within the 32–64 limit), so a retried
/// PutSecretValue is recognised as the same version.
pub fn client_request_token_for(execution_name: &str, secret_id: &str) -> String {
    let material = format!("keyshift\n{secret_id}\n{execution_name}");
    Uuid::new_v5(&CLIENT_REQUEST_TOKEN_NAMESPACE, material.as_bytes()).to_string()
}

/// The name of the short-lived admin credential an execution mints on AMG; unique per
/// execution so a retry finds it and revoke-old knows what to delete.
pub fn bootstrap_name_for(execution_name: &str) -> String {
    format!("{BOOTSTRAP_NAME_PREFIX}-{execution_name}")
}

/// The execution name for one workspace in one schedule slot, so a re-delivered schedule event
/// maps to the same execution (Step Functions refuses a duplicate name) instead of a second
/// rotation. Form: `ks-<workspace slug>-<org>-<YYYYMMDD-HHMM>`, shortened with a hash when the
/// slug is long.
pub fn execution_name_for(workspace: &WorkspaceRef, slot: DateTime<Utc>) -> String {
    let stamp = slot.format("%Y%m%d-%H%M").to_string();
    let slug = workspace.slug();
    let org = workspace.org_id;
    let full = format!("ks-{slug}-{org}-{stamp}");
    if full.len() <= MAX_EXECUTION_NAME_LEN {
        return full;
    }
    let hash = short_hash(&workspace.key());
    let fixed = format!("ks--{hash}-{org}-{stamp}");
    let room = MAX_EXECUTION_NAME_LEN.saturating_sub(fixed.len());
    let prefix: String = slug.chars().take(room).collect();
    format!("ks-{}-{hash}-{org}-{stamp}", prefix.trim_end_matches('-'))
}

/// Debug and Serialize for a name type that is written as its source text (`field`): the
/// text the operator wrote is both what people are shown and what goes back into config.
macro_rules! shown_as_its_text {
    ($name:ident, $field:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{:?}", self.$field)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.$field)
            }
        }
    };
}

/// A name template with `{placeholder}`s, validated once so rendering cannot fail later.
#[derive(Clone, PartialEq, Eq)]
pub struct NameTemplate {
    text: String,
}

impl NameTemplate {
    /// Parses a template, checking that every placeholder is one of `allowed` and that every
    /// one in `required` appears.
    pub fn parse(field: &str, text: &str, allowed: &[&str], required: &[&str]) -> Result<Self> {
        let placeholders = Self::placeholders_of(text)
            .ok_or_else(|| KeyshiftError::invalid_input(field, "unbalanced { } in template"))?;
        for placeholder in &placeholders {
            if !allowed.contains(&placeholder.as_str()) {
                return Err(KeyshiftError::invalid_input(
                    field,
                    format!(
                        "unknown placeholder {{{placeholder}}}; allowed: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        for needed in required {
            if !placeholders.iter().any(|placeholder| placeholder == needed) {
                return Err(KeyshiftError::invalid_input(
                    field,
                    format!("template must contain {{{needed}}} so names stay unique"),
                ));
            }
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    fn placeholders_of(text: &str) -> Option<Vec<String>> {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.get(open..open + 1) == Some("}") {
                return None;
            }
            let after = rest.get(open + 1..)?;
            let close = after.find('}')?;
            let name = after.get(..close)?;
            if name.contains('{') {
                return None;
            }
            found.push(name.to_owned());
            rest = after.get(close + 1..)?;
        }
        Some(found)
    }

    /// Wraps a template known to be well-formed (keyshift's own defaults), skipping checks.
    pub(crate) fn trusted(text: &str) -> Self {
        Self {
            text: text.to_owned(),
        }
    }

    /// The template text, as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Substitutes placeholders; values are inserted verbatim.
    pub fn render(&self, values: &[(&str, &str)]) -> String {
        let mut rendered = self.text.clone();
        for (name, value) in values {
            rendered = rendered.replace(&format!("{{{name}}}"), value);
        }
        rendered
    }

    /// A regex recognising names rendered from this template, with each placeholder matching
    /// the given sub-pattern (placeholders not listed match `.+`).
    pub fn matcher(&self, placeholder_patterns: &[(&str, &str)]) -> Option<Regex> {
        let mut pattern = String::from("^");
        let mut rest = self.text.as_str();
        while let Some(open) = rest.find('{') {
            pattern.push_str(&regex::escape(rest.get(..open)?));
            let after = rest.get(open + 1..)?;
            let close = after.find('}')?;
            let name = after.get(..close)?;
            let sub = placeholder_patterns
                .iter()
                .find(|(placeholder, _)| *placeholder == name)
                .map_or(".+", |(_, sub)| sub);
            pattern.push('(');
            pattern.push_str(sub);
            pattern.push(')');
            rest = after.get(close + 1..)?;
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        Regex::new(&pattern).ok()
    }
}

shown_as_its_text!(NameTemplate, text);

impl<'de> Deserialize<'de> for NameTemplate {
    /// Deserializes without placeholder checks (the set depends on the field);
    /// [`crate::model::policy::Policy::validate`] checks each template.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::placeholders_of(&text)
            .ok_or_else(|| serde::de::Error::custom("unbalanced { } in template"))?;
        Ok(Self { text })
    }
}

/// A glob over key or account names: `*` matches any run of characters, `?` one character,
/// everything else literally; the whole name must match, case-sensitively. Globs rather than
/// regexes because operators write them in config files and `ci-*` is what they expect.
#[derive(Clone)]
pub struct NamePattern {
    glob: String,
    regex: Regex,
}

impl NamePattern {
    /// Compiles a glob; fails with a named error on an empty or oversized pattern.
    pub fn new(glob: &str) -> Result<Self> {
        if glob.is_empty() || glob.len() > 256 {
            return Err(KeyshiftError::invalid_input(
                "pattern",
                "a name pattern must have 1-256 characters",
            ));
        }
        let mut pattern = String::from("^");
        for character in glob.chars() {
            match character {
                '*' => pattern.push_str(".*"),
                '?' => pattern.push('.'),
                other => pattern.push_str(&regex::escape(&other.to_string())),
            }
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|error| {
            KeyshiftError::invalid_input("pattern", format!("cannot compile {glob:?}: {error}"))
        })?;
        Ok(Self {
            glob: glob.to_owned(),
            regex,
        })
    }

    /// Whether `name` matches the whole glob.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }

    /// The glob as written, for plan explanations.
    pub fn as_str(&self) -> &str {
        &self.glob
    }
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.glob == other.glob
    }
}

impl Eq for NamePattern {}

shown_as_its_text!(NamePattern, glob);

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let glob = String::deserialize(deserializer)?;
        Self::new(&glob).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn client_request_tokens_are_deterministic_and_within_limits() {
        let first = client_request_token_for("exec-1", "keyshift/g-0123456789/1/ci/token");
        assert_eq!(
            first,
            client_request_token_for("exec-1", "keyshift/g-0123456789/1/ci/token")
        );
        assert_ne!(
            first,
            client_request_token_for("exec-2", "keyshift/g-0123456789/1/ci/token")
        );
        assert_ne!(
            first,
            client_request_token_for("exec-1", "keyshift/g-0123456789/1/cd/token")
        );
        assert!((32..=64).contains(&first.len()), "{first}");
    }

    #[test]
    fn execution_names_are_valid_and_stable() {
        let slot = Utc.with_ymd_and_hms(2025, 3, 1, 6, 30, 0).unwrap();
        let amg = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
        assert_eq!(
            execution_name_for(&amg, slot),
            "ks-g-0123456789-1-20250301-0630"
        );
        let long_url = format!("https://{}.example.com", "a".repeat(120));
        let long = WorkspaceRef::self_hosted(long_url, "s", 1).unwrap();
        let name = execution_name_for(&long, slot);
        validate_execution_name(&name).unwrap();
        assert_eq!(name, execution_name_for(&long, slot));
        let other =
            WorkspaceRef::self_hosted(format!("https://{}.example.org", "a".repeat(120)), "s", 1)
                .unwrap();
        assert_ne!(
            name,
            execution_name_for(&other, slot),
            "hash keeps long slugs apart"
        );
    }

    #[test]
    fn secret_name_parts_follow_secrets_manager_rules() {
        for good in ["ops-grafana", "team/ops.grafana@eu+1=a_b", &"x".repeat(256)] {
            validate_secret_name_part("f", good).unwrap();
        }
        for bad in [
            "",
            "has space",
            "colon:x",
            "/lead",
            "trail/",
            &"x".repeat(257),
            "é",
        ] {
            match validate_secret_name_part("workspace.secretName", bad) {
                Err(KeyshiftError::InputInvalid { field, .. }) => {
                    assert_eq!(field, "workspace.secretName", "{bad}");
                }
                other => panic!("{bad:?} must be rejected, got {other:?}"),
            }
        }
    }

    #[test]
    fn execution_name_validation() {
        for good in ["a", "ks-g-0123456789-1-20250301-0630", &"x".repeat(80)] {
            validate_execution_name(good).unwrap();
        }
        for bad in ["", "has space", "colon:", &"x".repeat(81), "slash/"] {
            assert_eq!(
                validate_execution_name(bad).unwrap_err().asl_name(),
                "Input.Invalid",
                "{bad}"
            );
        }
    }

    #[test]
    fn templates_check_placeholders_render_and_match() {
        let template = NameTemplate::parse(
            "t",
            "keyshift-{execution}-{account}",
            &["execution", "account"],
            &["execution", "account"],
        )
        .unwrap();
        let name = template.render(&[("execution", "run-1"), ("account", "abcd1234")]);
        assert_eq!(name, "keyshift-run-1-abcd1234");
        let matcher = template
            .matcher(&[("execution", "[0-9A-Za-z_-]+"), ("account", "[0-9a-f]{8}")])
            .unwrap();
        assert!(matcher.is_match(&name));
        assert!(!matcher.is_match("keyshift-run-1"));
        assert!(!matcher.is_match("ci-deploy"));
        assert!(NameTemplate::parse("t", "x-{nope}", &["execution"], &[]).is_err());
        assert!(NameTemplate::parse("t", "x-{execution", &["execution"], &[]).is_err());
        assert!(NameTemplate::parse("t", "x-}", &["execution"], &[]).is_err());
        assert!(NameTemplate::parse("t", "static", &["execution"], &["execution"]).is_err());
    }

    #[test]
    fn globs_match_whole_names_literally() {
        let pattern = NamePattern::new("ci-*").unwrap();
        assert!(pattern.matches("ci-deploy"));
        assert!(pattern.matches("ci-"));
        assert!(!pattern.matches("xci-deploy"));
        let dotted = NamePattern::new("a.b?").unwrap();
        assert!(dotted.matches("a.bc"));
        assert!(!dotted.matches("axbc"), "dots are literal");
        assert!(NamePattern::new("").is_err());
        let parsed: NamePattern = serde_json::from_str(r#""grafana-*""#).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#""grafana-*""#);
    }
}
