//! The demo's operating part: what a consumer would have received (the rotation events the
//! promote steps published on the local queue) and a rollback attempt on a secret whose
//! AWSPREVIOUS token was revoked (the simulator marks it revoked, as Grafana's secret scanning
//! does with a leaked token), which keyshift must refuse.

use grafana_sim::SharedState;
use keyshift_core::model::{GrafanaCredential, ManagedSecretValue, Role};
use keyshift_core::ports::{SECRET_ROTATED, VersionSelector};
use keyshift_core::steps::{RollbackInput, StepDeps, rollback_secret};
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
    /// The first of them, as an EventBridge target would receive it.
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
        sample_event: published.first().map(LocalEventQueue::envelope),
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
    let expected_role = match current_role(deps, &target.secret_id).await {
        Some(role) => role,
        None => return summary,
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

/// The role the secret's AWSCURRENT token acts as: the role a restored token must hold too.
async fn current_role(deps: &StepDeps, secret_id: &str) -> Option<Role> {
    let stored = deps
        .secrets
        .get(secret_id, &VersionSelector::current())
        .await
        .ok()?;
    let value = ManagedSecretValue::parse(&stored.value, secret_id).ok()?;
    let api = deps
        .grafana
        .connect(
            &value.grafana_url,
            value.workspace.org_id,
            GrafanaCredential::Bearer(value.token),
        )
        .await
        .ok()?;
    Some(api.permissions().await.ok()?.implied_role())
}
