//! rotate-secret is deployed: it links the SDK clients it calls (Secrets Manager, KMS, the AMG
//! control plane, EventBridge for `Secret Rotated`) and nothing local, simulated or
//! orchestration-only.

#[test]
fn links_its_clients_and_no_simulator_local_engine_or_orchestration_sdk() {
    keyshift_test_support::assert_links(
        "rotate-secret",
        &[
            "aws-sdk-secretsmanager",
            "aws-sdk-kms",
            "aws-sdk-grafana",
            "aws-sdk-eventbridge",
            "keyshift-core",
        ],
        &[
            "grafana-sim",
            "local-sfn",
            "keyshift-local",
            "keyshift-test-support",
            "aws-sdk-sfn",
            "aws-sdk-sqs",
        ],
    );
}

/// Only the functions that promote publish events; the other steps must not carry the SDK.
#[test]
fn only_the_promoting_functions_link_eventbridge() {
    keyshift_test_support::assert_links("store-secret", &["aws-sdk-eventbridge"], &[]);
    for package in [
        "discover-keys",
        "create-sa",
        "mint-token",
        "verify",
        "revoke-old",
    ] {
        keyshift_test_support::assert_links(package, &["keyshift-core"], &["aws-sdk-eventbridge"]);
    }
}
