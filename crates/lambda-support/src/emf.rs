//! The metrics port on CloudWatch: one Embedded Metric Format (EMF) JSON line per datapoint
//! on stdout, which Lambda ships to CloudWatch Logs, where CloudWatch extracts the metric. No
//! PutMetricData call, so no extra latency, IAM permission or failure mode in a step.
//!
//! Written with serde rather than through `metrics_cloudwatch_embedded`: that crate is a
//! backend of the process-wide `metrics` recorder, which re-emits every gauge on each flush (a
//! warm Lambda would repeat a previous invocation's days-to-expiry under the next one), takes
//! its timestamp from the system clock instead of the step's, and can only be installed once
//! per process. keyshift emits one or two datapoints per invocation with their own
//! dimensions; a typed line is smaller than that recorder's set-up and exactly testable.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use keyshift_core::ports::{MetricsSink, RotationMetric};
use serde::Serialize;
use serde_json::Value;

/// The `_aws` metadata block that makes a log line an EMF document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfMetadata<'a> {
    /// Milliseconds since the Unix epoch.
    timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    cloudwatch_metrics: [EmfDirective<'a>; 1],
}

/// Which top-level members are metrics, and under which namespace and dimensions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfDirective<'a> {
    namespace: &'a str,
    dimensions: [Vec<&'a str>; 1],
    metrics: [EmfMetric<'a>; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfMetric<'a> {
    name: &'a str,
    unit: &'a str,
}

#[derive(Debug, Serialize)]
struct EmfDocument<'a> {
    #[serde(rename = "_aws")]
    aws: EmfMetadata<'a>,
    /// Dimension values and the metric's value, as top-level members.
    #[serde(flatten)]
    members: BTreeMap<&'a str, Value>,
}

/// The EMF document (one JSON line, without the newline) of `metric` observed at `at`.
pub fn emf_line(
    namespace: &str,
    metric: &RotationMetric,
    at: DateTime<Utc>,
) -> serde_json::Result<String> {
    let dimensions = metric.dimensions();
    let mut members: BTreeMap<&str, Value> = dimensions
        .iter()
        .map(|(name, value)| (*name, Value::from(*value)))
        .collect();
    members.insert(metric.name(), Value::from(metric.value()));
    let document = EmfDocument {
        aws: EmfMetadata {
            timestamp: at.timestamp_millis(),
            cloudwatch_metrics: [EmfDirective {
                namespace,
                dimensions: [dimensions.iter().map(|(name, _)| *name).collect()],
                metrics: [EmfMetric {
                    name: metric.name(),
                    unit: metric.unit().as_str(),
                }],
            }],
        },
        members,
    };
    serde_json::to_string(&document)
}

/// Writes each datapoint as one EMF line, whole (one `write_all` per line, so lines never
/// interleave with the JSON logs sharing stdout).
pub struct EmfMetrics {
    namespace: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for EmfMetrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmfMetrics")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl EmfMetrics {
    /// Lines on stdout, where Lambda's log agent picks them up.
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::to_writer(namespace, Box::new(std::io::stdout()))
    }

    /// Lines on any writer (tests, or a log file outside Lambda).
    pub fn to_writer(namespace: impl Into<String>, out: Box<dyn Write + Send>) -> Self {
        Self {
            namespace: namespace.into(),
            out: Mutex::new(out),
        }
    }
}

impl MetricsSink for EmfMetrics {
    fn emit(&self, metric: RotationMetric, at: DateTime<Utc>) {
        let line = match emf_line(&self.namespace, &metric, at) {
            Ok(line) => line + "\n",
            Err(error) => {
                tracing::warn!(metric = metric.name(), %error, "cannot format the EMF line; datapoint dropped");
                return;
            }
        };
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(metric = metric.name(), %error, "cannot write the EMF line; datapoint dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 6, 30, 0).unwrap()
    }

    #[test]
    fn days_to_expiry_line_has_the_exact_emf_shape() {
        let metric = RotationMetric::DaysToExpiry {
            workspace: "amg:eu-west-1:g-0123456789:1".into(),
            secret_name: "keyshift/g-0123456789/1/ci/token".into(),
            days: 29.75,
        };
        let line = emf_line("Keyshift", &metric, at()).unwrap();
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({
                "_aws": {
                    "Timestamp": 1_740_810_600_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Keyshift",
                        "Dimensions": [["Workspace", "SecretName"]],
                        "Metrics": [{"Name": "DaysToExpiry", "Unit": "None"}]
                    }]
                },
                "Workspace": "amg:eu-west-1:g-0123456789:1",
                "SecretName": "keyshift/g-0123456789/1/ci/token",
                "DaysToExpiry": 29.75
            })
        );
        assert!(!line.contains('\n'), "one line per document");
    }

    #[test]
    fn sink_writes_one_line_per_success_with_the_workspace_dimension() {
        let buffer = Shared::default();
        let sink = EmfMetrics::to_writer("Team/Keyshift", Box::new(buffer.clone()));
        for _ in 0..2 {
            sink.emit(
                RotationMetric::ExecutionSucceeded {
                    workspace: "self:http://grafana.example.com:1".into(),
                },
                at(),
            );
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            json!({
                "_aws": {
                    "Timestamp": 1_740_810_600_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Team/Keyshift",
                        "Dimensions": [["Workspace"]],
                        "Metrics": [{"Name": "ExecutionSucceeded", "Unit": "Count"}]
                    }]
                },
                "Workspace": "self:http://grafana.example.com:1",
                "ExecutionSucceeded": 1.0
            })
        );
        assert_eq!(lines[0], lines[1]);
    }
}
