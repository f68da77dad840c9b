//! The AMG control-plane adapter (aws-sdk-grafana) against grafana-sim's AMG endpoint.

use std::time::Duration;

use grafana_sim::{FaultKind, FaultSpec, FleetSpec, RunningSim, Simulator};
use keyshift_aws::{AmgControlPlaneClient, AwsContext, EndpointOverrides, HttpGrafanaConnector};
use keyshift_core::KeyshiftError;
use keyshift_core::model::{AmgWorkspace, GrafanaCredential, Role};
use keyshift_core::ports::{AmgControlPlane, GrafanaConnector};
use serde_json::json;

const EAST: &str = "g-0a1b2c3d4e";
const WEST: &str = "g-9f8e7d6c5b";

async fn start() -> RunningSim {
    let fleet = json!({"workspaces": [
        {"kind": "amg", "id": EAST, "region": "us-east-1", "version": "10.4.1",
         "name": "east", "tags": {"keyshift": "managed"}},
        {"kind": "amg", "id": WEST, "region": "eu-west-1", "version": "12.1.0", "name": "west"}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn control_plane(sim: &RunningSim) -> AmgControlPlaneClient {
    let context =
        AwsContext::for_emulator(EndpointOverrides::for_all(sim.amg_endpoint_url())).await;
    AmgControlPlaneClient::new(&context.grafana_client())
}

fn east() -> AmgWorkspace {
    AmgWorkspace {
        workspace_id: EAST.to_owned(),
        region: "us-east-1".to_owned(),
    }
}

#[tokio::test]
async fn lists_and_describes_workspaces_per_region() {
    let sim = start().await;
    let amg = control_plane(&sim).await;
    let listed = amg.list_workspaces("us-east-1").await.unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|w| w.workspace.workspace_id.as_str())
        .collect();
    assert_eq!(ids, vec![EAST]);
    assert!(listed[0].is_active());
    assert_eq!(
        listed[0].tags.get("keyshift").map(String::as_str),
        Some("managed")
    );
    assert_eq!(listed[0].grafana_version.major, 10);

    let west = amg.list_workspaces("eu-west-1").await.unwrap();
    assert_eq!(west.len(), 1);
    assert_eq!(west[0].workspace.region, "eu-west-1");

    let described = amg.describe_workspace(&east()).await.unwrap();
    assert_eq!(described.name.as_deref(), Some("east"));
    assert!(!described.endpoint.is_empty());

    let missing = AmgWorkspace {
        workspace_id: "g-0000000000".to_owned(),
        region: "us-east-1".to_owned(),
    };
    assert_eq!(
        amg.describe_workspace(&missing)
            .await
            .unwrap_err()
            .asl_name(),
        "Workspace.NotFound"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bootstrap_token_lifecycle() {
    let sim = start().await;
    let amg = control_plane(&sim).await;
    let account = amg
        .create_workspace_service_account(&east(), "keyshift-bootstrap", Role::Admin)
        .await
        .unwrap();
    assert_eq!(account.role, Role::Admin);
    let duplicate = amg
        .create_workspace_service_account(&east(), "keyshift-bootstrap", Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(duplicate.asl_name(), "Grafana.Conflict");

    let accounts = amg.list_workspace_service_accounts(&east()).await.unwrap();
    let found = accounts
        .iter()
        .find(|a| a.name == "keyshift-bootstrap")
        .unwrap();
    assert_eq!(found.id, account.id);
    assert!(!found.is_disabled);

    let minted = amg
        .create_workspace_service_account_token(&east(), &account.id, "exec-1", 3600)
        .await
        .unwrap();
    assert!(minted.key.expose().starts_with("glsa_"));
    assert!(!format!("{minted:?}").contains(minted.key.expose()));

    // The minted token works on the workspace's Grafana HTTP API.
    let grafana = HttpGrafanaConnector::new(keyshift_aws::GrafanaHttpSettings {
        allow_loopback_http: true,
        ..Default::default()
    })
    .unwrap()
    .connect(
        &sim.instance_url(EAST),
        1,
        GrafanaCredential::Bearer(minted.key.clone()),
    )
    .await
    .unwrap();
    assert_eq!(grafana.org().await.unwrap().id, 1);

    let tokens = amg
        .list_workspace_service_account_tokens(&east(), &account.id)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "exec-1");
    let lifetime = tokens[0].expires_at - tokens[0].created_at;
    assert!(
        (3500..=3700).contains(&lifetime.num_seconds()),
        "{lifetime}"
    );

    amg.delete_workspace_service_account_token(&east(), &account.id, &minted.id)
        .await
        .unwrap();
    assert_eq!(
        grafana.org().await.unwrap_err().asl_name(),
        "Grafana.Unauthorized"
    );
    assert!(
        amg.list_workspace_service_account_tokens(&east(), &account.id)
            .await
            .unwrap()
            .is_empty()
    );
    let again = amg
        .delete_workspace_service_account_token(&east(), &account.id, &minted.id)
        .await
        .unwrap_err();
    assert!(again.is_not_found(), "{again:?}");

    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_ttls_and_roles_are_refused_locally() {
    let sim = start().await;
    let amg = control_plane(&sim).await;
    for ttl in [0, 2_592_001] {
        let error = amg
            .create_workspace_service_account_token(&east(), "1", "x", ttl)
            .await
            .unwrap_err();
        assert_eq!(error.asl_name(), "Input.Invalid");
    }
    let error = amg
        .create_workspace_service_account(&east(), "none-role", Role::None)
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
    sim.shutdown().await;
}

fn fault(endpoint: &str, kind: FaultKind) -> FaultSpec {
    FaultSpec {
        workspace: EAST.to_owned(),
        endpoint: endpoint.to_owned(),
        kind,
        times: Some(1),
        probability: None,
        seed: None,
    }
}

/// Arms one `kind` fault on ListWorkspaceServiceAccounts and returns that call's error.
async fn listing_error(
    sim: &RunningSim,
    amg: &AmgControlPlaneClient,
    kind: FaultKind,
) -> KeyshiftError {
    let spec = fault("ListWorkspaceServiceAccounts", kind);
    sim.state().faults().add(spec).unwrap();
    amg.list_workspace_service_accounts(&east())
        .await
        .unwrap_err()
}

/// [`listing_error`] for an injected HTTP `status`.
async fn status_error(
    sim: &RunningSim,
    amg: &AmgControlPlaneClient,
    status: u16,
    retry_after_seconds: Option<u64>,
) -> KeyshiftError {
    let kind = FaultKind::Status {
        status,
        retry_after_seconds,
    };
    listing_error(sim, amg, kind).await
}

#[tokio::test]
async fn injected_faults_map_to_named_errors() {
    let sim = start().await;
    let amg = control_plane(&sim).await;

    let error = status_error(&sim, &amg, 429, Some(7)).await;
    assert_eq!(error.asl_name(), "Aws.Throttled");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));

    let error = status_error(&sim, &amg, 500, None).await;
    assert_eq!(error.asl_name(), "Aws.Unavailable", "{error:?}");

    let error = status_error(&sim, &amg, 402, None).await;
    assert_eq!(error.asl_name(), "Aws.Failed", "{error:?}");
    assert!(error.to_string().contains("quota"), "{error}");

    let error = listing_error(&sim, &amg, FaultKind::MalformedJson).await;
    assert!(
        !error.is_retryable() || error.asl_name() == "Aws.Unavailable",
        "{error:?}"
    );

    let error = listing_error(&sim, &amg, FaultKind::Drop).await;
    assert_eq!(error.asl_name(), "Aws.Unavailable", "{error:?}");

    // Every rule was consumed once; the next call succeeds.
    amg.list_workspace_service_accounts(&east()).await.unwrap();
    sim.shutdown().await;
}
