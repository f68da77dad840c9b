//! One authenticated Grafana endpoint over reqwest: headers, timeouts, bounded bodies,
//! retries of idempotent calls.

use std::time::{Duration, SystemTime};

use backon::Retryable;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::error::KeyshiftError;
use keyshift_core::model::grafana::GrafanaCredential;
use keyshift_core::model::workspace::OrgId;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::errors::{GrafanaComplaint, error_for_status, error_for_transport};
use crate::retry::{RetryPolicy, parse_retry_after};

/// Tunables of the Grafana HTTP client; defaults suit a Lambda with a 60–120 s timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrafanaHttpSettings {
    /// Time allowed to establish a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, answer included.
    pub request_timeout: Duration,
    /// Retries of idempotent calls after transient failures.
    pub retry: RetryPolicy,
    /// Largest answer body accepted; a hostile or broken server cannot exhaust memory.
    pub max_body_bytes: usize,
    /// Page size for `/api/serviceaccounts/search`.
    pub page_size: u32,
    /// Whether plain `http://` is accepted, and then only to a loopback address: the one case
    /// is keyshift running locally against grafana-sim. Off by default, so a typo or a hostile
    /// fleet entry cannot send a credential in clear text; `http://` to any other host is
    /// refused whatever this says.
    pub allow_loopback_http: bool,
}

/// The environment variable that turns [`GrafanaHttpSettings::allow_loopback_http`] on for the
/// CLI and the step Lambdas (`1` or `true`); anything else, or unset, leaves it off.
pub const ALLOW_LOOPBACK_HTTP_ENV: &str = "KEYSHIFT_ALLOW_LOOPBACK_HTTP";

impl GrafanaHttpSettings {
    /// These settings with plain http to loopback allowed when [`ALLOW_LOOPBACK_HTTP_ENV`]
    /// says so: the one place a binary reads that switch.
    pub fn with_loopback_http_from_env(mut self) -> Self {
        let value = std::env::var(ALLOW_LOOPBACK_HTTP_ENV).unwrap_or_default();
        self.allow_loopback_http = matches!(value.trim(), "1" | "true");
        self
    }
}

impl Default for GrafanaHttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            retry: RetryPolicy::default(),
            max_body_bytes: 4 * 1024 * 1024,
            page_size: 100,
            allow_loopback_http: false,
        }
    }
}

/// Whether a call may be repeated without changing the outcome; only those are retried
/// in-process. Creating a token twice would mint two live secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GET and DELETE: safe to repeat.
    Repeatable,
    /// POST/PATCH: exactly one attempt; the step logic owns recovery.
    OnceOnly,
}

/// A successful answer: status plus a size-bounded body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// The `Content-Type` the server declared, if any and readable.
    pub content_type: Option<String>,
}

impl Answer {
    /// Decodes the body, reporting a wrong shape as a named bad-response error (never a panic,
    /// never the body itself since a hostile body might carry anything).
    /// A declared content type other than JSON (a proxy's HTML login page, say) is refused
    /// before parsing; a missing one is tolerated, as some proxies strip it.
    pub fn json<T: DeserializeOwned>(&self, operation: &str) -> Result<T, KeyshiftError> {
        if let Some(content_type) = &self.content_type
            && !is_json_media_type(content_type)
        {
            return Err(KeyshiftError::GrafanaBadResponse {
                operation: operation.to_owned(),
                detail: format!(
                    "HTTP {} with a body that is not declared as JSON",
                    self.status.as_u16()
                ),
            });
        }
        serde_json::from_slice(&self.body).map_err(|error| KeyshiftError::GrafanaBadResponse {
            operation: operation.to_owned(),
            detail: format!(
                "HTTP {} with an unexpected body ({} at line {} column {})",
                self.status.as_u16(),
                describe_json_error(&error),
                error.line(),
                error.column()
            ),
        })
    }
}

/// `application/json` or any `+json` type, parameters such as `charset` ignored.
fn is_json_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

fn describe_json_error(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// A Grafana base URL plus the credential and org every request carries.
#[derive(Clone)]
pub(crate) struct GrafanaTransport {
    http: reqwest::Client,
    base: Url,
    org_id: OrgId,
    credential: GrafanaCredential,
    settings: GrafanaHttpSettings,
}

impl std::fmt::Debug for GrafanaTransport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GrafanaTransport")
            .field("base", &self.base.as_str())
            .field("org_id", &self.org_id)
            .field("credential", &self.credential)
            .finish()
    }
}

impl GrafanaTransport {
    /// Validates the base URL once, so later path joins cannot escape it.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        org_id: OrgId,
        credential: GrafanaCredential,
        settings: GrafanaHttpSettings,
    ) -> Result<Self, KeyshiftError> {
        let with_scheme = if base_url.contains("://") {
            base_url.to_owned()
        } else {
            // AMG reports workspace endpoints as bare host names.
            format!("https://{base_url}")
        };
        let invalid = |reason: &str| KeyshiftError::invalid_input("grafana.url", reason.to_owned());
        let mut base = Url::parse(&with_scheme).map_err(|_| invalid("not a valid URL"))?;
        match base.scheme() {
            "https" => {}
            "http" if !is_loopback(&base) => {
                return Err(invalid(
                    "plain http is refused for a host other than loopback; use https",
                ));
            }
            "http" if !settings.allow_loopback_http => {
                return Err(invalid(&format!(
                    "plain http to loopback is off; set {ALLOW_LOOPBACK_HTTP_ENV}=1 only to \
                     run against a local grafana-sim"
                )));
            }
            "http" => {}
            _ => return Err(invalid("only http and https are supported")),
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid("credentials must not be embedded in the URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("a Grafana base URL has no query or fragment"));
        }
        let trimmed_path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed_path);
        Ok(Self {
            http,
            base,
            org_id,
            credential,
            settings,
        })
    }

    /// The settings in effect, e.g. the search page size.
    pub fn settings(&self) -> &GrafanaHttpSettings {
        &self.settings
    }

    /// The org every request is pinned to.
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        // A root base URL reports its path as "/", which must not double the slash.
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        url
    }

    fn headers(&self, operation: &str) -> Result<HeaderMap, KeyshiftError> {
        let authorization = match &self.credential {
            GrafanaCredential::Bearer(token) => format!("Bearer {}", token.expose()),
            GrafanaCredential::Basic { username, password } => format!(
                "Basic {}",
                BASE64.encode(format!("{username}:{}", password.expose()))
            ),
        };
        let mut value = HeaderValue::from_str(&authorization).map_err(|_| {
            KeyshiftError::invalid_input(
                "grafana.credential",
                format!(
                    "the credential for {operation} contains characters not allowed in a header"
                ),
            )
        })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(org) = HeaderValue::from_str(&self.org_id.to_string()) {
            headers.insert("X-Grafana-Org-Id", org);
        }
        Ok(headers)
    }

    fn secrets(&self) -> Vec<&str> {
        match &self.credential {
            GrafanaCredential::Bearer(token) => vec![token.expose()],
            GrafanaCredential::Basic { password, .. } => vec![password.expose()],
        }
    }

    /// Sends one logical call, retrying transient failures of repeatable calls within the
    /// policy's budget, and returns a 2xx answer or the named error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
        operation: &str,
    ) -> Result<Answer, KeyshiftError> {
        let attempt = || self.attempt(method.clone(), path, query, body, operation);
        if idempotency == Idempotency::OnceOnly {
            return attempt().await;
        }
        let policy = self.settings.retry;
        let mut retries = 0u32;
        attempt
            .retry(policy.backoff())
            .when(KeyshiftError::is_retryable)
            .adjust(|error, scheduled| policy.next_delay(error.retry_after(), scheduled))
            .notify(|error, delay| {
                retries += 1;
                tracing::warn!(
                    operation,
                    error_name = error.asl_name(),
                    retry = retries,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "transient Grafana failure, retrying"
                );
            })
            .await
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        operation: &str,
    ) -> Result<Answer, KeyshiftError> {
        let mut request = self
            .http
            .request(method, self.url(path, query))
            .headers(self.headers(operation)?);
        if let Some(body) = body {
            let encoded = serde_json::to_vec(body).map_err(|_| {
                KeyshiftError::invalid_input("grafana.request", "request body is not encodable")
            })?;
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(encoded);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| error_for_transport(operation, &error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = self.read_bounded(&mut response, operation).await?;
        if status.is_success() {
            return Ok(Answer {
                status,
                body,
                content_type,
            });
        }
        let complaint = GrafanaComplaint::from_body(&body, &self.secrets());
        Err(error_for_status(
            operation,
            status.as_u16(),
            retry_after,
            &complaint,
        ))
    }

    async fn read_bounded(
        &self,
        response: &mut reqwest::Response,
        operation: &str,
    ) -> Result<Vec<u8>, KeyshiftError> {
        let limit = self.settings.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(too_large(operation, limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| error_for_transport(operation, &error))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large(operation, limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An IP literal in 127.0.0.0/8 or `::1`, or the name `localhost`: the only hosts plain http
/// may reach. Other names are refused even if they resolve to loopback, since resolution is
/// outside keyshift's control.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    match unbracketed.parse::<std::net::IpAddr>() {
        Ok(address) => address.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn too_large(operation: &str, limit: usize) -> KeyshiftError {
    KeyshiftError::GrafanaBadResponse {
        operation: operation.to_owned(),
        detail: format!("answer larger than {limit} bytes"),
    }
}

/// Builds the shared reqwest client: rustls with certificate verification always on (nothing
/// here may ever turn it off), connect timeout, the one request timeout every call inherits,
/// no redirects (a redirect could carry the Authorization header to another host), no proxies
/// from the environment (a proxy would see plain-http requests whole), and https only unless
/// loopback http is configured.
pub(crate) fn build_http_client(
    settings: &GrafanaHttpSettings,
) -> Result<reqwest::Client, KeyshiftError> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(!settings.allow_loopback_http)
        .user_agent(concat!("keyshift/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| KeyshiftError::GrafanaUnavailable {
            operation: "build HTTP client".to_owned(),
            detail: "TLS or HTTP client initialisation failed".to_owned(),
        })
}
