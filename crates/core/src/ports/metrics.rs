//! Metrics as a port: what steps report so an operator can alarm on expiring tokens and on the
//! absence of successful rotations, not only on errors.
//!
//! Steps emit [`RotationMetric`]s; where they go is the adapter's business (CloudWatch
//! Embedded Metric Format lines in Lambda, a recording list in local runs, nothing in unit
//! tests). Emitting never fails a step: a lost datapoint must not undo a rotation, so the
//! adapter logs its own problems. A metric carries names of secrets and workspaces, never a
//! secret value.
//!
//! Failures are deliberately not emitted by the steps: a step failing does not mean the
//! execution failed (retries, and the ASL's catches decide), so the failure datapoint is Step
//! Functions' own `ExecutionsFailed` metric (namespace `AWS/States`, dimension
//! `StateMachineArn`). An alarm on missing [`EXECUTION_SUCCEEDED`] datapoints also covers
//! executions that never ran at all.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The CloudWatch namespace keyshift's metrics are published in.
pub const METRICS_NAMESPACE: &str = "Keyshift";
/// Days until the newly promoted token of a secret expires (fractional; one datapoint per
/// promotion), dimensions [`DIMENSION_WORKSPACE`] and [`DIMENSION_SECRET_NAME`].
pub const DAYS_TO_EXPIRY: &str = "DaysToExpiry";
/// One datapoint of value 1 per execution that finished its last step (the workspace-scope
/// revoke-old), dimension [`DIMENSION_WORKSPACE`]: alarm when its sum over the rotation period
/// is below 1, with missing data treated as breaching.
pub const EXECUTION_SUCCEEDED: &str = "ExecutionSucceeded";
/// Superseded tokens a revoke-old kept past the grace period because they are still in use
/// (`policy.revokeWhenUnusedFor`): one datapoint per secret each time revoke-old applies the
/// rule to it (0 once none are left), dimensions [`DIMENSION_WORKSPACE`] and
/// [`DIMENSION_SECRET_NAME`]: alarm on its maximum to find consumers still on old tokens.
pub const STRAGGLER_TOKENS: &str = "StragglerTokens";
/// Dimension naming the workspace ([`crate::model::WorkspaceRef::key`]).
pub const DIMENSION_WORKSPACE: &str = "Workspace";
/// Dimension naming the managed secret (its Secrets Manager name).
pub const DIMENSION_SECRET_NAME: &str = "SecretName";

/// One datapoint a step reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "metric")]
pub enum RotationMetric {
    /// See [`DAYS_TO_EXPIRY`].
    DaysToExpiry {
        /// The workspace key.
        workspace: String,
        /// The secret's name.
        secret_name: String,
        /// Days left, negative once expired.
        days: f64,
    },
    /// See [`EXECUTION_SUCCEEDED`].
    ExecutionSucceeded {
        /// The workspace key.
        workspace: String,
    },
    /// See [`STRAGGLER_TOKENS`].
    StragglerTokens {
        /// The workspace key.
        workspace: String,
        /// The secret whose superseded tokens were kept.
        secret_name: String,
        /// Tokens kept.
        count: u32,
    },
}

/// The CloudWatch unit of a metric, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    /// A plain number (days have no CloudWatch unit of their own).
    None,
    /// A count of events.
    Count,
}

impl MetricUnit {
    /// The spelling CloudWatch expects.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricUnit::None => "None",
            MetricUnit::Count => "Count",
        }
    }
}

impl RotationMetric {
    /// The datapoint reporting how long the token promoted into `secret_name` has left.
    pub fn days_to_expiry(
        workspace: String,
        secret_name: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let seconds = (expires_at - now).num_seconds() as f64;
        RotationMetric::DaysToExpiry {
            workspace,
            secret_name,
            days: (seconds / 86_400.0 * 100.0).round() / 100.0,
        }
    }

    /// The CloudWatch metric name.
    pub fn name(&self) -> &'static str {
        match self {
            RotationMetric::DaysToExpiry { .. } => DAYS_TO_EXPIRY,
            RotationMetric::ExecutionSucceeded { .. } => EXECUTION_SUCCEEDED,
            RotationMetric::StragglerTokens { .. } => STRAGGLER_TOKENS,
        }
    }

    /// The datapoint's value.
    pub fn value(&self) -> f64 {
        match self {
            RotationMetric::DaysToExpiry { days, .. } => *days,
            RotationMetric::ExecutionSucceeded { .. } => 1.0,
            RotationMetric::StragglerTokens { count, .. } => f64::from(*count),
        }
    }

    /// The datapoint's unit.
    pub fn unit(&self) -> MetricUnit {
        match self {
            RotationMetric::DaysToExpiry { .. } => MetricUnit::None,
            RotationMetric::ExecutionSucceeded { .. } | RotationMetric::StragglerTokens { .. } => {
                MetricUnit::Count
            }
        }
    }

    /// The dimensions, in the order they form the metric's one dimension set.
    pub fn dimensions(&self) -> Vec<(&'static str, &str)> {
        match self {
            RotationMetric::DaysToExpiry {
                workspace,
                secret_name,
                ..
            }
            | RotationMetric::StragglerTokens {
                workspace,
                secret_name,
                ..
            } => vec![
                (DIMENSION_WORKSPACE, workspace.as_str()),
                (DIMENSION_SECRET_NAME, secret_name.as_str()),
            ],
            RotationMetric::ExecutionSucceeded { workspace } => {
                vec![(DIMENSION_WORKSPACE, workspace.as_str())]
            }
        }
    }
}

/// Where steps send their datapoints. Infallible by design: see the module docs.
pub trait MetricsSink: Send + Sync {
    /// Publishes one datapoint observed at `at` (the step's clock).
    fn emit(&self, metric: RotationMetric, at: DateTime<Utc>);
}

/// Drops every datapoint: for unit tests and tools (such as `keyshift plan`) whose metrics
/// nobody reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn emit(&self, _metric: RotationMetric, _at: DateTime<Utc>) {}
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn days_to_expiry_is_fractional_days_rounded_to_hundredths() {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let metric = RotationMetric::days_to_expiry(
            "amg:eu-west-1:g-1:1".into(),
            "keyshift/g-1/1/ci/token".into(),
            now + Duration::hours(36),
            now,
        );
        assert_eq!(metric.value(), 1.5);
        assert_eq!(metric.name(), DAYS_TO_EXPIRY);
        assert_eq!(metric.unit().as_str(), "None");
        assert_eq!(
            metric.dimensions(),
            vec![
                ("Workspace", "amg:eu-west-1:g-1:1"),
                ("SecretName", "keyshift/g-1/1/ci/token")
            ]
        );
        let expired =
            RotationMetric::days_to_expiry("w".into(), "s".into(), now - Duration::days(2), now);
        assert_eq!(expired.value(), -2.0);
    }

    #[test]
    fn stragglers_are_a_count_per_secret() {
        let metric = RotationMetric::StragglerTokens {
            workspace: "self:http://grafana:1".into(),
            secret_name: "keyshift/grafana/1/ci/token".into(),
            count: 2,
        };
        assert_eq!(
            (metric.name(), metric.value(), metric.unit().as_str()),
            ("StragglerTokens", 2.0, "Count")
        );
        assert_eq!(
            metric.dimensions(),
            vec![
                ("Workspace", "self:http://grafana:1"),
                ("SecretName", "keyshift/grafana/1/ci/token")
            ]
        );
    }

    #[test]
    fn success_is_one_count_per_workspace() {
        let metric = RotationMetric::ExecutionSucceeded {
            workspace: "self:http://grafana:1".into(),
        };
        assert_eq!(
            (metric.name(), metric.value(), metric.unit().as_str()),
            ("ExecutionSucceeded", 1.0, "Count")
        );
        assert_eq!(
            metric.dimensions(),
            vec![("Workspace", "self:http://grafana:1")]
        );
    }
}
