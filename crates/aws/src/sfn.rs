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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arn_is_derived_from_the_state_machine_arn() {
        let client = Client::from_conf(
            aws_sdk_sfn::Config::builder()
                .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
                .region(aws_sdk_sfn::config::Region::new("us-east-1"))
                .build(),
        );
        let starter = SfnExecutionStarter::new(
            client.clone(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:rotate",
        );
        assert_eq!(
            starter.execution_arn_for("ws-1").as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:execution:rotate:ws-1")
        );
        let odd = SfnExecutionStarter::new(client, "not-an-arn");
        assert_eq!(odd.execution_arn_for("x"), None);
    }
}
