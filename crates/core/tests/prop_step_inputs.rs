//! Property tests of every step's input as the one invocation path reads it
//! ([`keyshift_core::invocation::invoke`]): whatever JSON arrives, parsing and the public
//! validation of what parsed never panic, and every refusal is `Input.Invalid` with a sentence.
//!
//! Two generators: arbitrary JSON whose keys come from the steps' own field names (so the
//! derived and hand-written deserialisers are reached, not just the first "missing field"),
//! and a valid discover-keys payload with one to four of its members replaced by hostile
//! values (huge, negative, fractional, deep, long, wrongly typed) or removed.

use std::cell::Cell;

use keyshift_core::fleet::FleetStartEvent;
use keyshift_core::invocation::{StepFailure, invoke};
use keyshift_core::naming::validate_execution_name;
use keyshift_core::steps::RollbackInput;
use keyshift_core::steps::io::{
    CreateSaInput, DiscoverInput, DlqReplayInput, ExecutionInput, MintTokenInput, PromoteInput,
    RevokeOldInput, StageInput, StoreSecretInput, VerifyInput,
};
use keyshift_core::{KeyshiftError, Result};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Field names and tag values the step inputs use, so generated objects look like payloads.
const VOCABULARY: &[&str] = &[
    "executionName",
    "workspace",
    "policy",
    "kind",
    "selfHosted",
    "amg",
    "url",
    "adminSecretId",
    "workspaceId",
    "region",
    "orgId",
    "secretName",
    "assumeRole",
    "roleArn",
    "externalId",
    "grafanaUrl",
    "bootstrap",
    "selfHostedSecret",
    "amgServiceAccountToken",
    "sealed",
    "gracePeriodSeconds",
    "credential",
    "action",
    "stage",
    "promote",
    "scope",
    "workspace",
    "tokenTtl",
    "rotateBefore",
    "maxAge",
    "gracePeriod",
    "maxTokensPerAccount",
    "exclude",
    "migrationMode",
    "modeOverrides",
    "accountNameTemplate",
    "tokenNameTemplate",
    "secretNameTemplate",
    "roles",
    "revokeWhenUnusedFor",
    "maxGracePeriod",
    "pattern",
    "mode",
    "batch",
    "dryRun",
    "time",
    "workspaces",
    "accounts",
    "token",
    "secretId",
    "versionId",
    "serviceAccountId",
    "tokenId",
    "tokenName",
    "role",
    "Admin",
    "Viewer",
    "in-place",
    "recreate",
];

/// Scalars chosen to break parsers: bounds of every integer width, fractions, exponents,
/// templates with unbalanced braces, durations with absurd units, and plain text.
fn hostile_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(u32::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(-1e300),
            json!(0.5),
            json!("1e400"),
            json!(""),
            json!("{"),
            json!("}{"),
            json!("{workspace"),
            json!("{unknown}"),
            json!("99999999999999999999d"),
            json!("-5s"),
            json!("1.5h"),
            json!("P1D"),
            json!("ftp://x"),
            json!("https://u:p@x"),
            json!("http://10.0.0.1"),
            json!("g-0123456789"),
            json!("arn:aws:iam::1:role/x"),
        ]),
        prop::sample::select(VOCABULARY).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ]
}

/// JSON nested a few levels, keys mostly from [`VOCABULARY`].
fn payload_like() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "[a-zA-Z.$]{0,12}",
    ];
    hostile_scalar().prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A discover-keys payload every step of the chain accepts.
fn valid_discover_input() -> Value {
    json!({
        "executionName": "ks-prop-1",
        "workspace": {
            "kind": "selfHosted",
            "url": "https://grafana.example.com/sub",
            "adminSecretId": "grafana/admin",
            "orgId": 1,
            "secretName": "ops-grafana"
        },
        "policy": {
            "tokenTtl": "90d",
            "rotateBefore": "14d",
            "maxAge": "180d",
            "gracePeriod": "1h",
            "maxTokensPerAccount": 5,
            "migrationMode": "in-place",
            "exclude": ["keep-*"]
        }
    })
}

/// Every path to a member or element of `value`, outermost first.
fn member_paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    let children: Vec<(Value, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i), v))
            .collect(),
        _ => return,
    };
    for (step, child) in children {
        prefix.push(step);
        out.push(prefix.clone());
        member_paths(child, prefix, out);
        prefix.pop();
    }
}

/// Replaces (or, for `None`, removes) the member at `path`.
fn mutate(document: &mut Value, path: &[Value], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cursor = document;
    for step in parents {
        // An earlier mutation may have removed or replaced the way there: nothing to do.
        let next = match (cursor, step) {
            (Value::Object(map), Value::String(key)) => map.get_mut(key),
            (Value::Array(items), Value::Number(index)) => index
                .as_u64()
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| items.get_mut(index)),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        cursor = next;
    }
    match (cursor, last, replacement) {
        (Value::Object(map), Value::String(key), Some(value)) => {
            map.insert(key.clone(), value);
        }
        (Value::Object(map), Value::String(key), None) => {
            map.remove(key);
        }
        (Value::Array(items), Value::Number(index), value) => {
            let Some(index) = index
                .as_u64()
                .and_then(|index| usize::try_from(index).ok())
                .filter(|index| *index < items.len())
            else {
                return;
            };
            match value {
                Some(value) => items[index] = value,
                None => {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// Parses `payload` as `I` the way every Lambda and the local engine do; a refusal must be
/// `Input.Invalid` with a message that names the payload and no Rust type.
fn parse<I: DeserializeOwned>(payload: Value) -> Option<I> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut parsed = None;
    let outcome = runtime.block_on(invoke(
        |input: I| {
            parsed = Some(input);
            async { Ok::<_, KeyshiftError>(()) }
        },
        payload,
    ));
    match outcome {
        Ok(_) => parsed,
        Err(failure) => {
            assert_named(&failure);
            None
        }
    }
}

fn assert_named(failure: &StepFailure) {
    assert_eq!(failure.error, "Input.Invalid", "{failure:?}");
    assert!(!failure.message.trim().is_empty(), "{failure:?}");
    assert!(!failure.message.contains("keyshift_core::"), "{failure:?}");
}

/// A validation result must be a pass or `Input.Invalid` with a sentence.
fn assert_validated(result: Result<()>) {
    if let Err(error) = result {
        assert_eq!(error.asl_name(), "Input.Invalid", "{error}");
        assert!(!error.to_string().trim().is_empty());
    }
}

/// Parses as every step's input type, validating what the public API can validate.
fn parse_as_every_input(payload: &Value) -> usize {
    let mut accepted = 0;
    if let Some(input) = parse::<DiscoverInput>(payload.clone()) {
        assert_validated(validate_execution_name(&input.execution_name));
        assert_validated(input.workspace.validate());
        assert_validated(input.policy.validate());
        accepted += 1;
    }
    if let Some(input) = parse::<ExecutionInput>(payload.clone()) {
        assert_validated(input.workspace.validate());
        assert_validated(input.policy.validate());
        accepted += 1;
    }
    accepted += usize::from(parse::<CreateSaInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<MintTokenInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<StageInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<VerifyInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<PromoteInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<StoreSecretInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<RevokeOldInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<DlqReplayInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<RollbackInput>(payload.clone()).is_some());
    accepted += usize::from(parse::<FleetStartEvent>(payload.clone()).is_some());
    accepted
}

const ARBITRARY_CASES: u32 = 1_000;
const MUTATED_CASES: u32 = 1_000;

#[test]
fn arbitrary_payloads_never_panic_and_are_refused_by_name() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(ARBITRARY_CASES));
    let cases = Cell::new(0u32);
    runner
        .run(&payload_like(), |payload| {
            cases.set(cases.get() + 1);
            parse_as_every_input(&payload);
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), ARBITRARY_CASES);
}

#[test]
fn mutated_valid_payloads_never_panic_and_are_refused_by_name() {
    let seed = valid_discover_input();
    // The seed itself is accepted and valid, so the mutations start from a working payload.
    let parsed: DiscoverInput = serde_json::from_value(seed.clone()).unwrap();
    parsed.workspace.validate().unwrap();
    parsed.policy.validate().unwrap();

    let mut paths = Vec::new();
    member_paths(&seed, &mut Vec::new(), &mut paths);
    let mutation = (0..paths.len(), prop::option::weighted(0.85, payload_like()));
    let strategy = prop::collection::vec(mutation, 1..5);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(MUTATED_CASES));
    let (cases, still_parsed, refused) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&strategy, |mutations| {
            let mut payload = seed.clone();
            for (index, replacement) in mutations {
                mutate(&mut payload, &paths[index], replacement);
            }
            cases.set(cases.get() + 1);
            match parse::<DiscoverInput>(payload.clone()) {
                Some(input) => {
                    still_parsed.set(still_parsed.get() + 1);
                    assert_validated(validate_execution_name(&input.execution_name));
                    assert_validated(input.workspace.validate());
                    assert_validated(input.policy.validate());
                }
                None => refused.set(refused.get() + 1),
            }
            parse_as_every_input(&payload);
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), MUTATED_CASES);
    // Both branches were exercised, so the property is not vacuous on either side.
    let (still_parsed, refused) = (still_parsed.get(), refused.get());
    assert!(
        still_parsed > 0 && refused > 0,
        "{still_parsed} parsed, {refused} refused"
    );
}
