//! `keyshift dlq replay` through the binary against moto's SQS and Step Functions.

use std::process::{Command, Output};

use keyshift_aws::{AwsContext, EndpointOverrides};
use keyshift_core::KeyshiftError;
use keyshift_core::dead_letter::DlqMessage;
use serde_json::{Value, json};

fn keyshift(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyshift"))
        .args(args)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYSHIFT_AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap()
}

/// Stdout, and stderr after it, for assertion messages.
fn stdout(output: &Output) -> String {
    format!(
        "{}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn dry_run_then_replay_against_moto() {
    let Some(endpoint) = keyshift_test_support::moto_endpoint("dlq_replay_cli") else {
        return;
    };
    let aws = AwsContext::for_emulator(EndpointOverrides::for_all(endpoint.clone())).await;
    let suffix = std::process::id();
    let sqs = aws.sqs_client();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!(
            "keyshift-dlq-cli-{suffix}-{}",
            chrono::Utc::now().timestamp_millis()
        ))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let sfn = aws.sfn_client();
    let machine = sfn
        .create_state_machine()
        .name(format!("keyshift-cli-{suffix}-{}", chrono::Utc::now().timestamp_millis()))
        .definition(
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}})
                .to_string(),
        )
        .role_arn("arn:aws:iam::123456789012:role/keyshift-sfn")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let message = DlqMessage::start_failed(
        machine.clone(),
        "ks-cli-tick-20250301-0630",
        None,
        json!({"workspace": "w"}),
        &KeyshiftError::AwsThrottled {
            service: "states".into(),
            operation: "StartExecution".into(),
            retry_after: None,
        },
        2,
        chrono::Utc::now(),
    );
    for body in [message.to_body().unwrap(), "not a dead letter".to_owned()] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let common = [
        "dlq",
        "replay",
        "--queue-url",
        queue_url.as_str(),
        "--state-machine-arn",
        machine.as_str(),
    ];

    let dry = keyshift(
        &endpoint,
        &[&common[..], &["--dry-run", "--output", "json"]].concat(),
    );
    assert_eq!(
        dry.status.code(),
        Some(1),
        "a malformed message: {}",
        stdout(&dry)
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
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(listed.executions().is_empty(), "a dry run starts nothing");

    let real = keyshift(
        &endpoint,
        &[&common[..], &["--visibility-timeout", "1"]].concat(),
    );
    let table = stdout(&real);
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
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .executions()
        .iter()
        .map(|execution| execution.name())
        .collect();
    assert_eq!(names, ["ks-cli-tick-20250301-0630"]);
}
