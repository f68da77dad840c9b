//! Secrets created by the adapter are encrypted with the configured customer-managed key, not
//! the AWS-managed `aws/secretsmanager` key (moto records the key CreateSecret was given).

mod common;

use std::collections::BTreeMap;

use keyshift_aws::SecretsManagerStore;
use keyshift_core::ports::SecretStore;

#[tokio::test]
async fn created_secrets_carry_the_configured_kms_key() {
    let Some(context) = common::moto_context("created_secrets_carry_the_configured_kms_key").await
    else {
        return;
    };
    let key = context
        .kms_client()
        .create_key()
        .description("keyshift secrets test")
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let client = context.secrets_manager_client();
    let store = SecretsManagerStore::new(client.clone()).with_kms_key_id(key_arn.clone());
    let name = common::unique("keyshift-kms/grafana");
    let arn = store
        .ensure_secret(&name, "token of a test", &BTreeMap::new())
        .await
        .unwrap();

    let described = client.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(described.kms_key_id(), Some(key_arn.as_str()));

    // Without a configured key CreateSecret names none, so AWS picks its managed key.
    let plain = SecretsManagerStore::new(client.clone());
    let plain_name = common::unique("keyshift-kms/plain");
    plain
        .ensure_secret(&plain_name, "", &BTreeMap::new())
        .await
        .unwrap();
    let described = client
        .describe_secret()
        .secret_id(&plain_name)
        .send()
        .await
        .unwrap();
    assert_ne!(described.kms_key_id(), Some(key_arn.as_str()));
}
