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

/// Sends one raw request to moto for set-up the SDK clients of the workspace do not cover
/// (moto's config, IAM, Lambda); moto does not check signatures, only the service in the scope.
async fn moto_call(moto: &str, service: &str, path: &str, body: String, content_type: &str) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response = reqwest::Client::new()
        .post(format!("{moto}{path}"))
        .header("authorization", auth)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("moto {service} {path}: {error}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "moto {service} {path}: {status} {text}"
    );
}

/// Registers a rotation function in moto's Lambda and returns its ARN. moto's Lambda is put in
/// its no-docker mode first, so the four invocations moto's RotateSecret makes do nothing and
/// the test sends Secrets Manager's four events to keyshift's handler itself.
pub async fn register_rotation_function(moto: &str) -> String {
    moto_call(
        moto,
        "moto",
        "/moto-api/config",
        r#"{"lambda": {"use_docker": false}}"#.to_owned(),
        "application/json",
    )
    .await;
    let name = unique("rot");
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
    );
    moto_call(moto, "iam", "/", form, "application/x-www-form-urlencoded").await;
    // An empty zip: moto's no-docker Lambda never runs it.
    let function = format!(
        r#"{{"FunctionName": "{name}", "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": "arn:aws:iam::123456789012:role/{name}", "Code": {{"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}}}"#
    );
    moto_call(
        moto,
        "lambda",
        "/2015-03-31/functions",
        function,
        "application/json",
    )
    .await;
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// What Secrets Manager's RotateSecret does, on moto: a new version under a fresh
/// ClientRequestToken labelled AWSPENDING, without a value, and rotation enabled (every 30
/// days) with `function_arn`. Returns the token.
pub async fn start_rotation(
    secrets_manager: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    function_arn: &str,
) -> String {
    let token = uuid::Uuid::new_v4().to_string();
    secrets_manager
        .rotate_secret()
        .secret_id(secret_id)
        .client_request_token(&token)
        .rotation_lambda_arn(function_arn)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|error| panic!("RotateSecret on moto: {error:?}"));
    token
}
