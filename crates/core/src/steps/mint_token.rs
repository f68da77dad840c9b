//! mint-token: create the new token, named after the execution, and pass it on sealed.
//!
//! The name is a pure function of the execution and the account, so a retry can tell its own
//! earlier token apart. Such a token is either already stored by this execution (a redriven
//! iteration: recovered from the secret, never deleted, because it may be AWSCURRENT by now) or
//! was never stored (its key died with the crashed attempt: an orphan, deleted and re-minted).
//! Either way at most one live token per execution and account remains.

use chrono::{DateTime, Duration, Utc};

use crate::error::{KeyshiftError, Result};
use crate::model::{AMG_MAX_SECONDS_TO_LIVE, ManagedSecretValue, MintedToken, Policy};
use crate::naming::client_request_token_for;
use crate::ports::{GrafanaApi, SealContext, VersionSelector, seal_context};
use crate::secret::SecretString;
use crate::steps::common::{StepDeps, context_admin_api, ignore_not_found, validate_context};
use crate::steps::io::{MintTokenInput, MintTokenOutput, MintedTokenRef};

/// The TTL to request: the plan's, or the policy default when the plan says 0, never above
/// AMG's 30-day limit (which also keeps every token expiring).
pub fn effective_ttl_seconds(planned: u64, policy: &Policy) -> u64 {
    let requested = if planned == 0 {
        policy.token_ttl_seconds()
    } else {
        planned
    };
    requested.clamp(1, AMG_MAX_SECONDS_TO_LIVE)
}

/// Mints (or recovers) this execution's token on the ensured account.
pub async fn mint_token(deps: &StepDeps, input: MintTokenInput) -> Result<MintTokenOutput> {
    let context = &input.context;
    validate_context(context)?;
    let account = &input.service_account;
    if account.name != context.credential.service_account.name
        || account.org_id != context.workspace.org_id
    {
        return Err(KeyshiftError::invalid_input(
            "serviceAccount",
            "the ensured account does not match the credential's target account",
        ));
    }
    let token_name = context
        .policy
        .token_name_for(&context.execution_name, &account.name);
    let ttl = effective_ttl_seconds(context.credential.token_ttl_seconds, &context.policy);
    let seal_with = seal_context(&context.workspace, &context.execution_name);
    let api = context_admin_api(deps, context).await?;

    if let Some(existing) = find_token(api.as_ref(), account.id, &token_name).await? {
        if let Some(recovered) = recover_stored(deps, &input, existing, &seal_with).await? {
            tracing::info!(token = %token_name, "this execution's token is already stored; reusing it");
            return Ok(output(input, recovered));
        }
        tracing::warn!(token = %token_name, "deleting an orphan token minted by an earlier attempt but never stored");
        ignore_not_found(api.delete_token(account.id, existing).await)?;
    }

    let now = deps.clock.now();
    let minted = match api.create_token(account.id, &token_name, ttl, now).await {
        Ok(minted) => minted,
        Err(KeyshiftError::GrafanaConflict { .. }) => {
            // Appeared between listing and creating (a concurrent retry): same treatment.
            if let Some(existing) = find_token(api.as_ref(), account.id, &token_name).await? {
                ignore_not_found(api.delete_token(account.id, existing).await)?;
            }
            api.create_token(account.id, &token_name, ttl, now).await?
        }
        Err(error) => return Err(error),
    };
    let token = seal_minted(deps, minted, ttl, now, &seal_with).await?;
    tracing::info!(token = %token.name, token_id = token.id, account = %account.name, "minted token");
    Ok(output(input, token))
}

fn output(input: MintTokenInput, token: MintedTokenRef) -> MintTokenOutput {
    MintTokenOutput {
        context: input.context,
        service_account: input.service_account,
        token,
    }
}

async fn find_token(api: &dyn GrafanaApi, account_id: i64, name: &str) -> Result<Option<i64>> {
    let tokens = api.list_tokens(account_id).await?;
    Ok(tokens
        .into_iter()
        .find(|token| token.name == name)
        .map(|token| token.id))
}

async fn seal_minted(
    deps: &StepDeps,
    minted: MintedToken,
    ttl: u64,
    now: DateTime<Utc>,
    seal_with: &SealContext,
) -> Result<MintedTokenRef> {
    let sealed = deps.sealer.seal(&minted.key, seal_with).await?;
    let ttl_seconds = i64::try_from(ttl).unwrap_or(i64::MAX);
    Ok(MintedTokenRef {
        id: minted.id,
        name: minted.name,
        expires_at: minted
            .expiration
            .or_else(|| now.checked_add_signed(Duration::seconds(ttl_seconds))),
        sealed,
    })
}

/// The token this execution already wrote to the secret (under its deterministic version id),
/// if the token found in Grafana is that one.
async fn recover_stored(
    deps: &StepDeps,
    input: &MintTokenInput,
    token_id: i64,
    seal_with: &SealContext,
) -> Result<Option<MintedTokenRef>> {
    let context = &input.context;
    let secret_id = &context.credential.secret_id;
    let version_id = client_request_token_for(&context.execution_name, secret_id);
    let stored = match deps
        .secrets
        .get(secret_id, &VersionSelector::Id(version_id))
        .await
    {
        Ok(stored) => stored,
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => return Err(error),
    };
    let value = ManagedSecretValue::parse(&stored.value, secret_id)?;
    if value.token_id != token_id || value.service_account_id != input.service_account.id {
        return Ok(None);
    }
    let token: &SecretString = &value.token;
    let sealed = deps.sealer.seal(token, seal_with).await?;
    Ok(Some(MintedTokenRef {
        id: value.token_id,
        name: value.token_name,
        expires_at: value.expires_at,
        sealed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_defaults_to_the_policy_and_is_capped_at_thirty_days() {
        let policy = Policy::default();
        assert_eq!(effective_ttl_seconds(0, &policy), 2_592_000);
        assert_eq!(effective_ttl_seconds(3_600, &policy), 3_600);
        assert_eq!(effective_ttl_seconds(90 * 86_400, &policy), 2_592_000);
    }
}
