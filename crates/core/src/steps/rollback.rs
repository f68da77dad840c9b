//! rollback: move a managed secret's AWSCURRENT back to its AWSPREVIOUS version, but only once
//! that previous token is proven to still authenticate and hold its role.
//!
//! An older version is often dead (revoked after the grace period, or expired); restoring it
//! would break every consumer at once, so such a rollback is refused with `Rollback.Refused`
//! and the advice to rotate afresh. The check is verify's ([`super::verify`]), the move is
//! promote's ([`crate::ports::SecretStore::promote`]), and a rollback is recorded like a
//! rotation: a `Secret Rotated` event (reason `rollback`) and a days-to-expiry datapoint.

use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::model::{GrafanaCredential, ManagedSecretValue, Role};
use crate::naming::validate_execution_name;
use crate::ports::{
    AWSCURRENT, AWSPREVIOUS, ROLLBACK_REFUSED, RotationEvent, SecretRotatedDetail, VersionSelector,
};
use crate::steps::common::{StepDeps, record_current_moved};
use crate::steps::verify::check_token;

/// The `reason` of the `Secret Rotated` event a rollback publishes.
pub const ROLLBACK_REASON: &str = "rollback";

/// What to roll back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInput {
    /// The managed secret.
    pub secret_id: String,
    /// The role the service account must hold; the restored token must act as it.
    pub expected_role: Role,
    /// The name this rollback is recorded under (events, logs), like an execution name.
    pub run_name: String,
    /// Check everything, change nothing.
    pub dry_run: bool,
}

/// What a rollback did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackOutcome {
    /// The managed secret.
    pub secret_id: String,
    /// The version that was AWSCURRENT (AWSPREVIOUS after the rollback).
    pub from_version_id: String,
    /// The verified version that is (or would become) AWSCURRENT.
    pub to_version_id: String,
    /// The restored token's name.
    pub token_name: String,
    /// The role it was verified to hold.
    pub role: Role,
    /// Whether anything was changed (false in a dry run).
    pub applied: bool,
}

/// Rolls `input.secret_id` back to AWSPREVIOUS after verifying that token;
/// `Rollback.Refused` (and no change) when there is no previous version, it is not keyshift's,
/// it has expired, Grafana rejects it or it acts as another role. A refusal outside a dry run
/// is published as `Rollback Refused`, so the consumers' channel records it like a rotation.
pub async fn rollback_secret(deps: &StepDeps, input: RollbackInput) -> Result<RollbackOutcome> {
    validate_execution_name(&input.run_name)?;
    let dry_run = input.dry_run;
    let run_name = input.run_name.clone();
    let result = check_and_roll_back(deps, input).await;
    if let Err(KeyshiftError::RollbackRefused { secret_id, reason }) = &result
        && !dry_run
    {
        let event = RotationEvent {
            detail_type: ROLLBACK_REFUSED.to_owned(),
            detail: serde_json::json!({
                "secretId": secret_id,
                "reason": reason,
                "execution": run_name,
            }),
        };
        deps.events.publish(&event).await?;
    }
    result
}

/// The role the secret's AWSCURRENT token acts as in Grafana: the role a restored token must
/// hold too, so consumers keep the access they have now.
pub async fn current_token_role(deps: &StepDeps, secret_id: &str) -> Result<Role> {
    let stored = deps
        .secrets
        .get(secret_id, &VersionSelector::current())
        .await?;
    let value = ManagedSecretValue::parse(&stored.value, secret_id)?;
    let api = deps
        .grafana
        .connect(
            &value.grafana_url,
            value.workspace.org_id,
            GrafanaCredential::Bearer(value.token),
        )
        .await?;
    Ok(api.permissions().await?.implied_role())
}

async fn check_and_roll_back(deps: &StepDeps, input: RollbackInput) -> Result<RollbackOutcome> {
    let secret_id = input.secret_id.as_str();
    let refused = |reason: String| KeyshiftError::RollbackRefused {
        secret_id: secret_id.to_owned(),
        reason,
    };
    let secret = deps.secrets.describe(secret_id).await?;
    if let Some(pending) = secret.unpromoted_pending() {
        return Err(KeyshiftError::RotationInProgress {
            secret_id: secret_id.to_owned(),
            pending_version: pending.to_owned(),
        });
    }
    let current = secret
        .version_with_stage(AWSCURRENT)
        .ok_or_else(|| refused("it has no AWSCURRENT version".to_owned()))?
        .to_owned();
    let previous = secret
        .version_with_stage(AWSPREVIOUS)
        .filter(|previous| *previous != current)
        .ok_or_else(|| refused("it has no AWSPREVIOUS version to restore".to_owned()))?
        .to_owned();
    let stored = deps
        .secrets
        .get(secret_id, &VersionSelector::Id(previous.clone()))
        .await?;
    let value = ManagedSecretValue::parse(&stored.value, secret_id).map_err(|_| {
        refused(format!(
            "AWSPREVIOUS version {previous} was not written by keyshift"
        ))
    })?;
    let now = deps.clock.now();
    if let Some(expires_at) = value.expires_at
        && expires_at <= now
    {
        return Err(refused(format!(
            "token {} in AWSPREVIOUS version {previous} expired at {expires_at}",
            value.token_name
        )));
    }
    let token_name = value.token_name.clone();
    let failed = |reason: String| {
        refused(format!(
            "token {token_name} in AWSPREVIOUS version {previous} no longer works ({reason})"
        ))
    };
    let role = check_token(
        deps,
        &value.grafana_url,
        value.workspace.org_id,
        value.token,
        input.expected_role,
        &failed,
    )
    .await?;
    let outcome = RollbackOutcome {
        secret_id: secret_id.to_owned(),
        from_version_id: current.clone(),
        to_version_id: previous.clone(),
        token_name: token_name.clone(),
        role,
        applied: !input.dry_run,
    };
    if input.dry_run {
        tracing::info!(secret = %secret_id, version = %previous, "dry run: the previous token works; nothing changed");
        return Ok(outcome);
    }
    deps.secrets.promote(secret_id, &previous, &secret).await?;
    tracing::info!(secret = %secret_id, version = %previous, "rolled AWSCURRENT back to the verified previous version");
    record_current_moved(
        deps,
        secret_id,
        SecretRotatedDetail {
            secret_arn: secret.arn.clone(),
            version_id: previous,
            previous_version_id: Some(current),
            workspace: value.workspace.key(),
            service_account: value.service_account_name,
            expires_at: value.expires_at,
            execution: input.run_name,
            reason: ROLLBACK_REASON.to_owned(),
        },
    )
    .await?;
    Ok(outcome)
}
