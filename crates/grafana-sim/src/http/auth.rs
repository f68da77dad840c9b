//! Who is calling: Grafana's authentication and org selection (reference §2).
//!
//! Credentials arrive as `Authorization: Bearer <key-or-token>`, as Basic `api_key:<token>`,
//! or as Basic `user:password`. The requested org (`X-Grafana-Org-Id` or `?targetOrgId=`)
//! must match a key's org (401 otherwise) and switches a user's org.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Response, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::InstanceContext;
use super::reply;
use crate::state::{
    CredentialRejection, FixedRole, Role, ServiceAccountView, SharedState, UserIdentity,
};
use crate::version::GrafanaVersion;

/// The authenticated principal behind a request.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// A human user (basic auth).
    User(UserIdentity),
    /// A service-account token (including migrated keys).
    ServiceAccount(ServiceAccountView),
    /// A plain legacy API key.
    ApiKey,
}

/// An authenticated request: instance, org, effective role.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Instance id.
    pub instance: String,
    /// Instance behaviour version.
    pub version: GrafanaVersion,
    /// Org the request acts in.
    pub org_id: i64,
    /// Basic role in that org.
    pub role: Role,
    /// Fixed roles granted in that org on top of the basic role (users only).
    pub fixed_roles: Vec<FixedRole>,
    /// Who it is.
    pub principal: Principal,
}

impl Caller {
    /// Everything the caller may do: the basic role's permissions plus granted fixed roles.
    pub(crate) fn permissions(&self) -> BTreeMap<&'static str, Vec<&'static str>> {
        let mut map = permissions(self.role, self.version);
        for fixed in &self.fixed_roles {
            for (action, scopes) in fixed_role_permissions(*fixed, self.version) {
                let entry = map.entry(action).or_default();
                for scope in scopes {
                    if !entry.contains(&scope) {
                        entry.push(scope);
                    }
                }
            }
        }
        map
    }

    /// Whether the caller's role or fixed roles grant `action` (see [`permissions`]).
    pub(crate) fn can(&self, action: &str) -> bool {
        self.permissions().contains_key(action)
    }

    /// `Ok` when allowed, otherwise the RBAC 403 body.
    pub(crate) fn require(&self, action: &str) -> Result<(), Response<Body>> {
        if self.can(action) {
            Ok(())
        } else {
            Err(reply::rbac_denied(action))
        }
    }
}

/// The permissions each basic role holds (a small subset of Grafana's fixed roles, enough for
/// the endpoints simulated). Keys are actions, values their scopes.
pub(crate) fn permissions(
    role: Role,
    version: GrafanaVersion,
) -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut map: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    if role >= Role::Viewer {
        map.insert("orgs:read", vec![]);
        map.insert("dashboards:read", vec!["dashboards:*", "folders:*"]);
        map.insert("folders:read", vec!["folders:*"]);
        map.insert("datasources:query", vec!["datasources:*"]);
    }
    if role >= Role::Editor {
        map.insert("dashboards:create", vec!["folders:*"]);
        map.insert("dashboards:write", vec!["dashboards:*", "folders:*"]);
        map.insert("folders:create", vec![]);
        map.insert("folders:write", vec!["folders:*"]);
    }
    if role >= Role::Admin {
        map.insert("orgs:write", vec![]);
        map.insert("org.users:read", vec!["users:*"]);
        map.insert("serviceaccounts:read", vec!["serviceaccounts:*"]);
        map.insert("serviceaccounts:create", vec![]);
        map.insert("serviceaccounts:write", vec!["serviceaccounts:*"]);
        map.insert("serviceaccounts:delete", vec!["serviceaccounts:*"]);
        map.insert(
            "serviceaccounts.permissions:read",
            vec!["serviceaccounts:*"],
        );
        map.insert(
            "serviceaccounts.permissions:write",
            vec!["serviceaccounts:*"],
        );
        if !version.legacy_keys_removed() {
            map.insert("apikeys:read", vec!["apikeys:*"]);
            map.insert("apikeys:create", vec![]);
            map.insert("apikeys:delete", vec!["apikeys:*"]);
        }
    }
    map
}

/// The actions Grafana's fixed roles bundle (the subset the simulated endpoints check).
fn fixed_role_permissions(
    role: FixedRole,
    version: GrafanaVersion,
) -> Vec<(&'static str, Vec<&'static str>)> {
    let all_accounts = vec!["serviceaccounts:*"];
    match role {
        FixedRole::ServiceAccountsReader => vec![("serviceaccounts:read", all_accounts)],
        FixedRole::ServiceAccountsCreator => vec![("serviceaccounts:create", vec![])],
        FixedRole::ServiceAccountsWriter => vec![
            ("serviceaccounts:read", all_accounts.clone()),
            ("serviceaccounts:create", vec![]),
            ("serviceaccounts:write", all_accounts.clone()),
            ("serviceaccounts:delete", all_accounts.clone()),
            ("serviceaccounts.permissions:read", all_accounts.clone()),
            ("serviceaccounts.permissions:write", all_accounts),
        ],
        // The apikeys actions and fixed roles were removed with the key endpoints in 12.1.
        FixedRole::ApiKeysReader | FixedRole::ApiKeysWriter if version.legacy_keys_removed() => {
            vec![]
        }
        FixedRole::ApiKeysReader => vec![("apikeys:read", vec!["apikeys:*"])],
        FixedRole::ApiKeysWriter => vec![
            ("apikeys:read", vec!["apikeys:*"]),
            ("apikeys:create", vec![]),
            ("apikeys:delete", vec!["apikeys:*"]),
        ],
    }
}

fn requested_org(parts: &Parts) -> Option<i64> {
    let from_header = parts
        .headers
        .get("X-Grafana-Org-Id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let from_query = parts.uri.query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "targetOrgId").then(|| value.parse::<i64>().ok())?
        })
    });
    from_query.or(from_header).filter(|org| *org > 0)
}

enum Presented {
    Credential(String),
    User { login: String, password: String },
    Nothing,
}

fn presented(parts: &Parts) -> Presented {
    let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return Presented::Nothing;
    };
    let value = value.trim();
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return Presented::Credential(token.trim().to_string());
    }
    if let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        && let Ok(decoded) = STANDARD.decode(encoded.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((login, password)) = text.split_once(':')
    {
        if login == "api_key" {
            return Presented::Credential(password.to_string());
        }
        return Presented::User {
            login: login.to_string(),
            password: password.to_string(),
        };
    }
    Presented::Nothing
}

fn unauthenticated() -> Response<Body> {
    // UNCONFIRMED in the reference (messageId and text); what the authn service's generic
    // failure looks like.
    reply::auth_error("auth.unauthorized", "Unauthorized")
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = Response<Body>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let Some(instance) = parts.extensions.get::<InstanceContext>().cloned() else {
            return Err(reply::not_found());
        };
        let requested = requested_org(parts);
        match presented(parts) {
            Presented::Nothing => Err(unauthenticated()),
            Presented::Credential(token) => {
                let outcome = state
                    .authenticate_credential(&instance.id, &token)
                    .map_err(|_| reply::not_found())?;
                let identity = match outcome {
                    Ok(identity) => identity,
                    Err(CredentialRejection::Malformed) => {
                        return Err(reply::auth_error("api-key.invalid", "Invalid API key"));
                    }
                    Err(CredentialRejection::Invalid) => {
                        return Err(if instance.version.unknown_token_is_errutil() {
                            reply::auth_error("api-key.invalid", "Invalid API key")
                        } else {
                            reply::legacy_traced(
                                axum::http::StatusCode::UNAUTHORIZED,
                                "Unauthorized",
                            )
                        });
                    }
                    Err(CredentialRejection::Expired) => {
                        return Err(reply::auth_error("api-key.expired", "Expired API key"));
                    }
                    Err(CredentialRejection::Revoked) => {
                        return Err(reply::auth_error("api-key.revoked", "Revoked API key"));
                    }
                    Err(CredentialRejection::Disabled) => {
                        return Err(reply::auth_error("identity.disabled", "Unauthorized"));
                    }
                };
                if requested.is_some_and(|org| org != identity.org_id) {
                    return Err(reply::auth_error(
                        "api-key.organization-mismatch",
                        "API key does not belong to the requested organization",
                    ));
                }
                Ok(Caller {
                    instance: instance.id,
                    version: instance.version,
                    org_id: identity.org_id,
                    role: identity.role,
                    fixed_roles: Vec::new(),
                    principal: match identity.service_account {
                        Some(account) => Principal::ServiceAccount(account),
                        None => Principal::ApiKey,
                    },
                })
            }
            Presented::User { login, password } => {
                let user = state
                    .authenticate_user(&instance.id, &login, &password)
                    .map_err(|_| reply::not_found())?
                    .ok_or_else(|| {
                        reply::auth_error("password-auth.failed", "Invalid username or password")
                    })?;
                // A user acts in the requested org if a member, else in their first org.
                // Not a member of the requested org: UNCONFIRMED answer, a generic 401.
                let org_id = match requested {
                    Some(org) if user.roles.contains_key(&org) => org,
                    Some(_) => return Err(unauthenticated()),
                    None => *user.roles.keys().next().ok_or_else(unauthenticated)?,
                };
                let role = user.roles.get(&org_id).copied().unwrap_or(Role::None);
                let fixed_roles = user.fixed_roles.get(&org_id).cloned().unwrap_or_default();
                Ok(Caller {
                    instance: instance.id,
                    version: instance.version,
                    org_id,
                    role,
                    fixed_roles,
                    principal: Principal::User(user),
                })
            }
        }
    }
}
