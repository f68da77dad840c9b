//! The ASL↔Rust contract: every Task of the shipped definition builds its step's input type,
//! and each step's output is what the following states read.

use std::collections::BTreeSet;

use keyshift_cli::asl::{LOCAL_DLQ_URL, Step, local_definition};
use keyshift_cli::contract::{
    ContractRun, ContractSteps, SAMPLE_SEALED_TOKEN, run_contract, sample_execution_input,
};
use keyshift_core::steps::io::StoreSecretInput;
use local_sfn::{ExecutionStatus, TaskError};
use serde_json::{Value, json};

fn rendered() -> Value {
    serde_json::from_str(&local_definition(LOCAL_DLQ_URL).unwrap()).unwrap()
}

/// Runs `definition` on the sample execution input with `steps`, the DLQ at its local URL.
async fn run_with(definition: &Value, steps: &ContractSteps, name: &str) -> ContractRun {
    run_contract(
        definition,
        steps,
        sample_execution_input(),
        name,
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap()
}

/// How many times `run` invoked `step`.
/// The run, as execution `name`, in which `state` fails with a permanent `Grafana.Forbidden`.
async fn forbidden_at(definition: &Value, state: &str, name: &str) -> ContractRun {
    let steps =
        ContractSteps::new(1).failing_at(state, TaskError::new("Grafana.Forbidden", "denied"));
    run_with(definition, &steps, name).await
}

fn calls_to(run: &ContractRun, step: Step) -> usize {
    run.calls.iter().filter(|call| call.step == step).count()
}

/// How many calls to `step` carried `value` in their payload's `field`.
fn calls_with(run: &ContractRun, step: Step, field: &str, value: &str) -> usize {
    run.calls
        .iter()
        .filter(|call| call.step == step)
        .filter(|call| call.payload.get(field).and_then(Value::as_str) == Some(value))
        .count()
}

#[tokio::test]
async fn every_task_payload_deserializes_into_its_step_input() {
    let steps = ContractSteps::new(3);
    let run = run_with(&rendered(), &steps, "contract-ok").await;
    assert_eq!(run.violations, Vec::<String>::new());
    assert_eq!(
        run.result.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        run.result.cause
    );
    let count = |step: Step| calls_to(&run, step);
    assert_eq!(count(Step::DiscoverKeys), 1);
    assert_eq!(count(Step::CreateSa), 3);
    assert_eq!(count(Step::MintToken), 3);
    assert_eq!(
        count(Step::StoreSecret),
        6,
        "stage and promote per credential"
    );
    assert_eq!(count(Step::Verify), 3);
    assert_eq!(
        count(Step::RevokeOld),
        4,
        "one per credential plus the workspace clean-up"
    );
    let store = |action| calls_with(&run, Step::StoreSecret, "action", action);
    assert_eq!((store("stage"), store("promote")), (3, 3));
    let revoke = |scope| calls_with(&run, Step::RevokeOld, "scope", scope);
    assert_eq!((revoke("credential"), revoke("workspace")), (3, 1));
    let output = run.result.output.unwrap();
    assert_eq!(output["credentials"].as_array().map(Vec::len), Some(3));
    assert!(output.get("workspaceCleanup").is_some());
}

#[tokio::test]
async fn stragglers_of_revoke_old_reach_the_execution_summary_unchanged() {
    let steps = ContractSteps::new(2).with_stragglers();
    let run = run_with(&rendered(), &steps, "contract-stragglers").await;
    assert_eq!(run.violations, Vec::<String>::new());
    assert_eq!(run.result.status, ExecutionStatus::Succeeded);
    let output = run.result.output.unwrap();
    let credentials = output["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 2);
    for result in credentials {
        let stragglers = result["stragglers"].as_array().unwrap();
        assert_eq!(stragglers.len(), 1, "{result}");
        for field in [
            "tokenId",
            "tokenName",
            "serviceAccountId",
            "serviceAccountName",
            "lastUsedAt",
            "keptUntil",
        ] {
            assert!(stragglers[0].get(field).is_some(), "{field}: {result}");
        }
    }
    assert_eq!(output["workspaceCleanup"]["stragglers"], json!([]));
}

#[tokio::test]
async fn each_task_invokes_the_step_its_name_promises() {
    let steps = ContractSteps::new(1);
    let run = run_with(&rendered(), &steps, "contract-map").await;
    let expected = [
        ("DiscoverKeys", Step::DiscoverKeys),
        ("CreateServiceAccount", Step::CreateSa),
        ("MintToken", Step::MintToken),
        ("StageSecret", Step::StoreSecret),
        ("VerifyToken", Step::Verify),
        ("PromoteSecret", Step::StoreSecret),
        ("RevokeSuperseded", Step::RevokeOld),
        ("RevokeWorkspaceLeftovers", Step::RevokeOld),
    ];
    let seen: Vec<(String, Step)> = run
        .calls
        .iter()
        .map(|call| (call.state.clone(), call.step))
        .collect();
    let expected: Vec<(String, Step)> = expected
        .iter()
        .map(|(state, step)| ((*state).to_owned(), *step))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn stage_and_promote_tasks_build_their_own_store_secret_inputs() {
    let steps = ContractSteps::new(2);
    let run = run_with(&rendered(), &steps, "contract-store").await;
    assert_eq!(run.violations, Vec::<String>::new());
    let store_calls: Vec<_> = run
        .calls
        .iter()
        .filter(|call| call.step == Step::StoreSecret)
        .collect();
    assert_eq!(store_calls.len(), 4);
    for call in store_calls {
        let input: StoreSecretInput = serde_json::from_value(call.payload.clone()).unwrap();
        match (call.state.as_str(), input) {
            ("StageSecret", StoreSecretInput::Stage(stage)) => {
                assert_eq!(stage.token.sealed.as_str(), SAMPLE_SEALED_TOKEN);
            }
            ("PromoteSecret", StoreSecretInput::Promote(promote)) => {
                assert_eq!(
                    promote.staged.version_id,
                    format!("version-{}", promote.token.id)
                );
                assert_eq!(promote.verified.role, promote.service_account.role);
            }
            (state, input) => panic!("{state} built the wrong store-secret input: {input:?}"),
        }
    }
}

/// Runs `definition` with one credential and returns its violations.
async fn violations_of(definition: &Value, name: &str) -> Vec<String> {
    let steps = ContractSteps::new(1);
    let run = run_with(definition, &steps, name).await;
    assert_eq!(run.result.status, ExecutionStatus::Failed, "{name}");
    run.violations
}

#[tokio::test]
async fn a_wrong_store_secret_payload_cannot_be_built() {
    let cases = [
        // Promote straight after stage, skipping verify: the promote input has no `verified`.
        (
            "StageSecret",
            "Next",
            "PreparePromote",
            "contract-unverified",
            "verified",
        ),
        // The promote call labelled as a stage: after verify there is no sealed token to store.
        (
            "PreparePromote",
            "Result",
            "stage",
            "contract-mislabelled",
            "sealed",
        ),
    ];
    for (state, field, value, name, missing) in cases {
        let mut definition = rendered();
        definition
            .pointer_mut(&format!(
                "/States/RotateCredentials/ItemProcessor/States/{state}"
            ))
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(field.to_owned(), json!(value));
        let violations = violations_of(&definition, name).await;
        assert_eq!(violations.len(), 1, "{name}: {violations:?}");
        assert!(
            violations[0].starts_with("PromoteSecret") && violations[0].contains(missing),
            "{name}: {violations:?}"
        );
    }
}

#[tokio::test]
async fn the_sealed_token_travels_only_from_mint_token_to_stage() {
    let steps = ContractSteps::new(2);
    let run = run_with(&rendered(), &steps, "contract-sealed").await;
    assert_eq!(run.result.status, ExecutionStatus::Succeeded);
    let mut carrying = BTreeSet::new();
    let mut entered = BTreeSet::new();
    for event in &run.result.history {
        let Some(name) = event.entered_state_name() else {
            continue;
        };
        entered.insert(name.to_owned());
        let input = event
            .details
            .get("stateEnteredEventDetails")
            .and_then(|details| details.get("input"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if input.contains(SAMPLE_SEALED_TOKEN) {
            carrying.insert(name.to_owned());
        }
    }
    for after_stage in [
        "VerifyToken",
        "PreparePromote",
        "PromoteSecret",
        "WaitGracePeriod",
        "RevokeSupersededCredentials",
        "PrepareRevoke",
        "RevokeSuperseded",
        "RevokeWorkspaceLeftovers",
        "Summarize",
    ] {
        assert!(entered.contains(after_stage), "{after_stage} was not run");
    }
    assert_eq!(
        carrying,
        BTreeSet::from(["PrepareStage".to_owned(), "StageSecret".to_owned()]),
        "only the states between mint-token and stage may hold the sealed token"
    );
    let output = run.result.output.unwrap().to_string();
    assert!(!output.contains(SAMPLE_SEALED_TOKEN), "{output}");
}

#[tokio::test]
async fn a_payload_missing_a_field_is_reported_as_a_violation() {
    let mut definition = rendered();
    let payload = definition
        .pointer_mut("/States/DiscoverKeys/Parameters/Payload")
        .and_then(Value::as_object_mut)
        .unwrap();
    payload.remove("workspace.$");
    let steps = ContractSteps::new(1);
    let run = run_with(&definition, &steps, "contract-broken").await;
    assert_eq!(run.violations.len(), 1, "{:?}", run.violations);
    assert!(
        run.violations[0].contains("DiscoverInput"),
        "{:?}",
        run.violations
    );
    assert_eq!(run.result.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn verification_failure_skips_promote_and_revoke_and_reaches_the_dlq() {
    let steps = ContractSteps::new(2).failing_at(
        "VerifyToken",
        TaskError::new("Verify.Failed", "token did not authenticate"),
    );
    let run = run_with(&rendered(), &steps, "contract-verify").await;
    assert_eq!(run.result.status, ExecutionStatus::Failed);
    assert_eq!(run.result.error.as_deref(), Some("Verify.Failed"));
    assert!(run.calls.iter().all(|call| call.step != Step::RevokeOld));
    assert!(
        run.calls
            .iter()
            .all(|call| call.payload.get("action") != Some(&json!("promote")))
    );
    let entered = run.result.all_states_entered();
    assert!(!entered.contains(&"PromoteSecret".to_owned()));
    assert!(!entered.contains(&"WaitGracePeriod".to_owned()));
    assert!(
        run.bad_dlq_messages.is_empty(),
        "{:?}",
        run.bad_dlq_messages
    );
    assert!(!run.dlq_messages.is_empty());
    for message in &run.dlq_messages {
        assert_eq!(message.failed_state.as_deref(), Some("VerifyToken"));
        assert_eq!(message.error, "Verify.Failed");
        assert_eq!(message.execution, "contract-verify");
        assert!(message.execution_input.is_some());
    }
}

#[tokio::test]
async fn workspace_failures_name_their_state_in_the_dlq_message() {
    for state in [
        "DiscoverKeys",
        "RevokeWorkspaceLeftovers",
        "CreateServiceAccount",
        "PromoteSecret",
    ] {
        let run = forbidden_at(&rendered(), state, "contract-dlq").await;
        assert_eq!(run.result.status, ExecutionStatus::Failed, "{state}");
        assert_eq!(
            run.result.error.as_deref(),
            Some("Grafana.Forbidden"),
            "{state}"
        );
        assert_eq!(
            run.dlq_messages.len(),
            1,
            "{state}: one DLQ message, not two"
        );
        assert_eq!(
            run.dlq_messages[0].failed_state.as_deref(),
            Some(state),
            "{state}"
        );
    }
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_are_not() {
    let steps =
        ContractSteps::new(1).failing_at("MintToken", TaskError::new("Grafana.Throttled", "429"));
    let run = run_with(&rendered(), &steps, "contract-retry").await;
    assert_eq!(
        calls_to(&run, Step::MintToken),
        7,
        "first attempt plus MaxAttempts 6"
    );
    assert_eq!(run.result.error.as_deref(), Some("Grafana.Throttled"));

    let steps = ContractSteps::new(1)
        .failing_at("MintToken", TaskError::new("Grafana.Unauthorized", "401"));
    let run = run_with(&rendered(), &steps, "contract-permanent").await;
    assert_eq!(calls_to(&run, Step::MintToken), 1);
}

#[tokio::test]
async fn validate_finds_no_problem_in_the_shipped_definition() {
    let problems = keyshift_cli::validate::validate_definition(None)
        .await
        .unwrap();
    assert_eq!(problems, Vec::new());
}

/// The names of every `sqs:sendMessage` state, at any depth (Map iterations included).
fn send_message_states(states: &Value, found: &mut BTreeSet<String>) {
    let Some(states) = states.as_object() else {
        return;
    };
    for (name, state) in states {
        if state.get("Resource").and_then(Value::as_str) == Some("arn:aws:states:::sqs:sendMessage")
        {
            found.insert(name.clone());
        }
        for nested in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(nested) {
                send_message_states(&inner["States"], found);
            }
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for branch in branches {
                send_message_states(&branch["States"], found);
            }
        }
    }
}

#[tokio::test]
async fn every_dead_letter_the_definition_sends_is_a_schema_v1_message() {
    let definition = rendered();
    let mut senders = BTreeSet::new();
    send_message_states(&definition["States"], &mut senders);
    assert_eq!(
        senders,
        BTreeSet::from([
            "NotifyCredentialFailure".to_owned(),
            "NotifyDeadLetterQueue".to_owned(),
            "NotifyRevokeFailure".to_owned(),
        ]),
        "a new sendMessage state needs a failure below that reaches it"
    );
    let mut reached = BTreeSet::new();
    let mut parsed = 0;
    for state in [
        "DiscoverKeys",
        "VerifyToken",
        "RevokeSuperseded",
        "RevokeWorkspaceLeftovers",
    ] {
        let execution = format!("contract-schema-{state}");
        let run = forbidden_at(&definition, state, &execution).await;
        assert_eq!(run.bad_dlq_messages, Vec::<String>::new(), "{state}");
        assert!(!run.dlq_messages.is_empty(), "{state}: no dead letter");
        reached.extend(
            run.result
                .all_states_entered()
                .into_iter()
                .filter(|entered| senders.contains(entered)),
        );
        for message in &run.dlq_messages {
            parsed += 1;
            assert_eq!(message.schema_version, 1, "{state}");
            assert_eq!(
                message.kind,
                keyshift_core::dead_letter::DeadLetterKind::ExecutionFailed
            );
            assert_eq!(message.execution, execution);
            assert!(
                message
                    .execution_arn
                    .as_deref()
                    .is_some_and(|arn| arn.contains(":execution:")
                        && arn.ends_with(&format!(":{execution}"))),
                "{state}: {:?}",
                message.execution_arn
            );
            assert!(
                message.state_machine_arn.contains(":stateMachine:"),
                "{state}"
            );
            assert_eq!(message.attempts, 1, "a first run is attempt 1");
            assert_eq!(message.error, "Grafana.Forbidden");
            assert_eq!(message.failed_state.as_deref(), Some(state));
            assert_eq!(
                message.execution_input.as_ref(),
                Some(&sample_execution_input())
            );
            assert!(message.workspace.is_some(), "{state}");
            let replayed =
                keyshift_core::dead_letter::DlqMessage::parse(&message.to_body().unwrap()).unwrap();
            assert_eq!(&replayed, message);
        }
    }
    assert_eq!(reached, senders, "every sendMessage state was exercised");
    assert!(parsed >= 4, "{parsed}");
}
