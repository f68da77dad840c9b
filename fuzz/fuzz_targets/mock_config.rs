//! The MockConfigFile loader: any JSON either loads (machine `M`, case `C`) or is a named
//! error; a loaded case then runs a one-Task definition to a final status without panicking.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use local_sfn::{Engine, ExecutionStatus, MockTestCase, VirtualClock};
use serde_json::{Value, json};

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
    let Ok(config) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(case) = MockTestCase::from_config(&config, "M", "C") else {
        return;
    };
    let definition = json!({
        "StartAt": "Task",
        "States": {"Task": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                            "End": true}}
    });
    let engine = Engine::from_value(&definition)
        .unwrap()
        .with_clock(Arc::new(VirtualClock::starting_now()));
    let result = runtime().block_on(case.run(engine, "fuzz", json!({})));
    assert!(
        matches!(
            result.status,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed
        ),
        "{:?}",
        result.status
    );
});
