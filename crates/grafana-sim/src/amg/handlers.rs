//! One handler per AMG operation. Each validates its input first (as AWS does, before
//! looking anything up), then resolves the workspace as this caller may see it, applies the
//! version gates, and only then touches the shared state.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::CallContext;
use super::error::{AmgError, ResourceKind};
use super::input::{self, Page, PageQuery};
use crate::fleet::WorkspaceKind;
use crate::state::{DEFAULT_ORG_ID, NewServiceAccount, SharedState, StateError, WorkspaceView};
use crate::version::GrafanaVersion;

/// What every handler returns: the JSON output shape, or an AMG exception.
type AmgResult = Result<Json<Value>, AmgError>;

/// Longest `keyName` AMG accepts.
const MAX_KEY_NAME: usize = 100;
/// Longest service-account or token `name` AMG accepts.
const MAX_SA_NAME: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspacePath {
    workspace_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyPath {
    workspace_id: String,
    key_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceAccountPath {
    workspace_id: String,
    service_account_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenPath {
    workspace_id: String,
    service_account_id: String,
    token_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArnPath {
    resource_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateApiKeyBody {
    key_name: Option<String>,
    key_role: Option<String>,
    seconds_to_live: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateServiceAccountBody {
    name: Option<String>,
    grafana_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTokenBody {
    name: Option<String>,
    seconds_to_live: Option<i64>,
}

fn path_of<T>(path: Result<Path<T>, PathRejection>) -> Result<T, AmgError> {
    path.map(|Path(inner)| inner)
        .map_err(|_| AmgError::other("A path parameter could not be decoded"))
}

fn page_query(query: Result<Query<PageQuery>, QueryRejection>) -> Result<PageQuery, AmgError> {
    query
        .map(|Query(inner)| inner)
        .map_err(|_| AmgError::other("The query string could not be decoded"))
}

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, AmgError> {
    body.map_err(|_| AmgError::cannot_parse("the request body could not be read"))
}

/// restJson1 timestamps: epoch seconds, with millisecond fraction.
fn epoch_seconds(time: DateTime<Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

/// The workspace as this caller may see it: AMG kind, caller's region.
fn visible_workspace(
    state: &SharedState,
    context: &CallContext,
    raw_id: &str,
) -> Result<WorkspaceView, AmgError> {
    let id = input::workspace_id(raw_id)?;
    state
        .workspace(id)
        .filter(|workspace| {
            workspace.record.kind == WorkspaceKind::Amg
                && context.sees_region(&workspace.record.region)
        })
        .ok_or_else(|| AmgError::NotFound {
            kind: ResourceKind::Workspace,
            resource_id: id.to_string(),
        })
}

/// The visible workspace a call may change: ACTIVE, then offering what `feature` checks, in
/// the order AMG reports them.
fn changeable_workspace(
    state: &SharedState,
    context: &CallContext,
    raw_id: &str,
    feature: fn(&WorkspaceView) -> Result<(), AmgError>,
) -> Result<WorkspaceView, AmgError> {
    let workspace = visible_workspace(state, context, raw_id)?;
    require_active(&workspace)?;
    feature(&workspace)?;
    Ok(workspace)
}

/// A listing's output with its `nextToken` when another page follows.
fn paged(mut output: Value, next_token: Option<String>) -> AmgResult {
    if let Some(token) = next_token {
        output["nextToken"] = json!(token);
    }
    Ok(Json(output))
}

/// Maps a state error about the service account named by the path.
fn account_error(path: &ServiceAccountPath) -> impl FnOnce(StateError) -> AmgError + '_ {
    |error| {
        AmgError::from_state(
            error,
            (ResourceKind::ServiceAccount, &path.service_account_id),
        )
    }
}

fn version_of(workspace: &WorkspaceView) -> GrafanaVersion {
    GrafanaVersion::parse(&workspace.behaviour_version).unwrap_or(GrafanaVersion::new(0, 0, 0))
}

fn require_active(workspace: &WorkspaceView) -> Result<(), AmgError> {
    if workspace.record.status == "ACTIVE" {
        return Ok(());
    }
    Err(AmgError::Conflict {
        message: format!(
            "Workspace {} is in status {} and cannot be modified",
            workspace.record.id, workspace.record.status
        ),
        kind: ResourceKind::Workspace,
        resource_id: workspace.record.id.clone(),
    })
}

fn require_service_accounts(workspace: &WorkspaceView) -> Result<(), AmgError> {
    if version_of(workspace).major >= 9 {
        return Ok(());
    }
    Err(AmgError::other(format!(
        "Service accounts are only available on workspaces compatible with Grafana 9 or later; workspace {} runs Grafana {}",
        workspace.record.id, workspace.grafana_version
    )))
}

fn require_api_keys(workspace: &WorkspaceView) -> Result<(), AmgError> {
    if version_of(workspace).major < 12 {
        return Ok(());
    }
    Err(AmgError::other(format!(
        "API keys are not supported on Grafana {} workspaces; use service accounts (workspace {})",
        workspace.grafana_version, workspace.record.id
    )))
}

/// The workspace id inside an AMG workspace ARN (`arn:<partition>:grafana:<region>:<account>:/workspaces/<id>`).
pub(crate) fn workspace_id_of_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _partition, "grafana", _region, _account, resource] => {
            resource.strip_prefix("/workspaces/")
        }
        _ => None,
    }
}

fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3)
}

/// Members shared by WorkspaceSummary and WorkspaceDescription.
fn workspace_members(workspace: &WorkspaceView) -> Map<String, Value> {
    let mut members = Map::new();
    members.insert("id".into(), json!(workspace.record.id));
    members.insert("name".into(), json!(workspace.record.name));
    members.insert("status".into(), json!(workspace.record.status));
    members.insert("grafanaVersion".into(), json!(workspace.grafana_version));
    members.insert(
        "endpoint".into(),
        json!(workspace.endpoint.clone().unwrap_or_default()),
    );
    members.insert(
        "created".into(),
        json!(epoch_seconds(workspace.record.created)),
    );
    members.insert(
        "modified".into(),
        json!(epoch_seconds(workspace.record.modified)),
    );
    // The fleet file does not model identity providers; IAM Identity Center is AMG's default.
    members.insert("authentication".into(), json!({ "providers": ["AWS_SSO"] }));
    members.insert("notificationDestinations".into(), json!([]));
    if let Some(description) = &workspace.record.description {
        members.insert("description".into(), json!(description));
    }
    if !workspace.record.tags.is_empty() {
        members.insert("tags".into(), json!(workspace.record.tags));
    }
    members
}

/// ListWorkspaces: `GET /workspaces`.
pub(crate) async fn list_workspaces(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AmgResult {
    let listing = format!("workspaces|{}", context.region.as_deref().unwrap_or("*"));
    let page = Page::parse(page_query(query)?, &listing)?;
    let visible: Vec<WorkspaceView> = state
        .amg_workspaces()
        .into_iter()
        .filter(|workspace| context.sees_region(&workspace.record.region))
        .collect();
    let page = page.apply(visible, &listing);
    let summaries: Vec<Value> = page
        .items
        .iter()
        .map(|workspace| Value::Object(workspace_members(workspace)))
        .collect();
    paged(json!({ "workspaces": summaries }), page.next_token)
}

/// DescribeWorkspace: `GET /workspaces/{workspaceId}`.
pub(crate) async fn describe_workspace(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<WorkspacePath>, PathRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let workspace = visible_workspace(&state, &context, &path.workspace_id)?;
    let mut description = workspace_members(&workspace);
    description.insert("accountAccessType".into(), json!("CURRENT_ACCOUNT"));
    description.insert("permissionType".into(), json!("SERVICE_MANAGED"));
    description.insert("dataSources".into(), json!([]));
    Ok(Json(json!({ "workspace": Value::Object(description) })))
}

/// ListTagsForResource: `GET /tags/{resourceArn}`.
pub(crate) async fn list_tags_for_resource(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<ArnPath>, PathRejection>,
) -> AmgResult {
    let arn = path_of(path)?.resource_arn;
    let workspace_id = workspace_id_of_arn(&arn).ok_or_else(|| {
        AmgError::field(
            "resourceArn",
            "Member must be the ARN of an Amazon Managed Grafana workspace",
        )
    })?;
    let workspace = visible_workspace(&state, &context, workspace_id)?;
    if region_of_arn(&arn) != Some(workspace.record.region.as_str()) {
        return Err(AmgError::NotFound {
            kind: ResourceKind::Workspace,
            resource_id: arn,
        });
    }
    Ok(Json(json!({ "tags": workspace.record.tags })))
}

/// CreateWorkspaceApiKey: `POST /workspaces/{workspaceId}/apikeys`.
pub(crate) async fn create_api_key(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<WorkspacePath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let body: CreateApiKeyBody = input::json_body(&body_of(body)?)?;
    let key_name = input::name("keyName", body.key_name, MAX_KEY_NAME)?;
    let role = input::role("keyRole", body.key_role)?;
    let seconds_to_live = input::seconds_to_live(body.seconds_to_live)?;
    let workspace = changeable_workspace(&state, &context, &path.workspace_id, require_api_keys)?;
    let issued = state
        .create_legacy_key(
            &workspace.record.id,
            DEFAULT_ORG_ID,
            &key_name,
            role,
            seconds_to_live,
        )
        .map_err(|error| AmgError::from_state(error, (ResourceKind::ApiKey, &key_name)))?;
    Ok(Json(json!({
        "keyName": issued.name,
        "key": issued.key,
        "workspaceId": workspace.record.id,
    })))
}

/// DeleteWorkspaceApiKey: `DELETE /workspaces/{workspaceId}/apikeys/{keyName}`.
pub(crate) async fn delete_api_key(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<ApiKeyPath>, PathRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let key_name = input::name("keyName", Some(path.key_name), MAX_KEY_NAME)?;
    let workspace = changeable_workspace(&state, &context, &path.workspace_id, require_api_keys)?;
    state
        .delete_legacy_key_by_name(&workspace.record.id, DEFAULT_ORG_ID, &key_name)
        .map_err(|error| AmgError::from_state(error, (ResourceKind::ApiKey, &key_name)))?;
    Ok(Json(
        json!({ "keyName": key_name, "workspaceId": workspace.record.id }),
    ))
}

/// CreateWorkspaceServiceAccount: `POST /workspaces/{workspaceId}/serviceaccounts`.
pub(crate) async fn create_service_account(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<WorkspacePath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let body: CreateServiceAccountBody = input::json_body(&body_of(body)?)?;
    let name = input::name("name", body.name, MAX_SA_NAME)?;
    let role = input::role("grafanaRole", body.grafana_role)?;
    let workspace = changeable_workspace(
        &state,
        &context,
        &path.workspace_id,
        require_service_accounts,
    )?;
    let account = state
        .create_service_account(
            &workspace.record.id,
            DEFAULT_ORG_ID,
            NewServiceAccount {
                name: name.clone(),
                role,
                is_disabled: false,
            },
        )
        .map_err(|error| AmgError::from_state(error, (ResourceKind::ServiceAccount, &name)))?;
    Ok(Json(json!({
        "id": account.row.id.to_string(),
        "name": account.row.name,
        "grafanaRole": input::role_wire_name(account.row.role),
        "workspaceId": workspace.record.id,
    })))
}

/// ListWorkspaceServiceAccounts: `GET /workspaces/{workspaceId}/serviceaccounts`.
pub(crate) async fn list_service_accounts(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<WorkspacePath>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let listing = format!("serviceaccounts|{}", path.workspace_id);
    let page = Page::parse(page_query(query)?, &listing)?;
    let workspace = visible_workspace(&state, &context, &path.workspace_id)?;
    require_service_accounts(&workspace)?;
    let accounts = state
        .list_service_accounts(&workspace.record.id, DEFAULT_ORG_ID)
        .map_err(|error| {
            AmgError::from_state(error, (ResourceKind::Workspace, &workspace.record.id))
        })?;
    let page = page.apply(accounts, &listing);
    let summaries: Vec<Value> = page
        .items
        .iter()
        .map(|account| {
            json!({
                "id": account.row.id.to_string(),
                "name": account.row.name,
                "isDisabled": account.row.is_disabled.to_string(),
                "grafanaRole": input::role_wire_name(account.row.role),
            })
        })
        .collect();
    paged(
        json!({ "serviceAccounts": summaries, "workspaceId": workspace.record.id }),
        page.next_token,
    )
}

/// DeleteWorkspaceServiceAccount:
/// `DELETE /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}`.
pub(crate) async fn delete_service_account(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<ServiceAccountPath>, PathRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let account_id = input::numeric_id("serviceAccountId", &path.service_account_id)?;
    let workspace = changeable_workspace(
        &state,
        &context,
        &path.workspace_id,
        require_service_accounts,
    )?;
    state
        .delete_service_account(&workspace.record.id, DEFAULT_ORG_ID, account_id)
        .map_err(account_error(&path))?;
    Ok(Json(json!({
        "serviceAccountId": path.service_account_id,
        "workspaceId": workspace.record.id,
    })))
}

/// CreateWorkspaceServiceAccountToken:
/// `POST /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens`.
pub(crate) async fn create_token(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<ServiceAccountPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let body: CreateTokenBody = input::json_body(&body_of(body)?)?;
    let name = input::name("name", body.name, MAX_SA_NAME)?;
    let seconds_to_live = input::seconds_to_live(body.seconds_to_live)?;
    let account_id = input::numeric_id("serviceAccountId", &path.service_account_id)?;
    let workspace = changeable_workspace(
        &state,
        &context,
        &path.workspace_id,
        require_service_accounts,
    )?;
    let subject = (ResourceKind::ServiceAccountToken, name.as_str());
    // AMG mints through the workspace's Grafana, so its token settings apply as well.
    state
        .with_instance(&workspace.record.id, |instance, _| {
            instance.check_token_ttl_settings(seconds_to_live)
        })
        .and_then(|checked| checked)
        .map_err(|error| AmgError::from_state(error, subject))?;
    let issued = state
        .create_token(
            &workspace.record.id,
            DEFAULT_ORG_ID,
            account_id,
            &name,
            seconds_to_live,
        )
        .map_err(|error| match error {
            StateError::TokenLimitReached { .. } => AmgError::QuotaExceeded {
                workspace_id: workspace.record.id.clone(),
            },
            other => AmgError::from_state(other, subject),
        })?;
    Ok(Json(json!({
        "serviceAccountToken": { "id": issued.id.to_string(), "name": issued.name, "key": issued.key },
        "serviceAccountId": path.service_account_id,
        "workspaceId": workspace.record.id,
    })))
}

/// ListWorkspaceServiceAccountTokens:
/// `GET /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens`.
pub(crate) async fn list_tokens(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<ServiceAccountPath>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let listing = format!("tokens|{}|{}", path.workspace_id, path.service_account_id);
    let page = Page::parse(page_query(query)?, &listing)?;
    let account_id = input::numeric_id("serviceAccountId", &path.service_account_id)?;
    let workspace = visible_workspace(&state, &context, &path.workspace_id)?;
    require_service_accounts(&workspace)?;
    let tokens = state
        .list_tokens(&workspace.record.id, DEFAULT_ORG_ID, account_id)
        .map_err(account_error(&path))?;
    let page = page.apply(tokens, &listing);
    let summaries: Vec<Value> = page
        .items
        .iter()
        .map(|token| {
            let mut summary = json!({
                "id": token.id.to_string(),
                "name": token.name,
                "createdAt": epoch_seconds(token.created),
            });
            // A token without expiry has no `expiresAt`: restJson1 servers omit unset members.
            if let Some(expiration) = token.expiration {
                summary["expiresAt"] = json!(epoch_seconds(expiration));
            }
            if let Some(last_used) = token.last_used_at {
                summary["lastUsedAt"] = json!(epoch_seconds(last_used));
            }
            summary
        })
        .collect();
    paged(
        json!({
            "serviceAccountTokens": summaries,
            "serviceAccountId": path.service_account_id,
            "workspaceId": workspace.record.id,
        }),
        page.next_token,
    )
}

/// DeleteWorkspaceServiceAccountToken:
/// `DELETE /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens/{tokenId}`.
pub(crate) async fn delete_token(
    State(state): State<SharedState>,
    Extension(context): Extension<CallContext>,
    path: Result<Path<TokenPath>, PathRejection>,
) -> AmgResult {
    let path = path_of(path)?;
    let account_id = input::numeric_id("serviceAccountId", &path.service_account_id)?;
    let token_id = input::numeric_id("tokenId", &path.token_id)?;
    let workspace = changeable_workspace(
        &state,
        &context,
        &path.workspace_id,
        require_service_accounts,
    )?;
    state
        .delete_token(&workspace.record.id, DEFAULT_ORG_ID, account_id, token_id)
        .map_err(|error| {
            AmgError::from_state(error, (ResourceKind::ServiceAccountToken, &path.token_id))
        })?;
    Ok(Json(json!({
        "tokenId": path.token_id,
        "serviceAccountId": path.service_account_id,
        "workspaceId": workspace.record.id,
    })))
}

/// A method the path does not support.
pub(crate) async fn unknown_operation() -> AmgError {
    AmgError::unknown_operation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_arns_are_parsed_for_their_id() {
        assert_eq!(
            workspace_id_of_arn("arn:aws:grafana:us-east-1:123456789012:/workspaces/g-0123456789"),
            Some("g-0123456789")
        );
        assert_eq!(workspace_id_of_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(workspace_id_of_arn("g-0123456789"), None);
    }
}
