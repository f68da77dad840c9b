//! The demo's invariants, checked per instance: token ids and account names only mean
//! something inside one Grafana instance.

use std::collections::{BTreeMap, BTreeSet};

use keyshift_aws::HttpGrafanaConnector;
use keyshift_core::model::{
    GrafanaCredential, ManagedSecretValue, Policy, WorkspaceRef, WorkspaceTarget,
};
use keyshift_core::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, GrafanaConnector, SecretStore, VersionSelector,
};
use serde::Serialize;

use super::InstanceCensus;
use crate::local::{RunLog, promoted_secret_ids};

/// One managed secret at the end.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSummary {
    /// Secret name.
    pub secret_id: String,
    /// The simulated instance the secret's token works on.
    pub instance: String,
    /// The org of that instance.
    pub org_id: i64,
    /// Versions and their labels.
    pub versions: Vec<Vec<String>>,
    /// Whether AWSCURRENT authenticates on the simulator with the intended org.
    pub current_authenticates: bool,
    /// The account it holds the token of.
    pub service_account: String,
    /// Token id in AWSCURRENT.
    pub current_token_id: Option<i64>,
    /// Token id in AWSPREVIOUS.
    pub previous_token_id: Option<i64>,
}

/// An invariant and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What must hold.
    pub name: String,
    /// Whether it did.
    pub passed: bool,
    /// How many instances (or secrets, for checks about secrets) it examined, so a check that
    /// passed because it looked at nothing shows.
    pub checked: usize,
    /// Details when it did not.
    pub detail: String,
}

pub(super) async fn summarize_secrets(
    log: &RunLog,
    secrets: &dyn SecretStore,
    connector: &HttpGrafanaConnector,
) -> Vec<SecretSummary> {
    let mut summaries = Vec::new();
    for secret_id in promoted_secret_ids(log) {
        let versions = match secrets.describe(&secret_id).await {
            Ok(description) => description
                .versions
                .into_iter()
                .map(|version| version.stages)
                .collect(),
            Err(_) => Vec::new(),
        };
        let token_of = |stage: &str| {
            let secret_id = secret_id.clone();
            let stage = stage.to_owned();
            async move {
                let stored = secrets
                    .get(&secret_id, &VersionSelector::Stage(stage))
                    .await
                    .ok()?;
                ManagedSecretValue::parse(&stored.value, &secret_id).ok()
            }
        };
        let current = token_of(AWSCURRENT).await;
        let previous = token_of(AWSPREVIOUS).await;
        let current_authenticates = match &current {
            Some(value) => authenticates(connector, value).await,
            None => false,
        };
        let workspace = current.as_ref().or(previous.as_ref()).map(|v| &v.workspace);
        summaries.push(SecretSummary {
            instance: workspace.map(instance_of).unwrap_or_default(),
            org_id: workspace.map(|w| w.org_id).unwrap_or_default(),
            service_account: current
                .as_ref()
                .map(|value| value.service_account_name.clone())
                .unwrap_or_default(),
            current_token_id: current.as_ref().map(|value| value.token_id),
            previous_token_id: previous.as_ref().map(|value| value.token_id),
            secret_id,
            versions,
            current_authenticates,
        });
    }
    summaries
}

/// Calls Grafana with the stored token, as a consumer of the secret would.
async fn authenticates(connector: &HttpGrafanaConnector, value: &ManagedSecretValue) -> bool {
    let credential = GrafanaCredential::Bearer(value.token.clone());
    let Ok(api) = connector
        .connect(&value.grafana_url, value.workspace.org_id, credential)
        .await
    else {
        return false;
    };
    matches!(api.org().await, Ok(org) if org.id == value.workspace.org_id)
}

/// The simulated instance a workspace reference points at: the AMG workspace id, or the last
/// segment of a self-hosted URL (grafana-sim serves each instance under `/g/<id>`).
pub fn instance_of(workspace: &WorkspaceRef) -> String {
    match &workspace.target {
        WorkspaceTarget::Amg { workspace_id, .. } => workspace_id.clone(),
        WorkspaceTarget::SelfHosted { url, .. } => url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(url)
            .to_owned(),
    }
}

/// Checks the end state per instance: token ids and account names only mean something inside
/// one Grafana instance, and a generated fleet has the same names on every workspace.
pub(super) fn invariant_checks(
    after: &[InstanceCensus],
    secrets: &[SecretSummary],
    log: &RunLog,
    instances: &BTreeMap<String, String>,
    policy: &Policy,
) -> Vec<Check> {
    let check = |name: &str, checked: usize, failures: Vec<String>| Check {
        name: name.to_owned(),
        passed: failures.is_empty(),
        checked,
        detail: failures.join("; "),
    };
    let legacy: Vec<String> = after
        .iter()
        .filter(|census| census.live_legacy_keys > 0 || census.live_migrated_keys > 0)
        .map(|census| {
            format!(
                "{}: {} legacy and {} migrated keys still work",
                census.id, census.live_legacy_keys, census.live_migrated_keys
            )
        })
        .collect();
    let current: Vec<String> = secrets
        .iter()
        .filter(|secret| !secret.current_authenticates)
        .map(|secret| format!("{}: AWSCURRENT does not authenticate", secret.secret_id))
        .collect();
    let pending: Vec<String> = secrets
        .iter()
        .filter(|secret| {
            secret.versions.iter().any(|stages| {
                stages.iter().any(|stage| stage == AWSPENDING)
                    && !stages.iter().any(|stage| stage == AWSCURRENT)
            })
        })
        .map(|secret| {
            format!(
                "{}: an AWSPENDING version was left behind",
                secret.secret_id
            )
        })
        .collect();
    let mut extra = Vec::new();
    // Minted tokens by instance; a minted record whose workspace is unknown is a failure
    // rather than silently not checked.
    let mut keyshift_tokens: BTreeSet<(&str, i64)> = BTreeSet::new();
    for minted in &log.minted {
        match instances.get(&minted.workspace) {
            Some(instance) => {
                keyshift_tokens.insert((instance.as_str(), minted.token_id));
            }
            None => extra.push(format!(
                "token {} was minted on {}, which is not in the fleet",
                minted.token_id, minted.workspace
            )),
        }
    }
    let held: BTreeMap<(&str, String), &SecretSummary> = secrets
        .iter()
        .map(|secret| {
            (
                (
                    secret.instance.as_str(),
                    format!("{}:{}", secret.org_id, secret.service_account),
                ),
                secret,
            )
        })
        .collect();
    for census in after {
        for (account, tokens) in &census.live_tokens_by_account {
            let secret = held.get(&(census.id.as_str(), account.clone()));
            let allowed: BTreeSet<i64> = secret
                .map(|secret| [secret.current_token_id, secret.previous_token_id])
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            let unexpected = tokens.iter().any(|token| {
                keyshift_tokens.contains(&(census.id.as_str(), *token)) && !allowed.contains(token)
            });
            let too_many =
                secret.is_some() && tokens.len() > policy.max_tokens_per_account as usize;
            if unexpected || too_many {
                extra.push(format!(
                    "{} {account}: live tokens {tokens:?}, secret holds {allowed:?}",
                    census.id
                ));
            }
        }
    }
    vec![
        check(
            "every legacy key was migrated and, after the grace period, revoked",
            after.len(),
            legacy,
        ),
        check(
            "every managed secret's AWSCURRENT authenticates",
            secrets.len(),
            current,
        ),
        check("no AWSPENDING version left behind", secrets.len(), pending),
        check(
            "no live keyshift token beyond AWSCURRENT and AWSPREVIOUS",
            after.len(),
            extra,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::InstanceCensus;
    use crate::local::MintedRecord;

    fn census_with(id: &str, account: &str, tokens: &[i64]) -> InstanceCensus {
        InstanceCensus {
            id: id.to_owned(),
            live_tokens: tokens.len(),
            live_tokens_by_account: BTreeMap::from([(
                account.to_owned(),
                tokens.iter().copied().collect(),
            )]),
            ..InstanceCensus::default()
        }
    }

    fn secret_on(instance: &str, current: i64, previous: i64) -> SecretSummary {
        SecretSummary {
            secret_id: format!("keyshift/{instance}/1/ci/token"),
            instance: instance.to_owned(),
            org_id: 1,
            versions: vec![vec![AWSCURRENT.to_owned()]],
            current_authenticates: true,
            service_account: "ci".to_owned(),
            current_token_id: Some(current),
            previous_token_id: Some(previous),
        }
    }

    fn minted(workspace: &str, token_id: i64) -> MintedRecord {
        MintedRecord {
            workspace: workspace.to_owned(),
            service_account: "ci".to_owned(),
            token_id,
            token_name: format!("t-{token_id}"),
        }
    }

    fn extra_tokens_check(after: &[InstanceCensus], log: &RunLog) -> Check {
        let secrets = vec![secret_on("g-a", 2, 1), secret_on("g-b", 4, 3)];
        let instances = BTreeMap::from([
            ("ws-a".to_owned(), "g-a".to_owned()),
            ("ws-b".to_owned(), "g-b".to_owned()),
        ]);
        invariant_checks(after, &secrets, log, &instances, &Policy::default())
            .pop()
            .unwrap()
    }

    /// The extra-token check after a run that minted `minted` (workspace, token id), with
    /// account `1:ci` on both instances holding `live_on_a` and `live_on_b`.
    fn extra_tokens_after(
        minted_ids: &[(&str, i64)],
        live_on_a: &[i64],
        live_on_b: &[i64],
    ) -> Check {
        let log = RunLog {
            minted: minted_ids
                .iter()
                .map(|(workspace, id)| minted(workspace, *id))
                .collect(),
            ..RunLog::default()
        };
        let after = [
            census_with("g-a", "1:ci", live_on_a),
            census_with("g-b", "1:ci", live_on_b),
        ];
        extra_tokens_check(&after, &log)
    }

    #[test]
    fn token_ids_and_account_names_are_told_apart_per_instance() {
        // Same account name on both instances; token 2 is keyshift's on g-a only. On g-b a
        // token 2 exists too but was never minted there, so it is none of keyshift's business.
        let check = extra_tokens_after(&[("ws-a", 1), ("ws-a", 2), ("ws-b", 4)], &[1, 2], &[2, 4]);
        assert!(check.passed, "{}", check.detail);
        assert_eq!(check.checked, 2);
    }

    #[test]
    fn a_leftover_keyshift_token_fails_on_its_own_instance_only() {
        // Token 1 minted on g-b is still live there although g-b's secret holds 4 and 3; on g-a
        // token 1 is AWSPREVIOUS and fine. Matching by name across instances would allow it.
        let check = extra_tokens_after(&[("ws-a", 2), ("ws-b", 1), ("ws-b", 4)], &[1, 2], &[1, 4]);
        assert!(!check.passed);
        assert!(check.detail.starts_with("g-b 1:ci"), "{}", check.detail);
        assert!(!check.detail.contains("g-a"), "{}", check.detail);
    }
}
