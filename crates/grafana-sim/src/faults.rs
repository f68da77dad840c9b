//! Fault injection: the failures a real fleet throws at keyshift, on demand.
//!
//! keyshift's retry and dead-letter paths only get exercised if something fails, so tests
//! register rules keyed by (workspace id, endpoint name). Endpoint names are route templates
//! for the Grafana HTTP API (`POST /api/serviceaccounts/:id/tokens`) and operation names for the
//! AMG control plane (`CreateWorkspaceServiceAccountToken`); `*` matches any workspace or any
//! endpoint. A rule fires for the next N matching calls, or with a seeded probability so a
//! flaky run can be replayed exactly.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What happens to a request a rule fires on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer with this status instead of serving the request (429 comes with `Retry-After`).
    Status {
        /// HTTP status to answer with, e.g. 429, 500, 503.
        status: u16,
        /// `Retry-After` header value in seconds; defaults to 1 for 429 and is absent otherwise.
        #[serde(default, rename = "retryAfterSeconds")]
        retry_after_seconds: Option<u64>,
    },
    /// Serve the request normally, but only after this many milliseconds.
    Latency {
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// Close the connection without sending any answer.
    Drop,
    /// Serve the request, then replace the body with truncated JSON.
    MalformedJson,
}

/// A fault rule as tests submit it to `POST /_sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// Workspace (instance) id, or `*` for every workspace.
    pub workspace: String,
    /// Endpoint template or AMG operation name, or `*` for every endpoint.
    pub endpoint: String,
    /// What the rule does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire on the next N matching calls, then retire. Absent: no count limit.
    pub times: Option<u32>,
    /// Fire with this probability (0..=1) per matching call. Absent: always.
    pub probability: Option<f64>,
    /// Seed for the probability draw, so a run can be repeated exactly.
    pub seed: Option<u64>,
}

/// Why a fault rule was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    /// Probabilities outside 0..=1 make no sense.
    #[error("probability must be between 0 and 1, got {0}")]
    InvalidProbability(f64),
    /// A status fault must carry an HTTP error status.
    #[error("status faults need a status between 400 and 599, got {0}")]
    InvalidStatus(u16),
    /// An empty workspace or endpoint would silently match nothing.
    #[error("workspace and endpoint must be non-empty (use `*` for any)")]
    EmptySelector,
}

#[derive(Debug)]
struct ActiveRule {
    id: u64,
    spec: FaultSpec,
    remaining: Option<u32>,
    rng: StdRng,
    fired: u64,
}

/// A registered rule as reported back to tests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultView {
    /// Rule id, used for nothing but reporting.
    pub id: u64,
    /// The rule as submitted.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls left before the rule retires, when it was given a count.
    pub remaining: Option<u32>,
    /// How often the rule has fired.
    pub fired: u64,
}

/// The table of active fault rules, consulted by every simulated endpoint.
#[derive(Debug, Default)]
pub struct FaultTable {
    rules: Mutex<Vec<ActiveRule>>,
    next_id: Mutex<u64>,
}

impl FaultTable {
    /// Registers a rule; returns its id.
    pub fn add(&self, spec: FaultSpec) -> Result<u64, FaultError> {
        if let Some(probability) = spec.probability
            && !(0.0..=1.0).contains(&probability)
        {
            return Err(FaultError::InvalidProbability(probability));
        }
        if let FaultKind::Status { status, .. } = spec.kind
            && !(400..=599).contains(&status)
        {
            return Err(FaultError::InvalidStatus(status));
        }
        if spec.workspace.trim().is_empty() || spec.endpoint.trim().is_empty() {
            return Err(FaultError::EmptySelector);
        }
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            *next
        };
        let rng = StdRng::seed_from_u64(spec.seed.unwrap_or(id));
        lock(&self.rules).push(ActiveRule {
            id,
            remaining: spec.times,
            spec,
            rng,
            fired: 0,
        });
        Ok(id)
    }

    /// Removes every rule (or those of one workspace).
    pub fn clear(&self, workspace: Option<&str>) {
        let mut rules = lock(&self.rules);
        match workspace {
            Some(workspace) => rules.retain(|rule| rule.spec.workspace != workspace),
            None => rules.clear(),
        }
    }

    /// The active rules, for `GET /_sim/faults`.
    pub fn list(&self) -> Vec<FaultView> {
        lock(&self.rules)
            .iter()
            .map(|rule| FaultView {
                id: rule.id,
                spec: rule.spec.clone(),
                remaining: rule.remaining,
                fired: rule.fired,
            })
            .collect()
    }

    /// Decides whether a call fails and how; consumes one use of the first matching rule that
    /// fires. Called once per request by the HTTP layer and by the AMG layer.
    pub fn check(&self, workspace: &str, endpoint: &str) -> Option<FaultKind> {
        let mut rules = lock(&self.rules);
        let mut outcome = None;
        for rule in rules.iter_mut() {
            let workspace_matches = rule.spec.workspace == "*" || rule.spec.workspace == workspace;
            let endpoint_matches = rule.spec.endpoint == "*" || rule.spec.endpoint == endpoint;
            if !workspace_matches || !endpoint_matches || rule.remaining == Some(0) {
                continue;
            }
            if let Some(probability) = rule.spec.probability
                && !rule.rng.random_bool(probability)
            {
                continue;
            }
            if let Some(remaining) = rule.remaining.as_mut() {
                *remaining -= 1;
            }
            rule.fired += 1;
            outcome = Some(rule.spec.kind.clone());
            break;
        }
        rules.retain(|rule| rule.remaining != Some(0));
        outcome
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: FaultKind, times: Option<u32>, probability: Option<f64>) -> FaultSpec {
        FaultSpec {
            workspace: "g-0000000001".into(),
            endpoint: "GET /api/org".into(),
            kind,
            times,
            probability,
            seed: Some(7),
        }
    }

    #[test]
    fn counted_rules_fire_exactly_n_times_then_retire() {
        let table = FaultTable::default();
        table.add(spec(FaultKind::Drop, Some(2), None)).unwrap();
        assert_eq!(
            table.check("g-0000000001", "GET /api/org"),
            Some(FaultKind::Drop)
        );
        assert_eq!(table.check("other", "GET /api/org"), None);
        assert_eq!(
            table.check("g-0000000001", "GET /api/org"),
            Some(FaultKind::Drop)
        );
        assert_eq!(table.check("g-0000000001", "GET /api/org"), None);
        assert!(table.list().is_empty());
    }

    #[test]
    fn seeded_probability_is_repeatable_and_partial() {
        let run = || {
            let table = FaultTable::default();
            table
                .add(spec(FaultKind::MalformedJson, None, Some(0.5)))
                .unwrap();
            (0..64)
                .map(|_| table.check("g-0000000001", "GET /api/org").is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let fired = first.iter().filter(|fired| **fired).count();
        assert!(fired > 0 && fired < 64);
    }

    #[test]
    fn invalid_rules_are_refused() {
        let table = FaultTable::default();
        assert_eq!(
            table.add(spec(FaultKind::Drop, None, Some(1.5))),
            Err(FaultError::InvalidProbability(1.5))
        );
        assert_eq!(
            table.add(spec(
                FaultKind::Status {
                    status: 200,
                    retry_after_seconds: None
                },
                None,
                None
            )),
            Err(FaultError::InvalidStatus(200))
        );
    }
}
