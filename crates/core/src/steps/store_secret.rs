//! store-secret: stage the new token as AWSPENDING, and later promote it to AWSCURRENT.
//!
//! The version id is derived from the execution, so a retried stage finds its own version
//! (no-op) and a stage by another execution while ours is pending is refused, keeping two
//! rotations from interleaving. Promotion is only reachable with verify's result in hand: the
//! promote input cannot be built without it.

use std::collections::BTreeMap;

use crate::error::{KeyshiftError, Result};
use crate::model::ManagedSecretValue;
use crate::naming::client_request_token_for;
use crate::ports::{AWSCURRENT, AWSPREVIOUS, SecretRotatedDetail, VersionSelector, seal_context};
use crate::steps::common::{StepDeps, record_current_moved, validate_context};
use crate::steps::io::{
    AccountRef, CredentialContext, MintedTokenRef, PromoteInput, PromoteOutput, PromotedVersion,
    StageInput, StageOutput, StagedVersion, StoreSecretInput, StoreSecretOutput,
};

/// Tag naming the workspace a managed secret belongs to, so people (and IAM conditions) can
/// find keyshift's secrets.
pub const WORKSPACE_TAG: &str = "keyshift:workspace";
/// Tag naming the service account whose token a managed secret holds.
pub const SERVICE_ACCOUNT_TAG: &str = "keyshift:service-account";

/// The `reason` of a `Secret Rotated` event published by promote.
pub const ROTATION_REASON: &str = "rotation";

/// Runs the requested action (the store-secret Lambda serves both).
pub async fn store_secret(deps: &StepDeps, input: StoreSecretInput) -> Result<StoreSecretOutput> {
    match input {
        StoreSecretInput::Stage(input) => stage_secret(deps, input)
            .await
            .map(StoreSecretOutput::Staged),
        StoreSecretInput::Promote(input) => promote_secret(deps, input)
            .await
            .map(StoreSecretOutput::Promoted),
    }
}

/// Writes the sealed token, unsealed, as this execution's AWSPENDING version.
pub async fn stage_secret(deps: &StepDeps, input: StageInput) -> Result<StageOutput> {
    let context = &input.context;
    validate_context(context)?;
    let secret_id = context.credential.secret_id.clone();
    let version_id = client_request_token_for(&context.execution_name, &secret_id);
    let tags = BTreeMap::from([
        (WORKSPACE_TAG.to_owned(), context.workspace.key()),
        (
            SERVICE_ACCOUNT_TAG.to_owned(),
            input.service_account.name.clone(),
        ),
    ]);
    let description = format!(
        "Grafana service-account token of {} on {}, rotated by keyshift",
        input.service_account.name, context.workspace
    );
    deps.secrets
        .ensure_secret(&secret_id, &description, &tags)
        .await?;

    // Our own version already written (a retry after a lost answer): nothing to do.
    match deps
        .secrets
        .get(&secret_id, &VersionSelector::Id(version_id.clone()))
        .await
    {
        Ok(existing) => {
            let value = ManagedSecretValue::parse(&existing.value, &secret_id)?;
            if value.token_id != input.token.id {
                return Err(KeyshiftError::SecretVersionConflict {
                    secret_id,
                    version_id,
                });
            }
            tracing::info!(secret = %secret_id, version = %version_id, "version already staged by this execution");
            return Ok(staged_output(input, secret_id, version_id));
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error),
    }

    let secret = deps.secrets.describe(&secret_id).await?;
    if let Some(pending) = secret.unpromoted_pending()
        && pending != version_id
    {
        return Err(KeyshiftError::RotationInProgress {
            secret_id,
            pending_version: pending.to_owned(),
        });
    }

    let value =
        managed_value_of_minted(deps, context, &input.service_account, &input.token).await?;
    let written = deps
        .secrets
        .put_pending(&secret_id, &version_id, &value.to_secret_string()?)
        .await?;
    tracing::info!(secret = %secret_id, version = %written, token = %input.token.name, "staged token as AWSPENDING");
    Ok(staged_output(input, secret_id, written))
}

/// The secret value a freshly minted token is stored as: unsealed with this workspace's and
/// execution's context (so a token sealed for another execution cannot be staged here) and
/// labelled with everything revoke-old and the planner later read back.
pub(crate) async fn managed_value_of_minted(
    deps: &StepDeps,
    context: &CredentialContext,
    account: &AccountRef,
    minted: &MintedTokenRef,
) -> Result<ManagedSecretValue> {
    let token = deps
        .sealer
        .unseal(
            &minted.sealed,
            &seal_context(&context.workspace, &context.execution_name),
        )
        .await?;
    Ok(ManagedSecretValue {
        token,
        workspace: context.workspace.clone(),
        grafana_url: context.grafana_url.clone(),
        service_account_id: account.id,
        service_account_name: account.name.clone(),
        token_id: minted.id,
        token_name: minted.name.clone(),
        expires_at: minted.expires_at,
        rotated_at: deps.clock.now(),
        execution_name: context.execution_name.clone(),
    })
}

/// The stage output drops the sealed token: nothing after stage needs it.
fn staged_output(input: StageInput, secret_id: String, version_id: String) -> StageOutput {
    StageOutput {
        token: input.token.without_seal(),
        context: input.context,
        service_account: input.service_account,
        staged: StagedVersion {
            secret_id,
            version_id,
        },
    }
}

/// Moves AWSCURRENT to the staged, verified version (the old one becomes AWSPREVIOUS) and takes
/// AWSPENDING off it, reading the secret once.
pub async fn promote_secret(deps: &StepDeps, input: PromoteInput) -> Result<PromoteOutput> {
    let context = &input.context;
    validate_context(context)?;
    let staged = &input.staged;
    let expected_version =
        client_request_token_for(&context.execution_name, &context.credential.secret_id);
    if staged.secret_id != context.credential.secret_id || staged.version_id != expected_version {
        return Err(KeyshiftError::invalid_input(
            "staged",
            "the staged version is not the one this execution wrote for this credential",
        ));
    }
    let secret_id = &staged.secret_id;
    let secret = deps.secrets.describe(secret_id).await?;
    if !secret
        .versions
        .iter()
        .any(|version| version.version_id == staged.version_id)
    {
        return Err(KeyshiftError::SecretNotFound {
            secret_id: secret_id.clone(),
            what: format!("version {}", staged.version_id),
        });
    }
    let current = secret.version_with_stage(AWSCURRENT);
    let previous_version_id = if current == Some(staged.version_id.as_str()) {
        // Promoted already (a retry, or the secret's very first version, which AWS makes
        // AWSCURRENT on write): the old AWSCURRENT is where AWSPREVIOUS points.
        secret
            .version_with_stage(AWSPREVIOUS)
            .filter(|previous| *previous != staged.version_id)
            .map(str::to_owned)
    } else {
        current.map(str::to_owned)
    };
    deps.secrets
        .promote(secret_id, &staged.version_id, &secret)
        .await?;
    if current != Some(staged.version_id.as_str()) {
        tracing::info!(secret = %secret_id, version = %staged.version_id, "promoted the verified version to AWSCURRENT");
    }
    record_current_moved(
        deps,
        secret_id,
        SecretRotatedDetail {
            secret_arn: secret.arn.clone(),
            version_id: staged.version_id.clone(),
            previous_version_id: previous_version_id.clone(),
            workspace: context.workspace.key(),
            service_account: input.service_account.name.clone(),
            expires_at: input.token.expires_at,
            execution: context.execution_name.clone(),
            reason: ROTATION_REASON.to_owned(),
        },
    )
    .await?;
    let promoted = PromotedVersion {
        secret_id: secret_id.clone(),
        version_id: staged.version_id.clone(),
        previous_version_id,
    };
    Ok(PromoteOutput {
        context: input.context,
        service_account: input.service_account,
        token: input.token,
        promoted,
    })
}
