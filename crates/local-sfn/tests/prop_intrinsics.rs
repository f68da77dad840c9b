//! Property tests of intrinsic functions, parsed where the engine parses them (a definition's
//! `.$` keys) and evaluated by running the definition: any expression is a definition or a
//! named [`DefinitionError`], and any evaluation on any input succeeds or fails the execution
//! with a `States.*` error, never a panic.

use std::cell::Cell;
use std::sync::Arc;

use local_sfn::{Engine, ExecutionStatus, StartOptions, VirtualClock};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

const FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
    "States.Nope",
];

/// One argument: literals of every kind (numbers at the i64 and f64 bounds, quoted text with
/// escapes and placeholders), paths into the input and the context, or a nested call.
fn expression() -> impl Strategy<Value = String> {
    let literal = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "0",
            "-1",
            "1.5",
            "1e400",
            "-0",
            "9223372036854775808",
            "null",
            "true",
            "'{}'",
            "'{} {}'",
            "'\\{'",
            "'\\''",
            "'a,b'",
            "''",
            "'[1,2]'",
            "'{\"a\":1}'",
            "'SHA-256'",
            "'MD5'",
            "'bm90IGJhc2U2NA=='",
            "'!!'",
            "'",
        ])
        .prop_map(str::to_owned),
        "'[a-z{}\\\\, ]{0,8}'",
        prop::sample::select(vec![
            "$",
            "$.a",
            "$.list",
            "$.text",
            "$.n",
            "$$.Execution.Id",
            "$.a[0]",
            "$.missing",
            "$[*]"
        ])
        .prop_map(str::to_owned),
    ];
    literal.prop_recursive(3, 24, 4, |inner| {
        (
            prop::sample::select(FUNCTIONS),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(function, args)| format!("{function}({})", args.join(", ")))
    })
}

/// Any expression, or text that is nearly one (cut short, unbalanced, stray characters).
fn expression_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => expression(),
        1 => (expression(), any::<prop::sample::Index>())
            .prop_map(|(text, cut)| text.chars().take(cut.index(text.len() + 1)).collect()),
        1 => "States\\.[A-Za-z]{0,8}\\([\\[\\]'$.,() 0-9a-z\\\\]{0,16}",
    ]
}

fn input() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        "[a-z,{} ]{0,6}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(inner, 0..5).prop_map(Value::Array)
    });
    prop::collection::vec(
        (prop::sample::select(vec!["a", "list", "text", "n"]), value),
        0..4,
    )
    .prop_map(|members| {
        Value::Object(
            members
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect::<Map<_, _>>(),
        )
    })
}

const CASES: u32 = 2_000;

#[test]
fn any_intrinsic_is_a_definition_error_or_a_named_outcome() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let (cases, refused, succeeded, failed) = (
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
    );
    runner
        .run(&(expression_text(), input()), |(text, input)| {
            cases.set(cases.get() + 1);
            let definition = json!({
                "StartAt": "Eval",
                "States": {"Eval": {"Type": "Pass", "Parameters": {"r.$": text}, "End": true}}
            });
            let engine = match Engine::from_value(&definition) {
                Ok(engine) => engine,
                Err(error) => {
                    prop_assert!(!error.to_string().trim().is_empty());
                    refused.set(refused.get() + 1);
                    return Ok(());
                }
            };
            let engine = engine.with_clock(Arc::new(VirtualClock::starting_now()));
            let result = runtime.block_on(engine.start("prop", input, StartOptions::default()));
            match result.status {
                ExecutionStatus::Succeeded => succeeded.set(succeeded.get() + 1),
                ExecutionStatus::Failed => {
                    let error = result.error.clone().unwrap_or_default();
                    prop_assert!(error.starts_with("States."), "{}: {:?}", text, result.cause);
                    failed.set(failed.get() + 1);
                }
                other => prop_assert!(false, "{}: {:?}", text, other),
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), CASES);
    // Every outcome was reached, so no branch of the property is vacuous.
    for (outcome, count) in [
        ("refused", &refused),
        ("succeeded", &succeeded),
        ("failed", &failed),
    ] {
        assert!(count.get() > CASES / 50, "only {} {outcome}", count.get());
    }
}
