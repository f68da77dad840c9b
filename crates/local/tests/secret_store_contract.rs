//! The secret-store contract on the in-memory store, one test per case so a failure names it.

use keyshift_local::InMemorySecretStore;
use keyshift_local::contract::{self, CASES};

async fn run(case: &str) {
    let store = InMemorySecretStore::new();
    contract::run_case(&store, case, "local").await.unwrap();
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
async fn run_all_covers_every_case_on_one_shared_store() {
    let store = InMemorySecretStore::new();
    let violations = contract::run_all(&store, "shared").await;
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(CASES.len(), 7);
    assert!(
        contract::run_case(&store, "no_such_case", "x")
            .await
            .is_err()
    );
}
