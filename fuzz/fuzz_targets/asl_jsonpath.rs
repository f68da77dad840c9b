//! The ASL JSONPath parser and evaluator: the first line is the path, the rest a JSON
//! document. Parsing, selecting, evaluating and writing must never panic, and a write through
//! a definite reference path must be found again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use local_sfn::jsonpath::JsonPath;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path_text, document) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(path) = JsonPath::parse(path_text) else {
        return;
    };
    let document: Value = serde_json::from_str(document).unwrap_or(Value::Null);
    let _ = path.select(&document);
    let _ = path.find(&document);
    let _ = path.evaluate(&document);
    let marker = Value::from("fuzz-marker");
    if let Ok(written) = path.write(document, marker.clone()) {
        assert_eq!(path.find(&written), Some(&marker), "{path_text}");
    }
});
