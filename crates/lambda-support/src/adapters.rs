//! The step binaries' configuration and the adapters built from it, once per execution
//! environment (cold start), outside the handler.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use keyshift_aws::{
    AwsAmgConnector, AwsContext, GrafanaHttpSettings, HttpGrafanaConnector, KmsSealer,
    SecretsManagerStore,
};
use keyshift_core::ports::metrics::METRICS_NAMESPACE;
use keyshift_core::ports::{EventPublisher, NoEvents, SystemClock};
use keyshift_core::steps::StepDeps;

use crate::emf::EmfMetrics;
use crate::{ConfigError, StartError, optional_env, parsed_env, required_env};

/// KMS key (id, ARN or alias) that seals tokens travelling through state payloads and
/// encrypts the secrets store-secret creates (one customer-managed key for both).
pub const KMS_KEY_ENV: &str = "KEYSHIFT_KMS_KEY_ID";
/// Optional template of AMG workspaces' Grafana URL (`{workspace_id}` placeholder), for
/// workspaces reached through a proxy or VPC endpoint instead of their public hostname.
pub const AMG_URL_TEMPLATE_ENV: &str = "KEYSHIFT_AMG_URL_TEMPLATE";
/// Optional per-request timeout of Grafana HTTP calls, in seconds.
pub const GRAFANA_TIMEOUT_ENV: &str = "KEYSHIFT_GRAFANA_TIMEOUT_SECONDS";
/// Optional CloudWatch namespace of the steps' EMF metrics (default
/// [`METRICS_NAMESPACE`]), for accounts running more than one keyshift deployment.
pub const METRICS_NAMESPACE_ENV: &str = "KEYSHIFT_METRICS_NAMESPACE";
/// Optional EventBridge bus (name or ARN) on which the functions that promote (store-secret,
/// rotate-secret) publish `Secret Rotated` for consumers; unset, no event is published.
pub const EVENT_BUS_ENV: &str = "KEYSHIFT_EVENT_BUS_NAME";

/// What a step binary reads from its environment. AWS credentials, region and endpoint
/// overrides (`KEYSHIFT_AWS_ENDPOINT_URL*`) are read by aws-config and keyshift-aws themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConfig {
    /// [`KMS_KEY_ENV`].
    pub kms_key_id: String,
    /// [`AMG_URL_TEMPLATE_ENV`].
    pub amg_url_template: Option<String>,
    /// [`GRAFANA_TIMEOUT_ENV`].
    pub grafana_timeout: Option<Duration>,
    /// [`METRICS_NAMESPACE_ENV`].
    pub metrics_namespace: String,
    /// [`EVENT_BUS_ENV`].
    pub event_bus: Option<String>,
    /// The STS session name of this function's AssumeRole calls into other accounts (from
    /// `AWS_LAMBDA_FUNCTION_NAME`), so the target account's CloudTrail names the function.
    pub session_name: String,
}

/// The session name when the function's name is unknown or unusable as one.
const DEFAULT_SESSION_NAME: &str = "keyshift-step";

/// An STS session name (2-64 characters of `A-Za-z0-9+=,.@-_`) for a function named
/// `function_name`: the name cut to 64 characters, or [`DEFAULT_SESSION_NAME`] when it has a
/// character STS refuses (Lambda's own names never do) or is too short.
pub fn session_name_for(function_name: Option<&str>) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c);
    match function_name {
        Some(name) if name.len() >= 2 && name.chars().all(allowed) => {
            name.chars().take(64).collect()
        }
        _ => DEFAULT_SESSION_NAME.to_owned(),
    }
}

impl StepConfig {
    /// Reads and checks the configuration, naming any missing or invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let amg_url_template = optional_env(AMG_URL_TEMPLATE_ENV);
        if let Some(template) = &amg_url_template
            && !(template.starts_with("https://") || template.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: AMG_URL_TEMPLATE_ENV.to_owned(),
                reason: "set it to an http(s) URL containing {workspace_id}".to_owned(),
            });
        }
        Ok(Self {
            kms_key_id: required_env(
                KMS_KEY_ENV,
                "set it to the KMS key (id, ARN or alias) that seals tokens",
            )?,
            amg_url_template,
            grafana_timeout: parsed_env::<u64>(GRAFANA_TIMEOUT_ENV, "a whole number of seconds")?
                .map(Duration::from_secs),
            metrics_namespace: optional_env(METRICS_NAMESPACE_ENV)
                .unwrap_or_else(|| METRICS_NAMESPACE.to_owned()),
            event_bus: optional_env(EVENT_BUS_ENV),
            session_name: session_name_for(optional_env("AWS_LAMBDA_FUNCTION_NAME").as_deref()),
        })
    }

    /// Builds the real adapters: Grafana over reqwest, Secrets Manager (creating secrets under
    /// the configured KMS key), KMS and the AMG control plane from aws-config's default chain
    /// (another account's through the role a workspace names, assumed once per role for the
    /// life of the execution environment), and EMF metrics on stdout.
    pub async fn build_deps(&self) -> Result<StepDeps, ConfigError> {
        let aws = AwsContext::from_env().await;
        let mut settings = GrafanaHttpSettings::default().with_loopback_http_from_env();
        if let Some(timeout) = self.grafana_timeout {
            settings.request_timeout = timeout;
        }
        let connector =
            HttpGrafanaConnector::new(settings).map_err(|error| ConfigError::Invalid {
                name: GRAFANA_TIMEOUT_ENV.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(StepDeps {
            grafana: Arc::new(connector),
            secrets: Arc::new(
                SecretsManagerStore::new(aws.secrets_manager_client())
                    .with_kms_key_id(self.kms_key_id.clone()),
            ),
            sealer: Arc::new(KmsSealer::new(aws.kms_client(), self.kms_key_id.clone())),
            amg: Some(Arc::new(AwsAmgConnector::new(
                aws.clone(),
                self.session_name.clone(),
            ))),
            clock: Arc::new(SystemClock),
            amg_url_template: self.amg_url_template.clone(),
            metrics: Arc::new(EmfMetrics::stdout(self.metrics_namespace.clone())),
            events: event_publisher(&aws, self.event_bus.as_deref())?,
        })
    }
}

/// EventBridge when a bus is configured, nothing otherwise.
#[cfg(feature = "events")]
fn event_publisher(
    aws: &AwsContext,
    event_bus: Option<&str>,
) -> Result<Arc<dyn EventPublisher>, ConfigError> {
    Ok(match event_bus {
        Some(bus) => Arc::new(keyshift_aws::EventBridgePublisher::new(
            aws.eventbridge_client(),
            bus,
        )),
        None => Arc::new(NoEvents),
    })
}

/// A function built without EventBridge never promotes, so a configured bus is a wiring
/// mistake worth naming rather than ignoring.
#[cfg(not(feature = "events"))]
fn event_publisher(
    _aws: &AwsContext,
    event_bus: Option<&str>,
) -> Result<Arc<dyn EventPublisher>, ConfigError> {
    match event_bus {
        None => Ok(Arc::new(NoEvents)),
        Some(_) => Err(ConfigError::Invalid {
            name: EVENT_BUS_ENV.to_owned(),
            reason: "only store-secret and rotate-secret publish events; unset it here".to_owned(),
        }),
    }
}

/// The usual `main` of a step binary: the Lambda runtime variables first, then JSON logs,
/// configuration, adapters and the runtime loop around `step`. A failure is printed to stderr
/// as one sentence (never a Rust `Debug` value) and the process exits non-zero.
pub async fn serve_step<I, O, F, Fut>(step: F) -> ExitCode
where
    I: serde::de::DeserializeOwned + Send + 'static,
    O: serde::Serialize + Send + 'static,
    F: Fn(Arc<StepDeps>, I) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = keyshift_core::Result<O>> + Send,
{
    match try_serve_step(step).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn try_serve_step<I, O, F, Fut>(step: F) -> Result<(), StartError>
where
    I: serde::de::DeserializeOwned + Send + 'static,
    O: serde::Serialize + Send + 'static,
    F: Fn(Arc<StepDeps>, I) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = keyshift_core::Result<O>> + Send,
{
    crate::check_runtime_env()?;
    crate::init_tracing()?;
    let config = StepConfig::from_env()?;
    let deps = Arc::new(config.build_deps().await?);
    crate::run(move |input: I| step(Arc::clone(&deps), input)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_name_is_the_function_name_when_sts_accepts_it() {
        let cases = [
            (Some("keyshift-discover-keys"), "keyshift-discover-keys"),
            (Some("x"), DEFAULT_SESSION_NAME),
            (Some("has space"), DEFAULT_SESSION_NAME),
            (None, DEFAULT_SESSION_NAME),
        ];
        for (function_name, expected) in cases {
            assert_eq!(
                session_name_for(function_name),
                expected,
                "{function_name:?}"
            );
        }
        assert_eq!(session_name_for(Some(&"a".repeat(80))).len(), 64);
    }
}
