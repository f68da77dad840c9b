//! `keyshift admin adopt` on grafana-sim (real HTTP) and moto (real SDK): the basic-auth admin
//! secret becomes a keyshift-admin token in the managed format (checked by authenticating with
//! it), a dry run changes nothing, and a second adoption is refused; the adopted secret is then
//! rotated by the scheduled flow at Admin despite the policy's Editor cap, and the next run works
//! with the rotated credential.

use keyshift_core::model::WorkspaceRef;
use keyshift_core::naming::ADMIN_ACCOUNT_NAME;
use keyshift_core::steps::adopt_admin_secret;
use keyshift_e2e::{Harness, StoreKind};

const DAY: i64 = 86_400;
/// The self-hosted Grafana 10.4 instance whose basic-auth admin secret is adopted.
const INSTANCE: &str = "sh-104";

/// The harness on Secrets Manager (moto), the instance's workspace and its admin secret id;
/// `None` only where moto is absent and not required (`KEYSHIFT_REQUIRE_TOOLS` unset).
async fn self_hosted_on_moto() -> Option<(Harness, WorkspaceRef, String)> {
    let harness = Harness::start(StoreKind::Moto).await?;
    let workspace = harness.workspace(INSTANCE);
    let secret_id = harness.admin_secret_id(INSTANCE);
    Some((harness, workspace, secret_id))
}

#[tokio::test]
async fn basic_auth_admin_secret_is_adopted_once_on_secrets_manager() {
    let Some((harness, workspace, secret_id)) = self_hosted_on_moto().await else {
        return;
    };

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
    assert!(harness.authenticates(INSTANCE, current.token.expose()));

    let again = adopt_admin_secret(&harness.deps, &workspace, 30 * DAY as u64, "adopt-2", false)
        .await
        .unwrap_err();
    assert_eq!(again.asl_name(), "Admin.AlreadyAdopted");
}

/// The role of `keyshift-admin` on `instance`, as Grafana holds it.
fn admin_account_role(harness: &Harness, instance: &str) -> String {
    let accounts = harness
        .state()
        .list_service_accounts(instance, 1)
        .expect("the instance lists its accounts");
    let admin = accounts
        .iter()
        .find(|account| account.row.name == ADMIN_ACCOUNT_NAME)
        .expect("keyshift-admin exists after adoption");
    format!("{:?}", admin.row.role)
}

#[tokio::test]
async fn an_adopted_admin_secret_rotates_on_schedule_and_keeps_admin_under_the_role_cap() {
    let Some((harness, workspace, secret_id)) = self_hosted_on_moto().await else {
        return;
    };
    // A two-day admin token is due at once under the default policy, whose role cap is Editor.
    adopt_admin_secret(&harness.deps, &workspace, 2 * DAY as u64, "adopt-1", false)
        .await
        .unwrap();
    let adopted = harness.current_value(&secret_id).await;
    let policy = harness.policy(serde_json::json!({}));
    assert_eq!(policy.roles.max_role.to_string(), "Editor");

    let record = harness
        .run_execution(&workspace, &policy, "ks-admin-1")
        .await
        .unwrap();
    let planned: Vec<_> = record
        .planned_credentials()
        .iter()
        .filter(|credential| credential.secret_id == secret_id)
        .collect();
    assert_eq!(
        planned.len(),
        1,
        "the admin secret is rotated with the rest"
    );
    assert_eq!(planned[0].service_account.role.to_string(), "Admin");

    let rotated = harness.current_value(&secret_id).await;
    assert_eq!(rotated.service_account_name, ADMIN_ACCOUNT_NAME);
    assert_ne!(
        rotated.token_id, adopted.token_id,
        "a new admin token is current"
    );
    assert!(harness.authenticates(INSTANCE, rotated.token.expose()));
    assert_eq!(admin_account_role(&harness, INSTANCE), "Admin");

    // The next run works with the rotated admin credential alone, and the grace period has
    // retired the adopted token.
    harness
        .run_execution(&workspace, &policy, "ks-admin-2")
        .await
        .unwrap();
    assert!(!harness.authenticates(INSTANCE, adopted.token.expose()));
    assert_eq!(admin_account_role(&harness, INSTANCE), "Admin");
}
