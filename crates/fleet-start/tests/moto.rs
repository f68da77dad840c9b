//! fleet-start with the real SDK clients: Step Functions, SQS and STS on the moto server, the
//! AMG control plane on grafana-sim's AMG endpoint (moto has no `grafana` service, so no
//! ListWorkspaces or CreateWorkspace).

use std::sync::Arc;

use aws_sdk_sfn::types::{ExecutionListItem, ExecutionStatus};
use fleet_start::FleetStartConfig;
use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{
    AwsAmgConnector, AwsContext, AwsService, EndpointOverrides, FLEET_START_SESSION,
    SfnExecutionStarter, SqsDeadLetterQueue, TokioSleeper, assume_role,
};
use keyshift_core::dead_letter::DeadLetterKind;
use keyshift_core::fleet::{FleetStartDeps, FleetStartEvent, StartRetry, fleet_start};
use keyshift_core::model::AssumeRole;
use keyshift_core::ports::{DeadLetterQueue, DlqMessage, SystemClock};
use keyshift_test_support::aws::{PASSING_MACHINE, create_queue, create_state_machine};
use serde_json::json;

const PROD_ROLE: &str = "arn:aws:iam::210987654321:role/keyshift-fleet";
const LAB_ROLE: &str = "arn:aws:iam::310987654321:role/keyshift-lab";

async fn sim() -> RunningSim {
    let tagged = json!({"keyshift": "managed"});
    let fleet = json!({"workspaces": [
        {"kind": "amg", "id": "g-00000000a1", "region": "us-east-1", "version": "10.4", "tags": tagged},
        {"kind": "amg", "id": "g-00000000a2", "region": "us-east-1", "version": "10.4"},
        {"kind": "amg", "id": "g-00000000a3", "region": "us-east-1", "version": "8.4", "tags": tagged},
        {"kind": "amg", "id": "g-00000000b1", "region": "eu-west-1", "version": "9.4", "tags": tagged},
        {"kind": "amg", "id": "g-00000000b2", "region": "eu-west-1", "version": "10.4",
         "status": "UPDATING", "tags": tagged},
        {"kind": "amg", "id": "g-00000000c1", "region": "ap-southeast-2", "version": "12.1", "tags": tagged}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn aws(test: &str, sim: &RunningSim) -> Option<AwsContext> {
    let moto = keyshift_test_support::moto_endpoint(test)?;
    let endpoints =
        EndpointOverrides::for_all(moto).with_service(AwsService::Grafana, sim.amg_endpoint_url());
    Some(AwsContext::for_emulator(endpoints).await)
}

async fn state_machine(aws: &AwsContext) -> String {
    create_state_machine(&aws.sfn_client(), "rotate-workspace", PASSING_MACHINE).await
}

/// Every execution of `machine`, with its ARN and status.
async fn list_executions(aws: &AwsContext, machine: &str) -> Vec<ExecutionListItem> {
    aws.sfn_client()
        .list_executions()
        .state_machine_arn(machine)
        .send()
        .await
        .unwrap()
        .executions
}

async fn queue(aws: &AwsContext) -> String {
    create_queue(&aws.sqs_client(), "keyshift-dlq").await
}

/// Own account: us-east-1; account "prod" (with an external id): eu-west-1; account "lab":
/// ap-southeast-2; one self-hosted Grafana.
fn tick(time: &str) -> FleetStartEvent {
    serde_json::from_value(json!({
        "amg": {"regions": ["us-east-1"], "tags": {"keyshift": "managed"}},
        "accounts": [
            {"roleArn": PROD_ROLE, "externalId": "keyshift-prod", "regions": ["eu-west-1"],
             "tags": {"keyshift": "managed"}},
            {"roleArn": LAB_ROLE, "regions": ["ap-southeast-2"], "tags": {"keyshift": "managed"}}
        ],
        "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin"}],
        "maxConcurrency": 2,
        "time": time
    }))
    .unwrap()
}

#[tokio::test]
async fn a_tick_lists_filters_assumes_roles_and_starts_and_a_repeat_starts_nothing() {
    let test = "a_tick_lists_filters_assumes_roles_and_starts_and_a_repeat_starts_nothing";
    let sim = sim().await;
    let Some(aws) = aws(test, &sim).await else {
        return;
    };
    let state_machine_arn = state_machine(&aws).await;
    let config = FleetStartConfig {
        state_machine_arn: state_machine_arn.clone(),
        dlq_url: queue(&aws).await,
    };
    let directory = Arc::new(AwsAmgConnector::new(aws.clone(), FLEET_START_SESSION));
    let deps = FleetStartDeps {
        directory: directory.clone(),
        ..config.deps(&aws)
    };

    let first = fleet_start(&deps, tick("2025-03-01T06:30:00Z"))
        .await
        .unwrap();
    assert_eq!(first.listing_failed, 0, "{first:#?}");
    assert_eq!(first.listed, 7, "6 AMG workspaces and 1 self-hosted target");
    assert_eq!(first.not_selected, 1, "g-00000000a2 carries no tag");
    assert_eq!(
        first.skipped, 2,
        "Grafana 8.4 and UPDATING: {:?}",
        first.skips
    );
    assert_eq!(first.started, 4);
    assert_eq!((first.already_running, first.failed), (0, 0));
    assert_eq!(directory.assumed_roles().await, 2, "one role per account");

    let executions = list_executions(&aws, &state_machine_arn).await;
    let mut names: Vec<&str> = executions
        .iter()
        .map(|execution| execution.name())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "ks-g-00000000a1-1-20250301-0630",
            "ks-g-00000000b1-1-20250301-0630",
            "ks-g-00000000c1-1-20250301-0630",
            "ks-grafana-example-com-1-20250301-0630",
        ]
    );
    let prod = executions
        .iter()
        .find(|execution| execution.name() == "ks-g-00000000b1-1-20250301-0630")
        .unwrap();
    let described = aws
        .sfn_client()
        .describe_execution()
        .execution_arn(prod.execution_arn())
        .send()
        .await
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        input["workspace"]["assumeRole"],
        json!({"roleArn": PROD_ROLE, "externalId": "keyshift-prod"}),
        "the execution carries the account's role"
    );
    assert_eq!(input["workspace"]["workspaceId"], "g-00000000b1");

    let again = fleet_start(&deps, tick("2025-03-01T06:30:00Z"))
        .await
        .unwrap();
    assert_eq!(again.started, 0, "{again:#?}");
    assert_eq!(again.already_running, 4);
    assert_eq!(again.failed, 0);
    let after = list_executions(&aws, &state_machine_arn).await;
    assert_eq!(after.len(), 4, "the repeated tick started nothing");
    assert!(
        after
            .iter()
            .all(|execution| execution.status() != &ExecutionStatus::Failed)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn assume_role_acts_as_the_role_on_moto_sts() {
    let sim = sim().await;
    let Some(aws) = aws("assume_role_acts_as_the_role_on_moto_sts", &sim).await else {
        return;
    };
    let role = AssumeRole {
        role_arn: PROD_ROLE.to_owned(),
        external_id: Some("keyshift-prod".to_owned()),
    };
    let assumed = assume_role(&aws, &role, "keyshift-test").await.unwrap();
    let mut sts = aws_sdk_sts::config::Builder::from(assumed.sdk_config());
    if let Some(url) = assumed.endpoints().endpoint_for(AwsService::Sts) {
        sts = sts.endpoint_url(url);
    }
    let identity = aws_sdk_sts::Client::from_conf(sts.build())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.account(), Some("210987654321"));
    assert!(
        identity
            .arn()
            .is_some_and(|arn| arn.ends_with(":assumed-role/keyshift-fleet/keyshift-test")),
        "{identity:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_start_that_fails_for_good_lands_in_the_sqs_dead_letter_queue() {
    let sim = sim().await;
    let Some(aws) = aws(
        "a_start_that_fails_for_good_lands_in_the_sqs_dead_letter_queue",
        &sim,
    )
    .await
    else {
        return;
    };
    let dlq_url = queue(&aws).await;
    let missing_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine";
    let deps = FleetStartDeps {
        directory: Arc::new(AwsAmgConnector::new(aws.clone(), FLEET_START_SESSION)),
        starter: Arc::new(SfnExecutionStarter::new(aws.sfn_client(), missing_machine)),
        dead_letters: Some(Arc::new(SqsDeadLetterQueue::new(
            aws.sqs_client(),
            dlq_url.clone(),
        ))),
        sleeper: Arc::new(TokioSleeper),
        clock: Arc::new(SystemClock),
        retry: StartRetry::default(),
    };
    let event: FleetStartEvent = serde_json::from_value(json!({
        "selfHosted": [
            {"url": "https://a.example.com", "adminSecretId": "a"},
            {"url": "https://b.example.com", "adminSecretId": "b"}
        ],
        "time": "2025-03-01T06:30:00Z"
    }))
    .unwrap();
    let output = fleet_start(&deps, event).await.unwrap();
    assert_eq!((output.started, output.failed), (0, 2), "{output:#?}");
    assert!(output.failures.iter().all(|failure| failure.dead_lettered));

    let queue = SqsDeadLetterQueue::new(aws.sqs_client(), dlq_url);
    let received = queue
        .receive(10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received.len(), 2);
    let mut executions: Vec<String> = received
        .iter()
        .map(|message| {
            let body = DlqMessage::parse(&message.body).unwrap();
            assert_eq!(body.kind, DeadLetterKind::StartFailed);
            assert_eq!(body.failed_state.as_deref(), Some("FleetStart"));
            assert_eq!(body.schema_version, 1);
            assert!(body.execution_input.is_some());
            body.execution
        })
        .collect();
    executions.sort_unstable();
    assert_eq!(
        executions,
        vec![
            "ks-a-example-com-1-20250301-0630",
            "ks-b-example-com-1-20250301-0630"
        ]
    );
    sim.shutdown().await;
}
