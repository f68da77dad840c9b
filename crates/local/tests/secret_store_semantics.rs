//! Secrets Manager rules beyond the shared contract, checked on the general API of the
//! in-memory store (arbitrary labels, explicit stage lists).

use std::collections::BTreeMap;

use chrono::Utc;
use keyshift_core::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretStore, StageUpdate, VersionSelector,
};
use keyshift_core::secret::SecretString;
use keyshift_local::InMemorySecretStore;
use keyshift_local::contract::new_request_token;

async fn store_with_secret(name: &str) -> InMemorySecretStore {
    let store = InMemorySecretStore::new();
    store
        .ensure_secret(name, "", &BTreeMap::new())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn put_without_stages_moves_current_and_previous() {
    let store = store_with_secret("s").await;
    let value = |text: &str| SecretString::new(text);
    let first = new_request_token();
    let second = new_request_token();
    store
        .put_secret_value("s", &first, &value("1"), &[AWSCURRENT], Utc::now())
        .unwrap();
    store
        .put_secret_value("s", &second, &value("2"), &[AWSCURRENT], Utc::now())
        .unwrap();
    let described = store.describe("s").await.unwrap();
    assert_eq!(
        described.version_with_stage(AWSCURRENT),
        Some(second.as_str())
    );
    assert_eq!(
        described.version_with_stage(AWSPREVIOUS),
        Some(first.as_str())
    );
}

#[tokio::test]
async fn custom_labels_are_exclusive_too() {
    let store = store_with_secret("s").await;
    let first = new_request_token();
    let second = new_request_token();
    store
        .put_secret_value("s", &first, &SecretString::new("1"), &["BLUE"], Utc::now())
        .unwrap();
    store
        .put_secret_value("s", &second, &SecretString::new("2"), &["BLUE"], Utc::now())
        .unwrap();
    let described = store.describe("s").await.unwrap();
    assert_eq!(described.version_with_stage("BLUE"), Some(second.as_str()));
    // The first version kept AWSCURRENT (it was the first), so it is still described.
    assert_eq!(
        described.version_with_stage(AWSCURRENT),
        Some(first.as_str())
    );
    let holders = described
        .versions
        .iter()
        .filter(|v| v.has_stage("BLUE"))
        .count();
    assert_eq!(holders, 1);
}

#[tokio::test]
async fn moving_a_free_label_needs_no_remove_from() {
    let store = store_with_secret("s").await;
    let token = new_request_token();
    store
        .put_pending("s", &token, &SecretString::new("1"))
        .await
        .unwrap();
    store
        .update_stage("s", &StageUpdate::removing(AWSPENDING, &token))
        .await
        .unwrap();
    store
        .update_stage("s", &StageUpdate::moving(AWSPENDING, &token, None))
        .await
        .unwrap();
    let pending = store.get("s", &VersionSelector::pending()).await.unwrap();
    assert_eq!(pending.version_id, token);
}

#[tokio::test]
async fn unknown_versions_and_bad_tokens_are_rejected() {
    let store = store_with_secret("s").await;
    let missing = new_request_token();
    let error = store
        .update_stage("s", &StageUpdate::moving(AWSCURRENT, &missing, None))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Secret.NotFound");
    let error = store
        .put_pending("s", "short", &SecretString::new("1"))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
    let error = store
        .ensure_secret("", "", &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
}

#[tokio::test]
async fn secrets_are_addressable_by_arn_and_errors_hide_values() {
    let store = InMemorySecretStore::new();
    let arn = store
        .ensure_secret("named", "", &BTreeMap::new())
        .await
        .unwrap();
    assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}");
    let token = new_request_token();
    store
        .put_pending(&arn, &token, &SecretString::new("glsa_value_one"))
        .await
        .unwrap();
    let error = store
        .put_pending("named", &token, &SecretString::new("glsa_value_two"))
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("glsa_value"), "{text}");
    assert_eq!(store.describe(&arn).await.unwrap().name, "named");
}
