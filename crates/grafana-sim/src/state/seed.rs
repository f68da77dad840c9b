//! Building the initial world from a fleet file: validation, seeded credentials, start-up
//! migration.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;

use super::rows::{
    CredentialFormat, CredentialRow, FixedRole, Folder, Instance, Org, Role, SeededSecret, User,
    WorkspaceRecord,
};
use super::views::NewServiceAccount;
use super::{DEFAULT_ORG_ID, StateError, World, new_uid};
use crate::credentials::{
    HashCache, legacy_key_string, random_secret, service_account_token_string, token_checksum,
};
use crate::fleet::{FleetError, FleetSpec, WorkspaceKind, WorkspaceSpec, resolve_time};

impl World {
    pub(super) fn build(
        fleet: &FleetSpec,
        now: DateTime<Utc>,
        rng: &mut StdRng,
        hashes: &HashCache,
    ) -> Result<Self, FleetError> {
        let mut world = World {
            order: Vec::new(),
            instances: BTreeMap::new(),
            seeded_secrets: Vec::new(),
        };
        for spec in &fleet.workspaces {
            validate_workspace_id(spec)?;
            if world.instances.contains_key(&spec.id) {
                return Err(FleetError::DuplicateWorkspace(spec.id.clone()));
            }
            let instance = Instance::build(spec, now, rng, hashes, &mut world.seeded_secrets)?;
            world.order.push(spec.id.clone());
            world.instances.insert(spec.id.clone(), instance);
        }
        Ok(world)
    }
}

fn validate_workspace_id(spec: &WorkspaceSpec) -> Result<(), FleetError> {
    let id = spec.id.as_str();
    let valid = match spec.kind {
        WorkspaceKind::Amg => {
            id.len() == 12
                && id.starts_with("g-")
                && id
                    .chars()
                    .skip(2)
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        }
        WorkspaceKind::SelfHosted => {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
    };
    if valid {
        Ok(())
    } else {
        Err(FleetError::InvalidWorkspaceId(id.to_string()))
    }
}

/// The fleet's secret for a credential when it is 32 characters of `[0-9A-Za-z]`, else one
/// drawn from the seeded generator when the fleet gives none.
fn seeded_secret(
    given: &Option<String>,
    rng: &mut StdRng,
    workspace: &str,
) -> Result<String, FleetError> {
    match given {
        Some(secret) if secret.len() == 32 && secret.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Ok(secret.clone())
        }
        Some(_) => Err(FleetError::InvalidSecret(workspace.to_string())),
        None => Ok(random_secret(rng)),
    }
}

impl Instance {
    pub(super) fn build(
        spec: &WorkspaceSpec,
        now: DateTime<Utc>,
        rng: &mut StdRng,
        hashes: &HashCache,
        seeded: &mut Vec<SeededSecret>,
    ) -> Result<Self, FleetError> {
        let time = |text: &Option<String>| -> Result<Option<DateTime<Utc>>, FleetError> {
            match text {
                Some(text) => resolve_time(text, now),
                None => Ok(None),
            }
        };
        let mut orgs: BTreeMap<i64, Org> = spec
            .orgs
            .iter()
            .map(|org| {
                (
                    org.id,
                    Org {
                        id: org.id,
                        name: org.name.clone(),
                    },
                )
            })
            .collect();
        if orgs.is_empty() {
            orgs.insert(
                DEFAULT_ORG_ID,
                Org {
                    id: DEFAULT_ORG_ID,
                    name: "Main Org.".to_string(),
                },
            );
        }
        let created = now - Duration::days(90);
        let mut instance = Instance {
            record: WorkspaceRecord {
                id: spec.id.clone(),
                kind: spec.kind,
                region: spec
                    .region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_string()),
                name: spec.name.clone().unwrap_or_else(|| spec.id.clone()),
                description: spec.description.clone(),
                status: spec.status.clone().unwrap_or_else(|| "ACTIVE".to_string()),
                tags: spec.tags.clone(),
                created,
                modified: created,
            },
            version: spec.version,
            version_label: if spec.kind == WorkspaceKind::Amg {
                format!("{}.{}", spec.version.major, spec.version.minor)
            } else {
                spec.version.to_string()
            },
            settings: spec.settings.clone(),
            orgs,
            users: Vec::new(),
            service_accounts: BTreeMap::new(),
            credentials: BTreeMap::new(),
            folders: Vec::new(),
            hidden_api_key_orgs: BTreeSet::new(),
            next_user_id: 1,
            next_credential_id: 1,
            next_folder_id: 1,
        };
        let unknown_org = |org_id: i64| FleetError::UnknownOrg {
            workspace: spec.id.clone(),
            org_id,
        };
        for user in &spec.users {
            let mut roles = BTreeMap::new();
            for (org, role) in &user.roles {
                let org_id: i64 = org.parse().map_err(|_| unknown_org(-1))?;
                if !instance.orgs.contains_key(&org_id) {
                    return Err(unknown_org(org_id));
                }
                let role = Role::parse(role).ok_or_else(|| FleetError::InvalidRole {
                    workspace: spec.id.clone(),
                    role: role.clone(),
                })?;
                roles.insert(org_id, role);
            }
            let mut fixed_roles = BTreeMap::new();
            for (org, names) in &user.fixed_roles {
                let org_id: i64 = org.parse().map_err(|_| unknown_org(-1))?;
                if !instance.orgs.contains_key(&org_id) {
                    return Err(unknown_org(org_id));
                }
                let granted = names
                    .iter()
                    .map(|name| {
                        FixedRole::parse(name).ok_or_else(|| FleetError::InvalidRole {
                            workspace: spec.id.clone(),
                            role: name.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                fixed_roles.insert(org_id, granted);
            }
            let id = instance.next_user_id;
            instance.next_user_id += 1;
            instance.users.push(User {
                id,
                login: user.login.clone(),
                email: user
                    .email
                    .clone()
                    .unwrap_or_else(|| format!("{}@example.invalid", user.login)),
                password: user.password.clone(),
                is_grafana_admin: user.is_grafana_admin,
                roles,
                fixed_roles,
                created,
            });
        }
        for folder in &spec.folders {
            if !instance.orgs.contains_key(&folder.org_id) {
                return Err(unknown_org(folder.org_id));
            }
            let id = instance.next_folder_id;
            instance.next_folder_id += 1;
            instance.folders.push(Folder {
                id,
                uid: folder.uid.clone(),
                title: folder.title.clone(),
                org_id: folder.org_id,
            });
        }
        let invalid_role = |role: &str| FleetError::InvalidRole {
            workspace: spec.id.clone(),
            role: role.to_string(),
        };
        let duplicate = |org_id: i64, name: &str| FleetError::DuplicateCredentialName {
            workspace: spec.id.clone(),
            org_id,
            name: name.to_string(),
        };
        let mut migrate_ids = Vec::new();
        for key in &spec.api_keys {
            if !instance.orgs.contains_key(&key.org_id) {
                return Err(unknown_org(key.org_id));
            }
            let secret = seeded_secret(&key.secret, rng, &spec.id)?;
            let role = Role::parse(&key.role).ok_or_else(|| invalid_role(&key.role))?;
            instance
                .require_free_credential_name(key.org_id, &key.name)
                .map_err(|_| duplicate(key.org_id, &key.name))?;
            let hash = hashes.encode_issued(&secret, &key.name);
            let id = instance.insert_credential(CredentialRow {
                role,
                expires: time(&key.expires)?,
                last_used_at: time(&key.last_used)?,
                ..CredentialRow::issued(
                    key.org_id,
                    &key.name,
                    hash,
                    CredentialFormat::LegacyKey,
                    created,
                )
            });
            seeded.push(SeededSecret {
                workspace: spec.id.clone(),
                org_id: key.org_id,
                kind: "apiKey",
                name: key.name.clone(),
                id,
                key: legacy_key_string(&secret, &key.name, key.org_id),
            });
            if key.migrated {
                migrate_ids.push((key.org_id, id));
            }
        }
        for account in &spec.service_accounts {
            let role = match &account.role {
                Some(role) => Role::parse(role).ok_or_else(|| invalid_role(role))?,
                None => Role::Viewer,
            };
            let uid = new_uid(rng);
            let view = instance
                .create_service_account(
                    account.org_id,
                    NewServiceAccount {
                        name: account.name.clone(),
                        role,
                        is_disabled: account.is_disabled,
                    },
                    uid,
                    created,
                )
                .map_err(|error| match error {
                    StateError::OrgNotFound(org_id) => unknown_org(org_id),
                    _ => FleetError::DuplicateServiceAccount {
                        workspace: spec.id.clone(),
                        login: account.name.clone(),
                    },
                })?;
            for token in &account.tokens {
                let secret = seeded_secret(&token.secret, rng, &spec.id)?;
                instance
                    .require_free_credential_name(account.org_id, &token.name)
                    .map_err(|_| duplicate(account.org_id, &token.name))?;
                let hash = hashes.encode_issued(&secret, &token_checksum(&secret));
                let issued_at = time(&token.created)?.unwrap_or(created);
                let id = instance.insert_credential(CredentialRow {
                    expires: time(&token.expires)?,
                    last_used_at: time(&token.last_used)?,
                    service_account_id: Some(view.row.id),
                    is_revoked: token.revoked,
                    ..CredentialRow::issued(
                        account.org_id,
                        &token.name,
                        hash,
                        CredentialFormat::ServiceAccountToken,
                        issued_at,
                    )
                });
                seeded.push(SeededSecret {
                    workspace: spec.id.clone(),
                    org_id: account.org_id,
                    kind: "serviceAccountToken",
                    name: token.name.clone(),
                    id,
                    key: service_account_token_string(&secret),
                });
            }
        }
        for (org_id, key_id) in migrate_ids {
            let uid = new_uid(rng);
            instance
                .migrate_key(org_id, key_id, uid, created)
                .map_err(|_| FleetError::DuplicateServiceAccount {
                    workspace: spec.id.clone(),
                    login: format!("sa-autogen-{org_id}"),
                })?;
        }
        let auto_migrate = instance
            .settings
            .auto_migrate_on_start
            .unwrap_or(instance.version.auto_migrates_on_start());
        if auto_migrate {
            let org_ids: Vec<i64> = instance.orgs.keys().copied().collect();
            for org_id in org_ids {
                let plain: Vec<i64> = instance.plain_key_ids(org_id);
                let uids: Vec<String> = plain.iter().map(|_| new_uid(rng)).collect();
                instance.migrate_all(org_id, uids, now);
            }
        }
        Ok(instance)
    }
}
