//! [`GrafanaApi`] and [`GrafanaConnector`] over reqwest: the adapter every step uses to reach a
//! workspace's Grafana (AMG or self-hosted, and grafana-sim in tests).
//!
//! Grafana's wire format is decoded into private wire structs first and converted to core's
//! model, so a wrong type or a missing field in a hostile answer becomes
//! `Grafana.BadResponse` instead of a panic or a silently defaulted value.

mod errors;
mod transport;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::model::{
    GrafanaCredential, GrafanaVersion, LegacyApiKey, MigrationReport, MintedToken, Org, OrgId,
    Permissions, Role, ServiceAccount, ServiceAccountToken,
};
use keyshift_core::ports::{GrafanaApi, GrafanaConnector};
use keyshift_core::secret::SecretString;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

pub use transport::{ALLOW_LOOPBACK_HTTP_ENV, GrafanaHttpSettings};
use transport::{Answer, GrafanaTransport, Idempotency, build_http_client};

/// Upper bound on service accounts read from one org: far above any real org, low enough that
/// a server lying about `totalCount` cannot keep keyshift paging forever.
const MAX_SEARCH_RESULTS: usize = 100_000;

/// Opens authenticated Grafana clients sharing one connection pool, so a Lambda reuses TLS
/// sessions across the admin client and the clients verifying fresh tokens.
#[derive(Debug, Clone)]
pub struct HttpGrafanaConnector {
    http: reqwest::Client,
    settings: GrafanaHttpSettings,
}

impl HttpGrafanaConnector {
    /// Builds the connector with the given timeouts, retry budget and size limits.
    pub fn new(settings: GrafanaHttpSettings) -> Result<Self> {
        Ok(Self {
            http: build_http_client(&settings)?,
            settings,
        })
    }

    /// Opens a client directly (without the trait object), for callers that want the
    /// concrete type.
    pub fn open(
        &self,
        base_url: &str,
        org_id: OrgId,
        credential: GrafanaCredential,
    ) -> Result<HttpGrafanaApi> {
        Ok(HttpGrafanaApi {
            transport: GrafanaTransport::new(
                self.http.clone(),
                base_url,
                org_id,
                credential,
                self.settings,
            )?,
        })
    }
}

#[async_trait]
impl GrafanaConnector for HttpGrafanaConnector {
    async fn connect(
        &self,
        base_url: &str,
        org_id: OrgId,
        credential: GrafanaCredential,
    ) -> Result<Arc<dyn GrafanaApi>> {
        Ok(Arc::new(self.open(base_url, org_id, credential)?))
    }
}

/// One Grafana org reached over HTTP with one credential.
#[derive(Debug, Clone)]
pub struct HttpGrafanaApi {
    transport: GrafanaTransport,
}

#[derive(Deserialize)]
struct HealthWire {
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPageWire {
    total_count: i64,
    service_accounts: Option<Vec<ServiceAccountWire>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccountWire {
    id: i64,
    #[serde(default)]
    uid: Option<String>,
    name: String,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    org_id: Option<OrgId>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    is_disabled: Option<bool>,
    #[serde(default)]
    tokens: Option<i64>,
}

#[derive(Deserialize)]
struct UpdateServiceAccountWire {
    serviceaccount: Option<ServiceAccountWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenWire {
    id: i64,
    name: String,
    #[serde(default)]
    created: Option<DateTime<Utc>>,
    #[serde(default)]
    expiration: Option<DateTime<Utc>>,
    #[serde(default)]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(default)]
    has_expired: Option<bool>,
    #[serde(default)]
    is_revoked: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyKeyWire {
    id: i64,
    name: String,
    role: String,
    #[serde(default)]
    expiration: Option<DateTime<Utc>>,
    #[serde(default)]
    last_used_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct CreatedTokenWire {
    id: i64,
    name: String,
    key: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MigrationResultWire {
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    migrated: Option<u64>,
    #[serde(default)]
    failed: Option<u64>,
    #[serde(default, rename = "failedApikeyIDs")]
    failed_apikey_ids: Option<Vec<i64>>,
    #[serde(default)]
    failed_details: Option<Vec<String>>,
}

fn bad_response(operation: &str, detail: impl Into<String>) -> KeyshiftError {
    KeyshiftError::GrafanaBadResponse {
        operation: operation.to_owned(),
        detail: detail.into(),
    }
}

fn parse_role(operation: &str, role: &str) -> Result<Role> {
    role.parse::<Role>()
        .map_err(|_| bad_response(operation, "unknown role in the answer"))
}

impl ServiceAccountWire {
    fn into_model(self, operation: &str, default_org: OrgId) -> Result<ServiceAccount> {
        let role = match self.role.as_deref() {
            // Grafana omits the role of accounts without one on some versions.
            None | Some("") => Role::None,
            Some(role) => parse_role(operation, role)?,
        };
        Ok(ServiceAccount {
            id: self.id,
            uid: self.uid.filter(|uid| !uid.is_empty()),
            name: self.name,
            login: self.login.unwrap_or_default(),
            org_id: self.org_id.unwrap_or(default_org),
            role,
            is_disabled: self.is_disabled.unwrap_or(false),
            tokens: self.tokens.unwrap_or(0),
        })
    }
}

impl TokenWire {
    fn into_model(self, operation: &str) -> Result<ServiceAccountToken> {
        let created = self
            .created
            .ok_or_else(|| bad_response(operation, "token without a creation time"))?;
        Ok(ServiceAccountToken {
            id: self.id,
            name: self.name,
            created,
            expiration: self.expiration,
            last_used_at: self.last_used_at,
            has_expired: self.has_expired.unwrap_or(false),
            is_revoked: self.is_revoked.unwrap_or(false),
        })
    }
}

impl HttpGrafanaApi {
    /// A repeatable GET: the one place reads choose their method and retry policy.
    async fn get_answer(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &str,
    ) -> Result<Answer> {
        self.transport
            .call(
                Method::GET,
                path,
                query,
                None,
                Idempotency::Repeatable,
                operation,
            )
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &str,
    ) -> Result<T> {
        self.get_answer(path, query, operation)
            .await?
            .json(operation)
    }

    async fn delete(&self, path: &str, operation: &str) -> Result<()> {
        self.transport
            .call(
                Method::DELETE,
                path,
                &[],
                None,
                Idempotency::Repeatable,
                operation,
            )
            .await
            .map(|_| ())
    }

    async fn send_once<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        operation: &str,
    ) -> Result<T> {
        self.transport
            .call(method, path, &[], body, Idempotency::OnceOnly, operation)
            .await?
            .json(operation)
    }
}

#[async_trait]
impl GrafanaApi for HttpGrafanaApi {
    async fn health(&self) -> Result<GrafanaVersion> {
        let operation = "GET /api/health";
        let health: HealthWire = self.get_json("/api/health", &[], operation).await?;
        let version = health
            .version
            .filter(|version| !version.trim().is_empty())
            .ok_or_else(|| KeyshiftError::GrafanaUnsupportedVersion {
                version: "unknown".to_owned(),
                detail: "/api/health does not report a version (hide_version is on?)".to_owned(),
            })?;
        version
            .parse::<GrafanaVersion>()
            .map_err(|_| bad_response(operation, "unparsable version string"))
    }

    async fn org(&self) -> Result<Org> {
        let operation = "GET /api/org";
        let org: Org = self.get_json("/api/org", &[], operation).await?;
        Ok(org)
    }

    async fn permissions(&self) -> Result<Permissions> {
        self.get_json(
            "/api/access-control/user/permissions",
            &[],
            "GET /api/access-control/user/permissions",
        )
        .await
    }

    async fn list_legacy_keys(&self, include_expired: bool) -> Result<Vec<LegacyApiKey>> {
        let operation = "GET /api/auth/keys";
        let keys: Vec<LegacyKeyWire> = self
            .get_json(
                "/api/auth/keys",
                &[("includeExpired", include_expired.to_string())],
                operation,
            )
            .await?;
        keys.into_iter()
            .map(|key| {
                Ok(LegacyApiKey {
                    id: key.id,
                    role: parse_role(operation, &key.role)?,
                    name: key.name,
                    expiration: key.expiration,
                    last_used_at: key.last_used_at,
                })
            })
            .collect()
    }

    async fn delete_legacy_key(&self, key_id: i64) -> Result<()> {
        self.delete(
            &format!("/api/auth/keys/{key_id}"),
            "DELETE /api/auth/keys/:id",
        )
        .await
    }

    async fn migrate_legacy_key(&self, key_id: i64) -> Result<()> {
        let operation = "POST /api/serviceaccounts/migrate/:keyId";
        self.transport
            .call(
                Method::POST,
                &format!("/api/serviceaccounts/migrate/{key_id}"),
                &[],
                None,
                Idempotency::OnceOnly,
                operation,
            )
            .await
            .map(|_| ())
    }

    async fn migrate_all_legacy_keys(&self) -> Result<MigrationReport> {
        let operation = "POST /api/serviceaccounts/migrate";
        let answer = self
            .transport
            .call(
                Method::POST,
                "/api/serviceaccounts/migrate",
                &[],
                None,
                Idempotency::OnceOnly,
                operation,
            )
            .await?;
        // Before 10.1 the answer is only {"message": …}; the counts are then unknown.
        let value: serde_json::Value = answer.json(operation)?;
        if value.get("total").is_none() && value.get("migrated").is_none() {
            return Ok(MigrationReport::default());
        }
        let result: MigrationResultWire = serde_json::from_value(value)
            .map_err(|_| bad_response(operation, "MigrationResult of the wrong shape"))?;
        Ok(MigrationReport {
            total: result.total,
            migrated: result.migrated,
            failed: result.failed,
            failed_key_ids: result.failed_apikey_ids.unwrap_or_default(),
            failed_details: result.failed_details.unwrap_or_default(),
        })
    }

    async fn search_service_accounts(&self, query: &str) -> Result<Vec<ServiceAccount>> {
        let operation = "GET /api/serviceaccounts/search";
        let page_size = self.transport.settings().page_size.max(1);
        let mut seen_ids = BTreeSet::new();
        let mut accounts = Vec::new();
        let mut page = 1u32;
        loop {
            let answer: SearchPageWire = self
                .get_json(
                    "/api/serviceaccounts/search",
                    &[
                        ("query", query.to_owned()),
                        ("perpage", page_size.to_string()),
                        ("page", page.to_string()),
                    ],
                    operation,
                )
                .await?;
            let total = usize::try_from(answer.total_count)
                .map_err(|_| bad_response(operation, "negative totalCount"))?;
            if total > MAX_SEARCH_RESULTS {
                return Err(bad_response(operation, "implausibly large totalCount"));
            }
            let items = answer.service_accounts.unwrap_or_default();
            let page_was_empty = items.is_empty();
            for item in items {
                let account = item.into_model(operation, self.transport.org_id())?;
                if seen_ids.insert(account.id) {
                    accounts.push(account);
                }
            }
            if accounts.len() >= total || page_was_empty {
                break;
            }
            // A server that keeps repeating pages cannot hold us beyond what totalCount allows.
            let max_pages = total.div_ceil(page_size as usize) + 1;
            if page as usize >= max_pages {
                return Err(bad_response(
                    operation,
                    "pagination does not converge on totalCount",
                ));
            }
            page += 1;
        }
        Ok(accounts)
    }

    async fn get_service_account(&self, service_account_id: i64) -> Result<ServiceAccount> {
        let operation = "GET /api/serviceaccounts/:id";
        let wire: ServiceAccountWire = self
            .get_json(
                &format!("/api/serviceaccounts/{service_account_id}"),
                &[],
                operation,
            )
            .await?;
        wire.into_model(operation, self.transport.org_id())
    }

    async fn create_service_account(&self, name: &str, role: Role) -> Result<ServiceAccount> {
        let operation = "POST /api/serviceaccounts";
        let body = json!({ "name": name, "role": role.as_grafana(), "isDisabled": false });
        let wire: ServiceAccountWire = self
            .send_once(Method::POST, "/api/serviceaccounts", Some(&body), operation)
            .await?;
        wire.into_model(operation, self.transport.org_id())
    }

    async fn update_service_account_role(
        &self,
        service_account_id: i64,
        role: Role,
    ) -> Result<ServiceAccount> {
        let operation = "PATCH /api/serviceaccounts/:id";
        let body = json!({ "role": role.as_grafana() });
        let wire: UpdateServiceAccountWire = self
            .send_once(
                Method::PATCH,
                &format!("/api/serviceaccounts/{service_account_id}"),
                Some(&body),
                operation,
            )
            .await?;
        match wire.serviceaccount {
            Some(account) => account.into_model(operation, self.transport.org_id()),
            // Some versions answer only a message; read the account back.
            None => self.get_service_account(service_account_id).await,
        }
    }

    async fn delete_service_account(&self, service_account_id: i64) -> Result<()> {
        self.delete(
            &format!("/api/serviceaccounts/{service_account_id}"),
            "DELETE /api/serviceaccounts/:id",
        )
        .await
    }

    async fn list_tokens(&self, service_account_id: i64) -> Result<Vec<ServiceAccountToken>> {
        let operation = "GET /api/serviceaccounts/:id/tokens";
        let tokens: Vec<TokenWire> = self
            .get_json(
                &format!("/api/serviceaccounts/{service_account_id}/tokens"),
                &[],
                operation,
            )
            .await?;
        tokens
            .into_iter()
            .map(|token| token.into_model(operation))
            .collect()
    }

    async fn create_token(
        &self,
        service_account_id: i64,
        name: &str,
        seconds_to_live: u64,
        requested_at: DateTime<Utc>,
    ) -> Result<MintedToken> {
        let operation = "POST /api/serviceaccounts/:id/tokens";
        let body = json!({ "name": name, "secondsToLive": seconds_to_live });
        let created: CreatedTokenWire = self
            .send_once(
                Method::POST,
                &format!("/api/serviceaccounts/{service_account_id}/tokens"),
                Some(&body),
                operation,
            )
            .await?;
        if created.key.is_empty() {
            return Err(bad_response(operation, "created token without a key"));
        }
        let expiration = (seconds_to_live > 0)
            .then(|| i64::try_from(seconds_to_live).ok())
            .flatten()
            .and_then(|seconds| {
                requested_at.checked_add_signed(chrono::Duration::seconds(seconds))
            });
        Ok(MintedToken {
            id: created.id,
            name: created.name,
            key: created.key,
            expiration,
        })
    }

    async fn delete_token(&self, service_account_id: i64, token_id: i64) -> Result<()> {
        self.delete(
            &format!("/api/serviceaccounts/{service_account_id}/tokens/{token_id}"),
            "DELETE /api/serviceaccounts/:id/tokens/:tokenId",
        )
        .await
    }
}
