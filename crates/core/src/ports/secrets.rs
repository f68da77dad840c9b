//! Secrets Manager semantics: versions, staging labels, idempotent writes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::secret::SecretString;

/// The label consumers read: the verified, working version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of a version written but not yet verified and promoted.
pub const AWSPENDING: &str = "AWSPENDING";
/// The label Secrets Manager moves to the version AWSCURRENT just left.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// One version of a secret and the labels on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersionInfo {
    /// Version id (the ClientRequestToken it was written with).
    pub version_id: String,
    /// Staging labels on it (a label is on at most one version).
    pub stages: Vec<String>,
    /// When the version was created, when known.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

impl SecretVersionInfo {
    /// Whether `stage` is on this version.
    pub fn has_stage(&self, stage: &str) -> bool {
        self.stages.iter().any(|label| label == stage)
    }
}

/// What DescribeSecret tells: the secret's identity and its versions' labels, without values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDescription {
    /// ARN (or, for local stores, the name) identifying the secret.
    pub arn: String,
    /// Secret name.
    pub name: String,
    /// Versions that still carry at least one label (deprecated versions may be omitted).
    pub versions: Vec<SecretVersionInfo>,
    /// Tags on the secret.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// DescribeSecret's RotationEnabled: whether Secrets Manager rotates it with a rotation
    /// Lambda, which the native rotation steps require before touching it.
    #[serde(default)]
    pub rotation_enabled: bool,
}

impl SecretDescription {
    /// The version id holding `stage`, if any.
    pub fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|version| version.has_stage(stage))
            .map(|version| version.version_id.as_str())
    }

    /// The AWSPENDING version when it is not also AWSCURRENT: a rotation that was written but
    /// never promoted (in progress, or left behind by a failed run).
    pub fn unpromoted_pending(&self) -> Option<&str> {
        let pending = self.version_with_stage(AWSPENDING)?;
        (self.version_with_stage(AWSCURRENT) != Some(pending)).then_some(pending)
    }
}

/// Which version to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionSelector {
    /// The version holding a staging label (e.g. [`AWSCURRENT`]).
    Stage(String),
    /// A specific version id.
    Id(String),
}

impl VersionSelector {
    /// The version consumers read.
    pub fn current() -> Self {
        Self::Stage(AWSCURRENT.to_owned())
    }

    /// The version awaiting verification.
    pub fn pending() -> Self {
        Self::Stage(AWSPENDING.to_owned())
    }
}

/// A version's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersionValue {
    /// Version id.
    pub version_id: String,
    /// The secret string.
    pub value: SecretString,
    /// Labels on the version.
    pub stages: Vec<String>,
}

/// What an UpdateSecretVersionStage request amounts to, given where its label is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageChange {
    /// The label already sits on the target: re-running a promotion that happened converges
    /// instead of failing, so a step that crashed after the call succeeds on retry.
    AlreadyDone,
    /// The request names the label's holder correctly and may be applied.
    Apply,
}

/// The rule Secrets Manager applies to UpdateSecretVersionStage, written once so the
/// in-memory store enforces it and the AWS adapter checks it before calling (getting the same
/// named error on AWS and on moto): a label may only be taken from the version that holds it,
/// and that version must be named (`remove_from`) whenever the label is moved off it.
/// `holder` is the version holding `stage` now.
pub fn check_stage_change(
    stage: &str,
    holder: Option<&str>,
    move_to: Option<&str>,
    remove_from: Option<&str>,
) -> Result<StageChange> {
    if move_to.is_some() && holder == move_to {
        return Ok(StageChange::AlreadyDone);
    }
    let reason = match (remove_from, holder) {
        (Some(named), _) if holder != Some(named) => format!(
            "staging label {stage} is on {}, not on {named}",
            holder.unwrap_or("no version")
        ),
        (None, Some(current)) if move_to.is_some() => {
            format!("staging label {stage} is on {current}, which must be named to move it")
        }
        _ => return Ok(StageChange::Apply),
    };
    Err(KeyshiftError::invalid_input("removeFromVersionId", reason))
}

/// Secrets Manager as keyshift uses it. The in-memory and AWS implementations must agree on
/// every rule below (a shared contract suite checks them):
/// - a label lives on at most one version;
/// - moving [`AWSCURRENT`] moves [`AWSPREVIOUS`] to the version it left;
/// - the first version written to a secret also gets AWSCURRENT (AWS does this even when only
///   AWSPENDING was asked for), so the first rotation's store step must account for it;
/// - versions are immutable: the same client request token with the same value is a no-op,
///   with a different value it is [`crate::KeyshiftError::SecretVersionConflict`].
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// DescribeSecret; [`crate::KeyshiftError::SecretNotFound`] when the secret does not exist.
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription>;

    /// GetSecretValue by label or version id; `SecretNotFound` when absent.
    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue>;

    /// Creates the secret (without a value) if it does not exist and returns its ARN/id;
    /// an existing secret is returned as is (its description and tags are not changed).
    async fn ensure_secret(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String>;

    /// PutSecretValue with `client_request_token` as version id and label AWSPENDING; returns
    /// the version id. Idempotent for the same token and value.
    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String>;

    /// UpdateSecretVersionStage as sent, without looking first: Secrets Manager applies its
    /// own rule ([`check_stage_change`]) and so must an in-memory store. Callers go through
    /// [`SecretStore::update_stage`] or [`SecretStore::promote`], which check against a
    /// description first so that a repeated request converges instead of failing.
    async fn apply_stage_update(&self, secret_id: &str, update: &StageUpdate) -> Result<()>;

    /// ListSecrets: the names of every secret carrying the tag `key` with exactly `value`,
    /// sorted, so `keyshift status` finds a workspace's managed secrets from the tags
    /// store-secret writes, without asking Grafana.
    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>>;

    /// TagResource with `value`, or UntagResource when `value` is `None`: how revoke-old
    /// records the stragglers it keeps ([`crate::model::STRAGGLERS_TAG`]) where `keyshift
    /// status` reads them. Setting a tag to what it holds, or removing an absent one, succeeds.
    async fn set_tag(&self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()>;

    /// One UpdateSecretVersionStage, checked against the secret as it is now (one
    /// DescribeSecret): a label is only taken from the version that holds it, and a request
    /// that is already done succeeds without a call, so a step that crashed after the call
    /// converges on retry.
    async fn update_stage(&self, secret_id: &str, update: &StageUpdate) -> Result<()> {
        let described = self.describe(secret_id).await?;
        apply_checked(self, secret_id, &described, update).await
    }

    /// Promotes `version_id`: the [`promotion_changes`] judged against `described`, a
    /// DescribeSecret the caller made just before, so a promotion reads the secret once and
    /// costs at most two UpdateSecretVersionStage calls.
    async fn promote(
        &self,
        secret_id: &str,
        version_id: &str,
        described: &SecretDescription,
    ) -> Result<()> {
        for change in promotion_changes(described, version_id) {
            apply_checked(self, secret_id, described, &change).await?;
        }
        Ok(())
    }
}

/// Applies `update` unless `described` shows it done already; refuses it (named error, no
/// call) when it names the wrong holder.
async fn apply_checked<S: SecretStore + ?Sized>(
    store: &S,
    secret_id: &str,
    described: &SecretDescription,
    update: &StageUpdate,
) -> Result<()> {
    let holder = described.version_with_stage(update.stage);
    match check_stage_change(
        update.stage,
        holder,
        update.move_to.as_deref(),
        update.remove_from.as_deref(),
    )? {
        StageChange::AlreadyDone => Ok(()),
        StageChange::Apply => store.apply_stage_update(secret_id, update).await,
    }
}

/// One UpdateSecretVersionStage request: the API's three parameters, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageUpdate {
    /// The label.
    pub stage: &'static str,
    /// The version to put it on (`None`: only take it off `remove_from`).
    pub move_to: Option<String>,
    /// The version holding it now, which AWS requires to be named.
    pub remove_from: Option<String>,
}

impl StageUpdate {
    /// Moves `stage` to `to_version`, naming `from_version`, its holder now (if any), as AWS
    /// requires.
    pub fn moving(stage: &'static str, to_version: &str, from_version: Option<&str>) -> Self {
        Self {
            stage,
            move_to: Some(to_version.to_owned()),
            remove_from: from_version.map(str::to_owned),
        }
    }

    /// Takes `stage` off `from_version`.
    pub fn removing(stage: &'static str, from_version: &str) -> Self {
        Self {
            stage,
            move_to: None,
            remove_from: Some(from_version.to_owned()),
        }
    }
}

/// What promoting `version_id` takes, given the secret as `described`, in order: move
/// [`AWSCURRENT`] to it (naming the old holder) unless it is there already, then take
/// [`AWSPENDING`] off it if it is there. Written once so every store promotes the same way.
pub fn promotion_changes(described: &SecretDescription, version_id: &str) -> Vec<StageUpdate> {
    let mut changes = Vec::new();
    let current = described.version_with_stage(AWSCURRENT);
    if current != Some(version_id) {
        changes.push(StageUpdate::moving(AWSCURRENT, version_id, current));
    }
    if described.version_with_stage(AWSPENDING) == Some(version_id) {
        changes.push(StageUpdate::removing(AWSPENDING, version_id));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_moves_only_off_the_version_named_as_its_holder() {
        let check = |holder, move_to, remove_from| {
            check_stage_change(AWSCURRENT, holder, move_to, remove_from)
                .map_err(|error| error.asl_name())
        };
        assert_eq!(
            check(Some("v2"), Some("v2"), None),
            Ok(StageChange::AlreadyDone)
        );
        assert_eq!(check(None, Some("v1"), None), Ok(StageChange::Apply));
        assert_eq!(
            check(Some("v1"), Some("v2"), Some("v1")),
            Ok(StageChange::Apply)
        );
        assert_eq!(check(Some("v1"), None, Some("v1")), Ok(StageChange::Apply));
        assert_eq!(check(Some("v1"), Some("v2"), None), Err("Input.Invalid"));
        assert_eq!(
            check(Some("v1"), Some("v2"), Some("v3")),
            Err("Input.Invalid")
        );
        assert_eq!(check(None, Some("v2"), Some("v1")), Err("Input.Invalid"));
        assert_eq!(check(Some("v1"), None, Some("v2")), Err("Input.Invalid"));
        assert_eq!(check(None, None, Some("v1")), Err("Input.Invalid"));
    }

    #[test]
    fn a_refused_change_names_the_holder_and_the_field() {
        let error = check_stage_change(AWSCURRENT, Some("v1"), Some("v2"), None).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("removeFromVersionId"), "{text}");
        assert!(text.contains("AWSCURRENT is on v1"), "{text}");
    }

    fn description(versions: &[(&str, &[&str])]) -> SecretDescription {
        SecretDescription {
            arn: "arn".into(),
            name: "name".into(),
            versions: versions
                .iter()
                .map(|(id, stages)| SecretVersionInfo {
                    version_id: (*id).to_owned(),
                    stages: stages.iter().map(|stage| (*stage).to_owned()).collect(),
                    created: None,
                })
                .collect(),
            tags: BTreeMap::new(),
            rotation_enabled: false,
        }
    }

    #[test]
    fn finds_versions_by_stage() {
        let secret = description(&[("v1", &[AWSPREVIOUS]), ("v2", &[AWSCURRENT])]);
        assert_eq!(secret.version_with_stage(AWSCURRENT), Some("v2"));
        assert_eq!(secret.version_with_stage(AWSPREVIOUS), Some("v1"));
        assert_eq!(secret.version_with_stage(AWSPENDING), None);
        assert_eq!(secret.unpromoted_pending(), None);
    }

    #[test]
    fn pending_on_current_is_not_a_rotation_in_progress() {
        let finished = description(&[("v2", &[AWSCURRENT, AWSPENDING])]);
        assert_eq!(finished.unpromoted_pending(), None);
        let in_flight = description(&[("v2", &[AWSCURRENT]), ("v3", &[AWSPENDING])]);
        assert_eq!(in_flight.unpromoted_pending(), Some("v3"));
    }

    #[test]
    fn promotion_moves_current_naming_its_holder_then_clears_pending() {
        let secret = description(&[("v1", &[AWSCURRENT]), ("v2", &[AWSPENDING])]);
        assert_eq!(
            promotion_changes(&secret, "v2"),
            vec![
                StageUpdate {
                    stage: AWSCURRENT,
                    move_to: Some("v2".into()),
                    remove_from: Some("v1".into()),
                },
                StageUpdate {
                    stage: AWSPENDING,
                    move_to: None,
                    remove_from: Some("v2".into()),
                },
            ]
        );
        let first_version = description(&[("v1", &[AWSCURRENT, AWSPENDING])]);
        assert_eq!(
            promotion_changes(&first_version, "v1"),
            vec![StageUpdate {
                stage: AWSPENDING,
                move_to: None,
                remove_from: Some("v1".into()),
            }]
        );
        let done = description(&[("v0", &[AWSPREVIOUS]), ("v1", &[AWSCURRENT])]);
        assert_eq!(promotion_changes(&done, "v1"), Vec::new());
    }

    #[test]
    fn selectors_name_the_standard_stages() {
        assert_eq!(
            VersionSelector::current(),
            VersionSelector::Stage(AWSCURRENT.into())
        );
        assert_eq!(
            VersionSelector::pending(),
            VersionSelector::Stage(AWSPENDING.into())
        );
    }
}
