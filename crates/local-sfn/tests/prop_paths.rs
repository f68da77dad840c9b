//! Property tests of the ASL JSONPath subset: any text either parses or is a named
//! [`PathError`]; a parsed path selects, evaluates, finds and writes on any document without
//! a panic; and what a definite reference path writes, it then finds.

use std::cell::Cell;

use local_sfn::jsonpath::{JsonPath, PathError};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value};

const KEYS: &[&str] = &["a", "b", "c", "0", "x y", "é", ""];

/// Path-shaped text: a root and segments of every kind the grammar has, plus kinds it refuses
/// (filters, recursion, slices), and stray characters.
fn path_text() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        8 => prop::sample::select(KEYS).prop_map(|key| format!(".{key}")),
        8 => prop::sample::select(KEYS).prop_map(|key| format!("['{key}']")),
        1 => any::<i64>().prop_map(|index| format!("[{index}]")),
        8 => (0i64..4).prop_map(|index| format!("[{index}]")),
        1 => Just("[*]".to_owned()),
        1 => Just(".*".to_owned()),
        1 => Just("[0,1]".to_owned()),
        1 => Just("[1:3]".to_owned()),
        1 => Just("..a".to_owned()),
        1 => Just("[?(@.a)]".to_owned()),
        1 => "[\\[\\]'.$*0-9a-z:,?@()\\\\-]{1,4}",
    ];
    let structured = (
        prop::sample::select(vec!["$", "$", "$", "$", "$$", "", "@"]),
        prop::collection::vec(segment, 0..6),
    )
        .prop_map(|(root, segments)| format!("{root}{}", segments.concat()));
    prop_oneof![4 => structured, 1 => "\\PC{0,24}"]
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn assert_named(error: &PathError) {
    assert!(!error.to_string().trim().is_empty(), "{error:?}");
}

const CASES: u32 = 3_000;

#[test]
fn any_path_on_any_document_is_a_value_or_a_named_error() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let (cases, parsed, round_trips) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    runner
        .run(
            &(path_text(), document(), document()),
            |(text, doc, value)| {
                cases.set(cases.get() + 1);
                let path = match JsonPath::parse(&text) {
                    Ok(path) => path,
                    Err(error) => {
                        assert_named(&error);
                        return Ok(());
                    }
                };
                parsed.set(parsed.get() + 1);
                let _ = path.select(&doc);
                let _ = path.find(&doc);
                if let Err(error) = path.evaluate(&doc) {
                    assert_named(&error);
                }
                match path.write(doc.clone(), value.clone()) {
                    Ok(written) => {
                        if path.is_reference_path() && path.is_definite() {
                            prop_assert_eq!(path.find(&written), Some(&value), "{}", text);
                            round_trips.set(round_trips.get() + 1);
                        }
                    }
                    Err(error) => assert_named(&error),
                }
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(cases.get(), CASES);
    // Not vacuous: many paths parsed, and writes were read back.
    assert!(parsed.get() > CASES / 4, "{} parsed", parsed.get());
    assert!(
        round_trips.get() > CASES / 20,
        "{} round trips",
        round_trips.get()
    );
}
