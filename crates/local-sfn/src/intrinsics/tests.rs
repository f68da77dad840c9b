use super::*;
use crate::error::Failure;
use serde_json::json;

fn run(expr: &str, input: Value) -> Result<Value, Failure> {
    evaluate(
        &parse(expr).unwrap(),
        &input,
        &json!({"Execution": {"Name": "exec-1"}}),
    )
}

fn fails(expr: &str, input: Value) -> Failure {
    let failure = run(expr, input).unwrap_err();
    assert_eq!(failure.error, "States.IntrinsicFailure", "{failure}");
    failure
}

#[test]
fn format_with_escapes_paths_and_nesting() {
    assert_eq!(
        run(
            "States.Format('Hello, {}! \\{literal\\} it\\'s {}', $.name, $$.Execution.Name)",
            json!({"name": "Ada"})
        )
        .unwrap(),
        json!("Hello, Ada! {literal} it's exec-1")
    );
    assert_eq!(
        run("States.Format('{} {} {}', 1, true, null)", json!({})).unwrap(),
        json!("1 true null")
    );
    assert_eq!(
        run(
            "States.Format('a\\\\b {}', States.ArrayLength(States.Array(1, 2)))",
            json!({})
        )
        .unwrap(),
        json!("a\\b 2")
    );
    fails("States.Format('{} {}', 1)", json!({}));
    fails("States.Format('{}', 1, 2)", json!({}));
    fails("States.Format('{}', $.o)", json!({"o": {"a": 1}}));
}

#[test]
fn parse_errors_are_reported() {
    for bad in [
        "States.Nope(1)",
        "States.Format('unterminated)",
        "States.Format('bad \\n escape')",
        "States.ArrayLength()",
        "States.UUID(1)",
        "States.Array(1,",
        "States.Array(1) trailing",
        "Format('x')",
    ] {
        assert!(parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn string_and_json_conversions() {
    assert_eq!(
        run("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})).unwrap(),
        json!({"a": [1, 2]})
    );
    fails("States.StringToJson($.s)", json!({"s": "{oops"}));
    fails("States.StringToJson($.s)", json!({"s": 5}));
    assert_eq!(
        run("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})).unwrap(),
        json!("{\"a\":[1,\"x\"]}")
    );
}

#[test]
fn array_functions() {
    assert_eq!(
        run("States.Array('a', 1, $.x, null)", json!({"x": [true]})).unwrap(),
        json!(["a", 1, [true], null])
    );
    assert_eq!(
        run(
            "States.ArrayPartition($.a, 2)",
            json!({"a": [1, 2, 3, 4, 5]})
        )
        .unwrap(),
        json!([[1, 2], [3, 4], [5]])
    );
    fails("States.ArrayPartition($.a, 0)", json!({"a": [1]}));
    fails("States.ArrayPartition($.a, 1.5)", json!({"a": [1]}));
    assert_eq!(
        run("States.ArrayContains($.a, 2)", json!({"a": [1, 2.0]})).unwrap(),
        json!(true)
    );
    assert_eq!(
        run(
            "States.ArrayContains($.a, $.v)",
            json!({"a": [{"k": 1}], "v": {"k": 2}})
        )
        .unwrap(),
        json!(false)
    );
    fails("States.ArrayContains($.a, 1)", json!({"a": "nope"}));
    assert_eq!(
        run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        run("States.ArrayRange(5, 1, -2)", json!({})).unwrap(),
        json!([5, 3, 1])
    );
    assert_eq!(
        run("States.ArrayRange(5, 1, 1)", json!({})).unwrap(),
        json!([])
    );
    fails("States.ArrayRange(1, 5, 0)", json!({}));
    fails("States.ArrayRange(0, 1000, 1)", json!({}));
    assert_eq!(
        run("States.ArrayRange(0, 999, 1)", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    assert_eq!(
        run("States.ArrayGetItem($.a, 1)", json!({"a": ["x", "y"]})).unwrap(),
        json!("y")
    );
    fails("States.ArrayGetItem($.a, 2)", json!({"a": ["x", "y"]}));
    fails("States.ArrayGetItem($.a, -1)", json!({"a": ["x", "y"]}));
    assert_eq!(
        run("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})).unwrap(),
        json!(3)
    );
    fails("States.ArrayLength($.a)", json!({"a": {}}));
    assert_eq!(
        run(
            "States.ArrayUnique($.a)",
            json!({"a": [1, 2, 1, "1", {"a": 1}, {"a": 1}]})
        )
        .unwrap(),
        json!([1, 2, "1", {"a": 1}])
    );
    fails("States.ArrayUnique('x')", json!({}));
}

#[test]
fn base64_and_hash() {
    assert_eq!(
        run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
        json!("Data to encode")
    );
    fails("States.Base64Decode('***')", json!({}));
    fails("States.Base64Encode($.s)", json!({"s": "x".repeat(10_001)}));
    let cases = [
        ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
        ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "SHA-256",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ];
    for (algorithm, digest) in cases {
        assert_eq!(
            run(&format!("States.Hash('abc', '{algorithm}')"), json!({})).unwrap(),
            json!(digest)
        );
    }
    assert_eq!(
        run("States.Hash('abc', 'SHA-384')", json!({}))
            .unwrap()
            .as_str()
            .unwrap()
            .len(),
        96
    );
    assert!(
        run("States.Hash('abc', 'SHA-512')", json!({}))
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("ddaf35a193617aba")
    );
    fails("States.Hash('abc', 'SHA-3')", json!({}));
    fails("States.Hash($.n, 'MD5')", json!({"n": 1}));
}

#[test]
fn merge_math_split_uuid() {
    assert_eq!(
        run(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": {"x": 1, "n": {"p": 1}}, "b": {"n": {"q": 2}, "y": 2}})
        )
        .unwrap(),
        json!({"x": 1, "n": {"q": 2}, "y": 2})
    );
    fails(
        "States.JsonMerge($.a, $.b, true)",
        json!({"a": {}, "b": {}}),
    );
    fails(
        "States.JsonMerge($.a, $.b, false)",
        json!({"a": [], "b": {}}),
    );
    assert_eq!(run("States.MathAdd(40, -2)", json!({})).unwrap(), json!(38));
    assert_eq!(
        run("States.MathAdd($.v, 1)", json!({"v": 41})).unwrap(),
        json!(42)
    );
    fails("States.MathAdd(1.5, 1)", json!({}));
    fails("States.MathAdd('1', 1)", json!({}));
    for _ in 0..50 {
        let n = run("States.MathRandom(3, 6)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((3..6).contains(&n));
    }
    assert_eq!(
        run("States.MathRandom(1, 1000, 7)", json!({})).unwrap(),
        run("States.MathRandom(1, 1000, 7)", json!({})).unwrap()
    );
    fails("States.MathRandom(5, 5)", json!({}));
    assert_eq!(
        run(
            "States.StringSplit('This.is+a,test=string', '.+,=')",
            json!({})
        )
        .unwrap(),
        json!(["This", "is", "a", "test", "string"])
    );
    assert_eq!(
        run("States.StringSplit($.s, ',')", json!({"s": "1,2,,3"})).unwrap(),
        json!(["1", "2", "3"])
    );
    fails("States.StringSplit(1, ',')", json!({}));
    let id = run("States.UUID()", json!({})).unwrap();
    let parsed = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
}

#[test]
fn missing_path_is_a_runtime_error() {
    let failure = run("States.ArrayLength($.missing)", json!({})).unwrap_err();
    assert_eq!(failure.error, "States.Runtime");
}
