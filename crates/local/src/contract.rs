//! The secret-store contract: the Secrets Manager rules keyshift's rotation relies on, as a
//! suite any [`SecretStore`] must pass.
//!
//! The in-memory store and the Secrets Manager adapter (against moto) both run exactly these
//! functions, so the local runs and the tests cannot drift from AWS's staging-label
//! semantics. Each case takes a fresh secret name (callers make it unique, e.g. per test) and
//! reports the first broken rule as a [`ContractViolation`] instead of panicking, so it can
//! live in library code.

use std::collections::BTreeMap;
use std::fmt::Debug;

use keyshift_core::error::KeyshiftError;
use keyshift_core::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription, SecretStore, StageUpdate,
    VersionSelector,
};
use keyshift_core::secret::SecretString;
use uuid::Uuid;

/// A rule of the contract the store under test broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret-store contract violated in {case}: {what}")]
pub struct ContractViolation {
    /// The contract case.
    pub case: &'static str,
    /// What was expected and what happened.
    pub what: String,
}

/// Result of one contract case.
pub type ContractResult = Result<(), ContractViolation>;

/// Every case with its name, so a caller can run them one by one (one test each) or all.
pub const CASES: &[&str] = &[
    "first_version_becomes_current",
    "put_pending_is_idempotent",
    "same_token_different_value_is_rejected",
    "promote_moves_previous",
    "promote_from_one_description",
    "move_requires_naming_the_current_holder",
    "pending_left_behind_is_visible",
    "missing_things_are_not_found",
    "tagged_secrets_are_listed",
];

struct Case {
    name: &'static str,
}

impl Case {
    fn fail(&self, what: impl Into<String>) -> ContractViolation {
        ContractViolation {
            case: self.name,
            what: what.into(),
        }
    }

    fn check(&self, condition: bool, what: impl FnOnce() -> String) -> ContractResult {
        if condition {
            Ok(())
        } else {
            Err(self.fail(what()))
        }
    }

    fn equal<T: PartialEq + Debug>(&self, actual: T, expected: T, what: &str) -> ContractResult {
        self.check(actual == expected, || {
            format!("{what}: expected {expected:?}, got {actual:?}")
        })
    }

    fn ok<T>(&self, result: Result<T, KeyshiftError>, step: &str) -> Result<T, ContractViolation> {
        result.map_err(|error| self.fail(format!("{step} failed: {error} ({})", error.asl_name())))
    }

    fn fails_with<T: Debug>(
        &self,
        result: Result<T, KeyshiftError>,
        asl_name: &str,
        step: &str,
    ) -> ContractResult {
        match result {
            Err(error) if error.asl_name() == asl_name => Ok(()),
            Err(error) => Err(self.fail(format!(
                "{step}: expected {asl_name}, got {} ({error})",
                error.asl_name()
            ))),
            Ok(value) => Err(self.fail(format!("{step}: expected {asl_name}, got Ok({value:?})"))),
        }
    }
}

/// A fresh ClientRequestToken (36 characters, inside Secrets Manager's 32..=64).
pub fn new_request_token() -> String {
    Uuid::new_v4().to_string()
}

fn value(text: &str) -> SecretString {
    SecretString::new(format!(r#"{{"token":"{text}"}}"#))
}

/// Sorted labels of a version, empty when the version is absent or deprecated.
fn labels_of(description: &SecretDescription, version_id: &str) -> Vec<String> {
    let mut labels: Vec<String> = description
        .versions
        .iter()
        .find(|version| version.version_id == version_id)
        .map(|version| version.stages.clone())
        .unwrap_or_default();
    labels.sort();
    labels
}

fn labels(names: &[&str]) -> Vec<String> {
    let mut labels: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    labels.sort();
    labels
}

async fn fresh_secret(
    case: &Case,
    store: &dyn SecretStore,
    name: &str,
) -> Result<String, ContractViolation> {
    let tags = BTreeMap::from([("keyshift:managed".to_owned(), "true".to_owned())]);
    case.ok(
        store
            .ensure_secret(name, "keyshift contract test", &tags)
            .await,
        "ensure_secret",
    )
}

/// The first version written gets AWSCURRENT besides the AWSPENDING asked for, and can be
/// read by label and by id.
pub async fn first_version_becomes_current(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "first_version_becomes_current",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let empty = case.ok(store.describe(&secret).await, "describe new secret")?;
    case.check(empty.versions.is_empty(), || {
        format!("a new secret has no versions, got {:?}", empty.versions)
    })?;
    case.fails_with(
        store.get(&secret, &VersionSelector::current()).await,
        "Secret.NotFound",
        "get AWSCURRENT of an empty secret",
    )?;
    let token = new_request_token();
    let version = case.ok(
        store.put_pending(&secret, &token, &value("one")).await,
        "put_pending",
    )?;
    case.equal(
        version.as_str(),
        token.as_str(),
        "version id is the request token",
    )?;
    let described = case.ok(store.describe(&secret).await, "describe")?;
    case.equal(
        labels_of(&described, &token),
        labels(&[AWSCURRENT, AWSPENDING]),
        "labels of the first version",
    )?;
    case.equal(described.unpromoted_pending(), None, "nothing unpromoted")?;
    let current = case.ok(
        store.get(&secret, &VersionSelector::current()).await,
        "get AWSCURRENT",
    )?;
    case.equal(
        current.version_id.as_str(),
        token.as_str(),
        "AWSCURRENT version",
    )?;
    case.check(current.value == value("one"), || {
        "AWSCURRENT value differs".to_owned()
    })?;
    let by_id = case.ok(
        store
            .get(&secret, &VersionSelector::Id(token.clone()))
            .await,
        "get by version id",
    )?;
    case.check(by_id.value == value("one"), || {
        "value by id differs".to_owned()
    })?;
    let mut by_id_labels = by_id.stages.clone();
    by_id_labels.sort();
    case.equal(
        by_id_labels,
        labels(&[AWSCURRENT, AWSPENDING]),
        "labels read by id",
    )?;
    Ok(())
}

/// Writing the same token and value again changes nothing (a retried store step).
pub async fn put_pending_is_idempotent(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "put_pending_is_idempotent",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let first = new_request_token();
    case.ok(
        store.put_pending(&secret, &first, &value("one")).await,
        "put v1",
    )?;
    let second = new_request_token();
    case.ok(
        store.put_pending(&secret, &second, &value("two")).await,
        "put v2",
    )?;
    let before = case.ok(store.describe(&secret).await, "describe before retry")?;
    let again = case.ok(
        store.put_pending(&secret, &second, &value("two")).await,
        "retry put v2",
    )?;
    case.equal(
        again.as_str(),
        second.as_str(),
        "retry returns the same version",
    )?;
    let after = case.ok(store.describe(&secret).await, "describe after retry")?;
    for version in [&first, &second] {
        case.equal(
            labels_of(&after, version),
            labels_of(&before, version),
            "labels unchanged by the retry",
        )?;
    }
    case.equal(
        labels_of(&after, &first),
        labels(&[AWSCURRENT]),
        "v1 labels",
    )?;
    case.equal(
        labels_of(&after, &second),
        labels(&[AWSPENDING]),
        "v2 labels",
    )?;
    Ok(())
}

/// Versions are immutable: the same token with another value is refused and nothing changes.
pub async fn same_token_different_value_is_rejected(
    store: &dyn SecretStore,
    name: &str,
) -> ContractResult {
    let case = Case {
        name: "same_token_different_value_is_rejected",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let token = new_request_token();
    case.ok(
        store.put_pending(&secret, &token, &value("one")).await,
        "put",
    )?;
    case.fails_with(
        store.put_pending(&secret, &token, &value("other")).await,
        "Secret.VersionConflict",
        "reuse token with another value",
    )?;
    let stored = case.ok(
        store
            .get(&secret, &VersionSelector::Id(token.clone()))
            .await,
        "get by id",
    )?;
    case.check(stored.value == value("one"), || {
        "the original value was overwritten".to_owned()
    })
}

/// Promoting moves AWSCURRENT and puts AWSPREVIOUS on the version it left, every time.
pub async fn promote_moves_previous(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "promote_moves_previous",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let mut versions = Vec::new();
    for (round, text) in ["one", "two", "three"].iter().enumerate() {
        let token = new_request_token();
        case.ok(
            store.put_pending(&secret, &token, &value(text)).await,
            "put_pending",
        )?;
        if round > 0 {
            let staged = case.ok(store.describe(&secret).await, "describe staged")?;
            case.equal(
                staged.unpromoted_pending(),
                Some(token.as_str()),
                "staged version is pending, not current",
            )?;
            let previous_current = versions.last().cloned();
            case.ok(
                store
                    .update_stage(
                        &secret,
                        &StageUpdate::moving(AWSCURRENT, &token, previous_current.as_deref()),
                    )
                    .await,
                "move AWSCURRENT",
            )?;
        }
        case.ok(
            store
                .update_stage(&secret, &StageUpdate::removing(AWSPENDING, &token))
                .await,
            "remove AWSPENDING",
        )?;
        versions.push(token);
    }
    let described = case.ok(store.describe(&secret).await, "describe")?;
    case.equal(
        labels_of(&described, &versions[2]),
        labels(&[AWSCURRENT]),
        "newest",
    )?;
    case.equal(
        labels_of(&described, &versions[1]),
        labels(&[AWSPREVIOUS]),
        "middle",
    )?;
    case.equal(
        labels_of(&described, &versions[0]),
        labels(&[]),
        "oldest is unlabelled",
    )?;
    let previous = case.ok(
        store
            .get(&secret, &VersionSelector::Stage(AWSPREVIOUS.to_owned()))
            .await,
        "get AWSPREVIOUS",
    )?;
    case.check(previous.value == value("two"), || {
        "AWSPREVIOUS value differs".to_owned()
    })?;
    case.fails_with(
        store.get(&secret, &VersionSelector::pending()).await,
        "Secret.NotFound",
        "get AWSPENDING after promotion",
    )
}

/// [`SecretStore::promote`] judged against one DescribeSecret gives the same labels as the
/// separate moves: the first version loses AWSPENDING, a later one takes AWSCURRENT (its old
/// holder becoming AWSPREVIOUS), and promoting again from a fresh description changes nothing.
pub async fn promote_from_one_description(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "promote_from_one_description",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let first = new_request_token();
    case.ok(
        store.put_pending(&secret, &first, &value("one")).await,
        "put v1",
    )?;
    let described = case.ok(store.describe(&secret).await, "describe v1")?;
    case.ok(
        store.promote(&secret, &first, &described).await,
        "promote v1",
    )?;
    let promoted = case.ok(store.describe(&secret).await, "describe after v1")?;
    case.equal(labels_of(&promoted, &first), labels(&[AWSCURRENT]), "v1")?;

    let second = new_request_token();
    case.ok(
        store.put_pending(&secret, &second, &value("two")).await,
        "put v2",
    )?;
    let described = case.ok(store.describe(&secret).await, "describe v2")?;
    case.ok(
        store.promote(&secret, &second, &described).await,
        "promote v2",
    )?;
    let promoted = case.ok(store.describe(&secret).await, "describe after v2")?;
    case.equal(labels_of(&promoted, &second), labels(&[AWSCURRENT]), "v2")?;
    case.equal(
        labels_of(&promoted, &first),
        labels(&[AWSPREVIOUS]),
        "v1 after v2",
    )?;

    case.ok(
        store.promote(&secret, &second, &promoted).await,
        "promote v2 again",
    )?;
    let again = case.ok(store.describe(&secret).await, "describe after re-promote")?;
    case.equal(
        (labels_of(&again, &first), labels_of(&again, &second)),
        (labels_of(&promoted, &first), labels_of(&promoted, &second)),
        "a repeated promotion changes nothing",
    )
}

/// A label cannot be taken from a version that is not named as its holder; re-running a
/// completed promotion is a harmless no-op.
pub async fn move_requires_naming_the_current_holder(
    store: &dyn SecretStore,
    name: &str,
) -> ContractResult {
    let case = Case {
        name: "move_requires_naming_the_current_holder",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let first = new_request_token();
    case.ok(
        store.put_pending(&secret, &first, &value("one")).await,
        "put v1",
    )?;
    case.ok(
        store
            .update_stage(&secret, &StageUpdate::removing(AWSPENDING, &first))
            .await,
        "unstage v1",
    )?;
    let second = new_request_token();
    case.ok(
        store.put_pending(&secret, &second, &value("two")).await,
        "put v2",
    )?;
    let before = case.ok(store.describe(&secret).await, "describe")?;

    case.fails_with(
        store
            .update_stage(&secret, &StageUpdate::moving(AWSCURRENT, &second, None))
            .await,
        "Input.Invalid",
        "move AWSCURRENT without naming its holder",
    )?;
    case.fails_with(
        store
            .update_stage(
                &secret,
                &StageUpdate::moving(AWSCURRENT, &second, Some(&second)),
            )
            .await,
        "Input.Invalid",
        "move AWSCURRENT naming the wrong holder",
    )?;
    case.fails_with(
        store
            .update_stage(&secret, &StageUpdate::removing(AWSPENDING, &first))
            .await,
        "Input.Invalid",
        "remove AWSPENDING from a version without it",
    )?;
    let unchanged = case.ok(store.describe(&secret).await, "describe after refusals")?;
    for version in [&first, &second] {
        case.equal(
            labels_of(&unchanged, version),
            labels_of(&before, version),
            "refused moves change nothing",
        )?;
    }

    case.ok(
        store
            .update_stage(
                &secret,
                &StageUpdate::moving(AWSCURRENT, &second, Some(&first)),
            )
            .await,
        "promote",
    )?;
    let promoted = case.ok(store.describe(&secret).await, "describe after promote")?;
    case.ok(
        store
            .update_stage(
                &secret,
                &StageUpdate::moving(AWSCURRENT, &second, Some(&first)),
            )
            .await,
        "promote again",
    )?;
    let again = case.ok(store.describe(&secret).await, "describe after re-promote")?;
    for version in [&first, &second] {
        case.equal(
            labels_of(&again, version),
            labels_of(&promoted, version),
            "a repeated promotion changes nothing",
        )?;
    }
    case.equal(
        labels_of(&again, &first),
        labels(&[AWSPREVIOUS]),
        "v1 labels",
    )?;
    case.equal(
        labels_of(&again, &second),
        labels(&[AWSCURRENT, AWSPENDING]),
        "v2 labels",
    )
}

/// An AWSPENDING written by another execution and never promoted is visible as such (the
/// store step refuses on it), and a new write takes the label over rather than duplicating it.
pub async fn pending_left_behind_is_visible(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "pending_left_behind_is_visible",
    };
    let secret = fresh_secret(&case, store, name).await?;
    let current = new_request_token();
    case.ok(
        store
            .put_pending(&secret, &current, &value("current"))
            .await,
        "put v1",
    )?;
    case.ok(
        store
            .update_stage(&secret, &StageUpdate::removing(AWSPENDING, &current))
            .await,
        "unstage v1",
    )?;
    let described = case.ok(store.describe(&secret).await, "describe settled")?;
    case.equal(
        described.unpromoted_pending(),
        None,
        "nothing pending when settled",
    )?;

    let abandoned = new_request_token();
    case.ok(
        store
            .put_pending(&secret, &abandoned, &value("abandoned"))
            .await,
        "execution A stages",
    )?;
    let left_behind = case.ok(store.describe(&secret).await, "describe left behind")?;
    case.equal(
        left_behind.unpromoted_pending(),
        Some(abandoned.as_str()),
        "execution A's version is seen as unpromoted pending",
    )?;
    case.equal(
        left_behind.version_with_stage(AWSCURRENT),
        Some(current.as_str()),
        "AWSCURRENT untouched by staging",
    )?;
    let pending = case.ok(
        store.get(&secret, &VersionSelector::pending()).await,
        "get AWSPENDING",
    )?;
    case.check(pending.value == value("abandoned"), || {
        "pending value differs".to_owned()
    })?;

    let takeover = new_request_token();
    case.ok(
        store
            .put_pending(&secret, &takeover, &value("takeover"))
            .await,
        "execution B stages",
    )?;
    let after = case.ok(store.describe(&secret).await, "describe after takeover")?;
    case.equal(
        labels_of(&after, &abandoned),
        labels(&[]),
        "A's version lost AWSPENDING",
    )?;
    case.equal(
        labels_of(&after, &takeover),
        labels(&[AWSPENDING]),
        "B holds AWSPENDING",
    )?;
    case.equal(
        labels_of(&after, &current),
        labels(&[AWSCURRENT]),
        "AWSCURRENT untouched",
    )
}

/// Absent secrets, stages and versions are reported as `Secret.NotFound`; ensuring an
/// existing secret returns the same identity.
pub async fn missing_things_are_not_found(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "missing_things_are_not_found",
    };
    let unknown = format!("{name}-never-created");
    case.fails_with(
        store.describe(&unknown).await,
        "Secret.NotFound",
        "describe unknown",
    )?;
    case.fails_with(
        store.get(&unknown, &VersionSelector::current()).await,
        "Secret.NotFound",
        "get from unknown secret",
    )?;
    let secret = fresh_secret(&case, store, name).await?;
    let again = fresh_secret(&case, store, name).await?;
    case.equal(
        again.as_str(),
        secret.as_str(),
        "ensure_secret is idempotent",
    )?;
    let token = new_request_token();
    case.ok(
        store.put_pending(&secret, &token, &value("one")).await,
        "put",
    )?;
    case.ok(
        store
            .update_stage(&secret, &StageUpdate::removing(AWSPENDING, &token))
            .await,
        "unstage",
    )?;
    case.fails_with(
        store.get(&secret, &VersionSelector::pending()).await,
        "Secret.NotFound",
        "get absent stage",
    )?;
    case.fails_with(
        store
            .get(&secret, &VersionSelector::Id(new_request_token()))
            .await,
        "Secret.NotFound",
        "get absent version",
    )?;
    let by_name = case.ok(store.describe(name).await, "describe by name")?;
    case.equal(by_name.name.as_str(), name, "described name")
}

/// ListSecrets by tag finds exactly the secrets carrying that tag with that exact value (not
/// a prefix of it, not another tag's), what `keyshift status` relies on to find a workspace's
/// managed secrets.
pub async fn tagged_secrets_are_listed(store: &dyn SecretStore, name: &str) -> ContractResult {
    let case = Case {
        name: "tagged_secrets_are_listed",
    };
    let key = "keyshift:contract";
    let value = format!("{name}-workspace");
    let tagged = |value: &str| BTreeMap::from([(key.to_owned(), value.to_owned())]);
    let first = format!("{name}/a");
    let second = format!("{name}/b");
    case.ok(
        store
            .ensure_secret(&second, "contract", &tagged(&value))
            .await,
        "create second",
    )?;
    case.ok(
        store
            .ensure_secret(&first, "contract", &tagged(&value))
            .await,
        "create first",
    )?;
    case.ok(
        store
            .ensure_secret(
                &format!("{name}/longer"),
                "contract",
                &tagged(&format!("{value}-2")),
            )
            .await,
        "create a secret whose value only starts the same",
    )?;
    let other_tag = BTreeMap::from([("other".to_owned(), value.clone())]);
    case.ok(
        store
            .ensure_secret(&format!("{name}/other-key"), "contract", &other_tag)
            .await,
        "create a secret with the value under another key",
    )?;
    let listed = case.ok(store.list_tagged(key, &value).await, "list tagged")?;
    case.equal(
        listed,
        vec![first, second],
        "secrets listed, sorted by name",
    )?;
    let none = case.ok(
        store.list_tagged(key, &format!("{name}-nobody")).await,
        "list an unused tag value",
    )?;
    case.equal(
        none,
        Vec::<String>::new(),
        "secrets listed for an unused value",
    )
}

/// Runs one case by name; secret names are `{prefix}-{case}-{random}` so runs never collide.
pub async fn run_case(store: &dyn SecretStore, case: &str, prefix: &str) -> ContractResult {
    let name = format!("{prefix}-{case}-{}", &new_request_token()[..8]);
    match case {
        "first_version_becomes_current" => first_version_becomes_current(store, &name).await,
        "put_pending_is_idempotent" => put_pending_is_idempotent(store, &name).await,
        "same_token_different_value_is_rejected" => {
            same_token_different_value_is_rejected(store, &name).await
        }
        "promote_moves_previous" => promote_moves_previous(store, &name).await,
        "promote_from_one_description" => promote_from_one_description(store, &name).await,
        "move_requires_naming_the_current_holder" => {
            move_requires_naming_the_current_holder(store, &name).await
        }
        "pending_left_behind_is_visible" => pending_left_behind_is_visible(store, &name).await,
        "missing_things_are_not_found" => missing_things_are_not_found(store, &name).await,
        "tagged_secrets_are_listed" => tagged_secrets_are_listed(store, &name).await,
        other => Err(ContractViolation {
            case: "run_case",
            what: format!("no contract case named {other}"),
        }),
    }
}

/// Runs every case, collecting all violations rather than stopping at the first.
pub async fn run_all(store: &dyn SecretStore, prefix: &str) -> Vec<ContractViolation> {
    let mut violations = Vec::new();
    for case in CASES {
        if let Err(violation) = run_case(store, case, prefix).await {
            violations.push(violation);
        }
    }
    violations
}

/// Declares one `#[tokio::test]` per contract case, each awaiting `$run("<case>")`, and a test
/// that the declared cases are exactly [`CASES`]: every store's test file gets a failure named
/// by case without repeating the list, and a new case cannot be left untested on one store.
/// The calling crate needs `tokio` (with its test macro) as a dev-dependency.
#[macro_export]
macro_rules! secret_store_contract_tests {
    (@cases $run:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $run(stringify!($case)).await;
            }
        )+

        #[test]
        fn every_contract_case_has_a_test_here() {
            assert_eq!($crate::contract::CASES, &[$(stringify!($case)),+]);
        }
    };
    ($run:path) => {
        $crate::secret_store_contract_tests!(@cases $run;
            first_version_becomes_current,
            put_pending_is_idempotent,
            same_token_different_value_is_rejected,
            promote_moves_previous,
            promote_from_one_description,
            move_requires_naming_the_current_holder,
            pending_left_behind_is_visible,
            missing_things_are_not_found,
            tagged_secrets_are_listed,
        );
    };
}
