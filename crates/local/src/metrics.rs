//! A metrics sink that keeps every datapoint in memory, so local runs, the demo and tests can
//! see (and count) what the deployed steps would publish to CloudWatch.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use keyshift_core::ports::{MetricsSink, RotationMetric};
use serde::Serialize;

/// One datapoint as a step emitted it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedMetric {
    /// When the step observed it (its clock: virtual time in simulated runs).
    pub at: DateTime<Utc>,
    /// The datapoint.
    #[serde(flatten)]
    pub metric: RotationMetric,
}

/// Records datapoints in emission order; cloning a handle to it is done through `Arc`.
#[derive(Debug, Default)]
pub struct RecordingMetrics {
    recorded: Mutex<Vec<RecordedMetric>>,
}

impl RecordingMetrics {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, oldest first.
    pub fn recorded(&self) -> Vec<RecordedMetric> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many datapoints of the metric called `name` were recorded.
    pub fn count(&self, name: &str) -> usize {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|recorded| recorded.metric.name() == name)
            .count()
    }
}

impl MetricsSink for RecordingMetrics {
    fn emit(&self, metric: RotationMetric, at: DateTime<Utc>) {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RecordedMetric { at, metric });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use keyshift_core::ports::metrics::{DAYS_TO_EXPIRY, EXECUTION_SUCCEEDED};

    use super::*;

    #[test]
    fn records_in_order_and_counts_by_name() {
        let recorder = RecordingMetrics::new();
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let success = RotationMetric::ExecutionSucceeded {
            workspace: "w".into(),
        };
        let days = RotationMetric::DaysToExpiry {
            workspace: "w".into(),
            secret_name: "s".into(),
            days: 30.0,
        };
        recorder.emit(days.clone(), at);
        recorder.emit(success.clone(), at);
        recorder.emit(success.clone(), at);
        assert_eq!(recorder.count(EXECUTION_SUCCEEDED), 2);
        assert_eq!(recorder.count(DAYS_TO_EXPIRY), 1);
        let recorded = recorder.recorded();
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[0], RecordedMetric { at, metric: days });
        assert_eq!(
            serde_json::to_value(&recorded[1]).unwrap(),
            serde_json::json!({"at": "2025-01-01T00:00:00Z", "metric": "executionSucceeded", "workspace": "w"})
        );
    }
}
