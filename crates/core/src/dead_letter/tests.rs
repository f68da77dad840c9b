use chrono::TimeZone;
use serde_json::json;

use super::*;

const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:rotate";
const EXECUTION: &str = "ks-g-0123456789-1-20250301-0630";
const TOKEN: &str = "glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d";

fn execution_arn(name: &str) -> String {
    format!("arn:aws:states:eu-west-1:123456789012:execution:rotate:{name}")
}

fn caught_body() -> Value {
    json!({
        "schemaVersion": 1,
        "kind": "executionFailed",
        "stateMachineArn": MACHINE,
        "execution": EXECUTION,
        "executionArn": execution_arn(EXECUTION),
        "workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"},
        "failedState": "VerifyToken",
        "error": "Verify.Failed",
        "cause": "token did not authenticate",
        "attempts": 1,
        "firstFailureTime": "2025-03-01T06:31:00Z",
        "executionInput": {"workspace": {"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1"}}
    })
}

fn status_change(status: &str, extra: Value) -> Value {
    let mut detail = json!({
        "executionArn": execution_arn(EXECUTION),
        "stateMachineArn": MACHINE,
        "name": EXECUTION,
        "status": status,
        "startDate": 1_740_810_600_000_i64,
        "stopDate": 1_740_810_660_000_i64,
        "input": "{\"workspace\":{\"kind\":\"amg\",\"workspaceId\":\"g-0123456789\",\"region\":\"eu-west-1\"}}",
        "inputDetails": {"included": true},
        "output": null,
        "outputDetails": null
    });
    if let (Some(detail), Some(extra)) = (detail.as_object_mut(), extra.as_object()) {
        detail.extend(extra.clone());
    }
    json!({
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2025-03-01T06:31:00Z",
        "region": "eu-west-1",
        "resources": [execution_arn(EXECUTION)],
        "detail": detail
    })
}

#[test]
fn a_caught_failure_parses_and_round_trips() {
    let message = DlqMessage::parse(&caught_body().to_string()).unwrap();
    assert_eq!(message.kind, DeadLetterKind::ExecutionFailed);
    assert_eq!(message.schema_version, SCHEMA_VERSION);
    assert_eq!(message.failed_state.as_deref(), Some("VerifyToken"));
    assert_eq!(message.attempts, 1);
    assert_eq!(
        message.first_failure_time,
        Utc.with_ymd_and_hms(2025, 3, 1, 6, 31, 0).unwrap()
    );
    let again = DlqMessage::parse(&message.to_body().unwrap()).unwrap();
    assert_eq!(again, message);
}

#[test]
fn status_change_events_for_failures_become_dead_letters() {
    let cases = [
        (
            "FAILED",
            json!({"error": "Lambda.Unknown", "cause": "boom"}),
            "Lambda.Unknown",
            ExecutionStatus::Failed,
        ),
        (
            "TIMED_OUT",
            json!({}),
            "States.Timeout",
            ExecutionStatus::TimedOut,
        ),
        (
            "ABORTED",
            json!({"redriveCount": 2}),
            "States.Aborted",
            ExecutionStatus::Aborted,
        ),
    ];
    for (status, extra, error, parsed_status) in cases {
        let message = DlqMessage::parse(&status_change(status, extra).to_string()).unwrap();
        assert_eq!(
            message.kind,
            DeadLetterKind::ExecutionStatusChange,
            "{status}"
        );
        assert_eq!(message.error, error, "{status}");
        assert_eq!(message.status, Some(parsed_status));
        assert_eq!(message.state_machine_arn, MACHINE);
        assert_eq!(message.execution, EXECUTION);
        assert_eq!(
            message.execution_arn.as_deref(),
            Some(execution_arn(EXECUTION).as_str())
        );
        assert_eq!(message.failed_state, None);
        assert_eq!(
            message
                .execution_input
                .as_ref()
                .and_then(|input| input.pointer("/workspace/workspaceId")),
            Some(&json!("g-0123456789"))
        );
        assert_eq!(
            message.workspace.as_ref().map(WorkspaceRef::key).as_deref(),
            Some(
                WorkspaceRef::amg("g-0123456789", "eu-west-1", 1)
                    .unwrap()
                    .key()
                    .as_str()
            ),
            "{status}"
        );
        assert_eq!(
            message.first_failure_time,
            DateTime::<Utc>::from_timestamp_millis(1_740_810_660_000).unwrap()
        );
    }
    let aborted =
        DlqMessage::parse(&status_change("ABORTED", json!({"redriveCount": 2})).to_string())
            .unwrap();
    assert_eq!(aborted.attempts, 3, "attempts count the redrives");
}

#[test]
fn an_event_without_input_still_parses_for_a_redrive() {
    let mut event = status_change("FAILED", json!({}));
    if let Some(detail) = event.get_mut("detail").and_then(Value::as_object_mut) {
        detail.remove("input");
        detail.insert("inputDetails".into(), json!({"included": false}));
    }
    let message = DlqMessage::parse(&event.to_string()).unwrap();
    assert_eq!(message.execution_input, None);
    assert_eq!(message.workspace, None);
}

#[test]
fn the_caught_failure_and_its_status_change_share_one_replay_name() {
    let caught = DlqMessage::parse(&caught_body().to_string()).unwrap();
    let event = DlqMessage::parse(&status_change("FAILED", json!({})).to_string()).unwrap();
    assert_eq!(caught.replay_key(), event.replay_key());
    assert_eq!(
        caught.replay_execution_name(),
        event.replay_execution_name()
    );
}

#[test]
fn malformed_bodies_are_named_errors() {
    let named = |body: &str| DlqMessage::parse(body).unwrap_err().name();
    assert_eq!(named("not json {"), "DeadLetter.NotJson");
    assert_eq!(named("[1, 2]"), "DeadLetter.Invalid");
    assert_eq!(named(r#"{"execution": "e"}"#), "DeadLetter.MissingVersion");
    let mut future = caught_body();
    future["schemaVersion"] = json!(2);
    let error = DlqMessage::parse(&future.to_string()).unwrap_err();
    assert_eq!(
        error,
        DeadLetterError::UnsupportedVersion { found: "2".into() }
    );
    future["schemaVersion"] = json!("1");
    assert_eq!(named(&future.to_string()), "DeadLetter.UnsupportedVersion");

    let mut no_arn = caught_body();
    no_arn.as_object_mut().unwrap().remove("executionArn");
    let error = DlqMessage::parse(&no_arn.to_string()).unwrap_err();
    assert_eq!(error.name(), "DeadLetter.Invalid");
    assert!(error.to_string().contains("executionArn"), "{error}");

    let mut zero = caught_body();
    zero["attempts"] = json!(0);
    assert_eq!(named(&zero.to_string()), "DeadLetter.Invalid");

    let mut bad_kind = caught_body();
    bad_kind["kind"] = json!(TOKEN);
    let error = DlqMessage::parse(&bad_kind.to_string()).unwrap_err();
    assert_eq!(error.name(), "DeadLetter.Invalid");
    assert!(!error.to_string().contains("glsa_"), "{error}");

    let succeeded = status_change("SUCCEEDED", json!({}));
    assert_eq!(named(&succeeded.to_string()), "DeadLetter.NotAFailure");
    let mut other = status_change("FAILED", json!({}));
    other["detail-type"] = json!("EC2 Instance State-change Notification");
    other["source"] = json!("aws.ec2");
    assert_eq!(named(&other.to_string()), "DeadLetter.UnknownEvent");
    let mut broken = status_change("FAILED", json!({}));
    broken["detail"] = json!({"name": EXECUTION});
    assert_eq!(named(&broken.to_string()), "DeadLetter.Invalid");

    let error: KeyshiftError = DeadLetterError::MissingVersion.into();
    assert_eq!(error.asl_name(), "Input.Invalid");
}

#[test]
fn credentials_never_survive_parsing() {
    let mut body = caught_body();
    body["cause"] = json!(format!("Grafana said no to {TOKEN}"));
    body["executionInput"]["note"] = json!(TOKEN);
    let message = DlqMessage::parse(&body.to_string()).unwrap();
    let text = message.to_body().unwrap();
    assert!(!text.contains("glsa_"), "{text}");
    assert_eq!(message.execution_input.unwrap()["note"], json!(REDACTED));
    assert!(message.cause.contains("Grafana said no"));
}

#[test]
fn a_failed_start_carries_its_input_and_error() {
    let workspace = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
    let error = KeyshiftError::AwsThrottled {
        service: "states".into(),
        operation: "StartExecution".into(),
        retry_after: None,
    };
    let at = Utc.with_ymd_and_hms(2025, 3, 1, 6, 30, 5).unwrap();
    let message = DlqMessage::start_failed(
        MACHINE,
        EXECUTION,
        Some(workspace.clone()),
        json!({"workspace": workspace}),
        &error,
        4,
        at,
    );
    let parsed = DlqMessage::parse(&message.to_body().unwrap()).unwrap();
    assert_eq!(parsed, message);
    assert_eq!(parsed.kind, DeadLetterKind::StartFailed);
    assert_eq!(parsed.error, "Aws.Throttled");
    assert_eq!(parsed.attempts, 4);
    assert_eq!(
        parsed.replay_execution_name(),
        EXECUTION,
        "replayed under its own name"
    );

    let mut no_input = serde_json::to_value(&message).unwrap();
    no_input.as_object_mut().unwrap().remove("executionInput");
    assert_eq!(
        DlqMessage::parse(&no_input.to_string()).unwrap_err().name(),
        "DeadLetter.Invalid"
    );
}

#[test]
fn replay_names_are_valid_deterministic_and_do_not_grow() {
    let message = DlqMessage::parse(&caught_body().to_string()).unwrap();
    let name = message.replay_execution_name();
    crate::naming::validate_execution_name(&name).unwrap();
    assert_eq!(name, message.replay_execution_name());
    assert!(name.starts_with(EXECUTION), "{name}");

    let mut second = message.clone();
    second.attempts = 2;
    assert_ne!(
        second.replay_execution_name(),
        name,
        "a later attempt replays anew"
    );

    let long = "x".repeat(80);
    let mut long_message = message.clone();
    long_message.execution = long.clone();
    long_message.execution_arn = Some(execution_arn(&long));
    let long_name = long_message.replay_execution_name();
    assert_eq!(long_name.len(), 80);
    crate::naming::validate_execution_name(&long_name).unwrap();

    // The replay of a replay keeps one suffix.
    let mut replayed = message.clone();
    replayed.execution = name.clone();
    replayed.execution_arn = Some(execution_arn(&name));
    let again = replayed.replay_execution_name();
    assert_eq!(again.matches("-replay-").count(), 1, "{again}");
    assert_ne!(again, name);
}
