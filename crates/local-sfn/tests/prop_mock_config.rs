//! Property tests of the MockConfigFile loader: any config either loads or is a named
//! [`MockError`], and a loaded case answers the first invocation exactly as its response says
//! (the Return value, the Throw error, or `LocalSfn.MockExhausted` when no range covers it).

use std::cell::Cell;
use std::sync::Arc;

use local_sfn::{Engine, ExecutionStatus, MockTestCase, VirtualClock};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

/// Keys of a response: indices, ranges (reversed, open, huge, padded) and non-numbers.
fn range_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..3).prop_map(|i| i.to_string()),
        3 => (0u64..3, 0u64..3).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => prop::sample::select(vec![
            "-",
            "1-",
            "-1",
            " 0 ",
            "0-18446744073709551615",
            "18446744073709551616",
            "x",
            "",
            "0-1-2",
            "01",
        ])
        .prop_map(str::to_owned),
    ]
}

fn entry() -> impl Strategy<Value = Value> {
    let text = prop_oneof![8 => Just(json!("Boom")), 1 => Just(json!(42)), 1 => Just(Value::Null)];
    prop_oneof![
        6 => any::<i64>().prop_map(|n| json!({"Return": {"n": n}})),
        6 => (text.clone(), text.clone()).prop_map(|(e, c)| json!({"Throw": {"Error": e, "Cause": c}})),
        1 => Just(json!({"Throw": {}})),
        1 => Just(json!({"Return": 1, "Throw": {"Error": "E"}})),
        1 => Just(json!({})),
        1 => Just(json!("Return")),
        1 => Just(json!([])),
    ]
}

/// A config for machine `M`, case `C`, state `Task`, with each level possibly broken.
fn config() -> impl Strategy<Value = Value> {
    let response = prop_oneof![
        4 => prop::collection::vec((range_key(), entry()), 0..4)
            .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        1 => Just(json!([1])),
    ];
    (
        response,
        prop::sample::select(vec!["R", "R", "R", "Missing"]),
        0u8..12,
    )
        .prop_map(|(response, named, breakage)| {
            let mut config = json!({
                "StateMachines": {"M": {"TestCases": {"C": {"Task": named}}}},
                "MockedResponses": {"R": response}
            });
            match breakage {
                0 => config["StateMachines"]["M"]["TestCases"]["C"]["Task"] = json!(7),
                1 => config["StateMachines"]["M"] = json!({}),
                2 => {
                    config.as_object_mut().unwrap().remove("MockedResponses");
                }
                3 => {
                    config.as_object_mut().unwrap().remove("StateMachines");
                }
                _ => {}
            }
            config
        })
}

/// What the first invocation must produce, read from the raw config independently of the
/// loader: `Ok(value)` or `Err(error name)`.
fn expected_first_answer(config: &Value) -> std::result::Result<Value, String> {
    let response = config["MockedResponses"]["R"].as_object().unwrap();
    for (key, entry) in response {
        let covers_zero = match key.split_once('-') {
            Some((a, _)) => a.trim().parse::<u64>() == Ok(0),
            None => key.trim().parse::<u64>() == Ok(0),
        };
        if covers_zero {
            return match entry.get("Return") {
                Some(value) => Ok(value.clone()),
                None => Err(entry["Throw"]["Error"].as_str().unwrap().to_owned()),
            };
        }
    }
    Err("LocalSfn.MockExhausted".to_owned())
}

const CASES: u32 = 2_000;

#[test]
fn any_mock_config_loads_or_is_named_and_answers_as_written() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let definition = json!({
        "StartAt": "Task",
        "States": {"Task": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}
    });
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let (cases, refused, answered) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&config(), |config| {
            cases.set(cases.get() + 1);
            let case = match MockTestCase::from_config(&config, "M", "C") {
                Ok(case) => case,
                Err(error) => {
                    prop_assert!(!error.to_string().trim().is_empty());
                    refused.set(refused.get() + 1);
                    return Ok(());
                }
            };
            let engine = Engine::from_value(&definition)
                .unwrap()
                .with_clock(Arc::new(VirtualClock::starting_now()));
            let result = runtime.block_on(case.run(engine, "prop", json!({})));
            match expected_first_answer(&config) {
                Ok(value) => {
                    prop_assert_eq!(result.status, ExecutionStatus::Succeeded, "{}", config);
                    prop_assert_eq!(result.output, Some(value));
                }
                Err(error) => {
                    prop_assert_eq!(result.status, ExecutionStatus::Failed, "{}", config);
                    prop_assert_eq!(result.error, Some(error), "{}", config);
                }
            }
            answered.set(answered.get() + 1);
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), CASES);
    assert!(refused.get() > CASES / 10, "{} refused", refused.get());
    assert!(answered.get() > CASES / 10, "{} answered", answered.get());
}
