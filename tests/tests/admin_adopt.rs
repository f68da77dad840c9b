//! `keyshift admin adopt` on grafana-sim (real HTTP) and moto (real SDK): the basic-auth admin
//! secret becomes a keyshift-admin token in the managed format (checked by authenticating with
//! it), a dry run changes nothing, and a second adoption is refused; the adopted secret is then
//! rotated by the scheduled flow at Admin despite the policy's Editor cap, and the next run works
//! with the rotated credential; a crash at any of the rotation's remote calls (98 on 10.4) never
//! leaves keyshift without a working Admin credential, and the next run rotates cleanly.

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

/// The current admin credential of `secret_id` authenticates on `instance` and `keyshift-admin`
/// still holds Admin: keyshift can still administer the instance.
async fn assert_admin_works(harness: &Harness, secret_id: &str, label: &str) {
    let current = harness.current_value(secret_id).await;
    assert_eq!(current.service_account_name, ADMIN_ACCOUNT_NAME, "{label}");
    assert!(
        harness.authenticates(INSTANCE, current.token.expose()),
        "{label}: the admin secret's AWSCURRENT authenticates"
    );
    assert_eq!(admin_account_role(harness, INSTANCE), "Admin", "{label}");
}

/// Adopts the admin secret on a harness whose crash switch fires at `crash_at` (counted from
/// the first call, adoption included); returns the harness, the workspace, the admin secret and
/// the calls the adoption made.
async fn adopted_and_crashing(crash_at: u64) -> (Harness, WorkspaceRef, String, u64) {
    let harness = Harness::start_crashing(crash_at)
        .await
        .expect("the memory-store harness needs no external tool");
    let workspace = harness.workspace(INSTANCE);
    let secret_id = harness.admin_secret_id(INSTANCE);
    adopt_admin_secret(&harness.deps, &workspace, 2 * DAY as u64, "adopt-1", false)
        .await
        .expect("adoption runs before the crash point");
    let calls = harness.crash_switch.as_ref().unwrap().calls();
    (harness, workspace, secret_id, calls)
}

#[tokio::test]
async fn a_crash_at_any_call_of_an_admin_rotation_never_leaves_keyshift_without_admin() {
    let (clean, workspace, secret_id, adoption_calls) = adopted_and_crashing(0).await;
    let policy = clean.policy(serde_json::json!({}));
    let record = clean
        .run_execution(&workspace, &policy, "ks-admin-crash")
        .await
        .unwrap();
    let admin_credentials = record
        .planned_credentials()
        .iter()
        .filter(|credential| credential.secret_id == secret_id)
        .count();
    assert_eq!(
        admin_credentials, 1,
        "the clean run rotates the admin secret"
    );
    let rotation_calls = clean.crash_switch.as_ref().unwrap().calls() - adoption_calls;
    assert!(rotation_calls > 0);

    let mut fired = 0;
    for crash_point in 1..=rotation_calls {
        let (harness, workspace, secret_id, calls) =
            adopted_and_crashing(adoption_calls + crash_point).await;
        assert_eq!(
            calls, adoption_calls,
            "adoption makes the same calls every time"
        );
        let switch = harness.crash_switch.as_ref().unwrap();
        let operation = || {
            switch
                .operations()
                .get((adoption_calls + crash_point - 1) as usize)
                .cloned()
                .unwrap_or_default()
        };
        let label = format!("crash at rotation call {crash_point}/{rotation_calls}");
        let outcome = harness
            .run_execution(&workspace, &policy, "ks-admin-crash")
            .await;
        assert!(switch.crashed(), "{label}: the crash fired");
        fired += 1;
        let label = format!("{label} ({})", operation());
        // Whether the step absorbed the crash or the execution failed into the DLQ, the admin
        // secret works; the next execution (a replay, or the next tick) rotates cleanly with it.
        assert_admin_works(&harness, &secret_id, &label).await;
        if let Err(error) = &outcome {
            assert!(
                error.is_retryable() || error.asl_name() == "Rotation.InProgress",
                "{label}: {} {error}",
                error.asl_name()
            );
        }
        harness
            .run_execution(&workspace, &policy, "ks-admin-after-crash")
            .await
            .unwrap_or_else(|error| panic!("{label}: the next run failed: {error}"));
        assert_admin_works(&harness, &secret_id, &format!("{label}, next run")).await;
    }
    assert_eq!(
        fired, rotation_calls,
        "one fired crash per remote call of the clean run"
    );
    eprintln!("admin rotation: {fired} crash points, each fired and recovered");
}
