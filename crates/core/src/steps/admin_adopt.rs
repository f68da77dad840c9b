//! `keyshift admin adopt`: turns a self-hosted admin secret (basic auth or a token someone
//! made) into keyshift's own credential, a token of the `keyshift-admin` service account
//! stored in the managed format, so the admin secret is from then on rotated like any other
//! managed secret (minted with the current admin token, verified, promoted, old one revoked
//! after the grace period).

use serde::Serialize;

use super::common::{StepDeps, find_service_account};
use crate::error::{KeyshiftError, Result};
use crate::model::grafana::GrafanaCredential;
use crate::model::role::Role;
use crate::model::secret_value::ManagedSecretValue;
use crate::model::workspace::{WorkspaceRef, WorkspaceTarget};
use crate::naming::{ADMIN_ACCOUNT_NAME, client_request_token_for};
use crate::ports::VersionSelector;

/// What adoption did (or, with `dry_run`, would do); ids only, never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptOutcome {
    /// The admin secret adopted.
    pub admin_secret_id: String,
    /// The `keyshift-admin` account, if it exists (always after a real run).
    pub service_account_id: Option<i64>,
    /// Whether the account had to be created (or would be).
    pub created_account: bool,
    /// The token stored (absent on a dry run).
    pub token_id: Option<i64>,
    /// The secret version now AWSCURRENT (absent on a dry run).
    pub version_id: Option<String>,
    /// Whether nothing was changed.
    pub dry_run: bool,
}

/// Adopts the admin secret of a self-hosted `workspace`. Refuses, changing nothing, an
/// already-adopted secret ([`KeyshiftError::AdminAlreadyAdopted`]) or a credential that does
/// not act as org Admin ([`KeyshiftError::AdminUnusableCredential`]). The new token is verified
/// as Admin before it is promoted, and the old credential is left as AWSPREVIOUS (a password or
/// a token keyshift did not make is never revoked by keyshift). `run_name` names the token and
/// the secret version, so a rerun after a crash reuses them.
pub async fn adopt_admin_secret(
    deps: &StepDeps,
    workspace: &WorkspaceRef,
    token_ttl_seconds: u64,
    run_name: &str,
    dry_run: bool,
) -> Result<AdoptOutcome> {
    let WorkspaceTarget::SelfHosted {
        url,
        admin_secret_id,
    } = &workspace.target
    else {
        return Err(KeyshiftError::invalid_input(
            "workspace",
            "only self-hosted Grafana has an admin secret to adopt (AMG admin tokens are minted per execution)",
        ));
    };
    let unusable = |reason: String| KeyshiftError::AdminUnusableCredential {
        secret_id: admin_secret_id.clone(),
        reason,
    };
    let grafana_url = url.trim_end_matches('/').to_owned();
    let stored = deps
        .secrets
        .get(admin_secret_id, &VersionSelector::current())
        .await?;
    if ManagedSecretValue::parse(&stored.value, admin_secret_id).is_ok() {
        return Err(KeyshiftError::AdminAlreadyAdopted {
            secret_id: admin_secret_id.clone(),
        });
    }
    let credential = GrafanaCredential::from_admin_secret(&stored.value)
        .map_err(|error| unusable(error.to_string()))?;
    let admin = deps
        .grafana
        .connect(&grafana_url, workspace.org_id, credential)
        .await?;
    let role = admin
        .permissions()
        .await
        .map_err(|error| unusable(format!("it does not authenticate ({})", error.asl_name())))?
        .implied_role();
    if role != Role::Admin {
        return Err(unusable(format!("it acts as {role}, not Admin")));
    }
    let existing = find_service_account(admin.as_ref(), ADMIN_ACCOUNT_NAME).await?;
    if dry_run {
        return Ok(AdoptOutcome {
            admin_secret_id: admin_secret_id.clone(),
            service_account_id: existing.as_ref().map(|account| account.id),
            created_account: existing.is_none(),
            token_id: None,
            version_id: None,
            dry_run,
        });
    }
    let created_account = existing.is_none();
    let account = match existing {
        Some(account) if account.role == Role::Admin => account,
        Some(account) => {
            admin
                .update_service_account_role(account.id, Role::Admin)
                .await?
        }
        None => {
            admin
                .create_service_account(ADMIN_ACCOUNT_NAME, Role::Admin)
                .await?
        }
    };
    // A token of this run's name is from a crashed earlier attempt whose value was lost.
    let token_name = format!("{ADMIN_ACCOUNT_NAME}-{run_name}");
    for token in admin.list_tokens(account.id).await? {
        if token.name == token_name {
            admin.delete_token(account.id, token.id).await?;
        }
    }
    let minted = admin
        .create_token(account.id, &token_name, token_ttl_seconds, deps.clock.now())
        .await?;
    let check = deps
        .grafana
        .connect(
            &grafana_url,
            workspace.org_id,
            GrafanaCredential::Bearer(minted.key.clone()),
        )
        .await?;
    let minted_role = check.permissions().await?.implied_role();
    if minted_role != Role::Admin {
        return Err(KeyshiftError::VerifyFailed {
            subject: format!("token {} of {ADMIN_ACCOUNT_NAME}", minted.name),
            reason: format!("it acts as {minted_role}, not Admin"),
        });
    }
    let value = ManagedSecretValue {
        token: minted.key,
        workspace: workspace.clone(),
        grafana_url,
        service_account_id: account.id,
        service_account_name: account.name.clone(),
        token_id: minted.id,
        token_name: minted.name,
        expires_at: minted.expiration,
        rotated_at: deps.clock.now(),
        execution_name: run_name.to_owned(),
    };
    let version_id = deps
        .secrets
        .put_pending(
            admin_secret_id,
            &client_request_token_for(run_name, admin_secret_id),
            &value.to_secret_string()?,
        )
        .await?;
    let described = deps.secrets.describe(admin_secret_id).await?;
    deps.secrets
        .promote(admin_secret_id, &version_id, &described)
        .await?;
    tracing::info!(secret = %admin_secret_id, account = account.id, token = minted.id, "adopted the admin secret");
    Ok(AdoptOutcome {
        admin_secret_id: admin_secret_id.clone(),
        service_account_id: Some(account.id),
        created_account,
        token_id: Some(minted.id),
        version_id: Some(version_id),
        dry_run,
    })
}
