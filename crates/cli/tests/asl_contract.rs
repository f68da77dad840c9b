//! The ASL↔Rust contract: every Task of the shipped definition builds its step's input type,
//! and each step's output is what the following states read.

use keyshift_cli::asl::{LOCAL_DLQ_URL, Step, local_definition};
use keyshift_cli::contract::{ContractSteps, run_contract, sample_execution_input};
use local_sfn::{ExecutionStatus, TaskError};
use serde_json::{Value, json};

fn rendered() -> Value {
    serde_json::from_str(&local_definition(LOCAL_DLQ_URL).unwrap()).unwrap()
}

#[tokio::test]
async fn every_task_payload_deserializes_into_its_step_input() {
    let steps = ContractSteps::new(3);
    let run = run_contract(
        &rendered(),
        &steps,
        sample_execution_input(),
        "contract-ok",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
    assert_eq!(run.violations, Vec::<String>::new());
    assert_eq!(
        run.result.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        run.result.cause
    );
    let count = |step: Step| run.calls.iter().filter(|call| call.step == step).count();
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
    let actions: Vec<&str> = run
        .calls
        .iter()
        .filter(|call| call.step == Step::StoreSecret)
        .filter_map(|call| call.payload.get("action").and_then(Value::as_str))
        .collect();
    assert_eq!(
        actions.iter().filter(|action| **action == "stage").count(),
        3
    );
    assert_eq!(
        actions
            .iter()
            .filter(|action| **action == "promote")
            .count(),
        3
    );
    let scopes: Vec<&str> = run
        .calls
        .iter()
        .filter(|call| call.step == Step::RevokeOld)
        .filter_map(|call| call.payload.get("scope").and_then(Value::as_str))
        .collect();
    assert_eq!(
        scopes
            .iter()
            .filter(|scope| **scope == "credential")
            .count(),
        3
    );
    assert_eq!(
        scopes.iter().filter(|scope| **scope == "workspace").count(),
        1
    );
    let output = run.result.output.unwrap();
    assert_eq!(output["credentials"].as_array().map(Vec::len), Some(3));
    assert!(output.get("workspaceCleanup").is_some());
}

#[tokio::test]
async fn each_task_invokes_the_step_its_name_promises() {
    let steps = ContractSteps::new(1);
    let run = run_contract(
        &rendered(),
        &steps,
        sample_execution_input(),
        "contract-map",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
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
async fn a_payload_missing_a_field_is_reported_as_a_violation() {
    let mut definition = rendered();
    let payload = definition
        .pointer_mut("/States/DiscoverKeys/Parameters/Payload")
        .and_then(Value::as_object_mut)
        .unwrap();
    payload.remove("workspace.$");
    let steps = ContractSteps::new(1);
    let run = run_contract(
        &definition,
        &steps,
        sample_execution_input(),
        "contract-broken",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
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
    let run = run_contract(
        &rendered(),
        &steps,
        sample_execution_input(),
        "contract-verify",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
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
        assert_eq!(message.failed_state, "VerifyToken");
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
        let steps =
            ContractSteps::new(1).failing_at(state, TaskError::new("Grafana.Forbidden", "denied"));
        let run = run_contract(
            &rendered(),
            &steps,
            sample_execution_input(),
            "contract-dlq",
            LOCAL_DLQ_URL,
        )
        .await
        .unwrap();
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
        assert_eq!(run.dlq_messages[0].failed_state, state);
    }
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_are_not() {
    let steps =
        ContractSteps::new(1).failing_at("MintToken", TaskError::new("Grafana.Throttled", "429"));
    let run = run_contract(
        &rendered(),
        &steps,
        sample_execution_input(),
        "contract-retry",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
    let mint_calls = run
        .calls
        .iter()
        .filter(|call| call.step == Step::MintToken)
        .count();
    assert_eq!(mint_calls, 7, "first attempt plus MaxAttempts 6");
    assert_eq!(run.result.error.as_deref(), Some("Grafana.Throttled"));

    let steps = ContractSteps::new(1)
        .failing_at("MintToken", TaskError::new("Grafana.Unauthorized", "401"));
    let run = run_contract(
        &rendered(),
        &steps,
        sample_execution_input(),
        "contract-permanent",
        LOCAL_DLQ_URL,
    )
    .await
    .unwrap();
    let mint_calls = run
        .calls
        .iter()
        .filter(|call| call.step == Step::MintToken)
        .count();
    assert_eq!(mint_calls, 1);
}

#[tokio::test]
async fn validate_finds_no_problem_in_the_shipped_definition() {
    let problems = keyshift_cli::validate::validate_definition(None)
        .await
        .unwrap();
    assert_eq!(problems, Vec::new());
}
