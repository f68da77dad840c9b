//! Each named error comes from its matching grafana-sim fault; transient ones are retried
//! within bounds; a verification failure and a concurrent rotation are refused by name.

use std::collections::BTreeMap;
use std::time::Duration;

use grafana_sim::{FaultKind, FaultSpec};
use keyshift_core::KeyshiftError;
use keyshift_core::SecretString;
use keyshift_core::model::{GrafanaCredential, Role};
use keyshift_core::steps::io::{
    CreateSaInput, CredentialContext, DiscoverOutput, RevokeOldInput, StageOutput,
    StoreSecretInput, VerifyInput,
};
use keyshift_core::steps::{
    create_service_account, mint_token, revoke_old, store_secret, verify_token,
};
use keyshift_e2e::{
    ExecutionRecord, Harness, StoreKind, expect_error, fault_on, grafana_settings, hop,
    status_fault, test_fleet,
};
use serde_json::{Value, json};

const INSTANCE: &str = "sh-104";
const SEARCH: &str = "GET /api/serviceaccounts/search";

fn fault(endpoint: &str, kind: FaultKind, times: u32) -> FaultSpec {
    fault_on(INSTANCE, endpoint, kind, times)
}

/// Runs discover-keys once with only `spec` armed and fresh request counts; returns its
/// outcome and how many searches reached the simulator.
async fn discover_with(
    harness: &Harness,
    spec: FaultSpec,
) -> (Result<DiscoverOutput, KeyshiftError>, u64) {
    harness.state().faults().clear(None);
    harness.state().clear_request_counts();
    harness.state().faults().add(spec).unwrap();
    let workspace = harness.workspace(INSTANCE);
    let outcome = harness
        .discover(&workspace, &harness.policy(json!({})), "ks-faults")
        .await;
    let calls = harness
        .state()
        .request_counts(Some(INSTANCE))
        .get(SEARCH)
        .copied()
        .unwrap_or(0);
    (outcome, calls)
}

async fn discover_error(harness: &Harness, spec: FaultSpec) -> (KeyshiftError, u64) {
    let (outcome, calls) = discover_with(harness, spec).await;
    (expect_error(outcome), calls)
}

#[tokio::test]
async fn each_fault_gives_its_named_error_and_transient_ones_are_retried_within_bounds() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    // (fault, expected ASL name, expected attempts: 3 for retried transient errors, 1 otherwise)
    let table = [
        (status_fault(429), "Grafana.Throttled", 3),
        (status_fault(500), "Grafana.Unavailable", 3),
        (status_fault(503), "Grafana.Unavailable", 3),
        (status_fault(401), "Grafana.Unauthorized", 1),
        (status_fault(403), "Grafana.Forbidden", 1),
        (FaultKind::MalformedJson, "Grafana.BadResponse", 1),
        (FaultKind::Drop, "Grafana.Unavailable", 3),
    ];
    for (kind, expected, attempts) in table {
        let (error, calls) = discover_error(&harness, fault(SEARCH, kind.clone(), 10)).await;
        assert_eq!(error.asl_name(), expected, "{kind:?}: {error}");
        assert_eq!(calls, attempts, "{kind:?}: attempts made");
    }
    // A transient fault that clears within the retry budget is absorbed.
    let (outcome, calls) = discover_with(&harness, fault(SEARCH, status_fault(503), 2)).await;
    outcome.unwrap();
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn a_timeout_is_grafana_unavailable() {
    let mut settings = grafana_settings();
    // Generous against a loaded machine: only the injected latency may exceed it.
    settings.request_timeout = Duration::from_millis(1_000);
    let Some(harness) = Harness::start_with(StoreKind::Memory, test_fleet(), settings).await else {
        return;
    };
    let (error, calls) = discover_error(
        &harness,
        fault(SEARCH, FaultKind::Latency { ms: 4_000 }, 10),
    )
    .await;
    assert_eq!(error.asl_name(), "Grafana.Unavailable", "{error}");
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn a_wrong_admin_credential_is_grafana_unauthorized() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let wrong_secret = format!("{}/wrong-admin", harness.prefix);
    let value =
        SecretString::new(json!({"username": "admin", "password": "not-the-password"}).to_string());
    harness
        .store
        .ensure_secret(&wrong_secret, "wrong", &BTreeMap::new())
        .await
        .unwrap();
    harness
        .store
        .put_pending(
            &wrong_secret,
            "00000000-0000-4000-8000-000000000001",
            &value,
        )
        .await
        .unwrap();
    let error = discover_with_admin_secret(&harness, &wrong_secret).await;
    assert_eq!(error.asl_name(), "Grafana.Unauthorized", "{error}");
    assert!(!error.to_string().contains("not-the-password"));
    let error = discover_with_admin_secret(&harness, "no/such/secret").await;
    assert_eq!(error.asl_name(), "Secret.NotFound", "{error}");
}

/// The error of discovering [`INSTANCE`] with its admin credential read from `admin_secret`.
async fn discover_with_admin_secret(harness: &Harness, admin_secret: &str) -> KeyshiftError {
    let workspace = keyshift_core::model::WorkspaceRef::self_hosted(
        harness.sim.instance_url(INSTANCE),
        admin_secret,
        1,
    )
    .unwrap();
    expect_error(
        harness
            .discover(&workspace, &harness.policy(json!({})), "ks-x")
            .await,
    )
}

async fn first_context(harness: &Harness, execution: &str) -> CredentialContext {
    let workspace = harness.workspace(INSTANCE);
    let discovered = harness
        .discover(&workspace, &harness.policy(json!({})), execution)
        .await
        .unwrap();
    let credential = discovered.plan.credentials.first().cloned().unwrap();
    CredentialContext {
        execution_name: discovered.execution_name,
        workspace: discovered.workspace,
        grafana_url: discovered.grafana_url,
        bootstrap: discovered.bootstrap,
        policy: discovered.policy,
        grace_period_seconds: discovered.plan.grace_period_seconds,
        credential,
    }
}

/// create-sa then mint-token for one Map item, each payload through JSON.
async fn create_and_mint(harness: &Harness, context: CredentialContext) -> serde_json::Value {
    let created = create_service_account(&harness.deps, CreateSaInput { context })
        .await
        .unwrap();
    let minted = mint_token(&harness.deps, hop(&created, Value::Null).unwrap())
        .await
        .unwrap();
    serde_json::to_value(minted).unwrap()
}

/// store-secret with action stage on mint-token's output, as the state machine calls it.
async fn stage(
    harness: &Harness,
    minted: &serde_json::Value,
) -> keyshift_core::Result<StageOutput> {
    let output = store_secret(&harness.deps, hop(minted, json!({"action": "stage"}))?).await?;
    hop(&output, Value::Null)
}

#[tokio::test]
async fn a_token_deleted_before_verification_fails_verify_and_is_never_promoted() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let context = first_context(&harness, "ks-verify").await;
    let minted = create_and_mint(&harness, context).await;
    let staged = stage(&harness, &minted).await.unwrap();
    assert!(
        serde_json::to_value(&staged).unwrap()["token"]
            .get("sealed")
            .is_none(),
        "stage's output no longer carries the sealed token"
    );
    harness
        .state()
        .delete_token(INSTANCE, 1, staged.service_account.id, staged.token.id)
        .unwrap();
    let verify_input: VerifyInput = hop(&staged, Value::Null).unwrap();
    let error = expect_error(verify_token(&harness.deps, verify_input).await);
    assert_eq!(error.asl_name(), "Verify.Failed", "{error}");
    // A promote without verify's result cannot even be built from the payload.
    let error = expect_error(hop::<_, StoreSecretInput>(
        &staged,
        json!({"action": "promote"}),
    ));
    assert_eq!(error.asl_name(), "Input.Invalid", "{error}");
    assert!(error.to_string().contains("verified"), "{error}");
}

#[tokio::test]
async fn another_executions_pending_version_is_rotation_in_progress() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let mut record = ExecutionRecord::default();
    let first = first_context(&harness, "ks-first").await;
    harness.run_credential(&first, &mut record).await.unwrap();
    let as_execution = |execution: &str| CredentialContext {
        execution_name: execution.to_owned(),
        ..first.clone()
    };
    let second = create_and_mint(&harness, as_execution("ks-second")).await;
    let staged = stage(&harness, &second).await.unwrap();
    // Staging again within the same execution is a no-op.
    let again = stage(&harness, &second).await.unwrap();
    assert_eq!(again.staged, staged.staged);
    let third = create_and_mint(&harness, as_execution("ks-third")).await;
    let error = expect_error(stage(&harness, &third).await);
    assert_eq!(error.asl_name(), "Rotation.InProgress", "{error}");
}

#[tokio::test]
async fn a_hostile_payload_is_input_invalid_and_changes_nothing() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    let context = first_context(&harness, "ks-hostile").await;
    let mut payload = serde_json::to_value(&context).unwrap();
    payload["grafanaUrl"] = json!("http://attacker.invalid");
    let before = harness.live_tokens(INSTANCE);
    let tampered: CreateSaInput = serde_json::from_value(payload).unwrap();
    let error = expect_error(create_service_account(&harness.deps, tampered).await);
    assert_eq!(error.asl_name(), "Input.Invalid");
    let mut payload = serde_json::to_value(&context).unwrap();
    payload["executionName"] = json!("bad name/with slash");
    let tampered: CreateSaInput = serde_json::from_value(payload).unwrap();
    let error = expect_error(create_service_account(&harness.deps, tampered).await);
    assert_eq!(error.asl_name(), "Input.Invalid");
    assert_eq!(harness.live_tokens(INSTANCE), before);
}

#[tokio::test]
async fn a_token_acting_as_another_role_than_planned_fails_verify() {
    let harness = Harness::start(StoreKind::Memory)
        .await
        .expect("the memory-store harness needs no external tool");
    let context = first_context(&harness, "ks-role").await;
    let intended = context.credential.service_account.role;
    let grafana_url = context.grafana_url.clone();
    let minted = create_and_mint(&harness, context).await;
    let staged = stage(&harness, &minted).await.unwrap();
    // Someone demotes the account between mint and verify: the token authenticates, but as
    // Viewer, which consumers expecting the planned role would notice only in production.
    let admin = harness
        .deps
        .grafana
        .connect(
            &grafana_url,
            1,
            GrafanaCredential::Basic {
                username: "admin".to_owned(),
                password: SecretString::new(keyshift_e2e::ADMIN_PASSWORD),
            },
        )
        .await
        .unwrap();
    assert_ne!(
        intended,
        Role::Viewer,
        "the planned role differs from the demoted one"
    );
    admin
        .update_service_account_role(staged.service_account.id, Role::Viewer)
        .await
        .unwrap();
    let verify_input: VerifyInput = hop(&staged, Value::Null).unwrap();
    let error = expect_error(verify_token(&harness.deps, verify_input).await);
    assert_eq!(error.asl_name(), "Verify.Failed", "{error}");
    assert!(
        error.to_string().contains(&format!(
            "acts as Viewer, but the account should be {intended}"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn revoke_old_refuses_a_promoted_version_that_is_not_this_executions() {
    let harness = Harness::start(StoreKind::Memory)
        .await
        .expect("the memory-store harness needs no external tool");
    let context = first_context(&harness, "ks-revoke-guard").await;
    let mut record = ExecutionRecord::default();
    let promoted = harness.run_credential(&context, &mut record).await.unwrap();
    let live_before = harness.live_tokens(INSTANCE);
    let promoted = serde_json::to_value(&promoted).unwrap();
    let mut refused = 0;
    // Either half of the promoted reference wrong is enough to refuse: another version of the
    // same secret, or this version id under another secret.
    for (field, value) in [
        ("versionId", json!("00000000-0000-4000-8000-000000000000")),
        ("secretId", json!("keyshift/other/1/sa-autogen-other/token")),
    ] {
        let mut payload = promoted.clone();
        payload["promoted"][field] = value;
        let input: RevokeOldInput = hop(&payload, json!({"scope": "credential"})).unwrap();
        let error = expect_error(revoke_old(&harness.deps, input).await);
        assert_eq!(error.asl_name(), "Input.Invalid", "{field}: {error}");
        assert!(
            error
                .to_string()
                .contains("not the one this execution wrote"),
            "{field}: {error}"
        );
        refused += 1;
    }
    assert_eq!(refused, 2);
    assert_eq!(
        harness.live_tokens(INSTANCE),
        live_before,
        "nothing revoked"
    );
}
