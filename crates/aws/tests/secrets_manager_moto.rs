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
    let prefix = keyshift_test_support::aws::unique("keyshift-contract");
    contract::run_case(&store, case, &prefix).await.unwrap();
}

keyshift_local::secret_store_contract_tests!(run);
