//! The AMG control plane driven by the real `aws-sdk-grafana` client: every operation, its
//! pagination, every modelled error parsed into its typed variant, and the shared state with
//! each workspace's Grafana HTTP API (checked with reqwest).

use std::time::Duration;

use aws_sdk_grafana::Client;
use aws_sdk_grafana::config::retry::RetryConfig;
use aws_sdk_grafana::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_grafana::error::SdkError;
use aws_sdk_grafana::operation::create_workspace_api_key::CreateWorkspaceApiKeyError;
use aws_sdk_grafana::operation::create_workspace_service_account::CreateWorkspaceServiceAccountError;
use aws_sdk_grafana::operation::create_workspace_service_account_token::CreateWorkspaceServiceAccountTokenError;
use aws_sdk_grafana::operation::delete_workspace_api_key::DeleteWorkspaceApiKeyError;
use aws_sdk_grafana::operation::delete_workspace_service_account::DeleteWorkspaceServiceAccountError;
use aws_sdk_grafana::operation::delete_workspace_service_account_token::DeleteWorkspaceServiceAccountTokenError;
use aws_sdk_grafana::operation::describe_workspace::DescribeWorkspaceError;
use aws_sdk_grafana::operation::list_tags_for_resource::ListTagsForResourceError;
use aws_sdk_grafana::operation::list_workspace_service_account_tokens::ListWorkspaceServiceAccountTokensError;
use aws_sdk_grafana::operation::list_workspace_service_accounts::ListWorkspaceServiceAccountsError;
use aws_sdk_grafana::operation::list_workspaces::ListWorkspacesError;
use aws_sdk_grafana::types::{
    AuthenticationProviderTypes, Role, ValidationExceptionReason, WorkspaceStatus, WorkspaceSummary,
};
use grafana_sim::{FaultKind, FaultSpec, FleetSpec, RunningSim, Simulator};
use serde_json::Value;

/// Five us-east-1 AMG workspaces of different versions and states, one in eu-west-1 and a
/// self-hosted Grafana that AMG must never show.
const FLEET: &str = r#"{
  "seed": 7,
  "workspaces": [
    { "kind": "amg", "id": "g-00000000a1", "region": "us-east-1", "name": "prod",
      "description": "production", "tags": { "team": "sre", "keyshift": "managed" },
      "version": "10.4",
      "apiKeys": [ { "name": "legacy-admin", "role": "Admin", "expires": "20d" } ],
      "serviceAccounts": [
        { "name": "terraform", "role": "Admin",
          "tokens": [ { "name": "tf-1", "expires": "5d", "lastUsed": "-1h" },
                      { "name": "tf-2", "expires": "10d" },
                      { "name": "tf-3", "expires": "never" } ] },
        { "name": "viewer-bot", "role": "Viewer", "isDisabled": true }
      ] },
    { "kind": "amg", "id": "g-00000000a2", "region": "us-east-1", "version": "9.4" },
    { "kind": "amg", "id": "g-00000000a3", "region": "us-east-1", "version": "12.1" },
    { "kind": "amg", "id": "g-00000000a4", "region": "us-east-1", "version": "8.4" },
    { "kind": "amg", "id": "g-00000000a5", "region": "us-east-1", "version": "10.4",
      "status": "UPDATING" },
    { "kind": "amg", "id": "g-00000000b1", "region": "eu-west-1", "version": "10.4" },
    { "kind": "selfHosted", "id": "onprem", "version": "11.5.0" }
  ]
}"#;

const PROD: &str = "g-00000000a1";
const V9: &str = "g-00000000a2";
const V12: &str = "g-00000000a3";
const V8: &str = "g-00000000a4";
const UPDATING: &str = "g-00000000a5";
const EU: &str = "g-00000000b1";

async fn start() -> RunningSim {
    let fleet = FleetSpec::from_json(FLEET).unwrap();
    Simulator::from_fleet(fleet)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client_with(sim: &RunningSim, region: &str, retry: RetryConfig) -> Client {
    let config = aws_sdk_grafana::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            "AKIDSIMULATOR",
            "dummy-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(sim.amg_endpoint_url())
        .retry_config(retry)
        .build();
    Client::from_conf(config)
}

fn client(sim: &RunningSim) -> Client {
    client_with(sim, "us-east-1", RetryConfig::disabled())
}

/// Every workspace the client's region lists, through the SDK's paginator (pages of
/// `page_size` when given, else AMG's default).
async fn all_workspaces(amg: &Client, page_size: Option<i32>) -> Vec<WorkspaceSummary> {
    let mut paginator = amg.list_workspaces().into_paginator();
    if let Some(size) = page_size {
        paginator = paginator.page_size(size);
    }
    paginator.items().send().try_collect().await.unwrap()
}

fn status_fault(
    workspace: &str,
    endpoint: &str,
    status: u16,
    retry_after: Option<u64>,
) -> FaultSpec {
    FaultSpec {
        workspace: workspace.into(),
        endpoint: endpoint.into(),
        kind: FaultKind::Status {
            status,
            retry_after_seconds: retry_after,
        },
        times: Some(1),
        probability: None,
        seed: None,
    }
}

/// GET on the workspace's Grafana HTTP API with a bearer credential: (status, JSON body).
async fn grafana_get(sim: &RunningSim, workspace: &str, path: &str, key: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.instance_url(workspace)))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates an SA and a token for it through AMG; returns (sa id, token id, key).
async fn sa_with_token(
    amg: &Client,
    workspace: &str,
    name: &str,
    role: Role,
    ttl: i32,
) -> (String, String, String) {
    let account = amg
        .create_workspace_service_account()
        .workspace_id(workspace)
        .name(name)
        .grafana_role(role)
        .send()
        .await
        .unwrap();
    let token = amg
        .create_workspace_service_account_token()
        .workspace_id(workspace)
        .service_account_id(account.id())
        .name(format!("{name}-token"))
        .seconds_to_live(ttl)
        .send()
        .await
        .unwrap();
    let summary = token.service_account_token().unwrap();
    (
        account.id().to_string(),
        summary.id().to_string(),
        summary.key().to_string(),
    )
}

#[tokio::test]
async fn list_workspaces_pages_through_this_regions_amg_workspaces_only() {
    let sim = start().await;
    let amg = client(&sim);
    let summaries = all_workspaces(&amg, Some(2)).await;
    let ids: Vec<&str> = summaries.iter().map(|summary| summary.id()).collect();
    assert_eq!(ids, vec![PROD, V9, V12, V8, UPDATING]);
    // Five workspaces at two per page is three calls.
    assert_eq!(
        sim.state()
            .request_counts(Some("(account)"))
            .get("ListWorkspaces"),
        Some(&3)
    );

    let prod = &summaries[0];
    assert_eq!(prod.name(), Some("prod"));
    assert_eq!(prod.description(), Some("production"));
    assert_eq!(prod.status(), &WorkspaceStatus::Active);
    assert_eq!(prod.grafana_version(), "10.4");
    assert_eq!(
        prod.endpoint(),
        "g-00000000a1.grafana-workspace.us-east-1.amazonaws.com"
    );
    assert_eq!(
        prod.authentication().unwrap().providers(),
        &[AuthenticationProviderTypes::AwsSso]
    );
    assert_eq!(
        prod.tags().unwrap().get("team").map(String::as_str),
        Some("sre")
    );
    let now = chrono::Utc::now().timestamp();
    let created = prod.created().secs();
    assert!(
        created > now - 400 * 86_400 && created < now,
        "created {created}"
    );
    assert!(prod.modified().secs() >= created);
    assert_eq!(summaries[4].status(), &WorkspaceStatus::Updating);
    assert_eq!(summaries[1].grafana_version(), "9.4");

    let eu_client = client_with(&sim, "eu-west-1", RetryConfig::disabled());
    let eu = all_workspaces(&eu_client, None).await;
    assert_eq!(eu.iter().map(|w| w.id()).collect::<Vec<_>>(), vec![EU]);
    sim.shutdown().await;
}

#[tokio::test]
async fn describe_workspace_and_tags_and_their_not_found_and_validation_errors() {
    let sim = start().await;
    let amg = client(&sim);
    let described = amg
        .describe_workspace()
        .workspace_id(PROD)
        .send()
        .await
        .unwrap();
    let workspace = described.workspace().unwrap();
    assert_eq!(workspace.id(), PROD);
    assert_eq!(workspace.grafana_version(), "10.4");
    assert_eq!(workspace.status(), &WorkspaceStatus::Active);
    assert!(workspace.created().secs() > 0);

    let tags = amg
        .list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:grafana:us-east-1:123456789012:/workspaces/{PROD}"
        ))
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.get("keyshift").map(String::as_str), Some("managed"));
    assert_eq!(tags.len(), 2);

    // Another region's workspace does not exist for a us-east-1 caller.
    match amg
        .describe_workspace()
        .workspace_id(EU)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        DescribeWorkspaceError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), EU);
            assert_eq!(error.resource_type(), "WORKSPACE");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    match amg
        .describe_workspace()
        .workspace_id("g-ZZZ")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        DescribeWorkspaceError::ValidationException(error) => {
            assert_eq!(
                error.reason(),
                &ValidationExceptionReason::FieldValidationFailed
            );
            assert_eq!(error.field_list()[0].name(), "workspaceId");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    match amg
        .list_tags_for_resource()
        .resource_arn("arn:aws:grafana:us-east-1:123456789012:/workspaces/g-0000000fff")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListTagsForResourceError::ResourceNotFoundException(_) => {}
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    match amg
        .list_tags_for_resource()
        .resource_arn("arn:aws:s3:::bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListTagsForResourceError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "resourceArn");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn service_accounts_are_shared_with_the_grafana_http_api() {
    let sim = start().await;
    let amg = client(&sim);
    let (_, _, admin_key) = sa_with_token(&amg, PROD, "keyshift-admin", Role::Admin, 3600).await;
    let created = amg
        .create_workspace_service_account()
        .workspace_id(PROD)
        .name("made-by-amg")
        .grafana_role(Role::Editor)
        .send()
        .await
        .unwrap();
    assert_eq!(created.name(), "made-by-amg");
    assert_eq!(created.grafana_role(), &Role::Editor);
    assert_eq!(created.workspace_id(), PROD);
    assert!(created.id().parse::<i64>().is_ok());

    // AMG → Grafana: the account is in Grafana's search.
    let (status, search) = grafana_get(
        &sim,
        PROD,
        "/api/serviceaccounts/search?query=made-by-amg",
        &admin_key,
    )
    .await;
    assert_eq!(status, 200, "{search}");
    let found = search["serviceAccounts"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["role"], "Editor");
    assert_eq!(found[0]["id"].to_string(), created.id());

    // Grafana → AMG: an account made through the HTTP API is listed by AMG.
    let response = reqwest::Client::new()
        .post(format!("{}/api/serviceaccounts", sim.instance_url(PROD)))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({ "name": "made-by-grafana", "role": "Viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let listed: Vec<_> = amg
        .list_workspace_service_accounts()
        .workspace_id(PROD)
        .into_paginator()
        .page_size(1)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let by_name = |name: &str| {
        listed
            .iter()
            .find(|account| account.name() == name)
            .unwrap()
    };
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert_eq!(by_name("made-by-grafana").grafana_role(), &Role::Viewer);
    assert_eq!(by_name("made-by-grafana").is_disabled(), "false");
    assert_eq!(by_name("viewer-bot").is_disabled(), "true");
    assert_eq!(by_name("terraform").grafana_role(), &Role::Admin);
    assert_eq!(
        sim.state()
            .request_counts(Some(PROD))
            .get("ListWorkspaceServiceAccounts"),
        Some(&5)
    );

    // Duplicate names conflict, as Grafana's login uniqueness says.
    match amg
        .create_workspace_service_account()
        .workspace_id(PROD)
        .name("made-by-amg")
        .grafana_role(Role::Viewer)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountError::ConflictException(error) => {
            assert_eq!(error.resource_id(), "made-by-amg");
            assert_eq!(error.resource_type(), "SERVICE_ACCOUNT");
        }
        other => panic!("expected ConflictException, got {other:?}"),
    }

    let deleted = amg
        .delete_workspace_service_account()
        .workspace_id(PROD)
        .service_account_id(created.id())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.service_account_id(), created.id());
    let (_, search) = grafana_get(
        &sim,
        PROD,
        "/api/serviceaccounts/search?query=made-by-amg",
        &admin_key,
    )
    .await;
    assert_eq!(search["serviceAccounts"].as_array().map(Vec::len), Some(0));
    match amg
        .delete_workspace_service_account()
        .workspace_id(PROD)
        .service_account_id(created.id())
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        DeleteWorkspaceServiceAccountError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), created.id());
            assert_eq!(error.resource_type(), "SERVICE_ACCOUNT");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_minted_through_amg_authenticate_until_deleted() {
    let sim = start().await;
    let amg = client(&sim);
    let (account_id, token_id, key) = sa_with_token(&amg, V12, "rotator", Role::Editor, 3600).await;
    assert!(
        key.starts_with("glsa_"),
        "AMG returns Grafana's token format"
    );

    let (status, org) = grafana_get(&sim, V12, "/api/org", &key).await;
    assert_eq!(status, 200, "{org}");

    let listed = amg
        .list_workspace_service_account_tokens()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.service_account_id(), account_id);
    let tokens = listed.service_account_tokens();
    assert_eq!(tokens.len(), 1);
    let token = &tokens[0];
    assert_eq!(token.id(), token_id);
    assert_eq!(token.name(), "rotator-token");
    let lifetime = token.expires_at().secs() - token.created_at().secs();
    assert!((3599..=3601).contains(&lifetime), "lifetime {lifetime}");
    assert!(
        token.last_used_at().is_some(),
        "the HTTP call above used it"
    );

    match amg
        .create_workspace_service_account_token()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .name("rotator-token")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountTokenError::ConflictException(error) => {
            assert_eq!(error.resource_type(), "SERVICE_ACCOUNT_TOKEN");
        }
        other => panic!("expected ConflictException, got {other:?}"),
    }

    let deleted = amg
        .delete_workspace_service_account_token()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .token_id(&token_id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.token_id(), token_id);
    let (status, body) = grafana_get(&sim, V12, "/api/org", &key).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Invalid API key");
    assert_eq!(body["messageId"], "api-key.invalid");

    match amg
        .delete_workspace_service_account_token()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .token_id(&token_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        DeleteWorkspaceServiceAccountTokenError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), token_id);
            assert_eq!(error.resource_type(), "SERVICE_ACCOUNT_TOKEN");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_when_the_sim_clock_passes_their_ttl() {
    let sim = start().await;
    let amg = client(&sim);
    let (_, _, key) = sa_with_token(&amg, V12, "short-lived", Role::Viewer, 60).await;
    assert_eq!(grafana_get(&sim, V12, "/api/org", &key).await.0, 200);
    sim.state().clock().advance_seconds(120);
    let (status, body) = grafana_get(&sim, V12, "/api/org", &key).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Expired API key");
    assert_eq!(body["messageId"], "api-key.expired");
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_a_service_account_revokes_its_tokens() {
    let sim = start().await;
    let amg = client(&sim);
    let (account_id, _, key) = sa_with_token(&amg, V12, "doomed", Role::Viewer, 600).await;
    assert_eq!(grafana_get(&sim, V12, "/api/org", &key).await.0, 200);
    amg.delete_workspace_service_account()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .send()
        .await
        .unwrap();
    assert_eq!(grafana_get(&sim, V12, "/api/org", &key).await.0, 401);
    match amg
        .list_workspace_service_account_tokens()
        .workspace_id(V12)
        .service_account_id(&account_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListWorkspaceServiceAccountTokensError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), account_id);
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn token_listing_paginates_and_reports_expiry_and_last_use() {
    let sim = start().await;
    let amg = client(&sim);
    let accounts = amg
        .list_workspace_service_accounts()
        .workspace_id(PROD)
        .send()
        .await
        .unwrap();
    let terraform = accounts
        .service_accounts()
        .iter()
        .find(|account| account.name() == "terraform")
        .unwrap();
    let tokens: Vec<_> = amg
        .list_workspace_service_account_tokens()
        .workspace_id(PROD)
        .service_account_id(terraform.id())
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<&str> = tokens.iter().map(|token| token.name()).collect();
    assert_eq!(names, vec!["tf-1", "tf-2", "tf-3"]);
    assert_eq!(
        sim.state()
            .request_counts(Some(PROD))
            .get("ListWorkspaceServiceAccountTokens"),
        Some(&2)
    );
    let now = chrono::Utc::now().timestamp();
    let in_days = |secs: i64| (secs - now) as f64 / 86_400.0;
    assert!((in_days(tokens[0].expires_at().secs()) - 5.0).abs() < 0.1);
    assert!(tokens[0].last_used_at().is_some());
    assert!(tokens[1].last_used_at().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn amg_limits_are_validation_exceptions_naming_the_field() {
    let sim = start().await;
    let amg = client(&sim);
    let (account_id, _, _) = sa_with_token(&amg, PROD, "limits", Role::Viewer, 60).await;
    for (ttl, field) in [(2_592_001, "secondsToLive"), (0, "secondsToLive")] {
        match amg
            .create_workspace_service_account_token()
            .workspace_id(PROD)
            .service_account_id(&account_id)
            .name(format!("ttl-{ttl}"))
            .seconds_to_live(ttl)
            .send()
            .await
            .unwrap_err()
            .into_service_error()
        {
            CreateWorkspaceServiceAccountTokenError::ValidationException(error) => {
                assert_eq!(
                    error.reason(),
                    &ValidationExceptionReason::FieldValidationFailed
                );
                assert_eq!(error.field_list()[0].name(), field);
            }
            other => panic!("expected ValidationException for ttl {ttl}, got {other:?}"),
        }
    }
    // Exactly 30 days is allowed.
    amg.create_workspace_service_account_token()
        .workspace_id(PROD)
        .service_account_id(&account_id)
        .name("thirty-days")
        .seconds_to_live(2_592_000)
        .send()
        .await
        .unwrap();

    let long_name = "n".repeat(129);
    match amg
        .create_workspace_service_account()
        .workspace_id(PROD)
        .name(long_name)
        .grafana_role(Role::Viewer)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "name");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    // A role outside the enum and a missing required member.
    match amg
        .create_workspace_service_account()
        .workspace_id(PROD)
        .name("no-role")
        .grafana_role(Role::from("OWNER"))
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "grafanaRole");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    match amg
        .create_workspace_service_account_token()
        .workspace_id(PROD)
        .service_account_id(&account_id)
        .name("no-ttl")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountTokenError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "secondsToLive");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    match amg
        .create_workspace_service_account_token()
        .workspace_id(PROD)
        .service_account_id("99999")
        .name("orphan")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountTokenError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), "99999");
            assert_eq!(error.resource_type(), "SERVICE_ACCOUNT");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    match amg
        .list_workspace_service_accounts()
        .workspace_id(PROD)
        .max_results(101)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListWorkspaceServiceAccountsError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "maxResults");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    match amg
        .list_workspace_service_accounts()
        .workspace_id(PROD)
        .next_token("bm90LWEtdG9rZW4=")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListWorkspaceServiceAccountsError::ValidationException(_) => {}
        other => panic!("expected ValidationException, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn api_keys_follow_the_workspace_version() {
    let sim = start().await;
    let amg = client(&sim);
    let created = amg
        .create_workspace_api_key()
        .workspace_id(PROD)
        .key_name("bootstrap")
        .key_role("ADMIN")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap();
    assert_eq!(created.key_name(), "bootstrap");
    assert_eq!(created.workspace_id(), PROD);
    let key = created.key().to_string();
    assert!(!key.starts_with("glsa_"), "API keys use the legacy format");
    let (status, body) = grafana_get(&sim, PROD, "/api/auth/keys", &key).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|key| key["name"].as_str())
        .collect();
    assert!(
        names.contains(&"bootstrap") && names.contains(&"legacy-admin"),
        "{names:?}"
    );

    match amg
        .create_workspace_api_key()
        .workspace_id(PROD)
        .key_name("bootstrap")
        .key_role("VIEWER")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceApiKeyError::ConflictException(error) => {
            assert_eq!(error.resource_id(), "bootstrap");
        }
        other => panic!("expected ConflictException, got {other:?}"),
    }
    match amg
        .create_workspace_api_key()
        .workspace_id(PROD)
        .key_name("bad-role")
        .key_role("Admin")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceApiKeyError::ValidationException(error) => {
            assert_eq!(error.field_list()[0].name(), "keyRole");
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }

    let deleted = amg
        .delete_workspace_api_key()
        .workspace_id(PROD)
        .key_name("bootstrap")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_name(), "bootstrap");
    assert_eq!(grafana_get(&sim, PROD, "/api/org", &key).await.0, 401);
    match amg
        .delete_workspace_api_key()
        .workspace_id(PROD)
        .key_name("bootstrap")
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        DeleteWorkspaceApiKeyError::ResourceNotFoundException(error) => {
            assert_eq!(error.resource_id(), "bootstrap");
            assert_eq!(error.resource_type(), "API_KEY");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }

    // Grafana 12 workspaces have no API keys; Grafana 8 ones have nothing else.
    match amg
        .create_workspace_api_key()
        .workspace_id(V12)
        .key_name("too-new")
        .key_role("VIEWER")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceApiKeyError::ValidationException(error) => {
            assert_eq!(error.reason(), &ValidationExceptionReason::Other);
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    amg.create_workspace_api_key()
        .workspace_id(V8)
        .key_name("old-but-fine")
        .key_role("EDITOR")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap();
    match amg
        .create_workspace_service_account()
        .workspace_id(V8)
        .name("too-old")
        .grafana_role(Role::Viewer)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountError::ValidationException(error) => {
            assert_eq!(error.reason(), &ValidationExceptionReason::Other);
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    // 9.4 is the oldest version with service accounts.
    amg.create_workspace_service_account()
        .workspace_id(V9)
        .name("nine")
        .grafana_role(Role::Viewer)
        .send()
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_workspace_that_is_not_active_refuses_changes_with_a_conflict() {
    let sim = start().await;
    let amg = client(&sim);
    match amg
        .create_workspace_service_account()
        .workspace_id(UPDATING)
        .name("busy")
        .grafana_role(Role::Viewer)
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        CreateWorkspaceServiceAccountError::ConflictException(error) => {
            assert_eq!(error.resource_id(), UPDATING);
            assert_eq!(error.resource_type(), "WORKSPACE");
        }
        other => panic!("expected ConflictException, got {other:?}"),
    }
    // Reads still work.
    amg.list_workspace_service_accounts()
        .workspace_id(UPDATING)
        .send()
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults_arrive_as_typed_exceptions() {
    let sim = start().await;
    let amg = client(&sim);
    let (account_id, _, _) = sa_with_token(&amg, PROD, "faulty", Role::Viewer, 60).await;
    let faults = sim.state().faults();
    let mint = |name: &str| {
        amg.create_workspace_service_account_token()
            .workspace_id(PROD)
            .service_account_id(&account_id)
            .name(name.to_string())
            .seconds_to_live(60)
            .send()
    };

    faults
        .add(status_fault(
            PROD,
            "CreateWorkspaceServiceAccountToken",
            429,
            Some(7),
        ))
        .unwrap();
    match mint("a").await.unwrap_err().into_service_error() {
        CreateWorkspaceServiceAccountTokenError::ThrottlingException(error) => {
            assert_eq!(error.retry_after_seconds(), Some(7));
            assert_eq!(error.message(), "Rate exceeded");
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    faults
        .add(status_fault(
            PROD,
            "CreateWorkspaceServiceAccountToken",
            402,
            None,
        ))
        .unwrap();
    match mint("b").await.unwrap_err().into_service_error() {
        CreateWorkspaceServiceAccountTokenError::ServiceQuotaExceededException(error) => {
            assert_eq!(error.resource_id(), PROD);
        }
        other => panic!("expected ServiceQuotaExceededException, got {other:?}"),
    }
    faults
        .add(status_fault(
            PROD,
            "CreateWorkspaceServiceAccountToken",
            500,
            None,
        ))
        .unwrap();
    match mint("c").await.unwrap_err().into_service_error() {
        CreateWorkspaceServiceAccountTokenError::InternalServerException(error) => {
            assert_eq!(error.retry_after_seconds(), None);
        }
        other => panic!("expected InternalServerException, got {other:?}"),
    }
    faults
        .add(status_fault(
            PROD,
            "CreateWorkspaceServiceAccountToken",
            403,
            None,
        ))
        .unwrap();
    match mint("d").await.unwrap_err().into_service_error() {
        CreateWorkspaceServiceAccountTokenError::AccessDeniedException(_) => {}
        other => panic!("expected AccessDeniedException, got {other:?}"),
    }
    // The faults were one-shot: the next call mints, and none of the failed ones did.
    mint("e").await.unwrap();
    let tokens = amg
        .list_workspace_service_account_tokens()
        .workspace_id(PROD)
        .service_account_id(&account_id)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = tokens
        .service_account_tokens()
        .iter()
        .map(|t| t.name())
        .collect();
    assert_eq!(names, vec!["e", "faulty-token"]);
    assert_eq!(
        sim.state()
            .request_counts(Some(PROD))
            .get("CreateWorkspaceServiceAccountToken"),
        Some(&6)
    );

    // Account-level operations are faulted through the account scope.
    faults
        .add(status_fault("*", "ListWorkspaces", 429, None))
        .unwrap();
    match amg
        .list_workspaces()
        .send()
        .await
        .unwrap_err()
        .into_service_error()
    {
        ListWorkspacesError::ThrottlingException(error) => {
            assert_eq!(error.retry_after_seconds(), Some(1));
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }

    // A truncated success body is a client-side parse failure, never a success.
    faults
        .add(FaultSpec {
            kind: FaultKind::MalformedJson,
            ..status_fault(PROD, "DescribeWorkspace", 500, None)
        })
        .unwrap();
    let truncated = amg.describe_workspace().workspace_id(PROD).send().await;
    assert!(truncated.is_err(), "{truncated:?}");

    // A dropped connection is a dispatch failure, not a service error.
    faults
        .add(FaultSpec {
            kind: FaultKind::Drop,
            ..status_fault(PROD, "DescribeWorkspace", 500, None)
        })
        .unwrap();
    let dropped = amg
        .describe_workspace()
        .workspace_id(PROD)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            dropped,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{dropped:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk_and_then_succeed() {
    let sim = start().await;
    let retrying = client_with(
        &sim,
        "us-east-1",
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(10)),
    );
    sim.state()
        .faults()
        .add(FaultSpec {
            times: Some(2),
            ..status_fault(PROD, "ListWorkspaceServiceAccounts", 429, Some(1))
        })
        .unwrap();
    let listed = retrying
        .list_workspace_service_accounts()
        .workspace_id(PROD)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.service_accounts().len(), 2);
    assert_eq!(
        sim.state()
            .request_counts(Some(PROD))
            .get("ListWorkspaceServiceAccounts"),
        Some(&3)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_hundredth_token_of_an_account_is_a_service_quota_exception_until_one_is_deleted() {
    let sim = start().await;
    let amg = client(&sim);
    let (account, first, _) = sa_with_token(&amg, PROD, "capped", Role::Viewer, 1).await;
    let mint = |name: String| {
        amg.create_workspace_service_account_token()
            .workspace_id(PROD)
            .service_account_id(&account)
            .name(name)
            .seconds_to_live(1)
            .send()
    };
    // Expired tokens count: the clock passes the first ones' one-second life.
    sim.state().clock().advance_seconds(5);
    for n in 2..=grafana_sim::AMG_TOKENS_PER_ACCOUNT {
        mint(format!("capped-{n}")).await.unwrap();
    }
    let refused = mint("capped-100".to_owned()).await.unwrap_err();
    let service_error = refused.into_service_error();
    assert!(
        service_error.is_service_quota_exceeded_exception(),
        "{service_error:?}"
    );
    amg.delete_workspace_service_account_token()
        .workspace_id(PROD)
        .service_account_id(&account)
        .token_id(first)
        .send()
        .await
        .unwrap();
    mint("capped-100".to_owned())
        .await
        .expect("a deleted token frees its slot");
    sim.shutdown().await;
}
