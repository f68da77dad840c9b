//! [`AmgControlPlane`] on `aws-sdk-grafana`: fleet listing and the short-lived bootstrap
//! admin credential of each execution.
//!
//! Workspaces live in many regions while an SDK client is bound to one, so clients are built
//! per region from one base configuration and cached.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_grafana::Client;
use aws_sdk_grafana::config::Region;
use aws_sdk_grafana::config::http::HttpResponse;
use aws_sdk_grafana::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_grafana::types::Role as SdkRole;
use chrono::{DateTime, Utc};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::model::{AmgWorkspace, GrafanaVersion, Role};
use keyshift_core::ports::{
    AmgControlPlane, AmgMintedToken, AmgServiceAccount, AmgServiceAccountToken, AmgWorkspaceSummary,
};
use keyshift_core::secret::SecretString;

use crate::aws_errors::{classify, service_message};

const SERVICE: &str = "grafana";
/// AMG accepts secondsToLive 1..=2 592 000 (30 days) for keys and tokens.
const MAX_SECONDS_TO_LIVE: u64 = 2_592_000;

/// What keyshift needs to know about any AMG operation error beyond its code: the typed
/// `retryAfterSeconds` of a throttle and the resource a not-found names.
trait AmgOperationError: ProvideErrorMetadata {
    fn throttle_retry_after(&self) -> Option<i32>;
    fn missing_resource(&self) -> Option<(&str, &str)>;
}

macro_rules! amg_operation_error {
    (with_not_found: $($error:ty),+ $(,)?) => {$(
        impl AmgOperationError for $error {
            fn throttle_retry_after(&self) -> Option<i32> {
                match self {
                    Self::ThrottlingException(throttle) => throttle.retry_after_seconds(),
                    _ => None,
                }
            }
            fn missing_resource(&self) -> Option<(&str, &str)> {
                match self {
                    Self::ResourceNotFoundException(missing) => {
                        Some((missing.resource_type(), missing.resource_id()))
                    }
                    _ => None,
                }
            }
        }
    )+};
    (without_not_found: $($error:ty),+ $(,)?) => {$(
        impl AmgOperationError for $error {
            fn throttle_retry_after(&self) -> Option<i32> {
                match self {
                    Self::ThrottlingException(throttle) => throttle.retry_after_seconds(),
                    _ => None,
                }
            }
            fn missing_resource(&self) -> Option<(&str, &str)> {
                None
            }
        }
    )+};
}

use aws_sdk_grafana::operation::{
    create_workspace_service_account::CreateWorkspaceServiceAccountError,
    create_workspace_service_account_token::CreateWorkspaceServiceAccountTokenError,
    delete_workspace_service_account_token::DeleteWorkspaceServiceAccountTokenError,
    describe_workspace::DescribeWorkspaceError,
    list_workspace_service_account_tokens::ListWorkspaceServiceAccountTokensError,
    list_workspace_service_accounts::ListWorkspaceServiceAccountsError,
    list_workspaces::ListWorkspacesError,
};

amg_operation_error!(with_not_found:
    DescribeWorkspaceError,
    CreateWorkspaceServiceAccountError,
    ListWorkspaceServiceAccountsError,
    CreateWorkspaceServiceAccountTokenError,
    ListWorkspaceServiceAccountTokensError,
    DeleteWorkspaceServiceAccountTokenError,
);
amg_operation_error!(without_not_found: ListWorkspacesError);

/// Awaits one AMG call about `workspace` and maps its failure ([`map_error`]), so each
/// operation below reads as its request only.
async fn answer<T, E: AmgOperationError>(
    operation: &str,
    workspace: &AmgWorkspace,
    call: impl Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T> {
    call.await
        .map_err(|error| map_error(operation, &workspace.workspace_id, &error))
}

/// A delete on `$workspace`'s regional client: `$method` with the workspace id and the
/// given `$setter`s, its (empty) answer dropped and its failure mapped as `$operation`.
macro_rules! delete_on {
    ($self:ident, $workspace:ident, $operation:literal, $method:ident $(, $setter:ident($value:expr))* $(,)?) => {
        answer(
            $operation,
            $workspace,
            $self
                .regional($workspace)
                .$method()
                .workspace_id(&$workspace.workspace_id)
                $(.$setter($value))*
                .send(),
        )
        .await
        .map(drop)
    };
}

/// Maps a typed AMG error to keyshift's taxonomy.
fn map_error<E: AmgOperationError>(
    operation: &str,
    workspace_id: &str,
    error: &SdkError<E, HttpResponse>,
) -> KeyshiftError {
    let Some(service_error) = error.as_service_error() else {
        return classify(SERVICE, operation, error, None);
    };
    let code = service_error.code().unwrap_or_default();
    if let Some((resource_type, resource_id)) = service_error.missing_resource() {
        let is_workspace = resource_type.is_empty()
            || resource_type.eq_ignore_ascii_case("workspace")
            || resource_id == workspace_id;
        return if is_workspace {
            KeyshiftError::WorkspaceNotFound {
                workspace: workspace_id.to_owned(),
            }
        } else {
            KeyshiftError::GrafanaNotFound {
                operation: operation.to_owned(),
                what: format!("{} {}", resource_type.to_ascii_lowercase(), resource_id),
            }
        };
    }
    match code {
        "ThrottlingException" => KeyshiftError::AwsThrottled {
            service: SERVICE.to_owned(),
            operation: operation.to_owned(),
            retry_after: service_error
                .throttle_retry_after()
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map(Duration::from_secs)
                .or_else(|| crate::aws_errors::retry_after_header(error)),
        },
        "ConflictException" => KeyshiftError::GrafanaConflict {
            operation: operation.to_owned(),
            detail: service_message(error),
        },
        "ValidationException" => KeyshiftError::invalid_input(operation, service_message(error)),
        "ServiceQuotaExceededException" => KeyshiftError::AwsFailed {
            service: SERVICE.to_owned(),
            operation: operation.to_owned(),
            detail: format!("quota exceeded (HTTP 402): {}", service_message(error)),
        },
        _ => classify(SERVICE, operation, error, None),
    }
}

/// An account as AMG answers it; a role keyshift does not know is a bad answer to `operation`.
fn service_account(
    operation: &str,
    id: &str,
    name: &str,
    role: &SdkRole,
    is_disabled: bool,
) -> Result<AmgServiceAccount> {
    Ok(AmgServiceAccount {
        id: id.to_owned(),
        name: name.to_owned(),
        role: role
            .as_str()
            .parse()
            .map_err(|_| bad_answer(operation, "unknown role in the answer"))?,
        is_disabled,
    })
}

fn sdk_role(role: Role) -> Result<SdkRole> {
    match role.as_amg() {
        Some(name) => Ok(SdkRole::from(name)),
        None => Err(KeyshiftError::invalid_input(
            "role",
            "AMG service accounts need a role (Viewer, Editor or Admin)",
        )),
    }
}

fn ttl(seconds_to_live: u64) -> Result<i32> {
    if !(1..=MAX_SECONDS_TO_LIVE).contains(&seconds_to_live) {
        return Err(KeyshiftError::invalid_input(
            "secondsToLive",
            format!("AMG accepts 1..={MAX_SECONDS_TO_LIVE} seconds, got {seconds_to_live}"),
        ));
    }
    i32::try_from(seconds_to_live)
        .map_err(|_| KeyshiftError::invalid_input("secondsToLive", "out of range"))
}

fn to_chrono(value: &aws_sdk_grafana::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(value.secs(), value.subsec_nanos())
}

fn bad_answer(operation: &str, detail: &str) -> KeyshiftError {
    KeyshiftError::AwsFailed {
        service: SERVICE.to_owned(),
        operation: operation.to_owned(),
        detail: detail.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn summary(
    operation: &str,
    id: &str,
    region: &str,
    name: Option<&str>,
    endpoint: &str,
    version: &str,
    status: &str,
    tags: Option<&HashMap<String, String>>,
) -> Result<AmgWorkspaceSummary> {
    let grafana_version = version
        .parse::<GrafanaVersion>()
        .map_err(|_| bad_answer(operation, "unparsable grafanaVersion"))?;
    Ok(AmgWorkspaceSummary {
        workspace: AmgWorkspace {
            workspace_id: id.to_owned(),
            region: region.to_owned(),
        },
        name: name.map(str::to_owned),
        endpoint: endpoint.to_owned(),
        grafana_version,
        status: status.to_owned(),
        tags: tags
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    })
}

/// The AMG control plane in any region.
#[derive(Debug)]
pub struct AmgControlPlaneClient {
    base: aws_sdk_grafana::Config,
    clients: Mutex<HashMap<String, Client>>,
}

impl AmgControlPlaneClient {
    /// Builds per-region clients from `base` (see [`crate::config::AwsContext::grafana_client`]).
    pub fn new(base: &Client) -> Self {
        Self {
            base: base.config().clone(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of `workspace`'s region.
    fn regional(&self, workspace: &AmgWorkspace) -> Client {
        self.client(&workspace.region)
    }

    fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                Client::from_conf(
                    self.base
                        .to_builder()
                        .region(Region::new(region.to_owned()))
                        .build(),
                )
            })
            .clone()
    }
}

#[async_trait]
impl AmgControlPlane for AmgControlPlaneClient {
    async fn list_workspaces(&self, region: &str) -> Result<Vec<AmgWorkspaceSummary>> {
        let operation = "ListWorkspaces";
        let items: Vec<_> = self
            .client(region)
            .list_workspaces()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| map_error(operation, "", &error))?;
        items
            .iter()
            .map(|workspace| {
                summary(
                    operation,
                    workspace.id(),
                    region,
                    workspace.name(),
                    workspace.endpoint(),
                    workspace.grafana_version(),
                    workspace.status().as_str(),
                    workspace.tags(),
                )
            })
            .collect()
    }

    async fn describe_workspace(&self, workspace: &AmgWorkspace) -> Result<AmgWorkspaceSummary> {
        let operation = "DescribeWorkspace";
        let request = self.regional(workspace).describe_workspace();
        let output = answer(
            operation,
            workspace,
            request.workspace_id(&workspace.workspace_id).send(),
        )
        .await?;
        let described = output
            .workspace()
            .ok_or_else(|| bad_answer(operation, "no workspace in the answer"))?;
        summary(
            operation,
            described.id(),
            &workspace.region,
            described.name(),
            described.endpoint(),
            described.grafana_version(),
            described.status().as_str(),
            described.tags(),
        )
    }

    async fn create_workspace_service_account(
        &self,
        workspace: &AmgWorkspace,
        name: &str,
        role: Role,
    ) -> Result<AmgServiceAccount> {
        let operation = "CreateWorkspaceServiceAccount";
        let request = self
            .regional(workspace)
            .create_workspace_service_account()
            .workspace_id(&workspace.workspace_id)
            .name(name)
            .grafana_role(sdk_role(role)?);
        let output = answer(operation, workspace, request.send()).await?;
        service_account(
            operation,
            output.id(),
            output.name(),
            output.grafana_role(),
            false,
        )
    }

    async fn list_workspace_service_accounts(
        &self,
        workspace: &AmgWorkspace,
    ) -> Result<Vec<AmgServiceAccount>> {
        let operation = "ListWorkspaceServiceAccounts";
        let request = self.regional(workspace).list_workspace_service_accounts();
        let pages = request
            .workspace_id(&workspace.workspace_id)
            .into_paginator();
        let items = answer(operation, workspace, pages.items().send().try_collect()).await?;
        items
            .iter()
            .map(|account| {
                service_account(
                    operation,
                    account.id(),
                    account.name(),
                    account.grafana_role(),
                    // AMG models isDisabled as a string.
                    account.is_disabled().eq_ignore_ascii_case("true"),
                )
            })
            .collect()
    }

    async fn create_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        name: &str,
        seconds_to_live: u64,
    ) -> Result<AmgMintedToken> {
        let operation = "CreateWorkspaceServiceAccountToken";
        let request = self
            .regional(workspace)
            .create_workspace_service_account_token()
            .workspace_id(&workspace.workspace_id)
            .service_account_id(service_account_id)
            .name(name)
            .seconds_to_live(ttl(seconds_to_live)?);
        let output = answer(operation, workspace, request.send()).await?;
        let token = output
            .service_account_token()
            .ok_or_else(|| bad_answer(operation, "no token in the answer"))?;
        if token.key().is_empty() {
            return Err(bad_answer(operation, "no key in the answer"));
        }
        Ok(AmgMintedToken {
            id: token.id().to_owned(),
            name: token.name().to_owned(),
            key: SecretString::new(token.key()),
        })
    }

    async fn list_workspace_service_account_tokens(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
    ) -> Result<Vec<AmgServiceAccountToken>> {
        let operation = "ListWorkspaceServiceAccountTokens";
        let request = self
            .regional(workspace)
            .list_workspace_service_account_tokens();
        let pages = request
            .workspace_id(&workspace.workspace_id)
            .service_account_id(service_account_id)
            .into_paginator();
        let items = answer(operation, workspace, pages.items().send().try_collect()).await?;
        items
            .iter()
            .map(|token| {
                Ok(AmgServiceAccountToken {
                    id: token.id().to_owned(),
                    name: token.name().to_owned(),
                    created_at: to_chrono(token.created_at())
                        .ok_or_else(|| bad_answer(operation, "createdAt out of range"))?,
                    expires_at: to_chrono(token.expires_at())
                        .ok_or_else(|| bad_answer(operation, "expiresAt out of range"))?,
                    last_used_at: token.last_used_at().and_then(to_chrono),
                })
            })
            .collect()
    }

    async fn delete_workspace_service_account_token(
        &self,
        workspace: &AmgWorkspace,
        service_account_id: &str,
        token_id: &str,
    ) -> Result<()> {
        delete_on!(
            self,
            workspace,
            "DeleteWorkspaceServiceAccountToken",
            delete_workspace_service_account_token,
            service_account_id(service_account_id),
            token_id(token_id),
        )
    }
}
