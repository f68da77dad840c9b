//! [`SecretStore`] on AWS Secrets Manager.
//!
//! The staging rules keyshift relies on are checked here before calling AWS as well (label
//! already on the target, RemoveFromVersionId naming the real holder, immutable versions), so
//! the adapter behaves identically on real AWS and on moto, which is lax about several of
//! them; the shared contract suite in `keyshift_local::contract` holds it to that.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{
    AWSPENDING, SecretDescription, SecretStore, SecretVersionInfo, SecretVersionValue, StageUpdate,
    VersionSelector,
};
use keyshift_core::secret::SecretString;

use crate::aws_errors::{classify, has_code};

const SERVICE: &str = "secretsmanager";

/// Secrets Manager through the AWS SDK; cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
    kms_key_id: Option<String>,
}

impl SecretsManagerStore {
    /// Wraps a configured client (see [`crate::config::AwsContext::secrets_manager_client`]).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kms_key_id: None,
        }
    }

    /// Encrypts the secrets this store creates with a customer-managed KMS key (id, ARN or
    /// alias) instead of the account's AWS-managed `aws/secretsmanager` key, so the key policy
    /// decides who may read the tokens. Secrets that already exist keep their key.
    pub fn with_kms_key_id(mut self, kms_key_id: impl Into<String>) -> Self {
        self.kms_key_id = Some(kms_key_id.into());
        self
    }

    async fn read_version(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretVersionValue> {
        let mut request = self.client.get_secret_value().secret_id(secret_id);
        let what = match selector {
            VersionSelector::Stage(stage) => {
                request = request.version_stage(stage);
                format!("stage {stage}")
            }
            VersionSelector::Id(version_id) => {
                request = request.version_id(version_id);
                format!("version {version_id}")
            }
        };
        let output = request.send().await.map_err(|error| {
            if has_code(&error, "ResourceNotFoundException") {
                KeyshiftError::SecretNotFound {
                    secret_id: secret_id.to_owned(),
                    what,
                }
            } else {
                classify(SERVICE, "GetSecretValue", &error, None)
            }
        })?;
        let value = output
            .secret_string()
            .ok_or_else(|| KeyshiftError::AwsFailed {
                service: SERVICE.to_owned(),
                operation: "GetSecretValue".to_owned(),
                detail: "the version holds binary data, not a string".to_owned(),
            })?;
        Ok(SecretVersionValue {
            version_id: output.version_id().unwrap_or_default().to_owned(),
            value: SecretString::new(value),
            stages: output.version_stages().to_vec(),
        })
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|error| {
                if has_code(&error, "ResourceNotFoundException") {
                    KeyshiftError::SecretNotFound {
                        secret_id: secret_id.to_owned(),
                        what: "secret".to_owned(),
                    }
                } else {
                    classify(SERVICE, "DescribeSecret", &error, None)
                }
            })?;
        let mut versions: Vec<SecretVersionInfo> = output
            .version_ids_to_stages()
            .map(|map| {
                map.iter()
                    .filter(|(_, stages)| !stages.is_empty())
                    .map(|(version_id, stages)| SecretVersionInfo {
                        version_id: version_id.clone(),
                        stages: stages.clone(),
                        created: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.sort_by(|left, right| left.version_id.cmp(&right.version_id));
        let tags: BTreeMap<String, String> = output
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect();
        Ok(SecretDescription {
            arn: output.arn().unwrap_or(secret_id).to_owned(),
            name: output.name().unwrap_or(secret_id).to_owned(),
            versions,
            tags,
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
        })
    }

    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue> {
        self.read_version(secret_id, selector).await
    }

    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        // The tag filters match any tag's key and any tag's value (by prefix), so the exact
        // pair is checked on each listed secret's own tags.
        let mut pages = self
            .client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values(key)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagValue)
                    .values(value)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| classify(SERVICE, "ListSecrets", &error, None))?;
            for entry in page.secret_list() {
                let tagged = entry
                    .tags()
                    .iter()
                    .any(|tag| tag.key() == Some(key) && tag.value() == Some(value));
                if let (true, Some(name)) = (tagged, entry.name()) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    async fn set_tag(&self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(value) => self
                .client
                .tag_resource()
                .secret_id(secret_id)
                .tags(Tag::builder().key(key).value(value).build())
                .send()
                .await
                .map(drop)
                .map_err(|error| classify(SERVICE, "TagResource", &error, None)),
            None => self
                .client
                .untag_resource()
                .secret_id(secret_id)
                .tag_keys(key)
                .send()
                .await
                .map(drop)
                .map_err(|error| classify(SERVICE, "UntagResource", &error, None)),
        }
    }

    async fn ensure_secret(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        match self.describe(name).await {
            Ok(existing) => return Ok(existing.arn),
            Err(KeyshiftError::SecretNotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let mut request = self.client.create_secret().name(name);
        if !description.is_empty() {
            request = request.description(description);
        }
        if let Some(kms_key_id) = &self.kms_key_id {
            request = request.kms_key_id(kms_key_id);
        }
        for (key, value) in tags {
            request = request.tags(Tag::builder().key(key).value(value).build());
        }
        match request.send().await {
            Ok(output) => Ok(output.arn().unwrap_or(name).to_owned()),
            // Another execution created it between our describe and create.
            Err(error) if has_code(&error, "ResourceExistsException") => {
                self.describe(name).await.map(|existing| existing.arn)
            }
            Err(error) => Err(classify(SERVICE, "CreateSecret", &error, None)),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String> {
        // Versions are immutable; checking first makes a retry a true no-op and turns reuse
        // with another value into the same named error on AWS and on moto.
        match self
            .read_version(
                secret_id,
                &VersionSelector::Id(client_request_token.to_owned()),
            )
            .await
        {
            Ok(existing) if existing.value == *value => return Ok(existing.version_id),
            Ok(_) => {
                return Err(KeyshiftError::SecretVersionConflict {
                    secret_id: secret_id.to_owned(),
                    version_id: client_request_token.to_owned(),
                });
            }
            Err(KeyshiftError::SecretNotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let output = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(client_request_token)
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
            .send()
            .await
            .map_err(|error| {
                if has_code(&error, "ResourceExistsException") {
                    KeyshiftError::SecretVersionConflict {
                        secret_id: secret_id.to_owned(),
                        version_id: client_request_token.to_owned(),
                    }
                } else if has_code(&error, "ResourceNotFoundException") {
                    KeyshiftError::SecretNotFound {
                        secret_id: secret_id.to_owned(),
                        what: "secret".to_owned(),
                    }
                } else if has_code(&error, "InvalidParameterException") {
                    KeyshiftError::invalid_input(
                        "clientRequestToken",
                        "Secrets Manager rejected the request (token must be 32-64 characters)",
                    )
                } else {
                    classify(SERVICE, "PutSecretValue", &error, None)
                }
            })?;
        Ok(output
            .version_id()
            .unwrap_or(client_request_token)
            .to_owned())
    }

    async fn apply_stage_update(&self, secret_id: &str, update: &StageUpdate) -> Result<()> {
        let stage = update.stage;
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(update.move_to.clone())
            .set_remove_from_version_id(update.remove_from.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                if has_code(&error, "ResourceNotFoundException") {
                    KeyshiftError::SecretNotFound {
                        secret_id: secret_id.to_owned(),
                        what: "secret or version".to_owned(),
                    }
                } else if has_code(&error, "InvalidParameterException")
                    || has_code(&error, "InvalidRequestException")
                {
                    KeyshiftError::invalid_input(
                        "removeFromVersionId",
                        format!("Secrets Manager refused to move {stage}"),
                    )
                } else {
                    classify(SERVICE, "UpdateSecretVersionStage", &error, None)
                }
            })
    }
}
