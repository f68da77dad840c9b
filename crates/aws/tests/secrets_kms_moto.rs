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
    let name = keyshift_test_support::aws::unique("keyshift-kms/grafana");
    let arn = store
        .ensure_secret(&name, "token of a test", &BTreeMap::new())
        .await
        .unwrap();

    assert_eq!(kms_key_of(&client, &arn).await, Some(key_arn.clone()));

    // Without a configured key CreateSecret names none, so AWS picks its managed key.
    let plain = SecretsManagerStore::new(client.clone());
    let plain_name = keyshift_test_support::aws::unique("keyshift-kms/plain");
    plain
        .ensure_secret(&plain_name, "", &BTreeMap::new())
        .await
        .unwrap();
    assert_ne!(kms_key_of(&client, &plain_name).await, Some(key_arn));
}

/// The KMS key DescribeSecret reports for `secret_id`.
async fn kms_key_of(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Option<String> {
    let described = client.describe_secret().secret_id(secret_id).send().await;
    described.unwrap().kms_key_id().map(str::to_owned)
}
