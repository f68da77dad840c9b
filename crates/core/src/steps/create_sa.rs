//! create-sa: make sure the service account a credential will live on exists, with the role
//! the policy allows.
//!
//! Always looks the account up by name before creating or migrating anything, so a retry after
//! a crash (the account was created or the key migrated, but the answer was lost) finds it
//! instead of failing or duplicating it.

use crate::error::{KeyshiftError, Result};
use crate::model::{MigrationMode, Role, ServiceAccount};
use crate::plan::CredentialAction;
use crate::ports::GrafanaApi;
use crate::steps::common::{StepDeps, context_admin_api, find_service_account, validate_context};
use crate::steps::io::{AccountRef, CreateSaInput, CreateSaOutput};

/// Ensures the target account: migrates the legacy key in place, creates the account of a
/// `recreate` migration, or checks the account being taken over or rotated; then caps its role.
pub async fn create_service_account(
    deps: &StepDeps,
    input: CreateSaInput,
) -> Result<CreateSaOutput> {
    let context = input.context;
    validate_context(&context)?;
    let credential = &context.credential;
    let target = &credential.service_account;
    let policy = &context.policy;
    // The role cap is applied again here, not trusted from the payload.
    let intended_role = policy.roles.granted(
        &context.workspace,
        &target.name,
        &credential.secret_id,
        target.role,
    );
    let api = context_admin_api(deps, &context).await?;
    let account = match &credential.action {
        CredentialAction::MigrateKey {
            key_id,
            key_name,
            mode,
        } => {
            if let Some(pattern) = policy.exclusion_for(key_name) {
                return Err(KeyshiftError::invalid_input(
                    "credential.action.keyName",
                    format!(
                        "legacy key {key_name} matches exclude pattern {}; it must not be touched",
                        pattern.as_str()
                    ),
                ));
            }
            match mode {
                MigrationMode::InPlace => {
                    migrate_in_place(api.as_ref(), *key_id, &target.name).await?
                }
                MigrationMode::Recreate => {
                    ensure_account(api.as_ref(), &target.name, intended_role).await?
                }
            }
        }
        CredentialAction::TakeOver { service_account_id }
        | CredentialAction::Rotate {
            service_account_id, ..
        } => {
            let account = api.get_service_account(*service_account_id).await?;
            if account.name != target.name {
                return Err(KeyshiftError::invalid_input(
                    "credential.serviceAccount.name",
                    format!(
                        "account {service_account_id} is now named {}, not {}; re-run discovery",
                        account.name, target.name
                    ),
                ));
            }
            account
        }
    };
    if account.is_disabled {
        return Err(KeyshiftError::invalid_input(
            "credential.serviceAccount",
            format!(
                "service account {} is disabled, so no token of it can authenticate",
                account.name
            ),
        ));
    }
    let account = if account.role == intended_role {
        account
    } else {
        tracing::info!(account = %account.name, from = %account.role, to = %intended_role, "setting the service account's role");
        api.update_service_account_role(account.id, intended_role)
            .await?
    };
    Ok(CreateSaOutput {
        service_account: AccountRef {
            id: account.id,
            name: account.name,
            role: account.role,
            org_id: context.workspace.org_id,
        },
        context,
    })
}

/// Grafana's migrate endpoint turns the key into a token of `sa-autogen-<key name>` (same id,
/// old key string still works). An account already carrying that name means an earlier attempt
/// (or Grafana itself) did the migration.
async fn migrate_in_place(
    api: &dyn GrafanaApi,
    key_id: i64,
    account_name: &str,
) -> Result<ServiceAccount> {
    if let Some(account) = find_service_account(api, account_name).await? {
        return Ok(account);
    }
    api.migrate_legacy_key(key_id).await?;
    find_service_account(api, account_name).await?.ok_or_else(|| KeyshiftError::GrafanaBadResponse {
        operation: format!("POST /api/serviceaccounts/migrate/{key_id}"),
        detail: format!("Grafana reported success but no account {account_name} exists (was the key deleted meanwhile?)"),
    })
}

/// Finds the account by name, or creates it; a conflict on create means it appeared meanwhile
/// (a concurrent or crashed attempt), so it is looked up again.
pub(crate) async fn ensure_account(
    api: &dyn GrafanaApi,
    name: &str,
    role: Role,
) -> Result<ServiceAccount> {
    if let Some(account) = find_service_account(api, name).await? {
        return Ok(account);
    }
    match api.create_service_account(name, role).await {
        Ok(account) => Ok(account),
        Err(error @ KeyshiftError::GrafanaConflict { .. }) => {
            find_service_account(api, name).await?.ok_or(error)
        }
        Err(error) => Err(error),
    }
}
