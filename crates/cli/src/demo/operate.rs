//! The demo's operating part: what a consumer would have received (the rotation events the
//! promote steps published on the local queue) and a rollback attempt on a secret whose
//! AWSPREVIOUS token was revoked (the simulator marks it revoked, as Grafana's secret scanning
//! does with a leaked token), which keyshift must refuse.

use grafana_sim::SharedState;
use keyshift_core::ports::{ROTATION_FAILED, SECRET_ROTATED};
use keyshift_core::steps::{RollbackInput, StepDeps, current_token_role, rollback_secret};
use keyshift_local::LocalEventQueue;
use serde::Serialize;

use super::checks::SecretSummary;

/// The name the demo's rollback attempt is recorded under.
const ROLLBACK_RUN: &str = "ks-demo-rollback";

/// What the operating part showed.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperateSummary {
    /// How many `Secret Rotated` events were published.
    pub rotated_events: usize,
    /// How many `Rotation Failed` events the failed executions published.
    pub failed_events: usize,
    /// The first `Secret Rotated`, as an EventBridge target would receive it.
    pub sample_event: Option<serde_json::Value>,
    /// The secret the rollback was attempted on.
    pub rollback_secret: Option<String>,
    /// The named error and sentence of the refused rollback (`None`: it was not refused).
    pub rollback_refusal: Option<String>,
}

/// Reads the published events, revokes the AWSPREVIOUS token of the first secret that has one
/// and tries to roll that secret back, which must be refused.
pub(super) async fn operate(
    state: &SharedState,
    deps: &StepDeps,
    events: &LocalEventQueue,
    secrets: &[SecretSummary],
) -> OperateSummary {
    let published = events.published();
    let mut summary = OperateSummary {
        rotated_events: events.count(SECRET_ROTATED),
        failed_events: events.count(ROTATION_FAILED),
        sample_event: published
            .iter()
            .find(|event| event.detail_type == SECRET_ROTATED)
            .map(LocalEventQueue::envelope),
        ..OperateSummary::default()
    };
    let Some(target) = secrets
        .iter()
        .find(|secret| secret.previous_token_id.is_some())
    else {
        return summary;
    };
    summary.rollback_secret = Some(target.secret_id.clone());
    let revoked = target
        .previous_token_id
        .is_some_and(|token_id| state.revoke_credential(&target.instance, token_id).is_ok());
    if !revoked {
        return summary;
    }
    let Ok(expected_role) = current_token_role(deps, &target.secret_id).await else {
        return summary;
    };
    let input = RollbackInput {
        secret_id: target.secret_id.clone(),
        expected_role,
        run_name: ROLLBACK_RUN.to_owned(),
        dry_run: false,
    };
    summary.rollback_refusal = match rollback_secret(deps, input).await {
        Ok(_) => None,
        Err(error) => Some(format!("{}: {error}", error.asl_name())),
    };
    summary
}
