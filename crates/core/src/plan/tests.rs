use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::model::{
    GrafanaVersion, LegacyApiKey, MigrationMode, Policy, Role, ServiceAccount, ServiceAccountToken,
    WorkspaceRef,
};
use crate::model::{ModeOverride, RolePolicy};
use crate::naming::{ADMIN_ACCOUNT_NAME, NamePattern};
use crate::ports::SecretVersionInfo;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

fn workspace() -> WorkspaceRef {
    WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap()
}

fn version(text: &str) -> GrafanaVersion {
    text.parse().unwrap()
}

fn key(id: i64, name: &str, role: Role, expires_in_days: Option<i64>) -> LegacyApiKey {
    LegacyApiKey {
        id,
        name: name.to_owned(),
        role,
        expiration: expires_in_days.map(|days| now() + Duration::days(days)),
        last_used_at: None,
    }
}

fn account(id: i64, name: &str, role: Role) -> ServiceAccount {
    ServiceAccount {
        id,
        uid: None,
        name: name.to_owned(),
        login: format!("sa-{name}"),
        org_id: 1,
        role,
        is_disabled: false,
        tokens: 0,
    }
}

/// A token created `age_days` ago expiring in `expires_in_days` (None = never).
fn token(id: i64, name: &str, age_days: i64, expires_in_days: Option<i64>) -> ServiceAccountToken {
    ServiceAccountToken {
        id,
        name: name.to_owned(),
        created: now() - Duration::days(age_days),
        expiration: expires_in_days.map(|days| now() + Duration::days(days)),
        last_used_at: None,
        has_expired: expires_in_days.is_some_and(|days| days <= 0),
        is_revoked: false,
    }
}

fn keyshift_token(
    id: i64,
    execution: &str,
    account_name: &str,
    age_days: i64,
    expires_in_days: i64,
) -> ServiceAccountToken {
    token(
        id,
        &Policy::default().token_name_for(execution, account_name),
        age_days,
        Some(expires_in_days),
    )
}

fn entry(account: ServiceAccount, tokens: Vec<ServiceAccountToken>) -> AccountInventory {
    AccountInventory { account, tokens }
}

fn managed(account_name: &str, current: Option<i64>, previous: Option<i64>) -> ManagedSecretState {
    ManagedSecretState {
        secret_id: format!("keyshift/g-0123456789/1/{account_name}/token"),
        service_account_name: account_name.to_owned(),
        current_token_id: current,
        previous_token_id: previous,
        pending_token_id: None,
        stored_token_ids: [current, previous].into_iter().flatten().collect(),
        ..ManagedSecretState::default()
    }
}

fn inventory(
    grafana: &str,
    legacy_keys: Vec<LegacyApiKey>,
    accounts: Vec<AccountInventory>,
    managed_secrets: Vec<ManagedSecretState>,
) -> Inventory {
    Inventory {
        workspace: workspace(),
        version: version(grafana),
        legacy_keys,
        accounts,
        managed_secrets,
    }
}

/// An inventory of one keyshift-managed account, id 3, named `keyshift-ci`, with `tokens`.
fn ci_inventory(
    grafana: &str,
    tokens: Vec<ServiceAccountToken>,
    managed_secrets: Vec<ManagedSecretState>,
) -> Inventory {
    let owner = account(3, "keyshift-ci", Role::Editor);
    inventory(grafana, vec![], vec![entry(owner, tokens)], managed_secrets)
}

fn plan(inventory: &Inventory) -> Plan {
    compute_plan(inventory, &Policy::default(), now()).unwrap()
}

fn revoked_ids(revocations: &[TokenRevocation]) -> Vec<(i64, RevocationReason)> {
    let mut ids: Vec<(i64, RevocationReason)> = revocations
        .iter()
        .map(|item| (item.token_id, item.reason))
        .collect();
    ids.sort_by_key(|(id, _)| *id);
    ids
}

#[test]
fn live_keys_are_migrated_in_place_on_every_version_with_key_endpoints() {
    for grafana in ["9.4.7", "10.4.1", "11.3.0", "11.5.2", "11.6.0", "12.0.2"] {
        let result = plan(&inventory(
            grafana,
            vec![key(4, "ci-deploy", Role::Editor, Some(60))],
            vec![],
            vec![],
        ));
        assert_eq!(result.credentials.len(), 1, "{grafana}");
        let credential = &result.credentials[0];
        assert_eq!(
            credential.action,
            CredentialAction::MigrateKey {
                key_id: 4,
                key_name: "ci-deploy".into(),
                mode: MigrationMode::InPlace
            },
            "{grafana}"
        );
        assert_eq!(credential.service_account.name, "sa-autogen-ci-deploy");
        assert_eq!(credential.service_account.id, None);
        assert_eq!(credential.service_account.role, Role::Editor);
        assert_eq!(
            credential.secret_id,
            "keyshift/g-0123456789/1/sa-autogen-ci-deploy/token"
        );
        assert_eq!(credential.token_ttl_seconds, 2_592_000);
        assert_eq!(
            revoked_ids(&credential.revocations),
            vec![(4, RevocationReason::MigratedLegacyKey)]
        );
        assert!(credential.legacy_key_deletions.is_empty());
        assert!(credential.why.contains("in place"), "{}", credential.why);
    }
}

#[test]
fn versions_without_key_endpoints_ignore_listed_keys() {
    let result = plan(&inventory(
        "12.1.0",
        vec![key(4, "ci-deploy", Role::Editor, Some(60))],
        vec![],
        vec![],
    ));
    assert!(result.credentials.is_empty());
    assert!(result.expired_keys.is_empty());
}

#[test]
fn grafana_without_service_accounts_is_refused() {
    for grafana in ["8.4.0", "9.0.9"] {
        let error = compute_plan(
            &inventory(grafana, vec![], vec![], vec![]),
            &Policy::default(),
            now(),
        )
        .unwrap_err();
        assert_eq!(error.asl_name(), "Grafana.UnsupportedVersion", "{grafana}");
    }
}

#[test]
fn invalid_policy_is_refused_before_planning() {
    let policy = Policy {
        max_tokens_per_account: 1,
        ..Policy::default()
    };
    let error =
        compute_plan(&inventory("10.4.1", vec![], vec![], vec![]), &policy, now()).unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
}

#[test]
fn expired_keys_are_only_cleaned_up() {
    let result = plan(&inventory(
        "10.4.1",
        vec![
            key(1, "old", Role::Admin, Some(-3)),
            key(2, "fresh", Role::Viewer, None),
        ],
        vec![],
        vec![],
    ));
    assert_eq!(result.expired_keys.len(), 1);
    assert_eq!(result.expired_keys[0].key_id, 1);
    assert_eq!(result.expired_keys[0].reason, RevocationReason::Expired);
    assert_eq!(result.credentials.len(), 1);
    assert_eq!(
        result.credentials[0].service_account.name,
        "sa-autogen-fresh"
    );
    assert!(result.has_work());
}

#[test]
fn excluded_keys_and_their_autogen_accounts_are_untouched() {
    let policy = Policy {
        exclude: vec![NamePattern::new("break-glass*").unwrap()],
        ..Policy::default()
    };
    let input = inventory(
        "11.6.0",
        vec![
            key(1, "break-glass-1", Role::Admin, None),
            key(2, "break-glass-expired", Role::Admin, Some(-1)),
        ],
        vec![entry(
            account(9, "sa-autogen-break-glass-2", Role::Admin),
            vec![token(30, "break-glass-2", 100, None)],
        )],
        vec![],
    );
    let result = compute_plan(&input, &policy, now()).unwrap();
    assert!(result.credentials.is_empty());
    assert!(
        result.expired_keys.is_empty(),
        "excluded wins over expired clean-up"
    );
    let excluded: Vec<(&str, Option<i64>, Option<i64>)> = result
        .excluded_keys
        .iter()
        .map(|item| (item.key_name.as_str(), item.key_id, item.service_account_id))
        .collect();
    assert_eq!(
        excluded,
        vec![
            ("break-glass-1", Some(1), None),
            ("break-glass-expired", Some(2), None),
            ("break-glass-2", None, Some(9))
        ]
    );
    assert!(
        result
            .excluded_keys
            .iter()
            .all(|item| item.pattern == "break-glass*")
    );
}

#[test]
fn recreate_mode_makes_a_named_account_and_deletes_the_key_later() {
    let policy = Policy {
        mode_overrides: vec![ModeOverride {
            pattern: NamePattern::new("tf-*").unwrap(),
            mode: MigrationMode::Recreate,
        }],
        ..Policy::default()
    };
    let input = inventory(
        "10.4.1",
        vec![
            key(7, "tf-prod", Role::Editor, None),
            key(8, "dash", Role::Viewer, None),
        ],
        vec![],
        vec![],
    );
    let result = compute_plan(&input, &policy, now()).unwrap();
    let recreate = result
        .credentials
        .iter()
        .find(|item| item.service_account.name == "keyshift-tf-prod")
        .unwrap();
    assert_eq!(
        recreate.action,
        CredentialAction::MigrateKey {
            key_id: 7,
            key_name: "tf-prod".into(),
            mode: MigrationMode::Recreate
        }
    );
    assert!(recreate.revocations.is_empty());
    assert_eq!(recreate.legacy_key_deletions.len(), 1);
    assert_eq!(recreate.legacy_key_deletions[0].key_id, 7);
    assert_eq!(
        recreate.legacy_key_deletions[0].reason,
        RevocationReason::MigratedLegacyKey
    );
    let in_place = result
        .credentials
        .iter()
        .find(|item| item.service_account.name == "sa-autogen-dash")
        .unwrap();
    assert!(matches!(
        in_place.action,
        CredentialAction::MigrateKey {
            mode: MigrationMode::InPlace,
            ..
        }
    ));
}

#[test]
fn roles_are_capped_by_policy_and_explained() {
    let input = inventory(
        "10.4.1",
        vec![key(1, "admin-key", Role::Admin, None)],
        vec![],
        vec![],
    );
    let capped = plan(&input);
    let target = &capped.credentials[0].service_account;
    assert_eq!(
        (target.role, target.requested_role),
        (Role::Editor, Role::Admin)
    );
    assert!(
        capped.credentials[0].why.contains("capped to Editor"),
        "{}",
        capped.credentials[0].why
    );

    let allowing = Policy {
        roles: RolePolicy {
            max_role: Role::Admin,
        },
        ..Policy::default()
    };
    let uncapped = compute_plan(&input, &allowing, now()).unwrap();
    assert_eq!(uncapped.credentials[0].service_account.role, Role::Admin);
    assert!(!uncapped.credentials[0].why.contains("capped"));
}

#[test]
fn autogen_accounts_are_taken_over_and_their_migrated_key_retired() {
    let input = inventory(
        "11.6.0",
        vec![],
        vec![
            entry(
                account(5, "sa-autogen-ci", Role::Admin),
                vec![token(40, "ci", 300, None)],
            ),
            entry(
                account(6, "sa-autogen-dead", Role::Viewer),
                vec![token(41, "dead", 300, Some(-10))],
            ),
        ],
        vec![],
    );
    let result = plan(&input);
    assert_eq!(result.credentials.len(), 1);
    let takeover = &result.credentials[0];
    assert_eq!(
        takeover.action,
        CredentialAction::TakeOver {
            service_account_id: 5
        }
    );
    assert_eq!(takeover.service_account.id, Some(5));
    assert_eq!(takeover.service_account.role, Role::Editor);
    assert_eq!(
        revoked_ids(&takeover.revocations),
        vec![(40, RevocationReason::MigratedLegacyKey)]
    );
    assert_eq!(result.ignored_accounts.len(), 1);
    assert_eq!(result.ignored_accounts[0].service_account_id, 6);
}

#[test]
fn rotation_is_due_only_for_the_documented_reasons() {
    // (current token: age days, expires in days; None = no current token) -> expected reason
    /// Age in days and expiry in days (None = never) of the current token.
    type CurrentToken = Option<(i64, Option<i64>)>;
    let table: [(&str, CurrentToken, Option<RotationReason>); 8] = [
        ("fresh", Some((5, Some(25))), None),
        ("expires in 8 days", Some((22, Some(8))), None),
        (
            "expires in 7 days",
            Some((23, Some(7))),
            Some(RotationReason::ExpiresSoon),
        ),
        (
            "expires in 2 days",
            Some((10, Some(2))),
            Some(RotationReason::ExpiresSoon),
        ),
        (
            "older than max age",
            Some((26, Some(20))),
            Some(RotationReason::TooOld),
        ),
        (
            "never expires",
            Some((1, None)),
            Some(RotationReason::NoExpiry),
        ),
        (
            "current expired",
            Some((40, Some(-1))),
            Some(RotationReason::AccountHasNoLiveToken),
        ),
        (
            "no current token",
            None,
            Some(RotationReason::AccountHasNoLiveToken),
        ),
    ];
    for (case, current, expected) in table {
        let name = "keyshift-ci";
        let tokens: Vec<ServiceAccountToken> = current
            .map(|(age, expires)| {
                token(
                    100,
                    &Policy::default().token_name_for("run-a", name),
                    age,
                    expires,
                )
            })
            .into_iter()
            .collect();
        let current_id = current.map(|_| 100);
        let input = ci_inventory("12.1.0", tokens, vec![managed(name, current_id, None)]);
        let result = plan(&input);
        match expected {
            Some(reason) => {
                assert_eq!(result.credentials.len(), 1, "{case}");
                assert_eq!(
                    result.credentials[0].action,
                    CredentialAction::Rotate {
                        service_account_id: 3,
                        reason
                    },
                    "{case}"
                );
                assert_eq!(
                    result.credentials[0].secret_id, "keyshift/g-0123456789/1/keyshift-ci/token",
                    "{case}"
                );
                assert!(result.up_to_date.is_empty(), "{case}");
            }
            None => {
                assert!(result.credentials.is_empty(), "{case}");
                assert_eq!(result.up_to_date.len(), 1, "{case}");
                assert!(
                    result.up_to_date[0].why.contains("not due"),
                    "{case}: {}",
                    result.up_to_date[0].why
                );
            }
        }
    }
}

#[test]
fn recreated_accounts_without_a_secret_get_a_token() {
    let input = inventory(
        "10.4.1",
        vec![],
        vec![entry(account(3, "keyshift-ci", Role::Editor), vec![])],
        vec![],
    );
    let result = plan(&input);
    assert_eq!(
        result.credentials[0].action,
        CredentialAction::Rotate {
            service_account_id: 3,
            reason: RotationReason::AccountHasNoLiveToken
        }
    );
}

#[test]
fn rotation_never_revokes_the_current_token_and_supersedes_the_previous() {
    let name = "keyshift-ci";
    let input = ci_inventory(
        "11.5.2",
        vec![
            keyshift_token(10, "run-1", name, 50, -20), // expired
            keyshift_token(11, "run-2", name, 48, 2),   // AWSPREVIOUS
            keyshift_token(12, "run-3", name, 24, 6),   // AWSCURRENT, expires soon
            keyshift_token(13, "run-4", name, 1, 29),   // minted, never stored
            token(14, "made-by-hand", 3, None),         // not keyshift's
        ],
        vec![managed(name, Some(12), Some(11))],
    );
    let result = plan(&input);
    let credential = &result.credentials[0];
    assert!(matches!(
        credential.action,
        CredentialAction::Rotate {
            reason: RotationReason::ExpiresSoon,
            ..
        }
    ));
    assert_eq!(
        revoked_ids(&credential.revocations),
        vec![
            (10, RevocationReason::Expired),
            (11, RevocationReason::Superseded),
            (13, RevocationReason::Orphan),
        ]
    );
    assert!(
        credential
            .revocations
            .iter()
            .all(|item| item.service_account_id == Some(3))
    );
}

#[test]
fn accounts_not_due_only_get_cleanups_that_spare_current_and_previous() {
    let name = "keyshift-ci";
    let mut state = managed(name, Some(12), Some(11));
    state.stored_token_ids.insert(9);
    let input = ci_inventory(
        "12.1.0",
        vec![
            keyshift_token(9, "run-0", name, 40, 2), // stored long ago, unlabelled now
            keyshift_token(10, "run-1", name, 50, -20), // expired
            keyshift_token(11, "run-2", name, 20, 10), // AWSPREVIOUS
            keyshift_token(12, "run-3", name, 2, 28), // AWSCURRENT
            keyshift_token(13, "run-4", name, 1, 29), // orphan
            token(14, "made-by-hand", 3, None),
        ],
        vec![state],
    );
    let result = plan(&input);
    assert!(result.credentials.is_empty());
    assert_eq!(
        revoked_ids(&result.token_cleanups),
        vec![
            (9, RevocationReason::Superseded),
            (10, RevocationReason::Expired),
            (13, RevocationReason::Orphan),
        ]
    );
    assert!(result.has_work());
}

#[test]
fn pending_tokens_of_a_rotation_in_flight_are_protected() {
    let name = "keyshift-ci";
    let mut state = managed(name, Some(12), None);
    state.pending_token_id = Some(13);
    let input = ci_inventory(
        "10.4.1",
        vec![
            keyshift_token(12, "run-3", name, 2, 28),
            keyshift_token(13, "run-4", name, 0, 30),
        ],
        vec![state],
    );
    let result = plan(&input);
    assert!(
        result.token_cleanups.is_empty(),
        "{:?}",
        result.token_cleanups
    );
}

#[test]
fn max_tokens_per_account_keeps_extra_newest_tokens() {
    let name = "keyshift-ci";
    let tokens = vec![
        keyshift_token(20, "run-1", name, 9, 21),
        keyshift_token(21, "run-2", name, 6, 24),
        keyshift_token(22, "run-3", name, 3, 27),
        keyshift_token(23, "run-4", name, 1, 29),
    ];
    let mut state = managed(name, Some(23), Some(22));
    state.stored_token_ids.extend([20, 21]);
    let input = ci_inventory("10.4.1", tokens, vec![state]);
    let default_cleanup = revoked_ids(&plan(&input).token_cleanups);
    assert_eq!(
        default_cleanup,
        vec![
            (20, RevocationReason::Superseded),
            (21, RevocationReason::Superseded)
        ]
    );
    let roomy = Policy {
        max_tokens_per_account: 3,
        ..Policy::default()
    };
    let roomy_cleanup = revoked_ids(&compute_plan(&input, &roomy, now()).unwrap().token_cleanups);
    assert_eq!(
        roomy_cleanup,
        vec![(20, RevocationReason::Superseded)],
        "the newest extra token (21) is kept"
    );
}

#[test]
fn orphans_are_revoked_even_when_there_is_room() {
    let name = "keyshift-ci";
    let input = ci_inventory(
        "10.4.1",
        vec![
            keyshift_token(22, "run-3", name, 3, 27),
            keyshift_token(23, "run-4", name, 1, 29),
        ],
        vec![managed(name, Some(22), None)],
    );
    let roomy = Policy {
        max_tokens_per_account: 5,
        ..Policy::default()
    };
    let cleanup = revoked_ids(&compute_plan(&input, &roomy, now()).unwrap().token_cleanups);
    assert_eq!(cleanup, vec![(23, RevocationReason::Orphan)]);
}

#[test]
fn a_half_done_recreate_reuses_the_account_and_retires_its_orphans() {
    let policy = Policy {
        migration_mode: MigrationMode::Recreate,
        ..Policy::default()
    };
    let name = "keyshift-ci";
    let input = inventory(
        "10.4.1",
        vec![key(1, "ci", Role::Editor, None)],
        vec![entry(
            account(3, name, Role::Editor),
            vec![keyshift_token(30, "run-1", name, 0, 30)],
        )],
        vec![],
    );
    let result = compute_plan(&input, &policy, now()).unwrap();
    assert_eq!(
        result.credentials.len(),
        1,
        "the account is not planned twice"
    );
    let credential = &result.credentials[0];
    assert_eq!(credential.service_account.id, Some(3));
    assert_eq!(
        revoked_ids(&credential.revocations),
        vec![(30, RevocationReason::Orphan)]
    );
}

#[test]
fn bootstrap_credentials_disabled_and_foreign_accounts_are_left_alone() {
    let mut disabled = account(4, "keyshift-old", Role::Editor);
    disabled.is_disabled = true;
    let input = inventory(
        "10.4.1",
        vec![key(1, "keyshift-bootstrap-run-1", Role::Admin, Some(1))],
        vec![
            entry(
                account(2, "keyshift-bootstrap", Role::Admin),
                vec![token(5, "keyshift-bootstrap-run-1", 0, Some(1))],
            ),
            entry(disabled, vec![]),
            entry(
                account(6, "grafana-oncall", Role::Editor),
                vec![token(7, "oncall", 10, None)],
            ),
        ],
        vec![],
    );
    let result = plan(&input);
    assert!(result.credentials.is_empty());
    assert!(result.token_cleanups.is_empty());
    let ignored: Vec<i64> = result
        .ignored_accounts
        .iter()
        .map(|note| note.service_account_id)
        .collect();
    assert_eq!(ignored, vec![6, 4]);
    assert!(!result.has_work());
}

#[test]
fn plans_are_deterministic_and_round_trip_as_json() {
    let keys = vec![
        key(3, "zeta", Role::Viewer, None),
        key(1, "alpha", Role::Editor, None),
        key(2, "mid", Role::Admin, Some(-1)),
    ];
    let mut reversed = keys.clone();
    reversed.reverse();
    let first = plan(&inventory("10.4.1", keys, vec![], vec![]));
    let second = plan(&inventory("10.4.1", reversed, vec![], vec![]));
    assert_eq!(first, second);
    let names: Vec<&str> = first
        .credentials
        .iter()
        .map(|item| item.service_account.name.as_str())
        .collect();
    assert_eq!(names, vec!["sa-autogen-alpha", "sa-autogen-zeta"]);
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["credentials"][0]["action"]["kind"], "migrateKey");
    assert_eq!(json["credentials"][0]["action"]["mode"], "in-place");
    assert_eq!(json["gracePeriodSeconds"], 86_400);
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, first);
}

#[test]
fn revoke_time_selection_protects_the_promoted_token() {
    let name = "keyshift-ci";
    let owner = account(3, name, Role::Editor);
    let tokens = vec![
        keyshift_token(11, "run-2", name, 20, 10),
        keyshift_token(12, "run-3", name, 2, 28),
        keyshift_token(13, "run-4", name, 0, 30),
    ];
    // After run-4 promoted token 13: AWSCURRENT = 13, AWSPREVIOUS = 12.
    let protected = BTreeSet::from([13, 12]);
    let stored = BTreeSet::from([11, 12, 13]);
    let chosen = select_revocations(
        RevocationRequest {
            account: &owner,
            tokens: &tokens,
            protected: &protected,
            stored: &stored,
            expected_new_tokens: 0,
            retire_migrated_keys: true,
        },
        &Policy::default(),
        now(),
    );
    assert_eq!(
        revoked_ids(&chosen),
        vec![(11, RevocationReason::Superseded)]
    );
}

#[test]
fn managed_state_reads_labels_from_versions() {
    let version = |id: &str, stages: &[&str]| SecretVersionInfo {
        version_id: id.to_owned(),
        stages: stages.iter().map(|stage| (*stage).to_owned()).collect(),
        created: None,
    };
    let current = version("v3", &["AWSCURRENT"]);
    let previous = version("v2", &["AWSPREVIOUS"]);
    let old = version("v1", &[]);
    let pending = version("v4", &["AWSPENDING"]);
    let state = ManagedSecretState::from_versions(
        "s",
        "keyshift-ci",
        [(&current, 30), (&previous, 20), (&old, 10), (&pending, 40)],
    );
    assert_eq!(state.current_token_id, Some(30));
    assert_eq!(state.current_version_id.as_deref(), Some("v3"));
    assert_eq!(state.previous_token_id, Some(20));
    assert_eq!(state.pending_token_id, Some(40));
    assert_eq!(state.stored_token_ids, BTreeSet::from([10, 20, 30, 40]));
    assert_eq!(state.protected_token_ids(), BTreeSet::from([20, 30, 40]));

    let finished = version("v5", &["AWSCURRENT", "AWSPENDING"]);
    let state = ManagedSecretState::from_versions("s", "keyshift-ci", [(&finished, 50)]);
    assert_eq!(
        (state.current_token_id, state.pending_token_id),
        (Some(50), None)
    );

    let missing = ManagedSecretState::from_versions("s", "keyshift-ci", []);
    assert_eq!(missing.current_version_id, None);
    assert!(missing.protected_token_ids().is_empty() && missing.stored_token_ids.is_empty());
}

#[test]
fn the_adopted_admin_secret_keeps_admin_and_any_other_keyshift_admin_is_capped() {
    // A year-old token is due under the default policy, whose role cap is Editor.
    let due = |id| keyshift_token(id, "ks-adopt", ADMIN_ACCOUNT_NAME, 365, 30);
    let admin = || account(9, ADMIN_ACCOUNT_NAME, Role::Admin);
    let adopted = |secret_id: &str| ManagedSecretState {
        secret_id: secret_id.to_owned(),
        ..managed(ADMIN_ACCOUNT_NAME, Some(41), None)
    };
    let self_hosted =
        WorkspaceRef::self_hosted("https://grafana.example.com", "grafana/admin", 1).unwrap();
    let mut planned = Vec::new();
    for (workspace, secret_id, expected) in [
        (self_hosted.clone(), "grafana/admin", Role::Admin),
        (
            self_hosted,
            "keyshift/elsewhere/keyshift-admin",
            Role::Editor,
        ),
        (workspace(), "grafana/admin", Role::Editor),
    ] {
        let inventory = Inventory {
            workspace,
            ..inventory(
                "11.5.2",
                vec![],
                vec![entry(admin(), vec![due(41)])],
                vec![adopted(secret_id)],
            )
        };
        let plan = plan(&inventory);
        let [credential] = plan.credentials.as_slice() else {
            panic!("{secret_id}: one rotation expected: {:?}", plan.credentials);
        };
        assert_eq!(credential.secret_id, secret_id);
        assert_eq!(credential.service_account.role, expected, "{secret_id}");
        planned.push(credential.service_account.role);
    }
    assert_eq!(planned.len(), 3);
}

#[test]
fn a_key_migrated_again_into_a_managed_account_spares_its_current_token() {
    // A recreate whose key deletion never happened: the account exists, its secret holds the
    // older token 29 as AWSCURRENT and once held the newer 31 (a promotion that did not
    // stick); 30 was never stored. With room for two live tokens, the new one and
    // AWSCURRENT, 31 is superseded and 30 an orphan; AWSCURRENT stays whatever its age.
    let policy = Policy {
        migration_mode: MigrationMode::Recreate,
        max_tokens_per_account: 2,
        ..Policy::default()
    };
    let name = "keyshift-ci";
    let mut secret = managed(name, Some(29), None);
    secret.stored_token_ids.insert(31);
    let input = inventory(
        "10.4.1",
        vec![key(1, "ci", Role::Editor, None)],
        vec![entry(
            account(3, name, Role::Editor),
            vec![
                keyshift_token(29, "run-1", name, 20, 10),
                keyshift_token(30, "run-2", name, 10, 20),
                keyshift_token(31, "run-3", name, 2, 28),
            ],
        )],
        vec![secret],
    );
    let result = compute_plan(&input, &policy, now()).unwrap();
    assert_eq!(result.credentials.len(), 1);
    assert_eq!(
        revoked_ids(&result.credentials[0].revocations),
        vec![
            (30, RevocationReason::Orphan),
            (31, RevocationReason::Superseded)
        ]
    );
}
