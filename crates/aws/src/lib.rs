//! Adapters from keyshift's ports to real services: the AMG control plane
//! (`aws-sdk-grafana`), Grafana's HTTP API (reqwest), Secrets Manager, KMS, Step Functions and
//! SQS.
//!
//! Each module implements one port of `keyshift_core::ports`, so the step logic never sees an
//! SDK type; [`config::AwsContext`] builds every client once from aws-config's default chain
//! (plus endpoint overrides for moto and grafana-sim).

#![warn(missing_docs)]

pub mod amg;
mod aws_errors;
pub mod config;
pub mod grafana_http;
pub mod kms;
pub mod retry;
pub mod secrets_manager;
pub mod sfn;
pub mod sqs;

pub use amg::AmgControlPlaneClient;
pub use config::{AwsContext, AwsService, EndpointOverrides};
pub use grafana_http::{GrafanaHttpSettings, HttpGrafanaApi, HttpGrafanaConnector};
pub use kms::KmsSealer;
pub use retry::RetryPolicy;
pub use secrets_manager::SecretsManagerStore;
pub use sfn::SfnExecutionStarter;
pub use sqs::SqsDeadLetterQueue;
