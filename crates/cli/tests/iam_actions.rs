//! Holds deploy/iam-actions.json (the list the Terraform module grants from) against what the
//! steps really send: the shipped state machine runs on the local engine with the real AWS
//! adapters on moto (Secrets Manager, KMS) and grafana-sim's AMG control plane, and an SDK
//! interceptor records every operation with the step (= Lambda function) that sent it.
//! Deployed, a call missing from its function's list is an AccessDenied in production; a
//! listed call nothing sends is a grant wider than needed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use grafana_sim::{FaultKind, FaultSpec, FleetSpec, Simulator};
use keyshift_aws::{
    AwsAmgConnector, AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector,
    KmsSealer, SecretsManagerStore,
};
use keyshift_cli::asl::{ROTATE_WORKSPACE_ASL, Step};
use keyshift_cli::demo::SimFollower;
use keyshift_cli::local::{LocalRuntime, SyncedClock, running_step};
use keyshift_core::model::{
    ManagedSecretValue, Policy, STRAGGLERS_TAG, StragglerRecord, WorkspaceRef,
};
use keyshift_core::ports::{AWSPREVIOUS, NoMetrics, SecretStore, VersionSelector};
use keyshift_core::steps::io::ExecutionInput;
use keyshift_core::steps::{StepDeps, rotate_secret};
use local_sfn::ExecutionStatus;
use serde_json::{Value, json};

/// Operations sent while a step ran, per step's Lambda crate name, as IAM actions.
#[derive(Debug, Clone, Default)]
struct OperationLog {
    by_function: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    total: Arc<Mutex<usize>>,
    /// Calls the test could not attribute; any is a failure.
    problems: Arc<Mutex<Vec<String>>>,
}

impl OperationLog {
    fn snapshot(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.by_function.lock().unwrap().clone()
    }

    fn total(&self) -> usize {
        *self.total.lock().unwrap()
    }
}

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "OperationLog"
    }

    /// The operation's metadata is in the config bag from serialisation on.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            self.problems
                .lock()
                .unwrap()
                .push("an AWS operation without its metadata".to_owned());
            return Ok(());
        };
        let function = match running_step() {
            Some(step) => function_of(step),
            None if NATIVE_ROTATION.try_with(|_| ()).is_ok() => ROTATE_SECRET,
            None => {
                self.problems.lock().unwrap().push(format!(
                    "{} {} was sent outside any step",
                    metadata.service(),
                    metadata.name()
                ));
                return Ok(());
            }
        };
        let Some(prefix) = iam_prefix(metadata.service()) else {
            self.problems.lock().unwrap().push(format!(
                "{} is an SDK service the test does not know",
                metadata.service()
            ));
            return Ok(());
        };
        let action = format!("{prefix}:{}", metadata.name());
        self.by_function
            .lock()
            .unwrap()
            .entry(function.to_owned())
            .or_default()
            .insert(action);
        *self.total.lock().unwrap() += 1;
        Ok(())
    }
}

/// The Lambda Secrets Manager's own rotation invokes; not a state-machine step.
const ROTATE_SECRET: &str = "rotate-secret";

tokio::task_local! {
    /// Set while the test plays Secrets Manager invoking rotate-secret, so its calls are
    /// attributed to that function.
    static NATIVE_ROTATION: ();
}

/// The IAM service prefix of an SDK's service name.
fn iam_prefix(service: &str) -> Option<&'static str> {
    match service {
        "grafana" => Some("grafana"),
        "Secrets Manager" => Some("secretsmanager"),
        "KMS" => Some("kms"),
        "EventBridge" | "eventbridge" => Some("events"),
        _ => None,
    }
}

/// The Lambda crate (= Terraform function key) that runs a step.
fn function_of(step: Step) -> &'static str {
    step.local_function_name()
        .strip_prefix("keyshift-")
        .unwrap_or_else(|| panic!("unexpected local function name of {step:?}"))
}

/// The operations deploy/iam-actions.json lists under each function's `calls`.
fn listed_calls() -> BTreeMap<String, BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/iam-actions.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let document: Value = serde_json::from_str(&text).unwrap();
    let functions = document["functions"]
        .as_object()
        .expect("iam-actions.json has a `functions` object");
    functions
        .iter()
        .map(|(function, entry)| {
            let calls = entry["calls"]
                .as_array()
                .unwrap_or_else(|| panic!("{function} has no `calls` list"))
                .iter()
                .map(|call| call.as_str().unwrap().to_owned())
                .collect();
            (function.clone(), calls)
        })
        .collect()
}

const ADMIN_PASSWORD: &str = "admin-pass-iam";

fn fleet() -> FleetSpec {
    let keys = json!([
        {"name": "ci-deploy", "role": "Editor", "expires": "20d"},
        {"name": "terraform-admin", "role": "Admin"},
        {"name": "old-exporter", "role": "Viewer", "expires": "-2d"}
    ]);
    let amg = |id: &str, version: &str| {
        json!({"kind": "amg", "id": id, "region": "eu-west-1", "status": "ACTIVE",
               "version": version, "apiKeys": keys})
    };
    serde_json::from_value(json!({"seed": 11, "workspaces": [
        amg("g-0000000094", "9.4"),
        amg("g-0000000104", "10.4"),
        {"kind": "selfHosted", "id": "sh-104", "version": "10.4.1",
         "users": [{"login": "admin", "password": ADMIN_PASSWORD, "isGrafanaAdmin": true,
                    "roles": {"1": "Admin"}}],
         "apiKeys": keys}
    ]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_of_each_step_is_in_that_functions_iam_list() {
    let moto = keyshift_test_support::moto_or_skip!(
        every_aws_call_of_each_step_is_in_that_functions_iam_list
    );
    let sim = Simulator::from_fleet(fleet())
        .unwrap()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let state = sim.state().clone();
    let prefix = keyshift_test_support::aws::unique("iam-actions");

    let log = OperationLog::default();
    let moto_context = AwsContext::for_emulator(EndpointOverrides::for_all(&moto)).await;
    let kms_key = moto_context
        .kms_client()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let admin_secret = format!("{prefix}/admin/sh-104");
    moto_context
        .secrets_manager_client()
        .create_secret()
        .name(&admin_secret)
        .secret_string(json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    let observed = moto_context.with_interceptor(log.clone());
    let amg = AwsContext::for_emulator(EndpointOverrides::for_all(sim.amg_endpoint_url()))
        .await
        .with_interceptor(log.clone());

    // No in-client retry, so an injected 503 reaches the state machine's Retry.
    let mut single_attempt = GrafanaHttpSettings {
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    };
    single_attempt.retry.max_attempts = 1;
    let clock = SyncedClock::new(state.now(), Some(Arc::new(SimFollower(state.clone()))));
    let deps = StepDeps {
        grafana: Arc::new(HttpGrafanaConnector::new(single_attempt).unwrap()),
        secrets: Arc::new(
            SecretsManagerStore::new(observed.secrets_manager_client())
                .with_kms_key_id(kms_key.clone()),
        ),
        sealer: Arc::new(KmsSealer::new(observed.kms_client(), kms_key)),
        amg: Some(Arc::new(AwsAmgConnector::new(amg, "keyshift-iam-actions"))),
        clock: Arc::new(clock.clone()),
        amg_url_template: Some(format!("{}/g/{{workspace_id}}", sim.base_url())),
        metrics: Arc::new(NoMetrics),
        // moto's default bus: promote's Secret Rotated is a call store-secret sends.
        events: Arc::new(keyshift_aws::EventBridgePublisher::new(
            observed.eventbridge_client(),
            "default",
        )),
    };
    let runtime =
        LocalRuntime::on_virtual_time(ROTATE_WORKSPACE_ASL, deps.clone(), &clock).unwrap();

    let policy = |mode: &str| -> Policy {
        serde_json::from_value(json!({
            "secretNameTemplate": format!("{prefix}/{{workspace}}/{{org_id}}/{{service_account}}/token"),
            "migrationMode": mode,
        }))
        .unwrap()
    };
    let workspaces = [
        (
            WorkspaceRef::amg("g-0000000094", "eu-west-1", 1).unwrap(),
            "in-place",
        ),
        (
            WorkspaceRef::amg("g-0000000104", "eu-west-1", 1).unwrap(),
            "recreate",
        ),
        (
            WorkspaceRef::self_hosted(sim.instance_url("sh-104"), admin_secret.clone(), 1).unwrap(),
            "in-place",
        ),
    ];
    // A lost answer after discover-keys minted its AMG bootstrap token: the Retry's second
    // attempt finds the first attempt's token and deletes it, the one path that needs
    // discover-keys' DeleteWorkspaceServiceAccountToken.
    state
        .faults()
        .add(FaultSpec {
            workspace: "g-0000000104".to_owned(),
            endpoint: "GET /api/auth/keys".to_owned(),
            kind: FaultKind::Status {
                status: 503,
                retry_after_seconds: None,
            },
            times: Some(1),
            probability: None,
            seed: None,
        })
        .unwrap();
    assert_eq!(state.faults().list().len(), 1);
    // Migration, then (after the tokens come due) a rotation of every workspace: the two
    // executions every managed secret goes through.
    let mut executions = 0;
    for round in ["migrate", "rotate"] {
        if round == "rotate" {
            clock.advance(Duration::from_secs(80 * 24 * 3600));
        }
        for (index, (workspace, mode)) in workspaces.iter().enumerate() {
            let input = ExecutionInput {
                workspace: workspace.clone(),
                policy: policy(mode),
            };
            let result = runtime
                .execute(&format!("iam-{round}-{index}"), &input, 4)
                .await;
            assert_eq!(
                result.status,
                ExecutionStatus::Succeeded,
                "{round} of {}: {:?} {:?} {:?}",
                workspace.key(),
                result.error,
                result.cause,
                log.problems.lock().unwrap()
            );
            executions += 1;
        }
    }
    assert_eq!(executions, 6);

    // Usage-aware revocation on sh-104, rotating daily: a consumer still uses the token the
    // next rotation supersedes (ci-deploy's AWSPREVIOUS), so revoke-old keeps it and records it
    // in the secret's straggler tag (TagResource); once it is unused for longer than the window,
    // the next run revokes it and removes the tag (UntagResource).
    let unobserved = SecretsManagerStore::new(
        AwsContext::for_emulator(EndpointOverrides::for_all(&moto))
            .await
            .secrets_manager_client(),
    );
    let (self_hosted, self_hosted_mode) = &workspaces[2];
    let mut usage_policy = policy(self_hosted_mode);
    usage_policy.max_age = Duration::from_secs(24 * 3600);
    usage_policy.revoke_when_unused_for = Some(Duration::from_secs(2 * 24 * 3600));
    let consumer_secret = usage_policy
        .secret_name_for(self_hosted, "sa-autogen-ci-deploy")
        .unwrap();
    let mut kept_token = None;
    for (round, days) in [("again", 2), ("straggle", 2), ("unused", 4)] {
        clock.advance(Duration::from_secs(days * 24 * 3600));
        if round == "straggle" {
            let previous = unobserved
                .get(
                    &consumer_secret,
                    &VersionSelector::Stage(AWSPREVIOUS.to_owned()),
                )
                .await
                .unwrap();
            let previous = ManagedSecretValue::parse(&previous.value, &consumer_secret).unwrap();
            assert!(
                matches!(
                    state.authenticate_credential("sh-104", previous.token.expose()),
                    Ok(Ok(_))
                ),
                "the consumer uses the AWSPREVIOUS token"
            );
            kept_token = Some(previous);
        }
        let input = ExecutionInput {
            workspace: self_hosted.clone(),
            policy: usage_policy.clone(),
        };
        let result = runtime.execute(&format!("iam-{round}"), &input, 4).await;
        assert_eq!(
            result.status,
            ExecutionStatus::Succeeded,
            "{round}: {:?} {:?}",
            result.error,
            result.cause
        );
        let recorded = unobserved
            .describe(&consumer_secret)
            .await
            .unwrap()
            .tags
            .get(STRAGGLERS_TAG)
            .map(|value| StragglerRecord::parse(value).unwrap());
        match (round, &kept_token) {
            ("again", _) => assert_eq!(recorded, None, "nobody used a superseded token"),
            ("straggle", Some(kept)) => {
                let ids: Vec<i64> = recorded
                    .expect("the kept token is tagged")
                    .entries
                    .iter()
                    .map(|entry| entry.token_id)
                    .collect();
                assert_eq!(ids, vec![kept.token_id]);
                assert!(
                    matches!(
                        state.authenticate_credential("sh-104", kept.token.expose()),
                        Ok(Ok(_))
                    ),
                    "the straggler is kept"
                );
            }
            (_, Some(kept)) => {
                assert_eq!(recorded, None, "the revoked straggler leaves the tag");
                assert!(
                    state
                        .authenticate_credential("sh-104", kept.token.expose())
                        .is_ok_and(|outcome| outcome.is_err()),
                    "the straggler is revoked"
                );
            }
            _ => unreachable!("the straggle round records the kept token"),
        }
    }

    // Secrets Manager rotating one AMG and one self-hosted managed secret itself: RotateSecret
    // (moto, not observed), then the four events to rotate-secret's handler.
    let setup = AwsContext::for_emulator(EndpointOverrides::for_all(&moto))
        .await
        .secrets_manager_client();
    let function_arn = keyshift_test_support::aws::register_rotation_function(&moto).await;
    // The AMG workspace's bootstrap admin account is gone (removed by hand, or a workspace the
    // state machine never served), so rotate-secret creates it: the path that needs
    // CreateWorkspaceServiceAccount.
    let bootstrap_accounts: Vec<i64> = state
        .list_service_accounts("g-0000000094", 1)
        .unwrap()
        .into_iter()
        .filter(|account| account.row.name == "keyshift-bootstrap")
        .map(|account| account.row.id)
        .collect();
    assert_eq!(
        bootstrap_accounts.len(),
        1,
        "discover-keys made one bootstrap account"
    );
    for id in bootstrap_accounts {
        state.delete_service_account("g-0000000094", 1, id).unwrap();
    }
    let mut native_steps = 0;
    for (workspace, mode) in [&workspaces[0], &workspaces[2]] {
        let policy = policy(mode);
        let secret_id = policy
            .secret_name_for(workspace, "sa-autogen-ci-deploy")
            .unwrap();
        let token =
            keyshift_test_support::aws::start_rotation(&setup, &secret_id, &function_arn).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let event = serde_json::from_value(
                json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token}),
            )
            .unwrap();
            let outcome = NATIVE_ROTATION
                .scope((), rotate_secret(&deps, &policy, event))
                .await;
            assert!(outcome.is_ok(), "{step} of {secret_id}: {outcome:?}");
            native_steps += 1;
        }
    }
    assert_eq!(native_steps, 8);
    let failed_discoveries = runtime
        .log()
        .steps
        .iter()
        .filter(|record| record.state == "DiscoverKeys" && record.error.is_some())
        .count();
    assert_eq!(
        failed_discoveries, 1,
        "the 503 failed one discover-keys attempt"
    );
    // A rule with a count retires when it has fired that often, and only then.
    assert!(
        state.faults().list().is_empty(),
        "the injected 503 never fired: {:?}",
        state.faults().list()
    );

    let problems = log.problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "{problems:?}");
    let listed = listed_calls();
    let sent = log.snapshot();
    // Each step function sent exactly the calls its entry lists: none missing (AccessDenied
    // once deployed) and none unused (a grant wider than needed).
    let mut compared = 0;
    let functions = Step::ALL
        .into_iter()
        .map(function_of)
        .chain([ROTATE_SECRET]);
    for function in functions {
        let sent_by = sent.get(function).cloned().unwrap_or_default();
        let allowed = listed
            .get(function)
            .unwrap_or_else(|| panic!("deploy/iam-actions.json has no entry for {function}"));
        let missing: Vec<&String> = sent_by.difference(allowed).collect();
        assert!(
            missing.is_empty(),
            "{function} sends {missing:?}, which deploy/iam-actions.json does not grant it"
        );
        // sts:AssumeRole goes out through aws-config's assume-role provider, not a keyshift
        // client, and only for a workspace in another account; tests/tests/accounts.rs shows
        // every AMG call of such an execution signed with the assumed role.
        let unused: Vec<&String> = allowed
            .difference(&sent_by)
            .filter(|action| action.as_str() != "sts:AssumeRole")
            .collect();
        assert!(
            unused.is_empty(),
            "{function} is granted {unused:?} but never sent them in a migration and a rotation"
        );
        assert!(!sent_by.is_empty(), "{function} sent no AWS call at all");
        compared += sent_by.len();
    }
    assert_eq!(
        sent.len(),
        Step::ALL.len() + 1,
        "calls attributed to functions that are not steps: {:?}",
        sent.keys()
    );
    let listed_for_steps: usize = Step::ALL
        .iter()
        .map(|step| function_of(*step))
        .chain([ROTATE_SECRET])
        .filter_map(|function| listed.get(function))
        .flatten()
        .filter(|action| action.as_str() != "sts:AssumeRole")
        .count();
    assert_eq!(compared, listed_for_steps);
    assert!(
        log.total() > compared,
        "{} operations recorded for {compared} distinct pairs",
        log.total()
    );
}
