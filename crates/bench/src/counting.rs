//! Counting decorators over the local secret store and sealer: each port call is counted as
//! the AWS API calls keyshift's AWS adapters make for it (crates/aws: `SecretsManagerStore`,
//! `KmsSealer`), so a local rotation reports the Secrets Manager and KMS requests a deployed
//! one would be billed for. Each counted call can also wait an added latency first, as a
//! network round trip would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use keyshift_cli::local::running_step;
use keyshift_core::Result;
use keyshift_core::SecretString;
use keyshift_core::ports::{
    SealContext, SealedToken, Sealer, SecretDescription, SecretStore, SecretVersionValue,
    StageUpdate, VersionSelector,
};

/// AWS API calls by the step that made them and `service:Operation`, shared by the
/// decorators of one run.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl CallCounter {
    fn add(&self, service: &str, operation: &str) {
        // Locally every step runs in one process; the step whose invocation this is says
        // which Lambda would have made the call.
        let step = running_step().map_or("(no step)", |step| step.local_function_name());
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((step.to_owned(), format!("{service}:{operation}")))
            .or_default() += 1;
    }

    /// The counts so far by `service:Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut totals = BTreeMap::new();
        for ((_, call), count) in self.by_step() {
            *totals.entry(call).or_default() += count;
        }
        totals
    }

    /// The counts so far by step and `service:Operation`.
    pub fn by_step(&self) -> BTreeMap<(String, String), u64> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the counts (between executions).
    pub fn clear(&self) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The service names counts are keyed by.
pub const SECRETS_MANAGER: &str = "secretsmanager";
/// See [`SECRETS_MANAGER`].
pub const KMS: &str = "kms";
/// KMS requests Secrets Manager makes on the secret's customer-managed key on the function's
/// behalf (GenerateDataKey for each new version, Decrypt for each value read): billed to the
/// account like the function's own, so counted apart from them.
pub const KMS_VIA_SECRETS_MANAGER: &str = "kms-via-secretsmanager";

/// A [`SecretStore`] that counts what the AWS adapter would send for each call.
pub struct CountingStore<S> {
    inner: S,
    counter: CallCounter,
    latency: Duration,
}

impl<S: SecretStore> CountingStore<S> {
    /// Counts `inner`'s calls on `counter`, each after `latency`.
    pub fn new(inner: S, counter: CallCounter, latency: Duration) -> Self {
        CountingStore {
            inner,
            counter,
            latency,
        }
    }

    async fn call(&self, operation: &str) {
        self.counter.add(SECRETS_MANAGER, operation);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for CountingStore<S> {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription> {
        self.call("DescribeSecret").await;
        self.inner.describe(secret_id).await
    }

    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue> {
        self.call("GetSecretValue").await;
        let value = self.inner.get(secret_id, selector).await;
        if value.is_ok() {
            self.counter.add(KMS_VIA_SECRETS_MANAGER, "Decrypt");
        }
        value
    }

    /// The adapter describes first and creates only a secret that is not there.
    async fn ensure_secret(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        self.call("DescribeSecret").await;
        if self.inner.describe(name).await.is_err() {
            self.call("CreateSecret").await;
        }
        self.inner.ensure_secret(name, description, tags).await
    }

    /// The adapter reads the version by its id first and writes only a version not there.
    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String> {
        self.call("GetSecretValue").await;
        let existing = self
            .inner
            .get(
                secret_id,
                &VersionSelector::Id(client_request_token.to_owned()),
            )
            .await;
        if existing.is_ok() {
            self.counter.add(KMS_VIA_SECRETS_MANAGER, "Decrypt");
        } else {
            self.call("PutSecretValue").await;
            self.counter.add(KMS_VIA_SECRETS_MANAGER, "GenerateDataKey");
        }
        self.inner
            .put_pending(secret_id, client_request_token, value)
            .await
    }

    async fn apply_stage_update(&self, secret_id: &str, update: &StageUpdate) -> Result<()> {
        self.call("UpdateSecretVersionStage").await;
        self.inner.apply_stage_update(secret_id, update).await
    }

    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        self.call("ListSecrets").await;
        self.inner.list_tagged(key, value).await
    }

    async fn set_tag(&self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.call(if value.is_some() {
            "TagResource"
        } else {
            "UntagResource"
        })
        .await;
        self.inner.set_tag(secret_id, key, value).await
    }
}

/// A [`Sealer`] that counts KMS Encrypt and Decrypt, as `KmsSealer` sends one of each.
pub struct CountingSealer<S> {
    inner: S,
    counter: CallCounter,
    latency: Duration,
}

impl<S: Sealer> CountingSealer<S> {
    /// Counts `inner`'s calls on `counter`, each after `latency`.
    pub fn new(inner: S, counter: CallCounter, latency: Duration) -> Self {
        CountingSealer {
            inner,
            counter,
            latency,
        }
    }

    async fn call(&self, operation: &str) {
        self.counter.add(KMS, operation);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl<S: Sealer> Sealer for CountingSealer<S> {
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken> {
        self.call("Encrypt").await;
        self.inner.seal(plaintext, context).await
    }

    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString> {
        self.call("Decrypt").await;
        self.inner.unseal(sealed, context).await
    }
}

#[cfg(test)]
mod tests {
    use keyshift_core::model::WorkspaceRef;
    use keyshift_core::ports::{AWSPENDING, seal_context};
    use keyshift_local::{InMemorySecretStore, LocalSealer};

    use super::*;

    #[tokio::test]
    async fn calls_are_counted_as_the_aws_adapters_send_them() {
        let counter = CallCounter::default();
        let store = CountingStore::new(InMemorySecretStore::new(), counter.clone(), Duration::ZERO);
        let tags = BTreeMap::new();
        store.ensure_secret("bench/a", "", &tags).await.unwrap();
        store.ensure_secret("bench/a", "", &tags).await.unwrap();
        let token = "0123456789abcdef0123456789abcdef";
        let value = SecretString::new("glsa_value");
        store.put_pending("bench/a", token, &value).await.unwrap();
        store.put_pending("bench/a", token, &value).await.unwrap();
        store
            .get("bench/a", &VersionSelector::Stage(AWSPENDING.to_owned()))
            .await
            .unwrap();
        let sealer = CountingSealer::new(LocalSealer::random(), counter.clone(), Duration::ZERO);
        let context = seal_context(
            &WorkspaceRef::amg("g-0000000001", "us-east-1", 1).unwrap(),
            "ks",
        );
        let sealed = sealer.seal(&value, &context).await.unwrap();
        sealer.unseal(&sealed, &context).await.unwrap();

        let counted = counter.snapshot();
        let expected: BTreeMap<String, u64> = [
            ("secretsmanager:DescribeSecret", 2),
            ("secretsmanager:CreateSecret", 1),
            ("secretsmanager:GetSecretValue", 3),
            ("secretsmanager:PutSecretValue", 1),
            ("kms-via-secretsmanager:GenerateDataKey", 1),
            ("kms-via-secretsmanager:Decrypt", 2),
            ("kms:Encrypt", 1),
            ("kms:Decrypt", 1),
        ]
        .into_iter()
        .map(|(key, count)| (key.to_owned(), count))
        .collect();
        assert_eq!(counted, expected);
        counter.clear();
        assert!(counter.snapshot().is_empty());
    }
}
