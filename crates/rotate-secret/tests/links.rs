//! rotate-secret is deployed: it links the SDK clients it calls (Secrets Manager, KMS, the AMG
//! control plane) and nothing local, simulated or orchestration-only.

#[test]
fn links_its_clients_and_no_simulator_local_engine_or_orchestration_sdk() {
    keyshift_test_support::assert_links(
        "rotate-secret",
        &[
            "aws-sdk-secretsmanager",
            "aws-sdk-kms",
            "aws-sdk-grafana",
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
