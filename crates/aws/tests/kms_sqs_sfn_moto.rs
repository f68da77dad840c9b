//! KMS sealer, SQS dead-letter queue and Step Functions starter against moto.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_aws::{KmsSealer, SfnExecutionStarter, SqsDeadLetterQueue};
use keyshift_core::model::WorkspaceRef;
use keyshift_core::ports::{
    DeadLetterQueue, DlqMessage, ExecutionStarter, ExecutionStatus, SealContext, SealedToken,
    Sealer, StartOutcome,
};
use keyshift_core::secret::SecretString;
use keyshift_test_support::aws::{WAITING_MACHINE, create_queue, create_state_machine};
use serde_json::json;

const TOKEN: &str = "glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d";

fn context(execution: &str) -> SealContext {
    SealContext::from([
        (
            "keyshift:workspace".to_owned(),
            "amg:g-0123456789".to_owned(),
        ),
        ("keyshift:execution".to_owned(), execution.to_owned()),
    ])
}

/// A sealer on a new moto KMS key and [`TOKEN`] sealed by it for execution `exec-1`.
async fn sealed_by_kms(test: &str) -> Option<(KmsSealer, SealedToken)> {
    let aws = common::moto_context(test).await?;
    let client = aws.kms_client();
    let key = client.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let sealer = KmsSealer::new(client, key_id);
    let sealed = sealer
        .seal(&SecretString::new(TOKEN), &context("exec-1"))
        .await
        .unwrap();
    Some((sealer, sealed))
}

#[tokio::test]
async fn kms_seal_round_trip() {
    let Some((sealer, sealed)) = sealed_by_kms("kms_seal_round_trip").await else {
        return;
    };
    assert!(!sealed.as_str().contains("glsa_"), "{sealed:?}");
    let ciphertext = BASE64.decode(sealed.as_str()).unwrap();
    assert!(
        !ciphertext
            .windows(TOKEN.len())
            .any(|window| window == TOKEN.as_bytes()),
        "the token must not appear in the ciphertext"
    );
    let opened = sealer.unseal(&sealed, &context("exec-1")).await.unwrap();
    assert_eq!(opened.expose(), TOKEN);
}

#[tokio::test]
async fn kms_refuses_another_context_and_tampered_tokens() {
    let Some((sealer, sealed)) =
        sealed_by_kms("kms_refuses_another_context_and_tampered_tokens").await
    else {
        return;
    };
    // KMS itself checks the presented context: another execution cannot open the token.
    let error = sealer
        .unseal(&sealed, &context("exec-2"))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Seal.Failed", "{error:?}");
    assert!(!error.to_string().contains("glsa_"));

    let mut tampered = BASE64.decode(sealed.as_str()).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let error = sealer
        .unseal(
            &SealedToken::new(BASE64.encode(&tampered)),
            &context("exec-1"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Seal.Failed", "{error:?}");

    let error = sealer
        .unseal(&SealedToken::new("garbage!"), &context("exec-1"))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Seal.Failed");
}

fn dlq_message(execution: &str) -> DlqMessage {
    DlqMessage::parse(
        &json!({
            "schemaVersion": 1,
            "kind": "executionFailed",
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            "execution": execution,
            "executionArn": format!("arn:aws:states:us-east-1:123456789012:execution:m:{execution}"),
            "workspace": WorkspaceRef::amg("g-0123456789", "us-east-1", 1).unwrap(),
            "failedState": "Verify",
            "error": "Verify.Failed",
            "cause": "token did not authenticate",
            "attempts": 1,
            "firstFailureTime": "2025-03-01T06:31:00Z",
            "executionInput": {"workspace": "g-0123456789"}
        })
        .to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn sqs_queue_send_receive_redeliver_delete() {
    let Some(context) = common::moto_context("sqs_queue_send_receive_redeliver_delete").await
    else {
        return;
    };
    let client = context.sqs_client();
    let queue_url = create_queue(&client, "keyshift-dlq").await;
    let queue = SqsDeadLetterQueue::new(client, queue_url);
    queue.send(&dlq_message("exec-1")).await.unwrap();

    let first = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, Some(1));
    let parsed = DlqMessage::parse(&first[0].body).unwrap();
    assert_eq!(parsed, dlq_message("exec-1"));
    let hidden = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert!(hidden.is_empty(), "a received message is hidden");

    // Not deleted: it comes back after the visibility timeout with a higher count.
    let mut again = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        again = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if !again.is_empty() {
            break;
        }
    }
    assert_eq!(again.len(), 1, "message did not reappear");
    assert_eq!(again[0].receive_count, Some(2));
    // Released: visible again at once (a dry run hands messages back this way).
    queue.release(&again[0].receipt).await.unwrap();
    let released = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(released.len(), 1, "a released message is visible again");
    assert_eq!(released[0].receive_count, Some(3));
    queue.delete(&released[0].receipt).await.unwrap();
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test]
async fn sfn_start_is_idempotent_by_name() {
    let Some(context) = common::moto_context("sfn_start_is_idempotent_by_name").await else {
        return;
    };
    let client = context.sfn_client();
    let machine = create_state_machine(&client, "keyshift-rotate", WAITING_MACHINE).await;
    let starter = SfnExecutionStarter::new(client, machine);
    let input = json!({"workspace": {"kind": "amg", "workspaceId": "g-0123456789"}});

    let first = starter
        .start("rotate-g-0123456789-20250101", &input)
        .await
        .unwrap();
    let StartOutcome::Started { execution_arn } = first else {
        panic!("expected Started, got {first:?}");
    };
    let second = starter
        .start("rotate-g-0123456789-20250101", &input)
        .await
        .unwrap();
    assert_eq!(
        second,
        StartOutcome::AlreadyRunning {
            execution_arn: execution_arn.clone()
        }
    );
    let other_input = starter
        .start("rotate-g-0123456789-20250101", &json!({"different": true}))
        .await
        .unwrap();
    assert_eq!(other_input, StartOutcome::AlreadyExists);

    let described = starter.describe(&execution_arn).await.unwrap();
    assert_eq!(described.status, ExecutionStatus::Running);
    assert_eq!(described.name, "rotate-g-0123456789-20250101");
    assert!(described.start_date.is_some());

    // moto does not implement RedriveExecution; whatever it answers must be a named error.
    let error = starter.redrive(&execution_arn).await.unwrap_err();
    assert!(
        ["Execution.NotRedrivable", "Aws.Unavailable", "Aws.Failed"].contains(&error.asl_name()),
        "{error:?}"
    );
}

#[tokio::test]
async fn sfn_describe_of_unknown_execution_is_a_named_error() {
    let Some(context) = common::moto_context("sfn_describe_unknown").await else {
        return;
    };
    let starter = SfnExecutionStarter::new(
        context.sfn_client(),
        "arn:aws:states:us-east-1:123456789012:stateMachine:missing",
    );
    let error = starter
        .describe("arn:aws:states:us-east-1:123456789012:execution:missing:nope")
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Aws.Failed", "{error:?}");
    assert!(
        error.to_string().contains("ExecutionDoesNotExist"),
        "{error}"
    );
}
