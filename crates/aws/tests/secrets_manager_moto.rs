//! The secret-store contract suite on Secrets Manager (moto), the same functions the
//! in-memory store passes.

mod common;

use keyshift_aws::SecretsManagerStore;
use keyshift_local::contract;

async fn run(case: &str) {
    let Some(context) = common::moto_context(case).await else {
        return;
    };
    let store = SecretsManagerStore::new(context.secrets_manager_client());
    let prefix = common::unique("keyshift-contract");
    contract::run_case(&store, case, &prefix).await.unwrap();
}

#[tokio::test]
async fn first_version_becomes_current() {
    run("first_version_becomes_current").await;
}

#[tokio::test]
async fn put_pending_is_idempotent() {
    run("put_pending_is_idempotent").await;
}

#[tokio::test]
async fn same_token_different_value_is_rejected() {
    run("same_token_different_value_is_rejected").await;
}

#[tokio::test]
async fn promote_moves_previous() {
    run("promote_moves_previous").await;
}

#[tokio::test]
async fn move_requires_naming_the_current_holder() {
    run("move_requires_naming_the_current_holder").await;
}

#[tokio::test]
async fn pending_left_behind_is_visible() {
    run("pending_left_behind_is_visible").await;
}

#[tokio::test]
async fn missing_things_are_not_found() {
    run("missing_things_are_not_found").await;
}

#[tokio::test]
async fn every_contract_case_has_a_test_here() {
    assert_eq!(contract::CASES.len(), 7);
}
