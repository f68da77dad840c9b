//! `keyshift dlq replay` through the binary against moto's SQS and Step Functions.

mod common;

use std::process::Output;

use keyshift_aws::{AwsContext, EndpointOverrides};
use keyshift_core::KeyshiftError;
use keyshift_core::dead_letter::DlqMessage;
use keyshift_test_support::aws::{
    WAITING_MACHINE, create_queue, create_state_machine, execution_names,
};
use serde_json::{Value, json};

fn keyshift(endpoint: &str, args: &[&str]) -> Output {
    common::keyshift_on_moto(endpoint)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn dry_run_then_replay_against_moto() {
    let endpoint = keyshift_test_support::moto_or_skip!(dlq_replay_cli);
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(endpoint.clone())).await;
    let sqs = aws.sqs_client();
    let queue_url = create_queue(&sqs, "keyshift-dlq-cli").await;
    let sfn = aws.sfn_client();
    let machine = create_state_machine(&sfn, "keyshift-cli", WAITING_MACHINE).await;
    let throttled = KeyshiftError::AwsThrottled {
        service: "states".into(),
        operation: "StartExecution".into(),
        retry_after: None,
    };
    let input = json!({"workspace": "w"});
    let now = chrono::Utc::now();
    let name = "ks-cli-tick-20250301-0630";
    let message = DlqMessage::start_failed(machine.clone(), name, None, input, &throttled, 2, now);
    for body in [message.to_body().unwrap(), "not a dead letter".to_owned()] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let replay = [
        "dlq",
        "replay",
        "--queue-url",
        queue_url.as_str(),
        "--state-machine-arn",
        machine.as_str(),
    ];

    let dry = keyshift(
        &endpoint,
        &[&replay[..], &["--dry-run", "--output", "json"]].concat(),
    );
    assert_eq!(
        dry.status.code(),
        Some(1),
        "a malformed message: {}",
        common::stdout_and_stderr(&dry)
    );
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["dryRun"], json!(true));
    assert_eq!(
        (
            &report["received"],
            &report["started"],
            &report["malformed"],
            &report["deleted"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0)),
        "{report}"
    );
    assert!(
        execution_names(&sfn, &machine).await.is_empty(),
        "a dry run starts nothing"
    );

    let real = keyshift(
        &endpoint,
        &[&replay[..], &["--visibility-timeout", "1"]].concat(),
    );
    let table = common::stdout_and_stderr(&real);
    assert_eq!(real.status.code(), Some(1), "{table}");
    assert!(
        table.lines().any(|line| line.starts_with("start ")
            && line.contains("deleted")
            && line.contains("ks-cli-tick-20250301-0630")),
        "{table}"
    );
    assert!(table.contains("malformed"), "{table}");
    assert!(
        table.contains("2 received, 0 redriven, 1 started"),
        "{table}"
    );
    assert_eq!(
        execution_names(&sfn, &machine).await,
        ["ks-cli-tick-20250301-0630"]
    );
}
