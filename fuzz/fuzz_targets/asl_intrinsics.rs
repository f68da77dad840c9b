//! Intrinsic functions, parsed where the engine parses them (a Pass state's `.$` key) and
//! evaluated by running that state: the input is the expression. A definition error or a
//! `States.*` failure is fine; a panic or another outcome is a finding.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use local_sfn::{Engine, ExecutionStatus, StartOptions, VirtualClock};
use serde_json::json;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(expression) = std::str::from_utf8(data) else {
        return;
    };
    let definition = json!({
        "StartAt": "Eval",
        "States": {"Eval": {"Type": "Pass", "Parameters": {"r.$": expression}, "End": true}}
    });
    let Ok(engine) = Engine::from_value(&definition) else {
        return;
    };
    let engine = engine.with_clock(Arc::new(VirtualClock::starting_now()));
    let input = json!({"a": [1, "x", {"b": null}], "text": "a,b", "n": 3});
    let result = runtime().block_on(engine.start("fuzz", input, StartOptions::default()));
    match result.status {
        ExecutionStatus::Succeeded => {}
        ExecutionStatus::Failed => {
            let error = result.error.unwrap_or_default();
            assert!(error.starts_with("States."), "{error}");
        }
        other => panic!("unexpected status {other:?}"),
    }
});
