use super::*;
use serde_json::json;

fn load(states: Value) -> Result<StateMachine, DefinitionError> {
    StateMachine::from_value(&json!({"StartAt": "A", "States": states}))
}

#[test]
fn valid_definition_loads() {
    let machine = load(json!({
        "A": {"Type": "Pass", "Result": null, "ResultPath": "$.r", "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "f", "Payload.$": "$"},
              "Retry": [{"ErrorEquals": ["X"]}, {"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Fail", "Error": "E", "CausePath": "States.Format('x{}', $.a)"}
    }))
    .unwrap();
    let StateKind::Pass(pass) = &machine.state("A").unwrap().kind else {
        panic!("A is a Pass state");
    };
    assert_eq!(pass.result, Some(Value::Null));
    let StateKind::Task(task) = &machine.state("B").unwrap().kind else {
        panic!("B is a Task state");
    };
    assert_eq!(task.errors.retry[0].max_attempts, 3);
    assert_eq!(task.errors.retry[0].backoff_rate, 2.0);
    assert_eq!(task.errors.retry[0].interval_seconds, 1.0);
}

#[test]
fn errors_name_state_and_field() {
    let cases = [
        (
            json!({"A": {"Type": "Pass", "Bogus": 1, "End": true}}),
            "A",
            "Bogus",
        ),
        (json!({"A": {"Type": "Task", "End": true}}), "A", "Resource"),
        (json!({"A": {"Type": "Pass"}}), "A", "Next"),
        (
            json!({"A": {"Type": "Pass", "Next": "B", "End": true}}),
            "A",
            "Next",
        ),
        (json!({"A": {"Type": "Wait", "End": true}}), "A", "Seconds"),
        (
            json!({"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}),
            "A",
            "Seconds",
        ),
        (
            json!({"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}),
            "A",
            "ResultPath",
        ),
        (
            json!({"A": {"Type": "Fail", "Error": "x", "ErrorPath": "$.e"}}),
            "A",
            "Error",
        ),
        (
            json!({"A": {"Type": "Task", "Resource": "r", "End": true,
                      "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}),
            "A",
            "Retry",
        ),
        (
            json!({"A": {"Type": "Task", "Resource": "r", "End": true,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"},
                                {"ErrorEquals": ["X"], "Next": "A"}]}}),
            "A",
            "Catch",
        ),
    ];
    for (states, state, field) in cases {
        match load(states.clone()) {
            Err(DefinitionError::InvalidState {
                state: s, field: f, ..
            }) => {
                assert_eq!((s.as_str(), f.as_str()), (state, field), "{states}");
            }
            other => panic!("{states}: expected InvalidState, got {other:?}"),
        }
    }
}

#[test]
fn unknown_targets_are_reported() {
    let err = load(json!({"A": {"Type": "Pass", "Next": "Nowhere"}})).unwrap_err();
    assert_eq!(
        err,
        DefinitionError::UnknownTarget {
            state: "A".into(),
            field: "Next".into(),
            target: "Nowhere".into()
        }
    );
    let err =
        StateMachine::from_value(&json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}))
            .unwrap_err();
    assert!(matches!(err, DefinitionError::UnknownTarget { field, .. } if field == "StartAt"));
    let err = load(json!({"A": {"Type": "Choice", "Choices": [
        {"Variable": "$.a", "IsPresent": true, "Next": "Gone"}]}}))
    .unwrap_err();
    assert!(matches!(err, DefinitionError::UnknownTarget { field, .. } if field == "Choices.Next"));
}

#[test]
fn jsonata_is_a_named_unsupported_error() {
    let err = StateMachine::from_value(&json!({"QueryLanguage": "JSONata", "StartAt": "A",
        "States": {"A": {"Type": "Succeed"}}}))
    .unwrap_err();
    assert!(matches!(err, DefinitionError::Unsupported(_)));
    let err =
        load(json!({"A": {"Type": "Pass", "QueryLanguage": "JSONata", "End": true}})).unwrap_err();
    assert!(matches!(err, DefinitionError::Unsupported(_)));
}

#[test]
fn nested_machines_are_validated() {
    let err = load(json!({"A": {"Type": "Map", "End": true, "ItemProcessor": {
        "StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}}}))
    .unwrap_err();
    assert!(matches!(err, DefinitionError::UnknownTarget { target, .. } if target == "Y"));
    let err = load(json!({"A": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "X", "States": {"X": {"Type": "Task", "End": true}}}]}}))
    .unwrap_err();
    assert!(
        matches!(err, DefinitionError::InvalidState { state, field, .. } if state == "X" && field == "Resource")
    );
}

#[test]
fn retry_delay_formula() {
    let retrier: Retrier = serde_json::from_value(json!({
        "ErrorEquals": ["X"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxDelaySeconds": 30
    }))
    .unwrap();
    let delays: Vec<f64> = (0..4).map(|a| retrier.base_delay_seconds(a)).collect();
    assert_eq!(delays, vec![2.0, 6.0, 18.0, 30.0]);
}
