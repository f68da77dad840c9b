//! `keyshift admin adopt` on grafana-sim (real HTTP) and moto (real SDK): the basic-auth admin
//! secret becomes a keyshift-admin token in the managed format (checked by authenticating with
//! it), a dry run changes nothing, and a second adoption is refused.

use keyshift_core::naming::ADMIN_ACCOUNT_NAME;
use keyshift_core::steps::adopt_admin_secret;
use keyshift_e2e::{Harness, StoreKind};

const DAY: i64 = 86_400;

#[tokio::test]
async fn basic_auth_admin_secret_is_adopted_once_on_secrets_manager() {
    let Some(harness) = Harness::start(StoreKind::Moto).await else {
        return;
    };
    let instance = "sh-104";
    let workspace = harness.workspace(instance);
    let secret_id = harness.admin_secret_id(instance);

    let dry = adopt_admin_secret(&harness.deps, &workspace, 30 * DAY as u64, "adopt-1", true)
        .await
        .unwrap();
    assert!(dry.dry_run && dry.created_account && dry.token_id.is_none());
    let adopted = adopt_admin_secret(&harness.deps, &workspace, 30 * DAY as u64, "adopt-1", false)
        .await
        .unwrap();
    let current = harness.current_value(&secret_id).await;
    assert_eq!(current.service_account_name, ADMIN_ACCOUNT_NAME);
    assert_eq!(Some(current.token_id), adopted.token_id);
    assert!(harness.authenticates(instance, current.token.expose()));

    let again = adopt_admin_secret(&harness.deps, &workspace, 30 * DAY as u64, "adopt-2", false)
        .await
        .unwrap_err();
    assert_eq!(again.asl_name(), "Admin.AlreadyAdopted");
}
