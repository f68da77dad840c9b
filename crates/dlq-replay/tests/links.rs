//! dlq-replay is deployed: it must link the SDKs it calls and nothing local or simulated.

#[test]
fn links_sqs_and_sfn_and_no_simulator_or_local_engine() {
    keyshift_test_support::assert_links(
        "dlq-replay",
        &["aws-sdk-sfn", "aws-sdk-sqs", "keyshift-core"],
        &[
            "grafana-sim",
            "local-sfn",
            "keyshift-local",
            "keyshift-test-support",
            "aws-sdk-eventbridge",
        ],
    );
}
