//! `keyshift secret create`: for a user starting from nothing, the service account (role
//! capped by the policy), its first token and the managed secret of one workspace, in one go,
//! on the state machine's own steps: discover-keys for admin access (on AMG a short-lived
//! bootstrap token, revoked at the end), then create-sa, mint-token, store-secret stage,
//! verify and promote. The secret must not exist yet (`Secret.Exists`, nothing changed): this
//! is the first credential, never an overwrite of one somebody reads.

use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::model::{Policy, Role, WorkspaceRef};
use crate::naming::short_hash;
use crate::plan::{CredentialAction, CredentialPlan, TargetAccount};
use crate::steps::common::{StepDeps, admin_api, find_service_account};
use crate::steps::create_sa::{create_service_account, ensure_account};
use crate::steps::discover::discover_keys;
use crate::steps::io::{CreateSaInput, CredentialContext, DiscoverInput, DiscoverOutput, TokenRef};
use crate::steps::mint_token::{effective_ttl_seconds, mint_token};
use crate::steps::revoke_old::{BootstrapCleanup, revoke_bootstrap_credential};
use crate::steps::store_secret::{promote_secret, stage_secret};
use crate::steps::verify::verify_token;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCreateInput {
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// The service account's name (found by name first, created if absent).
    pub service_account_name: String,
    /// The role asked for; the policy's role cap applies.
    pub role: Role,
    /// The policy (secret name template, token TTL, role cap).
    pub policy: Policy,
    /// Only report what would be created.
    pub dry_run: bool,
}

/// What was (or, in a dry run, would be) created. Ids and names only, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCreateOutput {
    /// The managed secret's name.
    pub secret_id: String,
    /// The service account's name.
    pub service_account_name: String,
    /// The role it gets (the requested one capped by the policy).
    pub role: Role,
    /// Whether the account existed before (then it is reused, with its role capped).
    pub account_existed: bool,
    /// True when nothing was changed.
    pub dry_run: bool,
    /// What was created; `None` in a dry run.
    #[serde(default)]
    pub created: Option<CreatedSecret>,
}

/// The objects a real run created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSecret {
    /// The service account's id.
    pub service_account_id: i64,
    /// The first token (id, name, expiry).
    pub token: TokenRef,
    /// The secret's AWSCURRENT version.
    pub version_id: String,
}

/// Creates the account, its first token and the managed secret, or refuses with
/// `Secret.Exists` when the secret is there already.
pub async fn create_managed_secret(
    deps: &StepDeps,
    input: SecretCreateInput,
) -> Result<SecretCreateOutput> {
    input.policy.validate()?;
    input.workspace.validate()?;
    if input.service_account_name.trim().is_empty() {
        return Err(KeyshiftError::invalid_input(
            "serviceAccountName",
            "must not be empty",
        ));
    }
    let secret_id = input
        .policy
        .secret_name_for(&input.workspace, &input.service_account_name)?;
    match deps.secrets.describe(&secret_id).await {
        Ok(_) => return Err(KeyshiftError::SecretExists { secret_id }),
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error),
    }
    let execution_name = format!("secret-create-{}", short_hash(&secret_id));
    let discovered = discover_keys(
        deps,
        DiscoverInput {
            execution_name: execution_name.clone(),
            workspace: input.workspace.clone(),
            policy: input.policy.clone(),
        },
    )
    .await?;
    let outcome = create_with(deps, &input, &discovered, secret_id).await;
    let cleanup = BootstrapCleanup {
        execution_name,
        workspace: discovered.workspace,
        bootstrap: discovered.bootstrap,
        policy: discovered.policy,
    };
    let revoked = revoke_bootstrap_credential(deps, cleanup).await;
    let output = outcome?;
    revoked?;
    Ok(output)
}

async fn create_with(
    deps: &StepDeps,
    input: &SecretCreateInput,
    discovered: &DiscoverOutput,
    secret_id: String,
) -> Result<SecretCreateOutput> {
    let policy = &input.policy;
    let name = &input.service_account_name;
    let role = policy.roles.cap(input.role);
    let api = admin_api(
        deps,
        &discovered.workspace,
        &discovered.grafana_url,
        &discovered.bootstrap,
        &discovered.execution_name,
    )
    .await?;
    let existing = find_service_account(api.as_ref(), name).await?;
    let mut output = SecretCreateOutput {
        secret_id: secret_id.clone(),
        service_account_name: name.clone(),
        role,
        account_existed: existing.is_some(),
        dry_run: input.dry_run,
        created: None,
    };
    if input.dry_run {
        return Ok(output);
    }
    let account = match existing {
        Some(account) => account,
        None => ensure_account(api.as_ref(), name, role).await?,
    };
    let credential = CredentialPlan::standalone(
        secret_id,
        CredentialAction::TakeOver {
            service_account_id: account.id,
        },
        TargetAccount {
            id: Some(account.id),
            name: name.clone(),
            role,
            requested_role: input.role,
        },
        effective_ttl_seconds(0, policy),
        "keyshift secret create",
    );
    let context = CredentialContext::new(
        discovered.execution_name.clone(),
        discovered.workspace.clone(),
        discovered.grafana_url.clone(),
        discovered.bootstrap.clone(),
        policy,
        credential,
    );
    let ensured = create_service_account(deps, CreateSaInput { context }).await?;
    let minted = mint_token(deps, ensured.into()).await?;
    let staged = stage_secret(deps, minted.into()).await?;
    let verified = verify_token(deps, staged.into()).await?;
    let promoted = promote_secret(deps, verified.into()).await?;
    tracing::info!(secret = %promoted.promoted.secret_id, account = %promoted.service_account.name, "created the managed secret");
    output.role = promoted.service_account.role;
    output.created = Some(CreatedSecret {
        service_account_id: promoted.service_account.id,
        token: promoted.token,
        version_id: promoted.promoted.version_id,
    });
    Ok(output)
}
