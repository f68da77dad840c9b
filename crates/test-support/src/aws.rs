//! What the moto-backed tests create before they start: a queue, a state machine, names no
//! other test uses, and the executions a test then looks for; and who an access key belongs to
//! on moto's STS. One copy, so every test crate sets moto up the same way.

/// A state machine that waits an hour: executions of it stay `RUNNING` for the whole test.
pub const WAITING_MACHINE: &str =
    r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#;

/// A state machine whose executions succeed at once.
pub const PASSING_MACHINE: &str =
    r#"{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}"#;

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates an SQS queue with a [`unique`] name and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url()
        .expect("CreateQueue answers with the queue URL")
        .to_owned()
}

/// Creates a state machine with a [`unique`] name and the given ASL definition and returns its
/// ARN.
pub async fn create_state_machine(
    sfn: &aws_sdk_sfn::Client,
    prefix: &str,
    definition: &str,
) -> String {
    sfn.create_state_machine()
        .name(unique(prefix))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/keyshift-sfn")
        .send()
        .await
        .expect("moto creates the state machine")
        .state_machine_arn()
        .to_owned()
}

/// The names of every execution of `machine`, in the order Step Functions lists them.
pub async fn execution_names(sfn: &aws_sdk_sfn::Client, machine: &str) -> Vec<String> {
    sfn.list_executions()
        .state_machine_arn(machine)
        .send()
        .await
        .expect("moto lists the executions")
        .executions()
        .iter()
        .map(|execution| execution.name().to_owned())
        .collect()
}

/// The identity (ARN) moto's STS gives `access_key_id`: moto maps the key id of credentials it
/// issued through AssumeRole back to that role session
/// (`arn:aws:sts::<account>:assumed-role/<role>/<session>`), and any other key to its default
/// user, so a test learns whose credentials a request it recorded was signed with. moto checks
/// no signature, so the secret key is not needed. Panics (a broken test set-up) when moto does
/// not answer.
pub async fn caller_arn_on_moto(moto: &str, access_key_id: &str) -> String {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    let credentials = Credentials::new(
        access_key_id,
        "moto-checks-no-signature",
        None,
        None,
        "keyshift-test",
    );
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(credentials)
        .build();
    let identity = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .unwrap_or_else(|error| panic!("GetCallerIdentity on moto failed: {error:?}"));
    identity.arn().unwrap_or_default().to_owned()
}
