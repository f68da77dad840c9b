//! EventBridgePublisher against moto: a consumer's rule on the bus routes `Secret Rotated` to
//! its SQS queue, and the consumer receives exactly what keyshift published (never a token).

mod common;

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use keyshift_aws::EventBridgePublisher;
use keyshift_core::ports::{
    EventPublisher, ROTATION_FAILED, RotationEvent, SECRET_ROTATED, SecretRotatedDetail,
};
use keyshift_test_support::aws::{create_queue, unique};
use serde_json::{Value, json};

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyshift/ci-AbCdEf";

fn rotated() -> RotationEvent {
    RotationEvent::secret_rotated(&SecretRotatedDetail {
        secret_arn: SECRET_ARN.to_owned(),
        version_id: "v-2".to_owned(),
        previous_version_id: Some("v-1".to_owned()),
        workspace: "self:https://grafana.example.com:1".to_owned(),
        service_account: "sa-autogen-ci".to_owned(),
        expires_at: None,
        execution: "ks-2026-12-03".to_owned(),
        reason: "rotation".to_owned(),
    })
}

/// A bus, a queue and a rule on the bus that sends `detail_type` events from keyshift to the
/// queue; returns the bus name and the queue URL.
async fn consumer(aws: &keyshift_aws::AwsContext, detail_type: &str) -> (String, String) {
    let events = aws.eventbridge_client();
    let sqs = aws.sqs_client();
    let bus = unique("keyshift-rotations");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue_url = create_queue(&sqs, "consumer").await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .expect("moto reports the queue ARN");
    let rule = unique("secret-rotated");
    let pattern = json!({"source": ["keyshift"], "detail-type": [detail_type]});
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            Target::builder()
                .id("consumer")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, queue_url)
}

async fn received(aws: &keyshift_aws::AwsContext, queue_url: &str) -> Vec<Value> {
    let output = aws
        .sqs_client()
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    output
        .messages()
        .iter()
        .map(|message| serde_json::from_str(message.body().unwrap_or_default()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_consumer_rule_delivers_secret_rotated_to_its_queue() {
    let Some(aws) =
        common::moto_context("a_consumer_rule_delivers_secret_rotated_to_its_queue").await
    else {
        return;
    };
    let (bus, queue_url) = consumer(&aws, SECRET_ROTATED).await;
    let publisher = EventBridgePublisher::new(aws.eventbridge_client(), &bus);
    let event = rotated();
    publisher.publish(&event).await.unwrap();
    let failed = RotationEvent {
        detail_type: ROTATION_FAILED.to_owned(),
        detail: json!({"workspace": {"kind": "selfHosted"}, "error": "Verify.Failed"}),
    };
    publisher.publish(&failed).await.unwrap();

    let messages = received(&aws, &queue_url).await;
    assert_eq!(
        messages.len(),
        1,
        "the rule matches Secret Rotated only: {messages:?}"
    );
    let delivered = &messages[0];
    assert_eq!(delivered["source"], "keyshift");
    assert_eq!(delivered["detail-type"], SECRET_ROTATED);
    assert_eq!(delivered["detail"], event.detail);
    assert_eq!(delivered["detail"]["secretArn"], SECRET_ARN);
    assert!(!delivered.to_string().contains("glsa_"), "{delivered}");
}

#[tokio::test]
async fn publishing_to_a_bus_that_does_not_exist_is_a_named_permanent_error() {
    let Some(aws) =
        common::moto_context("publishing_to_a_bus_that_does_not_exist_is_a_named_permanent_error")
            .await
    else {
        return;
    };
    let publisher = EventBridgePublisher::new(aws.eventbridge_client(), unique("no-such-bus"));
    let error = publisher.publish(&rotated()).await.unwrap_err();
    assert_eq!(error.asl_name(), "Aws.Failed", "{error}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("PutEvents"), "{error}");
}
