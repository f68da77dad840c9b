//! Shared helpers for the HTTP tests: start the sample fleet on a free port, read seeded
//! secrets, and call instances with reqwest.

#![allow(dead_code)]

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;

pub const AMG_94: &str = "g-0a1b2c3d4e";
pub const AMG_104: &str = "g-1f2e3d4c5b";
pub const AMG_121: &str = "g-9e8d7c6b5a";
pub const SELF_115: &str = "ops-grafana-115";
pub const SELF_116: &str = "ops-grafana-116";
pub const SELF_121: &str = "lab-grafana-121";

pub struct Sim {
    pub running: RunningSim,
    pub client: Client,
}

pub async fn start() -> Sim {
    start_with(FleetSpec::sample().unwrap()).await
}

/// Starts the sample fleet and reads one of its seeded credentials.
pub async fn start_as(instance: &str, secret_name: &str) -> (Sim, String) {
    let sim = start().await;
    let secret = sim.secret(instance, secret_name).await;
    (sim, secret)
}

/// Starts the sample fleet with one new service account (name, role); returns its id.
pub async fn start_with_account(
    instance: &str,
    auth: &Auth<'_>,
    name: &str,
    role: &str,
) -> (Sim, i64) {
    let sim = start().await;
    let account = sim.create_account(instance, auth, name, role).await;
    (sim, account)
}

pub async fn start_with(fleet: FleetSpec) -> Sim {
    let simulator = Simulator::from_fleet(fleet).unwrap();
    let running = simulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Sim {
        running,
        client: Client::builder().pool_max_idle_per_host(0).build().unwrap(),
    }
}

/// A response reduced to what the tests assert on.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }
}

pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    ApiKeyBasic(&'a str),
    User(&'a str, &'a str),
}

impl Sim {
    pub fn url(&self, instance: &str, path: &str) -> String {
        format!("{}{path}", self.running.instance_url(instance))
    }

    pub fn control(&self, path: &str) -> String {
        format!("{}/_sim{path}", self.running.base_url())
    }

    pub fn request(
        &self,
        method: Method,
        instance: &str,
        path: &str,
        auth: &Auth,
    ) -> RequestBuilder {
        let builder = self.client.request(method, self.url(instance, path));
        match auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token),
            Auth::ApiKeyBasic(token) => builder.basic_auth("api_key", Some(token)),
            Auth::User(login, password) => builder.basic_auth(login, Some(password)),
        }
    }

    pub async fn send(&self, builder: RequestBuilder) -> Answer {
        let response = builder.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, instance: &str, path: &str, auth: &Auth<'_>) -> Answer {
        self.send(self.request(Method::GET, instance, path, auth))
            .await
    }

    pub async fn delete(&self, instance: &str, path: &str, auth: &Auth<'_>) -> Answer {
        self.send(self.request(Method::DELETE, instance, path, auth))
            .await
    }

    pub async fn post(&self, instance: &str, path: &str, auth: &Auth<'_>, body: Value) -> Answer {
        self.send(self.request(Method::POST, instance, path, auth).json(&body))
            .await
    }

    pub async fn patch(&self, instance: &str, path: &str, auth: &Auth<'_>, body: Value) -> Answer {
        self.send(
            self.request(Method::PATCH, instance, path, auth)
                .json(&body),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        instance: &str,
        path: &str,
        auth: &Auth<'_>,
        body: &str,
    ) -> Answer {
        self.send(
            self.request(Method::POST, instance, path, auth)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// The full credential string of a fleet-seeded key or token.
    pub async fn secret(&self, instance: &str, name: &str) -> String {
        let body: Value = self
            .client
            .get(self.control(&format!("/secrets?workspace={instance}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|secret| secret["name"] == name)
            .unwrap_or_else(|| panic!("no seeded secret {name} in {instance}"))["key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.post(self.control(path)).json(&body))
            .await
    }

    /// Adds a fault rule through `POST /_sim/faults`.
    pub async fn add_fault(&self, rule: Value) -> Answer {
        self.control_post("/faults", rule).await
    }

    pub async fn control_get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.control(path))).await
    }

    pub async fn advance_clock(&self, seconds: i64) {
        let answer = self
            .control_post("/clock/advance", serde_json::json!({ "seconds": seconds }))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }

    /// Creates a service account with an admin credential and returns its id.
    pub async fn create_account(
        &self,
        instance: &str,
        auth: &Auth<'_>,
        name: &str,
        role: &str,
    ) -> i64 {
        let answer = self
            .post(
                instance,
                "/api/serviceaccounts",
                auth,
                serde_json::json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()["id"].as_i64().unwrap()
    }

    /// Mints a token and returns (id, key).
    pub async fn create_token(
        &self,
        instance: &str,
        auth: &Auth<'_>,
        account: i64,
        name: &str,
        seconds_to_live: i64,
    ) -> (i64, String) {
        let answer = self
            .post(
                instance,
                &format!("/api/serviceaccounts/{account}/tokens"),
                auth,
                serde_json::json!({"name": name, "secondsToLive": seconds_to_live}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let body = answer.json();
        (
            body["id"].as_i64().unwrap(),
            body["key"].as_str().unwrap().to_string(),
        )
    }

    /// Asserts that `key` authenticates on `instance` (`GET /api/org` answers 200).
    pub async fn assert_org_ok(&self, instance: &str, key: &str) {
        let answer = self.get(instance, "/api/org", &Auth::Bearer(key)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }

    /// Creates a service account (name, role) and mints it a token (name, seconds to live);
    /// returns (account id, token id, key).
    pub async fn account_with_token(
        &self,
        instance: &str,
        auth: &Auth<'_>,
        (account_name, role): (&str, &str),
        (token_name, seconds_to_live): (&str, i64),
    ) -> (i64, i64, String) {
        let account = self
            .create_account(instance, auth, account_name, role)
            .await;
        let (token, key) = self
            .create_token(instance, auth, account, token_name, seconds_to_live)
            .await;
        (account, token, key)
    }

    /// Asserts that `key` is refused on `instance` (`GET /api/org`) with `expected`.
    pub async fn assert_org_rejected(&self, instance: &str, key: &str, expected: Errutil) {
        let answer = self.get(instance, "/api/org", &Auth::Bearer(key)).await;
        assert_errutil(&answer, expected);
    }

    /// Finds a service account id by exact name through the search API.
    pub async fn account_id(&self, instance: &str, auth: &Auth<'_>, name: &str) -> i64 {
        let answer = self
            .get(instance, "/api/serviceaccounts/search?perpage=1000", auth)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()["serviceAccounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|account| account["name"] == name)
            .unwrap_or_else(|| panic!("no account {name}: {}", answer.text))["id"]
            .as_i64()
            .unwrap()
    }
}

pub const ADMIN_115: Auth<'static> = Auth::User("admin", "admin-pass-115");
pub const EDITOR_115: Auth<'static> = Auth::User("editor", "editor-pass-115");
pub const VIEWER_115: Auth<'static> = Auth::User("viewer", "viewer-pass-115");
pub const ADMIN_121: Auth<'static> = Auth::User("admin", "admin-pass-121");
pub const ADMIN_116: Auth<'static> = Auth::User("admin", "admin-pass-116");

/// The errutil answers (status, `messageId`, `message`) the tests expect from Grafana.
#[derive(Debug, Clone, Copy)]
pub enum Errutil {
    InvalidKey,
    SaNotFound,
    ExpiredKey,
    SaExists,
    BadTtl,
    RoleForbidden,
    SaBadRole,
    OrgMismatch,
    Unauthorized,
    RevokedKey,
    DisabledIdentity,
    TokenNameTaken,
    TokenNotFound,
}

impl Errutil {
    fn parts(self) -> (u16, &'static str, &'static str) {
        match self {
            Self::InvalidKey => (401, "api-key.invalid", "Invalid API key"),
            Self::SaNotFound => (
                404,
                "serviceaccounts.ErrNotFound",
                "service account not found",
            ),
            Self::ExpiredKey => (401, "api-key.expired", "Expired API key"),
            Self::SaExists => (
                400,
                "serviceaccounts.ErrAlreadyExists",
                "service account already exists",
            ),
            Self::BadTtl => (
                400,
                "serviceaccounts.ErrInvalidInput",
                "invalid SecondsToLive value",
            ),
            Self::RoleForbidden => (
                403,
                "serviceaccounts.ErrRoleForbidden",
                "can not assign a role higher than user's role",
            ),
            Self::SaBadRole => (
                400,
                "serviceaccounts.ErrInvalidRoleSpecified",
                "invalid role specified",
            ),
            Self::OrgMismatch => (
                401,
                "api-key.organization-mismatch",
                "API key does not belong to the requested organization",
            ),
            Self::Unauthorized => (401, "auth.unauthorized", "Unauthorized"),
            Self::RevokedKey => (401, "api-key.revoked", "Revoked API key"),
            Self::DisabledIdentity => (401, "identity.disabled", "Unauthorized"),
            Self::TokenNameTaken => (
                400,
                "serviceaccounts.ErrTokenAlreadyExists",
                "service account token with given name already exists in the organization",
            ),
            Self::TokenNotFound => (
                404,
                "serviceaccounts.ErrTokenNotFound",
                "service account token not found",
            ),
        }
    }
}

pub fn assert_errutil(answer: &Answer, expected: Errutil) {
    let (status, message_id, message) = expected.parts();
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["messageId"], message_id, "{}", answer.text);
    assert_eq!(body["message"], message, "{}", answer.text);
    assert_eq!(body["statusCode"], status, "{}", answer.text);
}

pub fn assert_legacy(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["message"], message, "{}", answer.text);
    assert!(body.get("messageId").is_none(), "{}", answer.text);
}

pub fn assert_rbac_denied(answer: &Answer, action: &str) {
    assert_eq!(answer.status.as_u16(), 403, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["title"], "Access denied");
    assert_eq!(
        body["message"],
        format!(
            "You'll need additional permissions to perform this action. Permissions needed: {action}"
        )
    );
    let id = body["accessErrorId"].as_str().unwrap();
    assert!(id.starts_with("ACE") && id.len() == 13 && id[3..].chars().all(|c| c.is_ascii_digit()));
}
