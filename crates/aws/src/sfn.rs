//! [`ExecutionStarter`] on Step Functions, for fleet-start and dlq-replay.
//!
//! Execution names are deterministic (one per workspace and schedule slot), so starting is
//! idempotent by construction; this adapter turns Step Functions' answers into
//! [`StartOutcome`]s a re-run can act on instead of errors.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus as SdkStatus;
use chrono::{DateTime, Utc};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{ExecutionDescription, ExecutionStarter, ExecutionStatus, StartOutcome};

use crate::aws_errors::{classify, has_code, service_message};

const SERVICE: &str = "states";

/// Step Functions for one state machine.
#[derive(Debug, Clone)]
pub struct SfnExecutionStarter {
    client: Client,
    state_machine_arn: String,
}

impl SfnExecutionStarter {
    /// Starts executions of `state_machine_arn`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The ARN an execution named `name` has (`…:stateMachine:M` → `…:execution:M:name`), so
    /// an existing execution can be looked up before starting.
    pub fn execution_arn_for(&self, name: &str) -> Option<String> {
        self.state_machine_arn.contains(":stateMachine:").then(|| {
            format!(
                "{}:{name}",
                self.state_machine_arn
                    .replacen(":stateMachine:", ":execution:", 1)
            )
        })
    }
}

fn to_chrono(value: &aws_sdk_sfn::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(value.secs(), value.subsec_nanos())
}

fn status_from_sdk(status: &SdkStatus) -> Result<ExecutionStatus> {
    Ok(match status {
        SdkStatus::Running => ExecutionStatus::Running,
        SdkStatus::Succeeded => ExecutionStatus::Succeeded,
        SdkStatus::Failed => ExecutionStatus::Failed,
        SdkStatus::TimedOut => ExecutionStatus::TimedOut,
        SdkStatus::Aborted => ExecutionStatus::Aborted,
        SdkStatus::PendingRedrive => ExecutionStatus::PendingRedrive,
        other => {
            return Err(KeyshiftError::AwsFailed {
                service: SERVICE.to_owned(),
                operation: "DescribeExecution".to_owned(),
                detail: format!("unknown execution status {}", other.as_str()),
            });
        }
    })
}

#[async_trait]
impl ExecutionStarter for SfnExecutionStarter {
    fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    async fn start(&self, name: &str, input: &serde_json::Value) -> Result<StartOutcome> {
        let input_text = serde_json::to_string(input)
            .map_err(|_| KeyshiftError::invalid_input("executionInput", "not serialisable"))?;
        // Step Functions answers a duplicate start of a running execution with the same ARN
        // and no flag; looking first lets the caller tell "started" from "already running".
        let already_running = match self.execution_arn_for(name) {
            Some(arn) => match self.describe(&arn).await {
                Ok(existing) if existing.status.is_closed() => {
                    return Ok(StartOutcome::AlreadyExists);
                }
                Ok(_) => true,
                Err(KeyshiftError::InputInvalid { .. }) => false,
                Err(KeyshiftError::AwsFailed { ref detail, .. })
                    if detail.starts_with("ExecutionDoesNotExist") =>
                {
                    false
                }
                Err(other) => return Err(other),
            },
            None => false,
        };
        let output = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input_text)
            .send()
            .await;
        match output {
            Ok(started) => {
                let execution_arn = started.execution_arn().to_owned();
                Ok(if already_running {
                    StartOutcome::AlreadyRunning { execution_arn }
                } else {
                    StartOutcome::Started { execution_arn }
                })
            }
            Err(error) if has_code(&error, "ExecutionAlreadyExists") => {
                Ok(StartOutcome::AlreadyExists)
            }
            Err(error)
                if has_code(&error, "InvalidName")
                    || has_code(&error, "InvalidExecutionInput")
                    || has_code(&error, "InvalidArn") =>
            {
                Err(KeyshiftError::invalid_input(
                    "execution",
                    service_message(&error),
                ))
            }
            Err(error) => Err(classify(SERVICE, "StartExecution", &error, None)),
        }
    }

    async fn redrive(&self, execution_arn: &str) -> Result<()> {
        self.client
            .redrive_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                if has_code(&error, "ExecutionNotRedrivable")
                    || has_code(&error, "ExecutionDoesNotExist")
                {
                    KeyshiftError::ExecutionNotRedrivable {
                        execution: execution_arn.to_owned(),
                        reason: service_message(&error),
                    }
                } else {
                    classify(SERVICE, "RedriveExecution", &error, None)
                }
            })
    }

    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
        let output = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|error| {
                if has_code(&error, "InvalidArn") {
                    KeyshiftError::invalid_input("executionArn", service_message(&error))
                } else {
                    classify(SERVICE, "DescribeExecution", &error, None)
                }
            })?;
        Ok(ExecutionDescription {
            execution_arn: output.execution_arn().to_owned(),
            name: output.name().unwrap_or_default().to_owned(),
            status: status_from_sdk(output.status())?,
            start_date: to_chrono(output.start_date()),
            stop_date: output.stop_date().and_then(to_chrono),
            redrive_count: output
                .redrive_count()
                .and_then(|count| u32::try_from(count).ok())
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::redrive_execution::RedriveExecutionOutput;
    use aws_sdk_sfn::primitives::DateTime as SdkDateTime;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:rotate";
    const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:rotate:ws-1";

    #[test]
    fn execution_arn_is_derived_from_the_state_machine_arn() {
        let client = Client::from_conf(
            aws_sdk_sfn::Config::builder()
                .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
                .region(aws_sdk_sfn::config::Region::new("us-east-1"))
                .build(),
        );
        let starter = SfnExecutionStarter::new(client.clone(), MACHINE);
        assert_eq!(
            starter.execution_arn_for("ws-1").as_deref(),
            Some(EXECUTION)
        );
        let odd = SfnExecutionStarter::new(client, "not-an-arn");
        assert_eq!(odd.execution_arn_for("x"), None);
    }

    // moto answers RedriveExecution with HTTP 500 (not implemented), so the adapter's redrive
    // is checked here on a mocked client: the request it sends and each answer it maps.

    #[tokio::test]
    async fn an_accepted_redrive_is_ok() {
        let rule = mock!(Client::redrive_execution)
            .match_requests(|request| request.execution_arn() == Some(EXECUTION))
            .then_output(|| {
                RedriveExecutionOutput::builder()
                    .redrive_date(SdkDateTime::from_secs(1_740_000_000))
                    .build()
                    .unwrap()
            });
        let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);
        SfnExecutionStarter::new(client, MACHINE)
            .redrive(EXECUTION)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_redrive_is_execution_not_redrivable() {
        for code in ["ExecutionNotRedrivable", "ExecutionDoesNotExist"] {
            let rule = mock!(Client::redrive_execution)
                .sequence()
                .http_status(
                    400,
                    Some(format!(
                        r#"{{"__type":"{code}","message":"Execution is more than 14 days old"}}"#
                    )),
                )
                .build();
            let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);
            let error = SfnExecutionStarter::new(client, MACHINE)
                .redrive(EXECUTION)
                .await
                .unwrap_err();
            assert_eq!(rule.num_calls(), 1);
            match error {
                KeyshiftError::ExecutionNotRedrivable { execution, reason } => {
                    assert_eq!(execution, EXECUTION);
                    assert!(reason.contains("14 days"), "{code}: {reason}");
                }
                other => panic!("{code}: expected ExecutionNotRedrivable, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_server_fault_on_redrive_is_retryable() {
        // What moto answers, and what a real outage looks like.
        let rule = mock!(Client::redrive_execution)
            .sequence()
            .http_status(500, None)
            .build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule], |config| {
            config.retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        });
        let error = SfnExecutionStarter::new(client, MACHINE)
            .redrive(EXECUTION)
            .await
            .unwrap_err();
        assert_eq!(error.asl_name(), "Aws.Unavailable", "{error:?}");
        assert!(error.is_retryable());
    }

    #[tokio::test]
    async fn describe_reports_the_redrive_count() {
        let rule = mock!(Client::describe_execution).then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn(EXECUTION)
                .state_machine_arn(MACHINE)
                .name("ws-1")
                .status(SdkStatus::Failed)
                .start_date(SdkDateTime::from_secs(1_740_000_000))
                .stop_date(SdkDateTime::from_secs(1_740_000_600))
                .redrive_count(2)
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);
        let described = SfnExecutionStarter::new(client, MACHINE)
            .describe(EXECUTION)
            .await
            .unwrap();
        assert_eq!(described.status, ExecutionStatus::Failed);
        assert_eq!(described.redrive_count, 2);
        assert_eq!(
            described.stop_date,
            DateTime::<Utc>::from_timestamp(1_740_000_600, 0)
        );
    }
}
