//! discover-keys: inventory one workspace and compute its plan.
//!
//! Read-only towards Grafana. The only thing it creates is, for AMG, this execution's
//! short-lived bootstrap admin token (minted through the control plane, named after the
//! execution, revoked by the workspace-scope revoke-old), so no standing admin key exists.

use crate::error::{KeyshiftError, Result};
use crate::model::{
    AMG_MAX_SECONDS_TO_LIVE, AmgWorkspace, GrafanaVersion, Policy, Role, WorkspaceRef,
    WorkspaceTarget, amg_base_url,
};
use crate::naming::{ADMIN_ACCOUNT_NAME, BOOTSTRAP_NAME_PREFIX, bootstrap_name_for};
use crate::plan::{AccountInventory, Inventory, compute_plan};
use crate::ports::{AmgControlPlane, GrafanaApi, seal_context};
use crate::steps::common::{
    StepDeps, admin_api, ignore_not_found, read_managed_secret, validate_identity,
};
use crate::steps::io::{Bootstrap, DiscoverInput, DiscoverOutput};

/// Headroom on top of the grace period for the bootstrap token: the steps before the Wait and
/// the workspace-scope revoke-old after it must still be able to use it.
const BOOTSTRAP_HEADROOM_SECONDS: u64 = 6 * 3_600;

/// Placeholder in [`StepDeps::amg_url_template`] replaced by the AMG workspace id.
pub const WORKSPACE_ID_PLACEHOLDER: &str = "{workspace_id}";

/// Inventories the workspace (version, legacy keys including expired ones, service accounts
/// and their tokens, keyshift's own secrets) and plans the work.
pub async fn discover_keys(deps: &StepDeps, input: DiscoverInput) -> Result<DiscoverOutput> {
    let Discovered {
        grafana_url,
        bootstrap,
        inventory,
    } = discover_inventory(deps, &input).await?;
    let plan = compute_plan(&inventory, &input.policy, deps.clock.now())?;
    tracing::info!(
        workspace = %input.workspace,
        execution = %input.execution_name,
        version = %inventory.version,
        legacy_keys = inventory.legacy_keys.len(),
        accounts = inventory.accounts.len(),
        credentials = plan.credentials.len(),
        "discovered workspace"
    );
    Ok(DiscoverOutput {
        execution_name: input.execution_name,
        workspace: input.workspace,
        grafana_url,
        version: inventory.version,
        policy: input.policy,
        bootstrap,
        plan,
    })
}

/// What [`discover_inventory`] read, and how it reached the workspace.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The Grafana HTTP API base the steps use.
    pub grafana_url: String,
    /// The admin credential of this run (AMG: the short-lived bootstrap token it minted, which
    /// the caller must revoke; self-hosted: the admin secret).
    pub bootstrap: Bootstrap,
    /// Everything the workspace holds.
    pub inventory: Inventory,
}

/// The read half of discover-keys, shared with `keyshift inventory`: reaches the workspace as
/// an admin and reads its inventory, planning nothing.
pub async fn discover_inventory(deps: &StepDeps, input: &DiscoverInput) -> Result<Discovered> {
    validate_identity(&input.execution_name, &input.workspace, &input.policy)?;
    let (grafana_url, bootstrap) = match &input.workspace.target {
        WorkspaceTarget::Amg {
            workspace_id,
            region,
        } => {
            let amg_workspace = AmgWorkspace {
                workspace_id: workspace_id.clone(),
                region: region.clone(),
            };
            let amg = deps.amg(&input.workspace).await?;
            let summary = amg.describe_workspace(&amg_workspace).await?;
            if !summary.is_active() {
                return Err(KeyshiftError::WorkspaceNotActive {
                    workspace: workspace_id.clone(),
                    status: summary.status,
                });
            }
            require_service_accounts(&summary.grafana_version)?;
            let grafana_url = match &deps.amg_url_template {
                Some(template) => template.replace(WORKSPACE_ID_PLACEHOLDER, workspace_id),
                None => amg_base_url(&summary.endpoint),
            };
            let bootstrap = mint_amg_bootstrap(
                deps,
                amg.as_ref(),
                &amg_workspace,
                &input.workspace,
                &input.execution_name,
                &input.policy,
            )
            .await?;
            (grafana_url, bootstrap)
        }
        WorkspaceTarget::SelfHosted {
            url,
            admin_secret_id,
        } => (
            url.trim_end_matches('/').to_owned(),
            Bootstrap::SelfHostedSecret {
                admin_secret_id: admin_secret_id.clone(),
            },
        ),
    };
    let api = admin_api(
        deps,
        &input.workspace,
        &grafana_url,
        &bootstrap,
        &input.execution_name,
    )
    .await?;
    let version = api.health().await?;
    require_service_accounts(&version)?;
    let inventory =
        read_inventory(deps, api.as_ref(), &input.workspace, &input.policy, version).await?;
    Ok(Discovered {
        grafana_url,
        bootstrap,
        inventory,
    })
}

fn require_service_accounts(version: &GrafanaVersion) -> Result<()> {
    if version.supports_service_accounts() {
        Ok(())
    } else {
        Err(KeyshiftError::GrafanaUnsupportedVersion {
            version: version.to_string(),
            detail: "service accounts are generally available from Grafana 9.1".to_owned(),
        })
    }
}

/// How long the bootstrap token lives: the grace period plus headroom, within AMG's limits.
pub fn bootstrap_ttl_seconds(policy: &Policy) -> u64 {
    policy
        .grace_period_seconds()
        .saturating_add(BOOTSTRAP_HEADROOM_SECONDS)
        .clamp(3_600, AMG_MAX_SECONDS_TO_LIVE)
}

/// Mints this execution's admin token on an admin service account created through the control
/// plane (found by name first). A token with this execution's name already present was minted
/// by a crashed earlier attempt whose output (and so the sealed key) was lost: it is deleted
/// and minted again, so only one bootstrap token per execution ever lives.
pub(crate) async fn mint_amg_bootstrap(
    deps: &StepDeps,
    amg: &dyn AmgControlPlane,
    amg_workspace: &AmgWorkspace,
    workspace: &WorkspaceRef,
    execution_name: &str,
    policy: &Policy,
) -> Result<Bootstrap> {
    let account = match find_bootstrap_account(amg, amg_workspace).await? {
        Some(account) => account,
        None => match amg
            .create_workspace_service_account(amg_workspace, BOOTSTRAP_NAME_PREFIX, Role::Admin)
            .await
        {
            Ok(account) => account,
            Err(error) => find_bootstrap_account(amg, amg_workspace)
                .await?
                .ok_or(error)?,
        },
    };
    if account.is_disabled {
        return Err(KeyshiftError::invalid_input(
            "bootstrap",
            format!(
                "the AMG service account {BOOTSTRAP_NAME_PREFIX} is disabled; enable it or delete it"
            ),
        ));
    }
    let token_name = bootstrap_name_for(execution_name);
    let existing = amg
        .list_workspace_service_account_tokens(amg_workspace, &account.id)
        .await?;
    for stale in existing.iter().filter(|token| token.name == token_name) {
        tracing::warn!(token = %stale.name, "deleting a bootstrap token left by an earlier attempt of this execution");
        ignore_not_found(
            amg.delete_workspace_service_account_token(amg_workspace, &account.id, &stale.id)
                .await,
        )?;
    }
    let minted = amg
        .create_workspace_service_account_token(
            amg_workspace,
            &account.id,
            &token_name,
            bootstrap_ttl_seconds(policy),
        )
        .await?;
    let sealed = deps
        .sealer
        .seal(&minted.key, &seal_context(workspace, execution_name))
        .await?;
    Ok(Bootstrap::AmgServiceAccountToken {
        service_account_id: account.id,
        token_id: minted.id,
        token_name,
        sealed,
    })
}

async fn find_bootstrap_account(
    amg: &dyn AmgControlPlane,
    amg_workspace: &AmgWorkspace,
) -> Result<Option<crate::ports::AmgServiceAccount>> {
    let accounts = amg.list_workspace_service_accounts(amg_workspace).await?;
    Ok(accounts
        .into_iter()
        .find(|account| account.name == BOOTSTRAP_NAME_PREFIX))
}

/// Reads everything [`compute_plan`] needs. Legacy keys are only listed where the endpoint
/// exists (before 12.1), expired ones included so they can be cleaned up.
pub(crate) async fn read_inventory(
    deps: &StepDeps,
    api: &dyn GrafanaApi,
    workspace: &WorkspaceRef,
    policy: &Policy,
    version: GrafanaVersion,
) -> Result<Inventory> {
    let legacy_keys = if version.has_legacy_key_endpoints() {
        api.list_legacy_keys(true).await?
    } else {
        Vec::new()
    };
    let mut accounts = Vec::new();
    for account in api.search_service_accounts("").await? {
        let tokens = api.list_tokens(account.id).await?;
        accounts.push(AccountInventory { account, tokens });
    }
    let mut managed_secrets = Vec::new();
    for entry in &accounts {
        if entry.account.name.starts_with(BOOTSTRAP_NAME_PREFIX) {
            continue;
        }
        // An adopted self-hosted admin secret holds keyshift-admin's token: that secret, not a
        // templated one, is where the account's token is rotated.
        let adopted_admin = match &workspace.target {
            WorkspaceTarget::SelfHosted {
                admin_secret_id, ..
            } if entry.account.name == ADMIN_ACCOUNT_NAME => Some(admin_secret_id.clone()),
            _ => None,
        };
        // Accounts whose names cannot form a secret name are not keyshift's.
        let Some(secret_id) =
            adopted_admin.or_else(|| policy.secret_name_for(workspace, &entry.account.name).ok())
        else {
            continue;
        };
        let state =
            read_managed_secret(deps.secrets.as_ref(), &secret_id, &entry.account.name).await?;
        if state.stored_token_ids.is_empty() {
            continue;
        }
        managed_secrets.push(state);
    }
    Ok(Inventory {
        workspace: workspace.clone(),
        version,
        legacy_keys,
        accounts,
        managed_secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_token_outlives_the_grace_period_within_amg_limits() {
        let policy = Policy::default();
        // A day of grace plus six hours for the steps around the Wait, spelled out rather
        // than through the constant, so a changed headroom fails here.
        assert_eq!(bootstrap_ttl_seconds(&policy), 86_400 + 6 * 3_600);
        let long: Policy = serde_json::from_str(r#"{"gracePeriod":"40d"}"#).unwrap();
        assert_eq!(bootstrap_ttl_seconds(&long), AMG_MAX_SECONDS_TO_LIVE);
    }
}
