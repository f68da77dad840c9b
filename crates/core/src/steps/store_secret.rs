//! store-secret: stage the new token as AWSPENDING, and later promote it to AWSCURRENT.
//!
//! The version id is derived from the execution, so a retried stage finds its own version
//! (no-op) and a stage by another execution while ours is pending is refused. Two executions
//! that check at the same instant both write; then the checks after writing, verify's and,
//! last, promote's conditional move of AWSCURRENT (atomic in Secrets Manager) let exactly one
//! of them rotate, and the other deletes the token it minted and fails with
//! `Rotation.InProgress`. Promotion is only reachable with verify's result in hand: the
//! promote input cannot be built without it.

use std::collections::BTreeMap;

use crate::error::{KeyshiftError, Result};
use crate::model::ManagedSecretValue;
use crate::naming::client_request_token_for;
use crate::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription, SecretRotatedDetail, StageUpdate,
    VersionSelector, seal_context,
};
use crate::steps::common::{
    StepDeps, context_admin_api, ignore_not_found, record_current_moved, validate_context,
};
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
///
/// Secrets Manager has no conditional PutSecretValue on labels, so two executions that both
/// find no rotation in progress both write, and the later write takes AWSPENDING. Stage
/// therefore checks before writing (another unpromoted AWSPENDING: refuse) and again after
/// (AWSPENDING no longer ours, or AWSCURRENT no longer the version we staged over: another
/// execution got there first). Whoever loses deletes the token it minted before failing with
/// `Rotation.InProgress`, so nothing it made stays live. The last word belongs to promote's
/// conditional move of AWSCURRENT off [`StagedVersion::supersedes`], which is atomic on AWS,
/// on moto and in the memory store.
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

    // Our own version already written (a retry after a lost answer): settle it again. The
    // AWSCURRENT the first attempt staged over is not known any more, so AWSCURRENT as it is
    // now stands in for it. That is exact unless another execution promoted in the window
    // between the lost write and this retry (having verified before our write took
    // AWSPENDING): closing that window would need the base stored with the version itself.
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
            let after = deps.secrets.describe(&secret_id).await?;
            let supersedes = after.version_with_stage(AWSCURRENT).map(str::to_owned);
            return settle_staged(deps, input, version_id, supersedes, &after).await;
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error),
    }

    let secret = deps.secrets.describe(&secret_id).await?;
    if let Some(pending) = secret.unpromoted_pending()
        && pending != version_id
    {
        let refused = KeyshiftError::RotationInProgress {
            secret_id,
            pending_version: pending.to_owned(),
        };
        return Err(withdraw_token(
            deps,
            context,
            input.service_account.id,
            input.token.id,
            refused,
        )
        .await);
    }
    let supersedes = secret.version_with_stage(AWSCURRENT).map(str::to_owned);

    let value =
        managed_value_of_minted(deps, context, &input.service_account, &input.token).await?;
    let written = deps
        .secrets
        .put_pending(&secret_id, &version_id, &value.to_secret_string()?)
        .await?;
    tracing::info!(secret = %secret_id, version = %written, token = %input.token.name, "staged token as AWSPENDING");
    let after = deps.secrets.describe(&secret_id).await?;
    settle_staged(deps, input, written, supersedes, &after).await
}

/// The check after writing: our version must hold AWSPENDING (no later stage took it) and
/// AWSCURRENT must still be `supersedes` (no rotation finished meanwhile), unless our version
/// is AWSCURRENT already (the secret's first version, which Secrets Manager makes current on
/// write). Otherwise this execution lost the race: it takes AWSPENDING off its version if it
/// still holds it (so no stale pending blocks later runs), deletes its token and fails.
async fn settle_staged(
    deps: &StepDeps,
    input: StageInput,
    version_id: String,
    supersedes: Option<String>,
    after: &SecretDescription,
) -> Result<StageOutput> {
    let secret_id = input.context.credential.secret_id.clone();
    let current = after.version_with_stage(AWSCURRENT);
    let pending = after.version_with_stage(AWSPENDING);
    if current != Some(version_id.as_str()) {
        let winner = if pending != Some(version_id.as_str()) {
            pending.or(current)
        } else if current != supersedes.as_deref() {
            current
        } else {
            return Ok(staged_output(input, secret_id, version_id, supersedes));
        };
        let lost = KeyshiftError::RotationInProgress {
            secret_id: secret_id.clone(),
            pending_version: winner.unwrap_or("none").to_owned(),
        };
        tracing::warn!(secret = %secret_id, version = %version_id, "another execution rotated this secret concurrently; withdrawing");
        release_pending(deps, &secret_id, &version_id, after).await?;
        let context = &input.context;
        return Err(withdraw_token(
            deps,
            context,
            input.service_account.id,
            input.token.id,
            lost,
        )
        .await);
    }
    Ok(staged_output(input, secret_id, version_id, supersedes))
}

/// Takes AWSPENDING off `version_id` when `described` shows it there, naming it as the holder
/// so the call fails instead of touching another execution's version if the label moved since.
/// A refusal means it did move: nothing of ours is left to release.
async fn release_pending(
    deps: &StepDeps,
    secret_id: &str,
    version_id: &str,
    described: &SecretDescription,
) -> Result<()> {
    if described.version_with_stage(AWSPENDING) != Some(version_id) {
        return Ok(());
    }
    match deps
        .secrets
        .apply_stage_update(secret_id, &StageUpdate::removing(AWSPENDING, version_id))
        .await
    {
        Ok(()) => Ok(()),
        Err(error) if is_refused_label_move(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Whether an UpdateSecretVersionStage failed because the label is not where the request said
/// (the conditional part of the call), as opposed to a transient or access error.
fn is_refused_label_move(error: &KeyshiftError) -> bool {
    error.asl_name() == "Input.Invalid" || error.is_not_found()
}

/// The loser's clean-up: deletes the token this execution minted (it is in no secret any
/// consumer reads, so nobody else would revoke it until a later run's orphan pass) and returns
/// `reason` to fail with. A transient failure to delete is returned instead, so the state
/// machine's Retry runs the step again (which loses again and retries the delete); any other
/// failure is logged and the token left to a later run's orphan pass, so the execution still
/// fails as what it is, `Rotation.InProgress`. A token already gone counts as deleted.
async fn withdraw_token(
    deps: &StepDeps,
    context: &CredentialContext,
    account_id: i64,
    token_id: i64,
    reason: KeyshiftError,
) -> KeyshiftError {
    let deleted = match context_admin_api(deps, context).await {
        Ok(api) => ignore_not_found(api.delete_token(account_id, token_id).await),
        Err(error) => Err(error),
    };
    match deleted {
        Ok(_) => {
            tracing::info!(
                token_id,
                "deleted this execution's token: another execution rotates the secret"
            );
            reason
        }
        Err(error) if error.is_retryable() => error,
        Err(error) => {
            tracing::warn!(token_id, error = error.asl_name(), reason = %error, "could not delete this execution's token; a later run's orphan clean-up will");
            reason
        }
    }
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
fn staged_output(
    input: StageInput,
    secret_id: String,
    version_id: String,
    supersedes: Option<String>,
) -> StageOutput {
    StageOutput {
        token: input.token.without_seal(),
        context: input.context,
        service_account: input.service_account,
        staged: StagedVersion {
            secret_id,
            version_id,
            supersedes,
        },
    }
}

/// Moves AWSCURRENT to the staged, verified version (the old one becomes AWSPREVIOUS) and takes
/// AWSPENDING off it.
///
/// The move is conditional: AWSCURRENT is only taken off [`StagedVersion::supersedes`], the
/// version it held when this version was staged, with that version named as
/// RemoveFromVersionId, which Secrets Manager (and moto, and the memory store) refuse
/// atomically when the label sits elsewhere. Of two executions that staged over the same
/// AWSCURRENT, only the first to promote moves it; the second finds it moved, withdraws its
/// token and fails with `Rotation.InProgress`, so the secret is rotated once. A retry after a
/// lost answer finds AWSCURRENT on its own version and converges.
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
    let ours = staged.version_id.as_str();
    let mut secret = deps.secrets.describe(secret_id).await?;
    let mut current = secret.version_with_stage(AWSCURRENT).map(str::to_owned);
    let already_current = current.as_deref() == Some(ours);
    if !already_current {
        // Our version may carry no label any more (a later stage took AWSPENDING): it still
        // exists, it was verified, and the conditional move alone decides who rotates.
        let moved = if current != staged.supersedes {
            false
        } else {
            match deps
                .secrets
                .apply_stage_update(
                    secret_id,
                    &StageUpdate::moving(AWSCURRENT, ours, current.as_deref()),
                )
                .await
            {
                Ok(()) => true,
                Err(error) if is_refused_label_move(&error) => {
                    // Moved by someone else between our read and our call, or by our own
                    // earlier attempt whose answer was lost: read again to tell which.
                    secret = deps.secrets.describe(secret_id).await?;
                    secret.version_with_stage(AWSCURRENT) == Some(ours)
                }
                Err(error) => return Err(error),
            }
        };
        if !moved {
            let winner = secret.version_with_stage(AWSCURRENT).unwrap_or("none");
            let lost = KeyshiftError::RotationInProgress {
                secret_id: secret_id.clone(),
                pending_version: winner.to_owned(),
            };
            tracing::warn!(secret = %secret_id, version = %ours, "AWSCURRENT moved since this version was staged; withdrawing");
            release_pending(deps, secret_id, ours, &secret).await?;
            return Err(withdraw_token(
                deps,
                context,
                input.service_account.id,
                input.token.id,
                lost,
            )
            .await);
        }
        tracing::info!(secret = %secret_id, version = %ours, "promoted the verified version to AWSCURRENT");
    } else {
        current = None;
    }
    // Promoted already (a retry, or the secret's very first version, which AWS makes
    // AWSCURRENT on write): the old AWSCURRENT is where AWSPREVIOUS points.
    let previous_version_id = current.or_else(|| {
        secret
            .version_with_stage(AWSPREVIOUS)
            .filter(|previous| *previous != ours)
            .map(str::to_owned)
    });
    release_pending(deps, secret_id, ours, &secret).await?;
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
