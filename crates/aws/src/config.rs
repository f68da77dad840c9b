//! Building AWS SDK clients from aws-config's default chain, with endpoint overrides.
//!
//! Deployed Lambdas take credentials and region from the environment the runtime gives them;
//! tests and local demos point the same clients at moto or grafana-sim through environment
//! variables, so no adapter ever needs a second code path for "local".

use std::collections::HashMap;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_types::retry::RetryConfig;
use aws_types::region::Region;

/// Endpoint override applied to every service unless a per-service override is set; lets one
/// moto server stand in for all of AWS.
pub const ENDPOINT_URL_ENV: &str = "KEYSHIFT_AWS_ENDPOINT_URL";

/// The AWS services keyshift talks to; used to pick a per-service endpoint override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsService {
    /// Amazon Managed Grafana control plane (`aws-sdk-grafana`).
    Grafana,
    /// Secrets Manager, where the tokens live.
    SecretsManager,
    /// KMS, which seals tokens while they travel through Step Functions payloads.
    Kms,
    /// Step Functions, to start and redrive executions.
    Sfn,
    /// SQS, the dead-letter queue.
    Sqs,
    /// STS, to assume the roles of other accounts (fleet-start).
    Sts,
    /// EventBridge, where promote publishes `Secret Rotated` for consumers.
    Events,
}

impl AwsService {
    /// Every service, so callers can read all overrides in one sweep.
    pub const ALL: [AwsService; 7] = [
        AwsService::Grafana,
        AwsService::SecretsManager,
        AwsService::Kms,
        AwsService::Sfn,
        AwsService::Sqs,
        AwsService::Sts,
        AwsService::Events,
    ];

    /// The environment variable holding this service's own endpoint override, so that e.g. the
    /// AMG control plane can point at grafana-sim while everything else points at moto.
    pub fn endpoint_env_var(self) -> &'static str {
        match self {
            AwsService::Grafana => "KEYSHIFT_AWS_ENDPOINT_URL_GRAFANA",
            AwsService::SecretsManager => "KEYSHIFT_AWS_ENDPOINT_URL_SECRETSMANAGER",
            AwsService::Kms => "KEYSHIFT_AWS_ENDPOINT_URL_KMS",
            AwsService::Sfn => "KEYSHIFT_AWS_ENDPOINT_URL_SFN",
            AwsService::Sqs => "KEYSHIFT_AWS_ENDPOINT_URL_SQS",
            AwsService::Sts => "KEYSHIFT_AWS_ENDPOINT_URL_STS",
            AwsService::Events => "KEYSHIFT_AWS_ENDPOINT_URL_EVENTS",
        }
    }
}

/// Endpoint URL overrides, kept apart from the SDK config so that a per-service value can win
/// over the global one regardless of what aws-config itself read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    all_services: Option<String>,
    per_service: HashMap<AwsService, String>,
}

impl EndpointOverrides {
    /// Reads the overrides from the process environment, the way Lambdas and the CLI configure
    /// themselves.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the overrides through an arbitrary lookup, so the precedence rules can be tested
    /// without mutating the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let per_service = AwsService::ALL
            .iter()
            .filter_map(|service| {
                non_empty(lookup(service.endpoint_env_var())).map(|url| (*service, url))
            })
            .collect();
        Self {
            all_services: non_empty(lookup(ENDPOINT_URL_ENV)),
            per_service,
        }
    }

    /// One endpoint for every service, as tests against a single moto server need.
    pub fn for_all(url: impl Into<String>) -> Self {
        Self {
            all_services: Some(url.into()),
            per_service: HashMap::new(),
        }
    }

    /// Adds a per-service override, e.g. the AMG control plane served by grafana-sim.
    pub fn with_service(mut self, service: AwsService, url: impl Into<String>) -> Self {
        self.per_service.insert(service, url.into());
        self
    }

    /// The endpoint a client for `service` must use, if any: the per-service value wins.
    pub fn endpoint_for(&self, service: AwsService) -> Option<&str> {
        self.per_service
            .get(&service)
            .or(self.all_services.as_ref())
            .map(String::as_str)
    }
}

/// Shared SDK configuration plus endpoint overrides: the one thing a Lambda builds at cold
/// start and hands to every adapter it needs.
#[derive(Debug, Clone)]
pub struct AwsContext {
    sdk_config: SdkConfig,
    endpoints: EndpointOverrides,
    interceptors: Vec<SharedInterceptor>,
}

/// Builds one service's client from the context: the shared SDK config, that service's
/// endpoint override and the context's interceptors, the same way for every service.
macro_rules! client_for {
    ($context:expr, $sdk:ident, $service:expr) => {{
        let context: &AwsContext = $context;
        let mut builder = $sdk::config::Builder::from(&context.sdk_config);
        if let Some(url) = context.endpoints.endpoint_for($service) {
            builder = builder.endpoint_url(url);
        }
        for interceptor in &context.interceptors {
            builder.push_interceptor(interceptor.clone());
        }
        $sdk::Client::from_conf(builder.build())
    }};
}

impl AwsContext {
    /// Loads credentials and region from aws-config's default chain and overrides from the
    /// `KEYSHIFT_AWS_ENDPOINT_URL*` variables; what deployed Lambdas use.
    pub async fn from_env() -> Self {
        let sdk_config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(sdk_config, EndpointOverrides::from_env())
    }

    /// Wraps an already loaded SDK config, for callers that customise aws-config themselves.
    pub fn new(sdk_config: SdkConfig, endpoints: EndpointOverrides) -> Self {
        Self {
            sdk_config,
            endpoints,
            interceptors: Vec::new(),
        }
    }

    /// The same endpoints and interceptors over another SDK config (other credentials, retry or
    /// timeout settings), so a derived context, such as an assumed role's, is observed and
    /// routed exactly like the one it came from.
    pub fn with_sdk_config(&self, sdk_config: SdkConfig) -> Self {
        Self {
            sdk_config,
            endpoints: self.endpoints.clone(),
            interceptors: self.interceptors.clone(),
        }
    }

    /// The same context with `interceptor` on every client it builds from now on: one place
    /// to observe every AWS operation keyshift sends (the IAM-actions test records them).
    pub fn with_interceptor(mut self, interceptor: impl Intercept + 'static) -> Self {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    /// A context for emulators (moto, grafana-sim): static dummy credentials, `us-east-1` and
    /// SDK retries disabled so an unimplemented call fails at once instead of backing off.
    pub async fn for_emulator(endpoints: EndpointOverrides) -> Self {
        let credentials = Credentials::new("testing", "testing", None, None, "keyshift-emulator");
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        Self::new(sdk_config, endpoints)
    }

    /// The underlying SDK config, for clients keyshift has no adapter for.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// The endpoint overrides in effect.
    pub fn endpoints(&self) -> &EndpointOverrides {
        &self.endpoints
    }

    /// Client for the AMG control plane.
    pub fn grafana_client(&self) -> aws_sdk_grafana::Client {
        client_for!(self, aws_sdk_grafana, AwsService::Grafana)
    }

    /// Client for Secrets Manager.
    pub fn secrets_manager_client(&self) -> aws_sdk_secretsmanager::Client {
        client_for!(self, aws_sdk_secretsmanager, AwsService::SecretsManager)
    }

    /// Client for KMS.
    pub fn kms_client(&self) -> aws_sdk_kms::Client {
        client_for!(self, aws_sdk_kms, AwsService::Kms)
    }

    /// Client for Step Functions.
    #[cfg(feature = "sfn")]
    pub fn sfn_client(&self) -> aws_sdk_sfn::Client {
        client_for!(self, aws_sdk_sfn, AwsService::Sfn)
    }

    /// Client for SQS.
    #[cfg(feature = "sqs")]
    pub fn sqs_client(&self) -> aws_sdk_sqs::Client {
        client_for!(self, aws_sdk_sqs, AwsService::Sqs)
    }

    /// Client for EventBridge.
    #[cfg(feature = "events")]
    pub fn eventbridge_client(&self) -> aws_sdk_eventbridge::Client {
        client_for!(self, aws_sdk_eventbridge, AwsService::Events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Observer;

    impl Intercept for Observer {
        fn name(&self) -> &'static str {
            "Observer"
        }
    }

    #[tokio::test]
    async fn a_derived_context_keeps_its_interceptors_and_endpoints() {
        let plain =
            AwsContext::for_emulator(EndpointOverrides::for_all("http://127.0.0.1:9")).await;
        let without = plain.kms_client().config().interceptors().count();
        let observed = plain.clone().with_interceptor(Observer);
        let derived = observed.with_sdk_config(plain.sdk_config().to_builder().build());
        for context in [&observed, &derived] {
            assert_eq!(
                context.kms_client().config().interceptors().count(),
                without + 1
            );
            assert_eq!(
                context.grafana_client().config().interceptors().count(),
                without + 1
            );
            assert_eq!(
                context.endpoints().endpoint_for(AwsService::Kms),
                Some("http://127.0.0.1:9")
            );
        }
    }

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn per_service_override_wins_over_global() {
        let overrides = EndpointOverrides::from_lookup(lookup_from(&[
            (ENDPOINT_URL_ENV, "http://moto:5000"),
            ("KEYSHIFT_AWS_ENDPOINT_URL_GRAFANA", "http://sim:3000"),
        ]));
        assert_eq!(
            overrides.endpoint_for(AwsService::Grafana),
            Some("http://sim:3000")
        );
        assert_eq!(
            overrides.endpoint_for(AwsService::SecretsManager),
            Some("http://moto:5000")
        );
    }

    #[test]
    fn no_variables_means_no_override_and_blank_values_are_ignored() {
        let overrides =
            EndpointOverrides::from_lookup(lookup_from(&[("KEYSHIFT_AWS_ENDPOINT_URL_SQS", "  ")]));
        for service in AwsService::ALL {
            assert_eq!(overrides.endpoint_for(service), None);
        }
    }

    #[test]
    fn builder_helpers_compose() {
        let overrides =
            EndpointOverrides::for_all("http://a").with_service(AwsService::Kms, "http://b");
        assert_eq!(overrides.endpoint_for(AwsService::Kms), Some("http://b"));
        assert_eq!(overrides.endpoint_for(AwsService::Sfn), Some("http://a"));
    }
}
