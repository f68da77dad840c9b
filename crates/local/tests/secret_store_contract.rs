//! The secret-store contract on the in-memory store, one test per case so a failure names it.

use keyshift_local::InMemorySecretStore;
use keyshift_local::contract;

async fn run(case: &str) {
    let store = InMemorySecretStore::new();
    contract::run_case(&store, case, "local").await.unwrap();
}

keyshift_local::secret_store_contract_tests!(run);

#[tokio::test]
async fn run_all_covers_every_case_on_one_shared_store() {
    let store = InMemorySecretStore::new();
    let violations = contract::run_all(&store, "shared").await;
    assert!(violations.is_empty(), "{violations:?}");
    assert!(
        contract::run_case(&store, "no_such_case", "x")
            .await
            .is_err()
    );
}
