//! An in-memory [`SecretStore`] with Secrets Manager's staging-label semantics.
//!
//! Local runs, the demo and the step tests need a secret store whose rules are exactly those
//! of Secrets Manager, otherwise a rotation that works locally could strand AWSCURRENT on AWS.
//! The rules implemented (and checked by [`crate::contract`] against both stores):
//! - a staging label is on at most one version;
//! - the first version of a secret gets AWSCURRENT, whatever else was asked for;
//! - moving AWSCURRENT moves AWSPREVIOUS to the version it left;
//! - UpdateSecretVersionStage refuses to take a label from a version not named in
//!   RemoveFromVersionId;
//! - versions are immutable: the same ClientRequestToken with the same value is a no-op, with
//!   another value an error (real AWS enforces this; moto does not).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{
    AWSCURRENT, AWSPREVIOUS, SecretDescription, SecretStore, SecretVersionInfo, SecretVersionValue,
    StageChange, StageUpdate, VersionSelector, check_stage_change,
};
use keyshift_core::secret::SecretString;
use rand::Rng;
use rand::distr::Alphanumeric;

/// Secrets Manager accepts ClientRequestTokens of 32 to 64 characters.
const CLIENT_REQUEST_TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 32..=64;

#[derive(Debug)]
struct StoredVersion {
    id: String,
    value: SecretString,
    stages: BTreeSet<String>,
    created: DateTime<Utc>,
}

#[derive(Debug)]
struct StoredSecret {
    arn: String,
    name: String,
    tags: BTreeMap<String, String>,
    versions: Vec<StoredVersion>,
    rotation_enabled: bool,
}

impl StoredSecret {
    fn version(&self, version_id: &str) -> Option<&StoredVersion> {
        self.versions
            .iter()
            .find(|version| version.id == version_id)
    }

    fn holder_of(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|version| version.stages.contains(stage))
            .map(|version| version.id.as_str())
    }

    /// Puts `stage` on `version_id` only, applying the AWSCURRENT → AWSPREVIOUS rule.
    fn attach_exclusively(&mut self, stage: &str, version_id: &str) {
        let left = self.holder_of(stage).map(str::to_owned);
        if left.as_deref() == Some(version_id) {
            return;
        }
        for version in &mut self.versions {
            version.stages.remove(stage);
        }
        if let Some(target) = self.versions.iter_mut().find(|v| v.id == version_id) {
            target.stages.insert(stage.to_owned());
        }
        if stage == AWSCURRENT
            && let Some(previous) = left
        {
            for version in &mut self.versions {
                version.stages.remove(AWSPREVIOUS);
            }
            if let Some(old) = self.versions.iter_mut().find(|v| v.id == previous) {
                old.stages.insert(AWSPREVIOUS.to_owned());
            }
        }
    }

    fn describe(&self) -> SecretDescription {
        SecretDescription {
            arn: self.arn.clone(),
            name: self.name.clone(),
            versions: self
                .versions
                .iter()
                .filter(|version| !version.stages.is_empty())
                .map(|version| SecretVersionInfo {
                    version_id: version.id.clone(),
                    stages: version.stages.iter().cloned().collect(),
                    created: Some(version.created),
                })
                .collect(),
            tags: self.tags.clone(),
            rotation_enabled: self.rotation_enabled,
        }
    }
}

/// Every secret, with indexes so a lookup by name or ARN and a listing by tag cost the same
/// whatever the number of secrets (a demo fleet of 1,000 workspaces holds thousands, and
/// every step looks its secret up several times). Secrets are never deleted, so a position in
/// `secrets` stays valid for as long as the store lives.
#[derive(Debug, Default)]
struct Secrets {
    secrets: Vec<StoredSecret>,
    /// Name and ARN (both are valid `SecretId`s) to position in `secrets`.
    by_id: HashMap<String, usize>,
    /// Tag key and value to the names carrying it, in name order as ListSecrets sorts them.
    by_tag: HashMap<(String, String), BTreeSet<String>>,
}

impl Secrets {
    fn position(&self, secret_id: &str) -> Option<usize> {
        self.by_id.get(secret_id).copied()
    }

    fn get_mut(&mut self, secret_id: &str) -> Option<&mut StoredSecret> {
        let position = self.position(secret_id)?;
        self.secrets.get_mut(position)
    }

    fn insert(&mut self, secret: StoredSecret) {
        let position = self.secrets.len();
        // A name never shadows an existing ARN or name: ensure_secret looked both up first.
        self.by_id.entry(secret.name.clone()).or_insert(position);
        self.by_id.entry(secret.arn.clone()).or_insert(position);
        for (key, value) in &secret.tags {
            self.by_tag
                .entry((key.clone(), value.clone()))
                .or_default()
                .insert(secret.name.clone());
        }
        self.secrets.push(secret);
    }

    /// TagResource / UntagResource of one key, keeping the tag index in step.
    fn set_tag(&mut self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()> {
        let position = self
            .position(secret_id)
            .ok_or_else(|| not_found(secret_id, "secret"))?;
        let secret = &mut self.secrets[position];
        let name = secret.name.clone();
        let old = match value {
            Some(value) => secret.tags.insert(key.to_owned(), value.to_owned()),
            None => secret.tags.remove(key),
        };
        if let Some(old) = old
            && let Some(names) = self.by_tag.get_mut(&(key.to_owned(), old))
        {
            names.remove(&name);
        }
        if let Some(value) = value {
            self.by_tag
                .entry((key.to_owned(), value.to_owned()))
                .or_default()
                .insert(name);
        }
        Ok(())
    }
}

/// Secrets Manager in a mutex: one per local run, shared by every step through an `Arc`.
#[derive(Debug, Default)]
pub struct InMemorySecretStore {
    secrets: Mutex<Secrets>,
}

fn not_found(secret_id: &str, what: impl Into<String>) -> KeyshiftError {
    KeyshiftError::SecretNotFound {
        secret_id: secret_id.to_owned(),
        what: what.into(),
    }
}

fn fake_arn(name: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(6)
        .map(char::from)
        .collect();
    format!("arn:aws:secretsmanager:local:000000000000:secret:{name}-{suffix}")
}

impl InMemorySecretStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Secrets> {
        // A panic while holding the lock cannot leave a half-applied label move: every
        // mutation is computed before it is applied, so the data is still consistent.
        self.secrets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_secret<T>(
        &self,
        secret_id: &str,
        action: impl FnOnce(&mut StoredSecret) -> Result<T>,
    ) -> Result<T> {
        let mut secrets = self.lock();
        let secret = secrets
            .get_mut(secret_id)
            .ok_or_else(|| not_found(secret_id, "secret"))?;
        action(secret)
    }

    /// What RotateSecret does to rotation settings: marks the secret as rotated by Secrets
    /// Manager, so local runs of the native rotation protocol see `rotation_enabled`.
    pub fn set_rotation_enabled(&self, secret_id: &str, enabled: bool) -> Result<()> {
        self.with_secret(secret_id, |secret| {
            secret.rotation_enabled = enabled;
            Ok(())
        })
    }

    /// PutSecretValue with an explicit list of labels, the general form of
    /// [`SecretStore::put_pending`]; lets tests and local tools stage arbitrary labels.
    pub fn put_secret_value(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
        stages: &[&str],
        now: DateTime<Utc>,
    ) -> Result<String> {
        if !CLIENT_REQUEST_TOKEN_LENGTH.contains(&client_request_token.len()) {
            return Err(KeyshiftError::invalid_input(
                "clientRequestToken",
                "must be 32 to 64 characters long",
            ));
        }
        self.with_secret(secret_id, |secret| {
            if let Some(existing) = secret.version(client_request_token) {
                return if existing.value == *value {
                    Ok(existing.id.clone())
                } else {
                    Err(KeyshiftError::SecretVersionConflict {
                        secret_id: secret_id.to_owned(),
                        version_id: client_request_token.to_owned(),
                    })
                };
            }
            let first_version = secret.versions.is_empty();
            secret.versions.push(StoredVersion {
                id: client_request_token.to_owned(),
                value: value.clone(),
                stages: BTreeSet::new(),
                created: now,
            });
            let mut labels: Vec<&str> = stages.to_vec();
            if first_version && !labels.contains(&AWSCURRENT) {
                labels.push(AWSCURRENT);
            }
            for label in labels {
                secret.attach_exclusively(label, client_request_token);
            }
            Ok(client_request_token.to_owned())
        })
    }

    /// UpdateSecretVersionStage in full generality (move, remove, or both).
    pub fn update_version_stage(
        &self,
        secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<()> {
        self.with_secret(secret_id, |secret| {
            for version_id in move_to.iter().chain(remove_from.iter()) {
                if secret.version(version_id).is_none() {
                    return Err(not_found(secret_id, format!("version {version_id}")));
                }
            }
            if check_stage_change(stage, secret.holder_of(stage), move_to, remove_from)?
                == StageChange::AlreadyDone
            {
                return Ok(());
            }
            match move_to {
                Some(target) => secret.attach_exclusively(stage, target),
                None => {
                    for version in &mut secret.versions {
                        version.stages.remove(stage);
                    }
                }
            }
            Ok(())
        })
    }
}

#[async_trait]
impl SecretStore for InMemorySecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription> {
        self.with_secret(secret_id, |secret| Ok(secret.describe()))
    }

    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue> {
        self.with_secret(secret_id, |secret| {
            let version = match selector {
                VersionSelector::Stage(stage) => secret
                    .versions
                    .iter()
                    .find(|version| version.stages.contains(stage))
                    .ok_or_else(|| not_found(secret_id, format!("stage {stage}")))?,
                VersionSelector::Id(version_id) => secret
                    .version(version_id)
                    .ok_or_else(|| not_found(secret_id, format!("version {version_id}")))?,
            };
            Ok(SecretVersionValue {
                version_id: version.id.clone(),
                value: version.value.clone(),
                stages: version.stages.iter().cloned().collect(),
            })
        })
    }

    async fn ensure_secret(
        &self,
        name: &str,
        _description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        if name.is_empty() || name.len() > 512 {
            return Err(KeyshiftError::invalid_input(
                "secretName",
                "must be 1 to 512 characters",
            ));
        }
        let mut secrets = self.lock();
        if let Some(existing) = secrets
            .position(name)
            .and_then(|position| secrets.secrets.get(position))
        {
            return Ok(existing.arn.clone());
        }
        let arn = fake_arn(name);
        secrets.insert(StoredSecret {
            arn: arn.clone(),
            name: name.to_owned(),
            tags: tags.clone(),
            versions: Vec::new(),
            rotation_enabled: false,
        });
        Ok(arn)
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String> {
        self.put_secret_value(
            secret_id,
            client_request_token,
            value,
            &[keyshift_core::ports::AWSPENDING],
            Utc::now(),
        )
    }

    async fn apply_stage_update(&self, secret_id: &str, update: &StageUpdate) -> Result<()> {
        self.update_version_stage(
            secret_id,
            update.stage,
            update.move_to.as_deref(),
            update.remove_from.as_deref(),
        )
    }

    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let secrets = self.lock();
        let names = secrets
            .by_tag
            .get(&(key.to_owned(), value.to_owned()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default();
        Ok(names)
    }

    async fn set_tag(&self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.lock().set_tag(secret_id, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyshift_core::ports::AWSPENDING;

    #[tokio::test]
    async fn rotation_is_off_until_enabled_like_describe_secret_shows_it() {
        let store = InMemorySecretStore::new();
        let arn = store
            .ensure_secret("managed/one", "", &BTreeMap::new())
            .await
            .unwrap();
        assert!(
            !store
                .describe("managed/one")
                .await
                .unwrap()
                .rotation_enabled
        );
        store.set_rotation_enabled("managed/one", true).unwrap();
        assert!(
            store.describe(&arn).await.unwrap().rotation_enabled,
            "by ARN too"
        );
        let missing = store
            .set_rotation_enabled("managed/none", true)
            .unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    #[tokio::test]
    async fn many_secrets_are_found_by_name_and_arn_and_listed_by_tag_in_name_order() {
        const SECRETS: usize = 1_000;
        let store = InMemorySecretStore::new();
        let mut arns = Vec::new();
        // Inserted in reverse name order, so a listing in insertion order would show.
        for index in (0..SECRETS).rev() {
            let tags = BTreeMap::from([("team".to_owned(), format!("t{}", index % 3))]);
            let arn = store
                .ensure_secret(&format!("fleet/{index:04}"), "", &tags)
                .await
                .unwrap();
            arns.push((index, arn));
        }
        for (index, arn) in &arns {
            let name = format!("fleet/{index:04}");
            assert_eq!(
                store
                    .ensure_secret(&name, "", &BTreeMap::new())
                    .await
                    .unwrap(),
                *arn
            );
            assert_eq!(store.describe(arn).await.unwrap().name, name);
        }
        let listed = store.list_tagged("team", "t1").await.unwrap();
        let expected: Vec<String> = (0..SECRETS)
            .filter(|index| index % 3 == 1)
            .map(|index| format!("fleet/{index:04}"))
            .collect();
        assert_eq!(listed.len(), 333);
        assert_eq!(listed, expected);
        assert!(store.list_tagged("team", "t9").await.unwrap().is_empty());
        assert!(store.list_tagged("owner", "t1").await.unwrap().is_empty());
    }

    /// What promote relies on: UpdateSecretVersionStage naming a RemoveFromVersionId that no
    /// longer holds the label is refused by the store itself, atomically, as Secrets Manager
    /// and moto refuse it, so of two promotions that read the same AWSCURRENT only the first
    /// moves it; reusing a ClientRequestToken with another value is refused too.
    #[tokio::test]
    async fn a_move_naming_a_stale_holder_is_refused_by_the_store_itself() {
        let store = InMemorySecretStore::new();
        store
            .ensure_secret("managed/race", "", &BTreeMap::new())
            .await
            .unwrap();
        let [v1, v2, v3] = ["1", "2", "3"].map(|digit| digit.repeat(32));
        for (version, value) in [(&v1, "one"), (&v2, "two"), (&v3, "three")] {
            store
                .put_pending("managed/race", version, &SecretString::new(value))
                .await
                .unwrap();
        }
        let reused = store
            .put_pending("managed/race", &v2, &SecretString::new("other"))
            .await
            .unwrap_err();
        assert_eq!(reused.asl_name(), "Secret.VersionConflict", "{reused}");
        // Both "read" AWSCURRENT on v1; the first moves it, the second still names v1.
        let first = StageUpdate::moving(AWSCURRENT, &v2, Some(&v1));
        let second = StageUpdate::moving(AWSCURRENT, &v3, Some(&v1));
        store
            .apply_stage_update("managed/race", &first)
            .await
            .unwrap();
        let refused = store
            .apply_stage_update("managed/race", &second)
            .await
            .unwrap_err();
        assert_eq!(refused.asl_name(), "Input.Invalid", "{refused}");
        let described = store.describe("managed/race").await.unwrap();
        assert_eq!(described.version_with_stage(AWSCURRENT), Some(v2.as_str()));
        assert_eq!(described.version_with_stage(AWSPREVIOUS), Some(v1.as_str()));
        // AWSPENDING is on v3 (the last write): taking it off v2 is refused, not applied.
        let stale_release = store
            .apply_stage_update("managed/race", &StageUpdate::removing(AWSPENDING, &v2))
            .await
            .unwrap_err();
        assert_eq!(stale_release.asl_name(), "Input.Invalid");
        let after = store.describe("managed/race").await.unwrap();
        assert_eq!(after.version_with_stage(AWSPENDING), Some(v3.as_str()));
    }
}
