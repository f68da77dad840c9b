//! A history kept with [`HistoryDetail::StatesOnly`] says where the execution went and why it
//! failed exactly as the full one does, and carries none of the states' inputs, outputs or
//! task parameters (the payload a fleet of executions would otherwise hold until each ends).

use std::sync::Arc;

use local_sfn::{
    Engine, ExecutionResult, ExecutionStatus, HistoryDetail, StartOptions, TaskContext, TaskError,
    VirtualClock,
};
use serde_json::{Value, json};

/// A machine with a Map of tasks, a Choice and a Task that fails on one input: every kind of
/// event the keyshift definition records.
fn definition() -> Value {
    json!({
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.results",
                "ItemProcessor": {"StartAt": "Echo", "States": {"Echo": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "echo", "Payload.$": "$"},
                    "OutputPath": "$.Payload", "End": true}}},
                "Next": "Route"
            },
            "Route": {"Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": true, "Next": "Boom"}],
                "Default": "Done"},
            "Boom": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "boom", "Payload.$": "$"}, "End": true},
            "Done": {"Type": "Succeed"}
        }
    })
}

async fn run(detail: HistoryDetail, fail: bool) -> ExecutionResult {
    let clock = VirtualClock::starting_now();
    let mut engine = Engine::from_value(&definition())
        .unwrap()
        .with_clock(Arc::new(clock));
    engine.register_task(
        "echo",
        |input: Value, _: TaskContext| async move { Ok(input) },
    );
    engine.register_task("boom", |_: Value, _: TaskContext| async move {
        Err(TaskError::new("Boom.Failed", "the task failed on purpose"))
    });
    let input =
        json!({"fail": fail, "items": [{"secret": "payload-one"}, {"secret": "payload-two"}]});
    engine
        .start(
            "e",
            input,
            StartOptions {
                history: detail,
                ..StartOptions::default()
            },
        )
        .await
}

#[tokio::test]
async fn states_only_keeps_the_path_and_the_failure_and_drops_every_payload() {
    let mut compared = 0;
    for fail in [false, true] {
        let full = run(HistoryDetail::Full, fail).await;
        let lean = run(HistoryDetail::StatesOnly, fail).await;
        assert_eq!(full.status, lean.status);
        assert_eq!(
            full.status,
            if fail {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Succeeded
            }
        );
        assert_eq!(full.states_path(), lean.states_path());
        assert_eq!(full.all_states_entered(), lean.all_states_entered());
        assert!(
            lean.all_states_entered()
                .iter()
                .filter(|s| *s == "Echo")
                .count()
                == 2
        );
        let types = |result: &ExecutionResult| -> Vec<String> {
            result
                .history
                .iter()
                .map(|e| e.event_type.clone())
                .collect()
        };
        assert_eq!(types(&full), types(&lean), "the same events, in order");
        assert_eq!(
            (full.error.clone(), full.cause.clone()),
            (lean.error, lean.cause)
        );

        let full_text = serde_json::to_string(&full.history).unwrap();
        let lean_text = serde_json::to_string(&lean.history).unwrap();
        assert!(
            full_text.contains("payload-one"),
            "the full history holds the payloads"
        );
        assert!(!lean_text.contains("payload-"), "{lean_text}");
        for event in &lean.history {
            for details in event.details.values() {
                for field in ["input", "output", "parameters"] {
                    assert!(
                        details.get(field).is_none(),
                        "{}: {field}",
                        event.event_type
                    );
                }
            }
        }
        if fail {
            let failed = lean
                .history
                .iter()
                .find(|event| event.event_type == "TaskFailed")
                .expect("the failing task is in the history");
            let details = &failed.details["taskFailedEventDetails"];
            assert_eq!(details["error"], "Boom.Failed");
            assert!(details["cause"].as_str().unwrap().contains("on purpose"));
        }
        compared += 1;
    }
    assert_eq!(compared, 2);
}
