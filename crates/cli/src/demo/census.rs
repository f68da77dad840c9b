//! What each simulated instance holds at one moment, counted from grafana-sim's own state,
//! and what a round of executions did, summed from the run log.

use std::collections::{BTreeMap, BTreeSet};

use grafana_sim::state::CredentialFormat;
use grafana_sim::{SharedState, WorkspaceKind};
use keyshift_core::plan::CredentialAction;
use serde::Serialize;

use super::RoundTotals;
use crate::local::RunLog;

/// Counts of one Grafana instance at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCensus {
    /// Instance id.
    pub id: String,
    /// `amg` or `selfHosted`.
    pub kind: String,
    /// Grafana version.
    pub version: String,
    /// Plain legacy keys that still authenticate.
    pub live_legacy_keys: usize,
    /// Plain legacy keys past their expiry (still listed).
    pub expired_legacy_keys: usize,
    /// Migrated legacy key strings that still authenticate (old key now owned by an account).
    pub live_migrated_keys: usize,
    /// Service accounts.
    pub service_accounts: usize,
    /// Service-account tokens that authenticate.
    pub live_tokens: usize,
    /// Live tokens per service account name.
    #[serde(skip)]
    pub live_tokens_by_account: BTreeMap<String, BTreeSet<i64>>,
}

/// Counts what each instance holds now, from the simulator's own state.
pub fn census(state: &SharedState) -> Vec<InstanceCensus> {
    state
        .workspaces()
        .into_iter()
        .filter_map(|view| {
            state
                .with_instance(&view.record.id, |instance, now| {
                    let mut census = InstanceCensus {
                        id: instance.record.id.clone(),
                        kind: match instance.record.kind {
                            WorkspaceKind::Amg => "amg".to_owned(),
                            WorkspaceKind::SelfHosted => "selfHosted".to_owned(),
                        },
                        version: instance.version_label.clone(),
                        service_accounts: instance.service_accounts.len(),
                        ..InstanceCensus::default()
                    };
                    // From 12.1 Grafana no longer authenticates a key that was never migrated.
                    let plain_keys_authenticate = !instance.version.legacy_keys_removed();
                    for row in instance.credentials.values() {
                        let live = !row.has_expired(now) && !row.is_revoked;
                        match (row.service_account_id, row.format) {
                            (None, _) if !live => census.expired_legacy_keys += 1,
                            (None, _) if plain_keys_authenticate => census.live_legacy_keys += 1,
                            (None, _) => {}
                            (Some(_), CredentialFormat::LegacyKey) if live => {
                                census.live_migrated_keys += 1
                            }
                            (Some(account), CredentialFormat::ServiceAccountToken) if live => {
                                census.live_tokens += 1;
                                let name = instance
                                    .service_accounts
                                    .get(&account)
                                    .map(|sa| format!("{}:{}", sa.org_id, sa.name))
                                    .unwrap_or_default();
                                census
                                    .live_tokens_by_account
                                    .entry(name)
                                    .or_default()
                                    .insert(row.id);
                            }
                            (Some(_), _) => {}
                        }
                    }
                    census
                })
                .ok()
        })
        .collect()
}

pub(super) fn total(census: &[InstanceCensus], field: impl Fn(&InstanceCensus) -> usize) -> usize {
    census.iter().map(field).sum()
}

pub(super) fn log_since(full: &RunLog, earlier: &RunLog) -> RunLog {
    RunLog {
        steps: full
            .steps
            .iter()
            .skip(earlier.steps.len())
            .cloned()
            .collect(),
        plans: full
            .plans
            .iter()
            .skip(earlier.plans.len())
            .cloned()
            .collect(),
        minted: full
            .minted
            .iter()
            .skip(earlier.minted.len())
            .cloned()
            .collect(),
        promoted: full
            .promoted
            .iter()
            .skip(earlier.promoted.len())
            .cloned()
            .collect(),
        revocations: full
            .revocations
            .iter()
            .skip(earlier.revocations.len())
            .cloned()
            .collect(),
    }
}

pub(super) fn round_totals(log: &RunLog) -> RoundTotals {
    let actions = log.plans.iter().flat_map(|plan| {
        plan.plan
            .credentials
            .iter()
            .map(|credential| &credential.action)
    });
    let mut totals = RoundTotals::default();
    for action in actions {
        match action {
            CredentialAction::MigrateKey { .. } | CredentialAction::TakeOver { .. } => {
                totals.keys_migrated += 1
            }
            CredentialAction::Rotate { .. } => totals.tokens_rotated += 1,
        }
    }
    totals.tokens_minted = log.minted.len();
    totals.versions_promoted = log.promoted.len();
    for revocation in &log.revocations {
        totals.tokens_revoked += revocation.revoked_tokens.len();
        totals.keys_deleted += revocation.deleted_keys.len();
        totals.bootstrap_revoked += usize::from(revocation.bootstrap_revoked);
    }
    totals
}
