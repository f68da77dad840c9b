//! The tick's listing, naming, skip and summary logic over in-memory ports.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::model::{AmgWorkspace, WorkspaceTarget};
use crate::ports::{ExecutionDescription, ManualClock, ReceivedMessage};

const ROLE: &str = "arn:aws:iam::210987654321:role/keyshift";

fn summary(
    id: &str,
    region: &str,
    version: &str,
    status: &str,
    tagged: bool,
) -> AmgWorkspaceSummary {
    let tags = if tagged {
        BTreeMap::from([("keyshift".to_owned(), "managed".to_owned())])
    } else {
        BTreeMap::new()
    };
    AmgWorkspaceSummary {
        workspace: AmgWorkspace {
            workspace_id: id.to_owned(),
            region: region.to_owned(),
        },
        name: None,
        endpoint: format!("{id}.grafana-workspace.{region}.amazonaws.com"),
        grafana_version: version.parse().unwrap(),
        status: status.to_owned(),
        tags,
    }
}

/// Listings by (role ARN, region); a missing entry answers an access error.
#[derive(Default)]
struct Directory {
    listings: HashMap<(Option<String>, String), Vec<AmgWorkspaceSummary>>,
    throttle_first: Mutex<u32>,
    calls: Mutex<Vec<(Option<String>, String)>>,
}

#[async_trait]
impl FleetDirectory for Directory {
    async fn list_workspaces(
        &self,
        role: Option<&AssumeRole>,
        region: &str,
    ) -> Result<Vec<AmgWorkspaceSummary>> {
        let key = (role.map(|role| role.role_arn.clone()), region.to_owned());
        self.calls.lock().unwrap().push(key.clone());
        {
            let mut throttles = self.throttle_first.lock().unwrap();
            if *throttles > 0 {
                *throttles -= 1;
                return Err(KeyshiftError::AwsThrottled {
                    service: "grafana".into(),
                    operation: "ListWorkspaces".into(),
                    retry_after: None,
                });
            }
        }
        self.listings
            .get(&key)
            .cloned()
            .ok_or_else(|| KeyshiftError::AwsFailed {
                service: "grafana".into(),
                operation: "ListWorkspaces".into(),
                detail: "AccessDeniedException".into(),
            })
    }
}

/// Step Functions in memory: names are unique; some names throttle or fail.
#[derive(Default)]
struct Starter {
    executions: Mutex<HashMap<String, serde_json::Value>>,
    throttles: Mutex<HashMap<String, u32>>,
    broken: Vec<String>,
    calls: Mutex<u32>,
}

#[async_trait]
impl ExecutionStarter for Starter {
    fn state_machine_arn(&self) -> &str {
        "arn:aws:states:eu-west-1:123456789012:stateMachine:keyshift-rotate-workspace"
    }
    async fn start(&self, name: &str, input: &serde_json::Value) -> Result<StartOutcome> {
        *self.calls.lock().unwrap() += 1;
        if let Some(left) = self.throttles.lock().unwrap().get_mut(name)
            && *left > 0
        {
            *left -= 1;
            return Err(KeyshiftError::AwsThrottled {
                service: "states".into(),
                operation: "StartExecution".into(),
                retry_after: Some(Duration::from_millis(1500)),
            });
        }
        if self.broken.iter().any(|broken| broken == name) {
            return Err(KeyshiftError::AwsFailed {
                service: "states".into(),
                operation: "StartExecution".into(),
                detail: "ExecutionLimitExceeded".into(),
            });
        }
        let mut executions = self.executions.lock().unwrap();
        if executions.contains_key(name) {
            return Ok(StartOutcome::AlreadyExists);
        }
        executions.insert(name.to_owned(), input.clone());
        Ok(StartOutcome::Started {
            execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:rotate:{name}"),
        })
    }

    async fn redrive(&self, _execution_arn: &str) -> Result<()> {
        Ok(())
    }

    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
        Err(KeyshiftError::invalid_input("executionArn", execution_arn))
    }
}

#[derive(Default)]
struct Queue {
    sent: Mutex<Vec<DlqMessage>>,
}

#[async_trait]
impl DeadLetterQueue for Queue {
    async fn send(&self, message: &DlqMessage) -> Result<()> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
    async fn receive(&self, _max: u32, _visibility: Duration) -> Result<Vec<ReceivedMessage>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _receipt: &str) -> Result<()> {
        Ok(())
    }
    async fn release(&self, _receipt: &str) -> Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Pauses {
    slept: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Sleeper for Pauses {
    async fn sleep(&self, duration: Duration) {
        self.slept.lock().unwrap().push(duration);
    }
}

struct World {
    directory: Arc<Directory>,
    starter: Arc<Starter>,
    queue: Arc<Queue>,
    pauses: Arc<Pauses>,
    deps: FleetStartDeps,
}

fn world(directory: Directory, starter: Starter) -> World {
    let directory = Arc::new(directory);
    let starter = Arc::new(starter);
    let queue = Arc::new(Queue::default());
    let pauses = Arc::new(Pauses::default());
    let deps = FleetStartDeps {
        directory: directory.clone(),
        starter: starter.clone(),
        dead_letters: Some(queue.clone()),
        sleeper: pauses.clone(),
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2025, 3, 1, 6, 31, 42).unwrap(),
        )),
        retry: StartRetry::default(),
    };
    World {
        directory,
        starter,
        queue,
        pauses,
        deps,
    }
}

/// Own account: us-east-1 (one to start, one untagged, one Grafana 8, one not ACTIVE);
/// another account through a role: eu-west-1 (one to start).
fn fleet_directory() -> Directory {
    let mut directory = Directory::default();
    directory.listings.insert(
        (None, "us-east-1".into()),
        vec![
            summary("g-000000000a", "us-east-1", "10.4", "ACTIVE", true),
            summary("g-000000000b", "us-east-1", "10.4", "ACTIVE", false),
            summary("g-000000000c", "us-east-1", "8.4", "ACTIVE", true),
            summary("g-000000000d", "us-east-1", "10.4", "CREATING", true),
        ],
    );
    directory.listings.insert(
        (Some(ROLE.into()), "eu-west-1".into()),
        vec![summary("g-000000000e", "eu-west-1", "9.4", "ACTIVE", true)],
    );
    directory
}

fn event(extra: serde_json::Value) -> FleetStartEvent {
    let mut value = json!({
        "amg": {"regions": ["us-east-1"], "tags": {"keyshift": "managed"}},
        "accounts": [{"roleArn": ROLE, "externalId": "keyshift-prod", "regions": ["eu-west-1"],
                      "tags": {"keyshift": "managed"}}],
        "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin"}],
        "time": "2025-03-01T06:30:00Z",
        "maxConcurrency": 2
    });
    if let (Some(object), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        object.extend(extra);
    }
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn a_tick_lists_filters_skips_and_starts_and_a_repeat_starts_nothing() {
    let world = world(fleet_directory(), Starter::default());
    let first = fleet_start(&world.deps, event(json!({}))).await.unwrap();
    assert_eq!(first.listed, 6, "{first:#?}");
    assert_eq!(first.not_selected, 1);
    assert_eq!(first.skipped, 2);
    assert_eq!(first.started, 3);
    assert_eq!(first.already_running, 0);
    assert_eq!(first.failed, 0);
    assert_eq!(first.listing_failed, 0);
    assert_eq!(
        first.listed,
        first.not_selected + first.skipped + first.executions.len() + first.failed
    );
    let whys: Vec<&str> = first.skips.iter().map(|skip| skip.why.as_str()).collect();
    assert!(
        whys.iter()
            .any(|why| why.contains("no service accounts: upgrade to 9.4 or later first")),
        "{whys:?}"
    );
    assert!(
        whys.iter().any(|why| why.contains("status CREATING")),
        "{whys:?}"
    );

    let names: Vec<&str> = first
        .executions
        .iter()
        .map(|execution| execution.execution_name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "ks-g-000000000a-1-20250301-0630",
            "ks-g-000000000e-1-20250301-0630",
            "ks-grafana-example-com-1-20250301-0630"
        ]
    );
    assert!(
        names
            .iter()
            .all(|name| name.len() <= 80 && !name.contains(':'))
    );

    let started = world.starter.executions.lock().unwrap().clone();
    let account_input = &started["ks-g-000000000e-1-20250301-0630"];
    assert_eq!(
        account_input["workspace"]["assumeRole"],
        json!({"roleArn": ROLE, "externalId": "keyshift-prod"})
    );
    let own_input = &started["ks-g-000000000a-1-20250301-0630"];
    assert!(
        own_input["workspace"].get("assumeRole").is_none(),
        "{own_input}"
    );
    // The config's maxConcurrency is the executions' Map concurrency, not fleet-start's.
    for input in started.values() {
        assert_eq!(input["maxConcurrency"], 2, "{input}");
    }
    let input: ExecutionInput = serde_json::from_value(account_input.clone()).unwrap();
    assert_eq!(
        input.workspace.assume_role.unwrap().account_id(),
        "210987654321"
    );

    let again = fleet_start(&world.deps, event(json!({}))).await.unwrap();
    assert_eq!(again.started, 0);
    assert_eq!(again.already_running, 3);
    assert_eq!(world.starter.executions.lock().unwrap().len(), 3);
    assert_eq!(*world.starter.calls.lock().unwrap(), 6);
    assert!(world.queue.sent.lock().unwrap().is_empty());

    let next_slot = fleet_start(&world.deps, event(json!({"time": "2025-03-02T06:30:00Z"})))
        .await
        .unwrap();
    assert_eq!(next_slot.started, 3, "a new slot names new executions");
}

#[tokio::test]
async fn throttled_starts_back_off_and_a_failed_start_is_dead_lettered_alone() {
    let starter = Starter {
        throttles: Mutex::new(HashMap::from([(
            "ks-g-000000000a-1-20250301-0630".to_owned(),
            2,
        )])),
        broken: vec!["ks-g-000000000e-1-20250301-0630".to_owned()],
        ..Starter::default()
    };
    let world = world(fleet_directory(), starter);
    let output = fleet_start(&world.deps, event(json!({}))).await.unwrap();
    assert_eq!(output.started, 2, "{output:#?}");
    assert_eq!(output.failed, 1);
    assert_eq!(
        world.pauses.slept.lock().unwrap().clone(),
        vec![Duration::from_millis(1500); 2],
        "the throttle fired twice and its Retry-After was honoured"
    );
    let failure = &output.failures[0];
    assert_eq!(failure.execution_name, "ks-g-000000000e-1-20250301-0630");
    assert_eq!(failure.error, "Aws.Failed");
    assert_eq!(failure.attempts, 1, "a permanent failure is not retried");
    assert!(failure.dead_lettered);

    let sent = world.queue.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].execution, failure.execution_name);
    assert_eq!(sent[0].failed_state.as_deref(), Some(FAILED_START_STATE));
    assert_eq!(sent[0].workspace.as_ref(), Some(&failure.workspace));
    assert_eq!(
        sent[0].kind,
        crate::dead_letter::DeadLetterKind::StartFailed
    );
    assert_eq!(sent[0].schema_version, crate::dead_letter::SCHEMA_VERSION);
    assert!(sent[0].cause.contains("ExecutionLimitExceeded"));
    let replayable: ExecutionInput =
        serde_json::from_value(sent[0].execution_input.clone().unwrap()).unwrap();
    assert_eq!(replayable.workspace, failure.workspace);
}

#[tokio::test]
async fn a_start_throttled_past_its_budget_fails_after_every_attempt() {
    let starter = Starter {
        throttles: Mutex::new(HashMap::from([(
            "ks-grafana-example-com-1-20250301-0630".to_owned(),
            99,
        )])),
        ..Starter::default()
    };
    let world = world(fleet_directory(), starter);
    let output = fleet_start(&world.deps, event(json!({}))).await.unwrap();
    assert_eq!((output.started, output.failed), (2, 1));
    assert_eq!(
        output.failures[0].attempts,
        StartRetry::default().max_attempts
    );
    assert_eq!(output.failures[0].error, "Aws.Throttled");
    assert_eq!(
        world.pauses.slept.lock().unwrap().len() as u32,
        StartRetry::default().max_attempts - 1
    );
    assert_eq!(world.queue.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unlistable_region_is_reported_and_the_rest_still_starts() {
    let mut directory = fleet_directory();
    *directory.throttle_first.get_mut().unwrap() = 1;
    let world = world(directory, Starter::default());
    let output = fleet_start(
        &world.deps,
        event(
            json!({"amg": {"regions": ["us-east-1", "ap-south-1"], "tags": {"keyshift": "managed"}}}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(output.listing_failed, 1, "{output:#?}");
    assert_eq!(output.listing_failures[0].region, "ap-south-1");
    assert_eq!(output.listing_failures[0].error, "Aws.Failed");
    assert_eq!(output.started, 3);
    assert_eq!(
        world.directory.calls.lock().unwrap().len(),
        4,
        "us-east-1 throttled once and listed again, then ap-south-1 and eu-west-1"
    );
    assert_eq!(world.pauses.slept.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dry_run_names_everything_and_starts_nothing() {
    let world = world(fleet_directory(), Starter::default());
    let output = fleet_start(&world.deps, event(json!({"dryRun": true})))
        .await
        .unwrap();
    assert!(output.dry_run);
    assert_eq!(output.executions.len(), 3);
    assert!(
        output
            .executions
            .iter()
            .all(|execution| execution.outcome.is_none())
    );
    assert_eq!((output.started, output.already_running), (0, 0));
    assert_eq!(*world.starter.calls.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_workspace_listed_by_two_selections_starts_once() {
    let mut directory = fleet_directory();
    directory.listings.insert(
        (Some(ROLE.into()), "us-east-1".into()),
        vec![summary("g-000000000a", "us-east-1", "10.4", "ACTIVE", true)],
    );
    let world = world(directory, Starter::default());
    let output = fleet_start(
        &world.deps,
        event(
            json!({"accounts": [{"roleArn": ROLE, "regions": ["eu-west-1", "us-east-1"],
                                   "tags": {"keyshift": "managed"}}]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (output.listed, output.started, output.skipped),
        (7, 3, 3),
        "{output:#?}"
    );
    assert!(output.skips.iter().any(|skip| {
        skip.why
            .starts_with("already selected as workspace g-000000000a")
    }));
}

#[tokio::test]
async fn without_a_time_the_current_minute_names_the_slot() {
    let world = world(fleet_directory(), Starter::default());
    let mut tick = event(json!({}));
    tick.time = None;
    let output = fleet_start(&world.deps, tick).await.unwrap();
    assert_eq!(
        output.slot,
        Utc.with_ymd_and_hms(2025, 3, 1, 6, 31, 0).unwrap()
    );
    assert!(
        output.executions[0]
            .execution_name
            .ends_with("20250301-0631")
    );
}

#[test]
fn the_event_is_the_config_plus_time_and_dry_run() {
    let parsed = event(json!({"dryRun": true}));
    assert!(parsed.dry_run);
    assert_eq!(
        parsed.time,
        Some(Utc.with_ymd_and_hms(2025, 3, 1, 6, 30, 0).unwrap())
    );
    assert_eq!(parsed.config.accounts.len(), 1);
    assert_eq!(parsed.config.max_concurrency, Some(2));
    let round_trip: FleetStartEvent =
        serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
    assert_eq!(round_trip, parsed);

    let typo = serde_json::from_value::<FleetStartEvent>(json!({"acounts": []})).unwrap_err();
    assert!(typo.to_string().contains("acounts"), "{typo}");
    let bad_time =
        serde_json::from_value::<FleetStartEvent>(json!({"time": "yesterday"})).unwrap_err();
    assert!(bad_time.to_string().starts_with("time:"), "{bad_time}");
}

#[tokio::test]
async fn an_invalid_config_fails_the_tick_before_anything_is_listed() {
    let world = world(fleet_directory(), Starter::default());
    let bad = event(json!({
        "accounts": [{"roleArn": "arn:aws:iam::1:user/x", "regions": []}],
        "startConcurrency": 0
    }));
    let error = fleet_start(&world.deps, bad).await.unwrap_err();
    assert_eq!(error.asl_name(), "Input.Invalid");
    let text = error.to_string();
    assert!(text.contains("startConcurrency"), "{text}");
    assert!(text.contains("accounts[0].roleArn"), "{text}");
    assert!(text.contains("accounts[0].regions"), "{text}");
    assert!(world.directory.calls.lock().unwrap().is_empty());
}

#[test]
fn back_off_doubles_with_jitter_and_honours_retry_after() {
    let retry = StartRetry::default();
    let throttled = |retry_after| KeyshiftError::AwsThrottled {
        service: "states".into(),
        operation: "StartExecution".into(),
        retry_after,
    };
    for attempt in 1..=6 {
        let window = retry
            .base_delay
            .saturating_mul(1 << (attempt - 1))
            .min(retry.max_delay);
        let delay = retry.delay(attempt, &throttled(None), "ks-x");
        assert!(
            delay >= window / 2 && delay <= window,
            "{attempt}: {delay:?}"
        );
        assert_eq!(delay, retry.delay(attempt, &throttled(None), "ks-x"));
    }
    assert_eq!(
        retry.delay(1, &throttled(Some(Duration::from_secs(60))), "ks-x"),
        retry.max_delay
    );
}

#[test]
fn self_hosted_targets_keep_their_secret_name() {
    let config: FleetConfig = serde_json::from_value(json!({
        "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "a", "secretName": "ops"}]
    }))
    .unwrap();
    let reference = config.self_hosted[0].workspace_ref().unwrap();
    assert!(matches!(
        reference.target,
        WorkspaceTarget::SelfHosted { .. }
    ));
    assert_eq!(reference.secret_name_part(), "ops");
}
