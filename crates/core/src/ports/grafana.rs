//! The Grafana HTTP data plane of one workspace and organisation.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::model::{
    GrafanaCredential, GrafanaVersion, LegacyApiKey, MigrationReport, MintedToken, Org, OrgId,
    Permissions, Role, ServiceAccount, ServiceAccountToken,
};

/// Grafana's HTTP API for one org, already authenticated with one credential.
///
/// Steps are written against this trait so they can be tested with a mock and run against
/// the reqwest adapter (real Grafana or grafana-sim) unchanged. Implementations translate
/// HTTP statuses into [`crate::KeyshiftError`] variants (429 → `GrafanaThrottled`, 5xx/timeouts →
/// `GrafanaUnavailable`, 401 → `GrafanaUnauthorized`, 403 → `GrafanaForbidden`,
/// 404 → `GrafanaNotFound`, 400 → `GrafanaBadRequest` or, for "already exists",
/// `GrafanaConflict`, unparsable bodies → `GrafanaBadResponse`) and never put a credential in
/// an error.
#[async_trait]
pub trait GrafanaApi: Send + Sync {
    /// `GET /api/health`: the version (this endpoint checks no credential).
    async fn health(&self) -> Result<GrafanaVersion>;

    /// `GET /api/org`: proves the credential authenticates in the expected org.
    async fn org(&self) -> Result<Org>;

    /// `GET /api/access-control/user/permissions`: what the credential may do, used to
    /// verify a token's role.
    async fn permissions(&self) -> Result<Permissions>;

    /// `GET /api/auth/keys?includeExpired=…` (versions before 12.1).
    async fn list_legacy_keys(&self, include_expired: bool) -> Result<Vec<LegacyApiKey>>;

    /// `DELETE /api/auth/keys/:id`.
    async fn delete_legacy_key(&self, key_id: i64) -> Result<()>;

    /// `POST /api/serviceaccounts/migrate/:keyId`: the key becomes a token of
    /// `sa-autogen-<name>` with the same id, and keeps authenticating.
    async fn migrate_legacy_key(&self, key_id: i64) -> Result<()>;

    /// `POST /api/serviceaccounts/migrate`: all keys of the org.
    async fn migrate_all_legacy_keys(&self) -> Result<MigrationReport>;

    /// `GET /api/serviceaccounts/search?query=…`, following every page.
    async fn search_service_accounts(&self, query: &str) -> Result<Vec<ServiceAccount>>;

    /// `GET /api/serviceaccounts/:id`.
    async fn get_service_account(&self, service_account_id: i64) -> Result<ServiceAccount>;

    /// `POST /api/serviceaccounts`.
    async fn create_service_account(&self, name: &str, role: Role) -> Result<ServiceAccount>;

    /// `PATCH /api/serviceaccounts/:id` with a new role.
    async fn update_service_account_role(
        &self,
        service_account_id: i64,
        role: Role,
    ) -> Result<ServiceAccount>;

    /// `DELETE /api/serviceaccounts/:id` (deletes its tokens too).
    async fn delete_service_account(&self, service_account_id: i64) -> Result<()>;

    /// `GET /api/serviceaccounts/:id/tokens`.
    async fn list_tokens(&self, service_account_id: i64) -> Result<Vec<ServiceAccountToken>>;

    /// `POST /api/serviceaccounts/:id/tokens`; `seconds_to_live` 0 means no expiry.
    /// `requested_at` is the caller's "now" (the steps' clock): Grafana's answer carries no
    /// expiry, so the reported [`MintedToken::expiration`] is `requested_at + seconds_to_live`,
    /// which stays right under a virtual clock where wall time would not.
    async fn create_token(
        &self,
        service_account_id: i64,
        name: &str,
        seconds_to_live: u64,
        requested_at: DateTime<Utc>,
    ) -> Result<MintedToken>;

    /// `DELETE /api/serviceaccounts/:id/tokens/:tokenId`.
    async fn delete_token(&self, service_account_id: i64, token_id: i64) -> Result<()>;
}

/// Opens a [`GrafanaApi`] for a base URL, org and credential, so a step can talk to Grafana as
/// the bootstrap admin, as the self-hosted admin, or as the token it is verifying.
#[async_trait]
pub trait GrafanaConnector: Send + Sync {
    /// Builds an authenticated client; does not call Grafana (the first request will).
    async fn connect(
        &self,
        base_url: &str,
        org_id: OrgId,
        credential: GrafanaCredential,
    ) -> Result<Arc<dyn GrafanaApi>>;
}
