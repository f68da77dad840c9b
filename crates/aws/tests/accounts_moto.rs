//! [`AwsAmgConnector`] with real credentials: STS on the moto server issues the assumed-role
//! credentials, grafana-sim's AMG endpoint records the access key id each call was signed
//! with, and moto says whose key that is.

use std::collections::BTreeSet;
use std::sync::Arc;

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{AwsAmgConnector, AwsContext, AwsService, EndpointOverrides};
use keyshift_core::fleet::FleetDirectory;
use keyshift_core::model::{AmgWorkspace, AssumeRole};
use keyshift_core::ports::AmgConnector;
use keyshift_test_support::aws::caller_arn_on_moto;
use serde_json::json;

const WORKSPACE: &str = "g-0a1b2c3d4e";
const PROD_ROLE: &str = "arn:aws:iam::210987654321:role/keyshift-target";
const SESSION: &str = "keyshift-accounts-test";
/// The access key id of [`AwsContext::for_emulator`]'s static credentials.
const BASE_KEY: &str = "testing";

async fn sim() -> RunningSim {
    let fleet = json!({"workspaces": [
        {"kind": "amg", "id": WORKSPACE, "region": "us-east-1", "version": "10.4.1"}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .with_amg_signer_log()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn each_role_signs_its_calls_with_its_own_assumed_credentials_and_no_role_with_the_base() {
    let moto = keyshift_test_support::moto_or_skip!(
        each_role_signs_its_calls_with_its_own_assumed_credentials_and_no_role_with_the_base
    );
    let sim = sim().await;
    let endpoints = EndpointOverrides::for_all(moto.clone())
        .with_service(AwsService::Grafana, sim.amg_endpoint_url());
    let connector = AwsAmgConnector::new(AwsContext::for_emulator(endpoints).await, SESSION);
    let role = AssumeRole {
        role_arn: PROD_ROLE.to_owned(),
        external_id: Some("keyshift-prod".to_owned()),
    };
    let workspace = AmgWorkspace {
        workspace_id: WORKSPACE.to_owned(),
        region: "us-east-1".to_owned(),
    };

    let own = connector.control_plane(None).await.unwrap();
    own.describe_workspace(&workspace).await.unwrap();
    let first = connector.control_plane(Some(&role)).await.unwrap();
    first.describe_workspace(&workspace).await.unwrap();
    let again = connector.control_plane(Some(&role)).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "a role is assumed once");
    assert_eq!(connector.assumed_roles().await, 1);
    again
        .list_workspace_service_accounts(&workspace)
        .await
        .unwrap();
    let listed = connector
        .list_workspaces(Some(&role), "us-east-1")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "the directory lists through the role too");

    let calls = sim.amg_signers().unwrap().calls();
    let operations: Vec<&str> = calls.iter().map(|call| call.operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "DescribeWorkspace",
            "DescribeWorkspace",
            "ListWorkspaceServiceAccounts",
            "ListWorkspaces"
        ]
    );
    assert_eq!(calls[0].access_key_id.as_deref(), Some(BASE_KEY));
    let mut keys = BTreeSet::new();
    for call in &calls[1..] {
        let key = call
            .access_key_id
            .clone()
            .expect("every SDK call is signed");
        assert_ne!(key, BASE_KEY, "{} under the role", call.operation);
        keys.insert(key);
    }
    let mut identities = Vec::new();
    for key in &keys {
        identities.push(caller_arn_on_moto(&moto, key).await);
    }
    assert_eq!(
        identities,
        [format!(
            "arn:aws:sts::210987654321:assumed-role/keyshift-target/{SESSION}"
        )],
        "the role's three calls carry the one key moto's AssumeRole issued for this session"
    );
    assert!(
        caller_arn_on_moto(&moto, BASE_KEY)
            .await
            .ends_with(":user/moto"),
        "the base key is no assumed role"
    );
    sim.shutdown().await;
}
