//! The fleet-start Lambda's wiring: its configuration and the adapters built from it. The
//! tick itself is [`keyshift_core::fleet::fleet_start`]; `main` only serves it.

#![warn(missing_docs)]

use std::sync::Arc;

use keyshift_aws::{
    AwsAmgConnector, AwsContext, FLEET_START_SESSION, SfnExecutionStarter, SqsDeadLetterQueue,
    TokioSleeper,
};
use keyshift_core::fleet::{FleetStartDeps, StartRetry};
use keyshift_core::ports::SystemClock;
use keyshift_lambda::{ConfigError, required_env};

/// The per-workspace state machine the tick starts executions of.
pub const STATE_MACHINE_ARN_ENV: &str = "KEYSHIFT_STATE_MACHINE_ARN";
/// The SQS queue a start that failed for good is dead-lettered to.
pub const DLQ_URL_ENV: &str = "KEYSHIFT_DLQ_URL";

/// What the function reads from its environment (AWS credentials, region and endpoint
/// overrides are read by aws-config and keyshift-aws).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetStartConfig {
    /// [`STATE_MACHINE_ARN_ENV`].
    pub state_machine_arn: String,
    /// [`DLQ_URL_ENV`].
    pub dlq_url: String,
}

impl FleetStartConfig {
    /// Reads the configuration, naming a missing variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            state_machine_arn: required_env(
                STATE_MACHINE_ARN_ENV,
                "set it to the ARN of the rotate-workspace state machine",
            )?,
            dlq_url: required_env(
                DLQ_URL_ENV,
                "set it to the URL of keyshift's dead-letter queue",
            )?,
        })
    }

    /// The real adapters over `aws`: AMG listing (assuming account roles), Step Functions,
    /// SQS and the tokio timer.
    pub fn deps(&self, aws: &AwsContext) -> FleetStartDeps {
        FleetStartDeps {
            directory: Arc::new(AwsAmgConnector::new(aws.clone(), FLEET_START_SESSION)),
            starter: Arc::new(SfnExecutionStarter::new(
                aws.sfn_client(),
                self.state_machine_arn.clone(),
            )),
            dead_letters: Some(Arc::new(SqsDeadLetterQueue::new(
                aws.sqs_client(),
                self.dlq_url.clone(),
            ))),
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
            retry: StartRetry::default(),
        }
    }
}
