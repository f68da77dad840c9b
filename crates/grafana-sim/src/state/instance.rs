//! Operations on one instance's accounts, tokens, keys and folders, run under the state
//! lock by the [`SimState`](super::SimState) facade and the HTTP layer.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::rows::{CredentialRow, Folder, Instance, Org, ServiceAccount};
use super::views::{
    ApiKeyView, CredentialIdentity, CredentialRejection, MigrationReport, NewServiceAccount,
    ServiceAccountUpdate, ServiceAccountView, TokenView, WorkspaceView,
};
use super::{AMG_TOKENS_PER_ACCOUNT, LAST_USED_REFRESH, StateError};
use crate::fleet::WorkspaceKind;

fn slug(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "-")
}

impl Instance {
    /// AMG hostname of this workspace, if it is one.
    pub fn endpoint_hostname(&self) -> Option<String> {
        (self.record.kind == WorkspaceKind::Amg).then(|| {
            format!(
                "{}.grafana-workspace.{}.amazonaws.com",
                self.record.id, self.record.region
            )
        })
    }

    pub(super) fn view(&self) -> WorkspaceView {
        WorkspaceView {
            record: self.record.clone(),
            grafana_version: self.version_label.clone(),
            behaviour_version: self.version.to_string(),
            endpoint: self.endpoint_hostname(),
        }
    }

    /// Errors unless the org exists.
    pub fn require_org(&self, org_id: i64) -> Result<&Org, StateError> {
        self.orgs
            .get(&org_id)
            .ok_or(StateError::OrgNotFound(org_id))
    }

    /// Errors unless the service account exists in that org.
    pub fn require_service_account(
        &self,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<&ServiceAccount, StateError> {
        self.service_accounts
            .get(&service_account_id)
            .filter(|account| account.org_id == org_id)
            .ok_or(StateError::ServiceAccountNotFound(service_account_id))
    }

    pub(super) fn require_free_credential_name(
        &self,
        org_id: i64,
        name: &str,
    ) -> Result<(), StateError> {
        if self
            .credentials
            .values()
            .any(|row| row.org_id == org_id && row.name == name)
        {
            Err(StateError::CredentialNameTaken(name.to_string()))
        } else {
            Ok(())
        }
    }

    pub(super) fn insert_credential(&mut self, mut row: CredentialRow) -> i64 {
        let id = self.next_credential_id;
        self.next_credential_id += 1;
        row.id = id;
        self.credentials.insert(id, row);
        id
    }

    fn login_taken(&self, login: &str) -> bool {
        let wanted = login.to_lowercase();
        self.users
            .iter()
            .any(|user| user.login.to_lowercase() == wanted)
            || self
                .service_accounts
                .values()
                .any(|account| account.login.to_lowercase() == wanted)
    }

    /// The login Grafana generates for a new service account of this version.
    pub fn service_account_login(&self, org_id: i64, name: &str) -> String {
        if self.version.org_scoped_logins() {
            format!("sa-{org_id}-{}", slug(name))
        } else {
            format!("sa-{}", slug(name))
        }
    }

    pub(super) fn create_service_account(
        &mut self,
        org_id: i64,
        request: NewServiceAccount,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        self.require_org(org_id)?;
        if request.name.trim().is_empty() {
            return Err(StateError::EmptyName);
        }
        let login = self.service_account_login(org_id, &request.name);
        self.insert_service_account(org_id, request, login, uid, now)
    }

    fn insert_service_account(
        &mut self,
        org_id: i64,
        request: NewServiceAccount,
        login: String,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        if self.login_taken(&login) {
            return Err(StateError::ServiceAccountAlreadyExists);
        }
        let id = self.next_user_id;
        self.next_user_id += 1;
        let account = ServiceAccount {
            id,
            uid,
            name: request.name,
            login,
            org_id,
            role: request.role,
            is_disabled: request.is_disabled,
            created: now,
            updated: now,
        };
        let view = self.service_account_view(&account);
        self.service_accounts.insert(id, account);
        Ok(view)
    }

    /// Refuses another token on `service_account_id` when this is an AMG workspace whose
    /// account already holds [`AMG_TOKENS_PER_ACCOUNT`] tokens, expired and revoked ones
    /// included until deleted (the cap users report for AMG; self-hosted Grafana has none).
    pub(super) fn check_token_cap(&self, service_account_id: i64) -> Result<(), StateError> {
        if self.record.kind != WorkspaceKind::Amg {
            return Ok(());
        }
        let held = self
            .credentials
            .values()
            .filter(|row| row.service_account_id == Some(service_account_id))
            .count();
        if held >= AMG_TOKENS_PER_ACCOUNT {
            return Err(StateError::TokenLimitReached {
                service_account_id,
                limit: AMG_TOKENS_PER_ACCOUNT,
            });
        }
        Ok(())
    }

    /// The API view of a service account (with its token count).
    pub fn service_account_view(&self, account: &ServiceAccount) -> ServiceAccountView {
        ServiceAccountView {
            row: account.clone(),
            tokens: self
                .credentials
                .values()
                .filter(|row| row.service_account_id == Some(account.id))
                .count(),
        }
    }

    /// Applies a PATCH; renaming regenerates the login and may collide.
    pub fn update_service_account(
        &mut self,
        org_id: i64,
        service_account_id: i64,
        update: ServiceAccountUpdate,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        self.require_service_account(org_id, service_account_id)?;
        let new_login = match &update.name {
            Some(name) if name.trim().is_empty() => return Err(StateError::EmptyName),
            Some(name) => {
                let login = self.service_account_login(org_id, name);
                let own_login = self
                    .service_accounts
                    .get(&service_account_id)
                    .map(|account| account.login.to_lowercase());
                if own_login.as_deref() != Some(login.to_lowercase().as_str())
                    && self.login_taken(&login)
                {
                    return Err(StateError::ServiceAccountAlreadyExists);
                }
                Some(login)
            }
            None => None,
        };
        let account = self
            .service_accounts
            .get_mut(&service_account_id)
            .ok_or(StateError::ServiceAccountNotFound(service_account_id))?;
        if let (Some(name), Some(login)) = (update.name, new_login) {
            account.name = name;
            account.login = login;
        }
        if let Some(role) = update.role {
            account.role = role;
        }
        if let Some(is_disabled) = update.is_disabled {
            account.is_disabled = is_disabled;
        }
        account.updated = now;
        let account = account.clone();
        Ok(self.service_account_view(&account))
    }

    pub(super) fn delete_service_account(
        &mut self,
        org_id: i64,
        service_account_id: i64,
    ) -> Result<(), StateError> {
        self.require_service_account(org_id, service_account_id)?;
        self.service_accounts.remove(&service_account_id);
        self.credentials
            .retain(|_, row| row.service_account_id != Some(service_account_id));
        Ok(())
    }

    /// The API view of a token row at `now`.
    pub fn token_view(row: &CredentialRow, now: DateTime<Utc>) -> TokenView {
        let has_expired = row.has_expired(now);
        let seconds_until_expiration = match row.expires {
            Some(expires) if !has_expired && expires - now <= Duration::days(7) => {
                (expires - now).num_milliseconds() as f64 / 1000.0
            }
            _ => 0.0,
        };
        TokenView {
            id: row.id,
            name: row.name.clone(),
            created: row.created,
            expiration: row.expires,
            last_used_at: row.last_used_at,
            has_expired,
            is_revoked: row.is_revoked,
            seconds_until_expiration,
        }
    }

    pub(super) fn list_tokens(
        &self,
        org_id: i64,
        service_account_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenView>, StateError> {
        self.require_service_account(org_id, service_account_id)?;
        let mut tokens: Vec<TokenView> = self
            .credentials
            .values()
            .filter(|row| row.service_account_id == Some(service_account_id))
            .map(|row| Self::token_view(row, now))
            .collect();
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        tokens.truncate(300);
        Ok(tokens)
    }

    pub(super) fn delete_token(
        &mut self,
        org_id: i64,
        service_account_id: i64,
        token_id: i64,
    ) -> Result<(), StateError> {
        let matches = self.credentials.get(&token_id).is_some_and(|row| {
            row.org_id == org_id && row.service_account_id == Some(service_account_id)
        });
        if !matches {
            return Err(StateError::TokenNotFound(token_id));
        }
        self.credentials.remove(&token_id);
        Ok(())
    }

    /// Applies `api_key_max_seconds_to_live` and `token_expiration_day_limit` to a requested
    /// TTL, as `POST /api/serviceaccounts/:id/tokens` does.
    pub fn check_token_ttl_settings(&self, seconds_to_live: i64) -> Result<(), StateError> {
        let max = self.settings.api_key_max_seconds_to_live;
        if max != -1 {
            if seconds_to_live == 0 {
                return Err(StateError::SecondsToLiveRequired);
            }
            if seconds_to_live > max {
                return Err(StateError::SecondsToLiveAboveLimit);
            }
        }
        // Grafana compares day-truncated dates and lets 0 (no expiry) through this check.
        let day_limit = self.settings.token_expiration_day_limit;
        if day_limit > 0 && seconds_to_live > day_limit.saturating_mul(86_400) {
            return Err(StateError::ExpirationBeyondDayLimit);
        }
        Ok(())
    }

    /// Plain (non-migrated) keys of an org, ordered by name.
    pub fn plain_keys(&self, org_id: i64) -> Vec<&CredentialRow> {
        let mut keys: Vec<&CredentialRow> = self
            .credentials
            .values()
            .filter(|row| row.org_id == org_id && row.service_account_id.is_none())
            .collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        keys
    }

    pub(super) fn plain_key_ids(&self, org_id: i64) -> Vec<i64> {
        self.plain_keys(org_id).iter().map(|row| row.id).collect()
    }

    /// Converts one plain key into a token of a new `sa-autogen-<name>` account (§4.1).
    pub fn migrate_key(
        &mut self,
        org_id: i64,
        key_id: i64,
        uid: String,
        now: DateTime<Utc>,
    ) -> Result<ServiceAccountView, StateError> {
        let (name, role) = match self.credentials.get(&key_id) {
            Some(row) if row.org_id == org_id && row.service_account_id.is_none() => {
                (row.name.clone(), row.role)
            }
            _ => return Err(StateError::ApiKeyNotFound),
        };
        let base_login = if self.version.org_scoped_logins() {
            format!("sa-autogen-{org_id}-{}", slug(&name))
        } else {
            format!("sa-autogen-{org_id}-{name}")
        };
        let mut login = base_login.clone();
        if self.login_taken(&login) && self.version.migration_retries_login_suffixes() {
            login = (1..=10)
                .map(|suffix| format!("{base_login}-{suffix:03}"))
                .find(|candidate| !self.login_taken(candidate))
                .unwrap_or(base_login);
        }
        let account = self.insert_service_account(
            org_id,
            NewServiceAccount {
                name: format!("sa-autogen-{name}"),
                role,
                is_disabled: false,
            },
            login,
            uid,
            now,
        )?;
        if let Some(row) = self.credentials.get_mut(&key_id) {
            row.service_account_id = Some(account.row.id);
        }
        Ok(self
            .service_account_view_by_id(account.row.id)
            .unwrap_or(account))
    }

    fn service_account_view_by_id(&self, id: i64) -> Option<ServiceAccountView> {
        self.service_accounts
            .get(&id)
            .map(|account| self.service_account_view(account))
    }

    /// Migrates every plain key of an org, collecting failures like Grafana ≥10.1.
    /// `uids` supplies one fresh uid per key (generated outside the lock).
    pub fn migrate_all(
        &mut self,
        org_id: i64,
        uids: Vec<String>,
        now: DateTime<Utc>,
    ) -> MigrationReport {
        let keys: Vec<(i64, String)> = self
            .plain_keys(org_id)
            .iter()
            .map(|row| (row.id, row.name.clone()))
            .collect();
        let mut report = MigrationReport {
            total: keys.len(),
            ..MigrationReport::default()
        };
        let mut uids = uids.into_iter();
        for (key_id, name) in keys {
            let uid = uids.next().unwrap_or_else(|| format!("autogen{key_id:07}"));
            match self.migrate_key(org_id, key_id, uid, now) {
                Ok(_) => report.migrated += 1,
                Err(error) => {
                    report.failed += 1;
                    report.failed_apikey_ids.push(key_id);
                    report
                        .failed_details
                        .push(format!("API key name: {name} - Error: {error}"));
                }
            }
        }
        report
    }

    /// 9.x revert: turns a migrated key back into a plain key and deletes its account.
    pub fn revert_key(&mut self, org_id: i64, key_id: i64) -> Result<(), StateError> {
        let account_id = match self.credentials.get(&key_id) {
            Some(row) if row.org_id == org_id => {
                row.service_account_id.ok_or(StateError::ApiKeyNotFound)?
            }
            _ => return Err(StateError::ApiKeyNotFound),
        };
        if let Some(row) = self.credentials.get_mut(&key_id) {
            row.service_account_id = None;
        }
        self.service_accounts.remove(&account_id);
        self.credentials
            .retain(|_, row| row.service_account_id != Some(account_id));
        Ok(())
    }

    /// Deletes a plain key by id; tokens are not deletable here (Grafana's 404).
    pub fn delete_plain_key(&mut self, org_id: i64, key_id: i64) -> Result<(), StateError> {
        let is_plain = self
            .credentials
            .get(&key_id)
            .is_some_and(|row| row.org_id == org_id && row.service_account_id.is_none());
        if !is_plain {
            return Err(StateError::ApiKeyNotFound);
        }
        self.credentials.remove(&key_id);
        Ok(())
    }

    /// The key list of `GET /api/auth/keys`: plain keys, unexpired unless asked, ≤100.
    pub fn list_plain_keys(
        &self,
        org_id: i64,
        include_expired: bool,
        now: DateTime<Utc>,
    ) -> Vec<ApiKeyView> {
        self.plain_keys(org_id)
            .into_iter()
            .filter(|row| include_expired || !row.has_expired(now))
            .take(100)
            .map(|row| ApiKeyView {
                id: row.id,
                name: row.name.clone(),
                role: row.role,
                org_id: row.org_id,
                expiration: row.expires,
                last_used_at: row.last_used_at,
            })
            .collect()
    }

    /// Creates a folder.
    pub fn create_folder(&mut self, org_id: i64, title: &str, uid: Option<String>) -> Folder {
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let folder = Folder {
            id,
            uid: uid.unwrap_or_else(|| format!("f{id:013}")),
            title: title.to_string(),
            org_id,
        };
        self.folders.push(folder.clone());
        folder
    }

    pub(super) fn identify_row(
        &mut self,
        row_id: i64,
        now: DateTime<Utc>,
    ) -> Result<CredentialIdentity, CredentialRejection> {
        let row = self
            .credentials
            .get(&row_id)
            .ok_or(CredentialRejection::Invalid)?
            .clone();
        if row.service_account_id.is_none() && self.version.legacy_keys_removed() {
            return Err(CredentialRejection::Invalid);
        }
        if row.has_expired(now) {
            return Err(CredentialRejection::Expired);
        }
        if row.is_revoked {
            return Err(CredentialRejection::Revoked);
        }
        let service_account = match row.service_account_id {
            Some(account_id) => {
                let account = self
                    .service_accounts
                    .get(&account_id)
                    .ok_or(CredentialRejection::Invalid)?;
                if account.is_disabled {
                    return Err(CredentialRejection::Disabled);
                }
                Some(self.service_account_view(account))
            }
            None => None,
        };
        let records_use =
            row.service_account_id.is_none() || self.version.token_last_used_updates();
        let stale = records_use
            && row
                .last_used_at
                .is_none_or(|last| now - last >= LAST_USED_REFRESH);
        if stale && let Some(stored) = self.credentials.get_mut(&row_id) {
            stored.last_used_at = Some(now);
        }
        Ok(CredentialIdentity {
            credential_id: row.id,
            org_id: row.org_id,
            role: service_account
                .as_ref()
                .map_or(row.role, |account| account.row.role),
            service_account,
        })
    }

    pub(super) fn snapshot(&self, now: DateTime<Utc>) -> Value {
        let accounts: Vec<Value> = self
            .service_accounts
            .values()
            .map(|account| {
                let view = self.service_account_view(account);
                let tokens: Vec<TokenView> = self
                    .credentials
                    .values()
                    .filter(|row| row.service_account_id == Some(account.id))
                    .map(|row| Self::token_view(row, now))
                    .collect();
                json!({ "account": view, "tokenList": tokens })
            })
            .collect();
        let keys: Vec<Value> = self
            .credentials
            .values()
            .filter(|row| row.service_account_id.is_none())
            .map(|row| {
                json!({
                    "id": row.id, "orgId": row.org_id, "name": row.name, "role": row.role,
                    "expiration": row.expires, "lastUsedAt": row.last_used_at,
                    "hasExpired": row.has_expired(now), "isRevoked": row.is_revoked,
                })
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|user| json!({"id": user.id, "login": user.login, "roles": user.roles}))
            .collect();
        json!({
            "workspace": self.view(),
            "orgs": self.orgs.values().collect::<Vec<_>>(),
            "users": users,
            "serviceAccounts": accounts,
            "apiKeys": keys,
            "folders": self.folders,
        })
    }
}
