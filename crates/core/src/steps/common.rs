//! What every step shares: the ports it runs against, input validation, admin access to
//! Grafana and reading the managed secret's labelled versions.

use std::sync::Arc;

use crate::error::{KeyshiftError, Result};
use crate::model::{
    GrafanaCredential, ManagedSecretValue, Policy, STRAGGLERS_TAG, ServiceAccount, WorkspaceRef,
    WorkspaceTarget,
};
use crate::naming::validate_execution_name;
use crate::plan::ManagedSecretState;
use crate::ports::{
    AWSCURRENT, AmgConnector, AmgControlPlane, Clock, EventPublisher, GrafanaApi, GrafanaConnector,
    MetricsSink, RotationEvent, RotationMetric, Sealer, SecretRotatedDetail, SecretStore,
    VersionSelector, seal_context,
};
use crate::steps::io::{Bootstrap, CredentialContext};

/// The ports a step may use, built once per process (Lambda execution environment, CLI run or
/// test) and shared by every invocation. One struct for all six steps keeps the Lambda
/// binaries and the local engine's handler registration uniform.
#[derive(Clone)]
pub struct StepDeps {
    /// Opens Grafana HTTP clients (admin, or the token under verification).
    pub grafana: Arc<dyn GrafanaConnector>,
    /// Secrets Manager (or the in-memory store): managed secrets and self-hosted admin secrets.
    pub secrets: Arc<dyn SecretStore>,
    /// Seals tokens for state payloads (KMS, or the local AES-GCM sealer).
    pub sealer: Arc<dyn Sealer>,
    /// Opens the AMG control plane of a workspace's account (its
    /// [`WorkspaceRef::assume_role`], or the process's own credentials); `None` where only
    /// self-hosted Grafana is managed, in which case an AMG workspace is refused as invalid
    /// input.
    pub amg: Option<Arc<dyn AmgConnector>>,
    /// The time source for expiry decisions and `rotatedAt`.
    pub clock: Arc<dyn Clock>,
    /// Where AMG workspaces' Grafana HTTP API is reached, e.g.
    /// `http://127.0.0.1:9000/g/{workspace_id}`; `None` uses DescribeWorkspace's endpoint.
    /// Needed wherever the workspace is reached through a proxy, a VPC endpoint or an emulator.
    pub amg_url_template: Option<String>,
    /// Where promote and the final revoke-old report days to expiry and successful
    /// executions ([`crate::ports::NoMetrics`] where nobody reads them).
    pub metrics: Arc<dyn MetricsSink>,
    /// Where promote and rollback publish `Secret Rotated` for consumers
    /// ([`crate::ports::NoEvents`] where no bus is configured).
    pub events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for StepDeps {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StepDeps")
            .field("amg", &self.amg.is_some())
            .finish_non_exhaustive()
    }
}

impl StepDeps {
    /// The control plane of `workspace`'s account (under its role, if it names one), or a
    /// named error explaining that this deployment has none.
    pub(crate) async fn amg(&self, workspace: &WorkspaceRef) -> Result<Arc<dyn AmgControlPlane>> {
        let connector = self.amg.as_ref().ok_or_else(|| {
            KeyshiftError::invalid_input(
                "workspace.kind",
                "this deployment has no AMG control plane configured; only self-hosted Grafana can be managed",
            )
        })?;
        connector
            .control_plane(workspace.assume_role.as_ref())
            .await
    }
}

/// Rejects a payload whose identity fields are malformed before anything is called: a hostile
/// or corrupted state payload must produce a named error and change nothing.
pub(crate) fn validate_identity(
    execution_name: &str,
    workspace: &WorkspaceRef,
    policy: &Policy,
) -> Result<()> {
    validate_execution_name(execution_name)?;
    workspace.validate()?;
    policy.validate()
}

/// Checks the Map item's context: identity, and that the Grafana URL and admin access belong to
/// the workspace (so a tampered payload cannot send an admin credential to another host).
pub(crate) fn validate_context(context: &CredentialContext) -> Result<()> {
    validate_identity(&context.execution_name, &context.workspace, &context.policy)?;
    validate_grafana_url(&context.workspace, &context.grafana_url)?;
    validate_bootstrap(&context.workspace, &context.bootstrap)
}

/// The Grafana URL must be the workspace's own for self-hosted Grafana; for AMG it comes from
/// DescribeWorkspace and must at least be an http(s) URL.
pub(crate) fn validate_grafana_url(workspace: &WorkspaceRef, grafana_url: &str) -> Result<()> {
    let well_formed = grafana_url.starts_with("https://") || grafana_url.starts_with("http://");
    let belongs = match workspace.static_base_url() {
        Some(expected) => grafana_url.trim_end_matches('/') == expected,
        None => true,
    };
    if well_formed && belongs {
        Ok(())
    } else {
        Err(KeyshiftError::invalid_input(
            "grafanaUrl",
            "must be the workspace's own Grafana base URL",
        ))
    }
}

/// The bootstrap kind must match the workspace kind, and a self-hosted admin secret must be the
/// one the workspace names.
pub(crate) fn validate_bootstrap(workspace: &WorkspaceRef, bootstrap: &Bootstrap) -> Result<()> {
    let consistent = match (&workspace.target, bootstrap) {
        (WorkspaceTarget::Amg { .. }, Bootstrap::AmgServiceAccountToken { .. }) => true,
        (
            WorkspaceTarget::SelfHosted {
                admin_secret_id: expected,
                ..
            },
            Bootstrap::SelfHostedSecret { admin_secret_id },
        ) => expected == admin_secret_id,
        _ => false,
    };
    if consistent {
        Ok(())
    } else {
        Err(KeyshiftError::invalid_input(
            "bootstrap",
            "admin access does not belong to this workspace",
        ))
    }
}

/// A Grafana client acting as the workspace admin: the AMG bootstrap token (unsealed with this
/// execution's context, so a copy from another execution is useless) or the self-hosted admin
/// credential read from Secrets Manager.
pub(crate) async fn admin_api(
    deps: &StepDeps,
    workspace: &WorkspaceRef,
    grafana_url: &str,
    bootstrap: &Bootstrap,
    execution_name: &str,
) -> Result<Arc<dyn GrafanaApi>> {
    let credential = match bootstrap {
        Bootstrap::AmgServiceAccountToken { sealed, .. } => {
            let token = deps
                .sealer
                .unseal(sealed, &seal_context(workspace, execution_name))
                .await?;
            GrafanaCredential::Bearer(token)
        }
        Bootstrap::SelfHostedSecret { admin_secret_id } => {
            let stored = deps
                .secrets
                .get(admin_secret_id, &VersionSelector::current())
                .await?;
            GrafanaCredential::from_admin_secret(&stored.value)?
        }
    };
    deps.grafana
        .connect(grafana_url, workspace.org_id, credential)
        .await
}

/// A Grafana client for the admin access of a Map item.
pub(crate) async fn context_admin_api(
    deps: &StepDeps,
    context: &CredentialContext,
) -> Result<Arc<dyn GrafanaApi>> {
    admin_api(
        deps,
        &context.workspace,
        &context.grafana_url,
        &context.bootstrap,
        &context.execution_name,
    )
    .await
}

/// Reads every listed version of a managed secret into the one model of its labels (values
/// stay inside this function; only token and version ids come out). A secret that does not
/// exist yet has no labels; a version keyshift did not write (e.g. a placeholder) protects
/// nothing.
pub(crate) async fn read_managed_secret(
    secrets: &dyn SecretStore,
    secret_id: &str,
    service_account_name: &str,
) -> Result<ManagedSecretState> {
    let description = match secrets.describe(secret_id).await {
        Ok(description) => description,
        Err(error) if error.is_not_found() => {
            return Ok(ManagedSecretState::from_versions(
                secret_id,
                service_account_name,
                [],
            ));
        }
        Err(error) => return Err(error),
    };
    let mut versions = Vec::new();
    let mut current_rotated_at = None;
    for version in &description.versions {
        let value = match secrets
            .get(secret_id, &VersionSelector::Id(version.version_id.clone()))
            .await
        {
            Ok(value) => value,
            Err(error) if error.is_not_found() => continue,
            Err(error) => return Err(error),
        };
        if let Ok(parsed) = ManagedSecretValue::parse(&value.value, secret_id) {
            if version.has_stage(AWSCURRENT) {
                current_rotated_at = Some(parsed.rotated_at);
            }
            versions.push((version, parsed.token_id));
        }
    }
    let mut state = ManagedSecretState::from_versions(secret_id, service_account_name, versions);
    state.current_rotated_at = current_rotated_at;
    state.stragglers_tag = description.tags.get(STRAGGLERS_TAG).cloned();
    Ok(state)
}

/// Records that a secret's AWSCURRENT moved, by a promotion or a rollback alike: the
/// days-to-expiry datapoint the expiry alarm reads, and the `Secret Rotated` event consumers
/// refresh their cached token on.
pub(crate) async fn record_current_moved(
    deps: &StepDeps,
    secret_id: &str,
    detail: SecretRotatedDetail,
) -> Result<()> {
    if let Some(expires_at) = detail.expires_at {
        let now = deps.clock.now();
        deps.metrics.emit(
            RotationMetric::days_to_expiry(
                detail.workspace.clone(),
                secret_id.to_owned(),
                expires_at,
                now,
            ),
            now,
        );
    }
    deps.events
        .publish(&RotationEvent::secret_rotated(&detail))
        .await
}

/// Treats "already gone" as success, for deletes that a crashed earlier attempt may have done.
pub(crate) fn ignore_not_found(result: Result<()>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.is_not_found() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Finds a service account by exact name (search matches substrings of name, login and email).
pub(crate) async fn find_service_account(
    api: &dyn GrafanaApi,
    name: &str,
) -> Result<Option<ServiceAccount>> {
    let found = api.search_service_accounts(name).await?;
    Ok(found.into_iter().find(|account| account.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_access_must_belong_to_the_workspace() {
        let workspace =
            WorkspaceRef::self_hosted("http://grafana.example.com", "grafana/admin", 1).unwrap();
        assert!(validate_grafana_url(&workspace, "http://grafana.example.com/").is_ok());
        let error = validate_grafana_url(&workspace, "http://attacker.example.com").unwrap_err();
        assert_eq!(error.asl_name(), "Input.Invalid");
        let own = Bootstrap::SelfHostedSecret {
            admin_secret_id: "grafana/admin".into(),
        };
        let other = Bootstrap::SelfHostedSecret {
            admin_secret_id: "someone/else".into(),
        };
        assert!(validate_bootstrap(&workspace, &own).is_ok());
        assert_eq!(
            validate_bootstrap(&workspace, &other)
                .unwrap_err()
                .asl_name(),
            "Input.Invalid"
        );
    }
}
