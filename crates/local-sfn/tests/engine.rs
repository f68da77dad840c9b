//! Behaviour of the engine through its public API: handler dispatch and result shapes, retry
//! timing on the virtual clock, Map concurrency, timeouts, history and the context object.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use local_sfn::{
    AbortHandle, Clock, Engine, ExecutionResult, ExecutionStatus, HistoryEvent, RecordingQueue,
    StartOptions, TaskContext, TaskError, VirtualClock,
};
use serde_json::{Value, json};

fn engine(definition: Value, clock: &VirtualClock) -> Engine {
    Engine::from_value(&definition)
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

/// The event types of a history, in order.
fn event_types(history: &[HistoryEvent]) -> Vec<&str> {
    history
        .iter()
        .map(|event| event.event_type.as_str())
        .collect()
}

/// How many events of `event_type` the execution recorded.
fn count_events(result: &ExecutionResult, event_type: &str) -> usize {
    event_types(&result.history)
        .into_iter()
        .filter(|seen| *seen == event_type)
        .count()
}

/// Asserts the execution failed with the error `error`.
fn assert_failed_with(result: &ExecutionResult, error: &str) {
    assert_eq!(result.status, ExecutionStatus::Failed, "{:?}", result.cause);
    assert_eq!(result.error.as_deref(), Some(error), "{:?}", result.cause);
}

fn lambda_task(function: &str) -> Value {
    json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
           "Parameters": {"FunctionName": function, "Payload.$": "$"}})
}

#[tokio::test]
async fn lambda_invoke_wraps_the_payload_and_dispatches_by_function_name() {
    let clock = VirtualClock::starting_now();
    let mut task = lambda_task("arn:aws:lambda:us-east-1:123456789012:function:double:live");
    task["ResultSelector"] = json!({"value.$": "$.Payload.value", "status.$": "$.StatusCode",
                                    "version.$": "$.ExecutedVersion"});
    task["End"] = json!(true);
    let mut engine = engine(
        json!({"StartAt": "Double", "States": {"Double": task}}),
        &clock,
    );
    engine.register_task("double", |input: Value, ctx: TaskContext| async move {
        assert_eq!(ctx.state_name, "Double");
        assert_eq!(
            ctx.function_name.as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:double:live")
        );
        Ok(json!({"value": input["n"].as_i64().unwrap_or(0) * 2}))
    });
    let result = engine
        .start("exec-1", json!({"n": 21}), StartOptions::default())
        .await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(
        result.output,
        Some(json!({"value": 42, "status": 200, "version": "$LATEST"}))
    );
}

#[tokio::test]
async fn lambda_errors_use_the_error_type_and_a_json_cause() {
    let clock = VirtualClock::starting_now();
    let mut task = lambda_task("verify");
    task["Catch"] =
        json!([{"ErrorEquals": ["Verify.Failed"], "ResultPath": "$.err", "Next": "Parse"}]);
    task["End"] = json!(true);
    let definition = json!({"StartAt": "Verify", "States": {
        "Verify": task,
        "Parse": {"Type": "Pass", "Parameters": {"error.$": "$.err.Error",
                  "message.$": "States.StringToJson($.err.Cause)"}, "End": true}
    }});
    let mut engine = engine(definition, &clock);
    engine.register_task("verify", |_input: Value, _ctx: TaskContext| async move {
        Err::<Value, _>(TaskError::new("Verify.Failed", "token rejected"))
    });
    let result = engine.start("e", json!({}), StartOptions::default()).await;
    assert_eq!(
        result.output,
        Some(json!({"error": "Verify.Failed",
                    "message": {"errorMessage": "token rejected", "errorType": "Verify.Failed"}}))
    );
    assert_eq!(result.states_path(), vec!["Verify", "Parse"]);
}

#[tokio::test]
async fn unknown_function_is_a_lambda_resource_not_found_error() {
    let clock = VirtualClock::starting_now();
    let mut task = lambda_task("missing");
    task["End"] = json!(true);
    let engine = engine(json!({"StartAt": "T", "States": {"T": task}}), &clock);
    let result = engine.start("e", json!({}), StartOptions::default()).await;
    assert_failed_with(&result, "Lambda.ResourceNotFoundException");
}

#[tokio::test]
async fn retry_delays_follow_backoff_and_cap_on_the_virtual_clock() {
    let clock = VirtualClock::starting_now();
    let start = clock.now();
    let mut task = lambda_task("flaky");
    task["Retry"] = json!([{"ErrorEquals": ["Grafana.Throttled"], "IntervalSeconds": 2,
                            "BackoffRate": 3, "MaxDelaySeconds": 10, "MaxAttempts": 4}]);
    task["End"] = json!(true);
    let mut engine = engine(json!({"StartAt": "T", "States": {"T": task}}), &clock);
    let seen_retry_counts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = seen_retry_counts.clone();
    engine.register_task("flaky", move |_input: Value, ctx: TaskContext| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(ctx.retry_count);
            if ctx.retry_count < 4 {
                Err(TaskError::new("Grafana.Throttled", "slow down"))
            } else {
                Ok(json!("done"))
            }
        }
    });
    let result = engine.start("e", json!({}), StartOptions::default()).await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(
        clock.sleeps(),
        [2, 6, 10, 10].map(Duration::from_secs).to_vec(),
        "IntervalSeconds * BackoffRate^n capped by MaxDelaySeconds"
    );
    assert_eq!(*seen_retry_counts.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(clock.now() - start, chrono::Duration::seconds(28));
    let scheduled = count_events(&result, "TaskScheduled");
    assert_eq!(scheduled, 5);
}

#[tokio::test]
async fn retrier_budget_is_shared_by_its_errors_and_exhaustion_falls_to_catch() {
    let clock = VirtualClock::starting_now();
    let mut task = lambda_task("f");
    task["Retry"] = json!([{"ErrorEquals": ["A", "B"], "MaxAttempts": 2, "JitterStrategy": "FULL",
                            "IntervalSeconds": 5}]);
    task["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]);
    task["End"] = json!(true);
    let definition = json!({"StartAt": "T", "States": {"T": task, "Caught": {"Type": "Succeed"}}});
    let mut engine = engine(definition, &clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    engine.register_task("f", move |_input: Value, _ctx: TaskContext| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Err::<Value, _>(TaskError::new(
                if n.is_multiple_of(2) { "A" } else { "B" },
                "x",
            ))
        }
    });
    let result = engine.start("e", json!({}), StartOptions::default()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one try plus two retries");
    assert_eq!(result.states_path(), vec!["T", "Caught"]);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(
        sleeps[0] <= Duration::from_secs(5),
        "full jitter stays under the base delay"
    );
    assert!(sleeps[1] <= Duration::from_secs(10));
}

#[tokio::test]
async fn task_timeout_is_states_timeout_and_not_task_failed() {
    for (catch_on, caught) in [("States.TaskFailed", false), ("States.Timeout", true)] {
        let clock = VirtualClock::starting_now();
        let mut task = lambda_task("slow");
        task["TimeoutSeconds"] = json!(5);
        task["Catch"] = json!([{"ErrorEquals": [catch_on], "Next": "Caught"}]);
        task["End"] = json!(true);
        let definition =
            json!({"StartAt": "T", "States": {"T": task, "Caught": {"Type": "Succeed"}}});
        let mut engine = engine(definition, &clock);
        engine.register_task("slow", |_input: Value, ctx: TaskContext| async move {
            ctx.clock.sleep(Duration::from_secs(60)).await;
            // Keep running past the virtual deadline the way a hung call would.
            std::future::pending::<()>().await;
            Ok(json!(null))
        });
        let result = engine.start("e", json!({}), StartOptions::default()).await;
        if caught {
            assert_eq!(result.status, ExecutionStatus::Succeeded);
        } else {
            assert_failed_with(&result, "States.Timeout");
        }
        assert!(event_types(&result.history).contains(&"TaskTimedOut"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_never_runs_more_iterations_than_max_concurrency() {
    let clock = VirtualClock::starting_now();
    let mut inner = lambda_task("work");
    inner["End"] = json!(true);
    inner["OutputPath"] = json!("$.Payload");
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 3, "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "W", "States": {"W": inner}}, "End": true}}});
    let mut engine = engine(definition, &clock);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (in_flight_h, peak_h) = (in_flight.clone(), peak.clone());
    engine.register_task("work", move |input: Value, _ctx: TaskContext| {
        let in_flight = in_flight_h.clone();
        let peak = peak_h.clone();
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(json!(input.as_i64().unwrap_or(0) * 10))
        }
    });
    let items: Vec<i64> = (0..12).collect();
    let result = engine
        .start("e", json!({"items": items}), StartOptions::default())
        .await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    let expected: Vec<i64> = (0..12).map(|i| i * 10).collect();
    assert_eq!(
        result.output,
        Some(json!(expected)),
        "results keep item order"
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "peak in-flight {peak} exceeds MaxConcurrency");
    assert!(peak >= 2, "iterations should overlap, peak was {peak}");
    let started = count_events(&result, "MapIterationStarted");
    assert_eq!(started, 12);
}

#[tokio::test]
async fn tolerated_failures_within_the_threshold_succeed() {
    let clock = VirtualClock::starting_now();
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ToleratedFailurePercentage": 50,
        "ItemProcessor": {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "BooleanEquals": false, "Next": "Bad"}], "Default": "Ok"},
            "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "no"},
            "Ok": {"Type": "Succeed"}}},
        "End": true}}});
    let engine = engine(definition, &clock);
    let run = |name: &'static str, items: Value| engine.start(name, items, StartOptions::default());
    let result = run("e", json!([true, false, true, true])).await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(
        result.output,
        Some(json!([true, {"Error": "Item.Bad", "Cause": "no"}, true, true]))
    );
    let result = run("e2", json!([false, false, false, true])).await;
    assert_failed_with(&result, "States.ExceedToleratedFailureThreshold");
}

#[tokio::test]
async fn waits_fast_forward_the_virtual_clock() {
    let clock = VirtualClock::starting_now();
    let start = clock.now();
    let target =
        (start + chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let definition = json!({"StartAt": "Grace", "States": {
        "Grace": {"Type": "Wait", "SecondsPath": "$.grace", "Next": "Until"},
        "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Fixed"},
        "Fixed": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let engine = engine(definition, &clock);
    let result = engine
        .start(
            "e",
            json!({"grace": 86_400, "until": target}),
            StartOptions::default(),
        )
        .await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(
        clock.sleeps(),
        vec![
            Duration::from_secs(86_400),
            Duration::from_secs(86_400),
            Duration::from_secs(60)
        ]
    );
    let bad = engine
        .start(
            "e2",
            json!({"grace": -1, "until": target}),
            StartOptions::default(),
        )
        .await;
    assert_eq!(bad.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn execution_timeout_and_abort() {
    let clock = VirtualClock::starting_now();
    let definition = json!({"TimeoutSeconds": 30, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let result = engine(definition, &clock)
        .start("e", json!({}), StartOptions::default())
        .await;
    assert_eq!(result.status, ExecutionStatus::TimedOut);
    assert_eq!(result.error.as_deref(), Some("States.Timeout"));
    assert_eq!(
        result.history.last().map(|e| e.event_type.as_str()),
        Some("ExecutionTimedOut")
    );

    let mut task = lambda_task("hang");
    task["End"] = json!(true);
    let mut hanging = engine(json!({"StartAt": "T", "States": {"T": task}}), &clock);
    hanging.register_task("hang", |_input: Value, _ctx: TaskContext| async move {
        std::future::pending::<()>().await;
        Ok(json!(null))
    });
    let abort = AbortHandle::new();
    let trigger = abort.clone();
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        trigger.abort();
    });
    let result = hanging
        .start(
            "e",
            json!({}),
            StartOptions {
                abort: Some(abort),
                ..StartOptions::default()
            },
        )
        .await;
    assert_eq!(result.status, ExecutionStatus::Aborted);
}

#[tokio::test]
async fn sqs_send_message_serialises_the_body_and_reports_its_md5() {
    let clock = VirtualClock::starting_now();
    let definition = json!({"StartAt": "Dlq", "States": {"Dlq": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": "https://sqs.local/dlq",
                       "MessageBody": {"execution.$": "$$.Execution.Name", "state": "Mint"}},
        "End": true}}});
    let mut engine = engine(definition, &clock);
    let queue = RecordingQueue::new();
    engine.register_queue("https://sqs.local/*", queue.clone());
    let result = engine
        .start("exec-9", json!({}), StartOptions::default())
        .await;
    let messages = queue.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].queue_url, "https://sqs.local/dlq");
    let body: Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(body, json!({"execution": "exec-9", "state": "Mint"}));
    let output = result.output.unwrap();
    use md5::Digest as _;
    assert_eq!(
        output["MD5OfMessageBody"],
        json!(hex::encode(md5::Md5::digest(messages[0].body.as_bytes())))
    );
    assert!(
        output["MessageId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn context_object_and_history_shape() {
    let clock = VirtualClock::starting_now();
    let definition = json!({"StartAt": "Ctx", "States": {
        "Ctx": {"Type": "Pass", "Parameters": {
            "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
            "input.$": "$$.Execution.Input", "start.$": "$$.Execution.StartTime",
            "role.$": "$$.Execution.RoleArn", "machine.$": "$$.StateMachine.Name",
            "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount"}, "End": true}}});
    let result = engine(definition, &clock)
        .start(
            "run-1",
            json!({"k": 1}),
            StartOptions {
                role_arn: Some("arn:aws:iam::1:role/r".into()),
                ..StartOptions::default()
            },
        )
        .await;
    let output = result.output.clone().unwrap();
    assert_eq!(
        output["id"],
        json!("arn:aws:states:us-east-1:123456789012:execution:local:run-1")
    );
    assert_eq!(output["name"], json!("run-1"));
    assert_eq!(output["input"], json!({"k": 1}));
    assert_eq!(output["role"], json!("arn:aws:iam::1:role/r"));
    assert_eq!(output["machine"], json!("local"));
    assert_eq!(output["state"], json!("Ctx"));
    assert_eq!(output["retries"], json!(0));
    assert!(output["start"].as_str().unwrap().ends_with('Z'));

    let types = event_types(&result.history);
    assert_eq!(
        types,
        vec![
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let serialized = serde_json::to_value(&result.history).unwrap();
    assert_eq!(serialized[0]["id"], json!(1));
    assert_eq!(serialized[0]["previousEventId"], json!(0));
    assert_eq!(serialized[1]["previousEventId"], json!(1));
    assert_eq!(
        serialized[1]["stateEnteredEventDetails"]["name"],
        json!("Ctx")
    );
    assert_eq!(
        serialized[0]["executionStartedEventDetails"]["input"],
        json!("{\"k\":1}")
    );
    assert!(serialized[3]["executionSucceededEventDetails"]["output"].is_string());
}

#[tokio::test]
async fn task_history_has_scheduled_started_and_succeeded_events() {
    let clock = VirtualClock::starting_now();
    let mut task = lambda_task("f");
    task["End"] = json!(true);
    let mut engine = engine(json!({"StartAt": "T", "States": {"T": task}}), &clock);
    engine.register_task("f", |_input: Value, _ctx: TaskContext| async move {
        Ok(json!(1))
    });
    let result = engine.start("e", json!({}), StartOptions::default()).await;
    let types = event_types(&result.history);
    assert_eq!(
        types,
        vec![
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = serde_json::to_value(&result.history[2]).unwrap();
    let details = &scheduled["taskScheduledEventDetails"];
    assert_eq!(details["resourceType"], json!("lambda"));
    assert_eq!(details["resource"], json!("invoke"));
    let parameters: Value = serde_json::from_str(details["parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters["FunctionName"], json!("f"));
}

#[tokio::test]
async fn a_missing_handler_for_a_custom_resource_is_not_catchable() {
    let clock = VirtualClock::starting_now();
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]},
        "C": {"Type": "Succeed"}}});
    let result = engine(definition, &clock)
        .start("e", json!({}), StartOptions::default())
        .await;
    assert_failed_with(&result, "States.Runtime");
}
