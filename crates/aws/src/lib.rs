//! Adapters from keyshift's ports to real services: the AMG control plane
//! (`aws-sdk-grafana`), Grafana's HTTP API (reqwest), Secrets Manager, KMS, Step Functions,
//! SQS and EventBridge.
//!
//! Each module implements one port of `keyshift_core::ports`, so the step logic never sees an
//! SDK type; [`config::AwsContext`] builds every client once from aws-config's default chain
//! (plus endpoint overrides for moto and grafana-sim).
//!
//! The Step Functions and SQS adapters sit behind the `sfn` and `sqs` features (on by default,
//! off for the step Lambdas), the EventBridge publisher behind `events` (on only for the CLI
//! and the two functions that promote), the assume-role helper, the per-account AMG connector and
//! fleet-start's sleeper behind `sts` (which adds no SDK), so a Lambda links only the SDKs its
//! steps call.

#![warn(missing_docs)]

#[cfg(feature = "sts")]
pub mod accounts;
pub mod amg;
mod aws_errors;
pub mod config;
#[cfg(feature = "events")]
pub mod events;
#[cfg(feature = "sts")]
pub mod fleet;
pub mod grafana_http;
pub mod kms;
pub mod retry;
pub mod secrets_manager;
#[cfg(feature = "sfn")]
pub mod sfn;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "sts")]
pub mod sts;

#[cfg(feature = "sts")]
pub use accounts::{AwsAmgConnector, CLI_SESSION, FLEET_START_SESSION};
pub use amg::AmgControlPlaneClient;
pub use config::{AwsContext, AwsService, EndpointOverrides};
#[cfg(feature = "events")]
pub use events::EventBridgePublisher;
#[cfg(feature = "sts")]
pub use fleet::TokioSleeper;
pub use grafana_http::{
    ALLOW_LOOPBACK_HTTP_ENV, GrafanaHttpSettings, HttpGrafanaApi, HttpGrafanaConnector,
};
pub use kms::KmsSealer;
pub use retry::RetryPolicy;
pub use secrets_manager::SecretsManagerStore;
#[cfg(feature = "sfn")]
pub use sfn::SfnExecutionStarter;
#[cfg(feature = "sqs")]
pub use sqs::SqsDeadLetterQueue;
#[cfg(feature = "sts")]
pub use sts::assume_role;
