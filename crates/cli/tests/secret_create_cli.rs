//! `keyshift secret create` through the binary against grafana-sim (self-hosted and AMG) with
//! Secrets Manager on moto: a dry run changes nothing, a real run creates the account, its
//! first token and the secret (AWSCURRENT authenticates, role capped), a second run is refused
//! with `Secret.Exists`, and then Secrets Manager rotates that secret with the rotation
//! Lambda's logic (RotateSecret on moto, the four events to `rotate_secret`), and `keyshift
//! rollback` restores the first token, then refuses to restore a revoked one. No token appears
//! in any output.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{
    AwsAmgConnector, AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector,
    SecretsManagerStore,
};
use keyshift_core::model::{ManagedSecretValue, Policy};
use keyshift_core::ports::{AWSCURRENT, NoMetrics, SecretStore, SystemClock, VersionSelector};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::{StepDeps, rotate_secret};
use keyshift_local::LocalSealer;
use serde_json::{Value, json};

const SELF_HOSTED: &str = "ops-grafana-116";
const AMG: &str = "g-0a1b2c3d4e";
const ADMIN_116: &str = r#"{"username": "admin", "password": "admin-pass-116"}"#;

struct World {
    sim: RunningSim,
    moto: String,
    prefix: String,
    config: tempfile::NamedTempFile,
    store: SecretsManagerStore,
    context: AwsContext,
}

impl World {
    async fn start(moto: String) -> Self {
        let sim = Simulator::from_fleet(FleetSpec::sample().unwrap())
            .unwrap()
            .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        let prefix = keyshift_test_support::aws::unique("secret-create");
        let config = tempfile::NamedTempFile::new().unwrap();
        let policy = json!({"policy": {
            "secretNameTemplate": format!("{prefix}/{{workspace}}/{{org_id}}/{{service_account}}/token")
        }});
        std::fs::write(config.path(), policy.to_string()).unwrap();
        let context = AwsContext::for_emulator(EndpointOverrides::for_all(&moto)).await;
        let store = SecretsManagerStore::new(context.secrets_manager_client());
        Self {
            sim,
            moto,
            prefix,
            config,
            store,
            context,
        }
    }

    fn policy(&self) -> Policy {
        let text = std::fs::read_to_string(self.config.path()).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(value["policy"].clone()).unwrap()
    }

    /// The target flags of `instance`.
    async fn target(&self, instance: &str) -> Vec<String> {
        if instance.starts_with("g-") {
            common::amg_target(&self.sim.base_url(), instance, "eu-west-1")
        } else {
            let admin = format!("{}/admin/{instance}", self.prefix);
            self.context
                .secrets_manager_client()
                .create_secret()
                .name(&admin)
                .secret_string(ADMIN_116)
                .send()
                .await
                .unwrap();
            vec![
                "--url".into(),
                self.sim.instance_url(instance),
                "--admin-secret-id".into(),
                admin,
            ]
        }
    }

    fn secret_create(&self, target: &[String], extra: &[&str]) -> std::process::Output {
        let mut command = common::keyshift_on_moto(&self.moto);
        command
            .args([
                "secret",
                "create",
                "--account-name",
                "ci-bot",
                "--role",
                "Admin",
            ])
            .args(target)
            .args(["--config", &self.config.path().display().to_string()])
            .args(["--output", "json"])
            .args(extra);
        command.output().unwrap()
    }

    /// The ports rotate-secret's main builds, on moto and the simulator.
    async fn rotation_deps(&self) -> StepDeps {
        let amg =
            AwsContext::for_emulator(EndpointOverrides::for_all(self.sim.amg_endpoint_url())).await;
        StepDeps {
            grafana: Arc::new(
                HttpGrafanaConnector::new(GrafanaHttpSettings {
                    allow_loopback_http: true,
                    ..GrafanaHttpSettings::default()
                })
                .unwrap(),
            ),
            secrets: Arc::new(SecretsManagerStore::new(
                self.context.secrets_manager_client(),
            )),
            sealer: Arc::new(LocalSealer::random()),
            amg: Some(Arc::new(AwsAmgConnector::new(
                amg,
                "keyshift-secret-create-test",
            ))),
            clock: Arc::new(SystemClock),
            amg_url_template: Some(format!("{}/g/{{workspace_id}}", self.sim.base_url())),
            metrics: Arc::new(NoMetrics),
            events: Arc::new(keyshift_core::ports::NoEvents),
        }
    }

    async fn current(&self, secret_id: &str) -> ManagedSecretValue {
        let stored = self
            .store
            .get(secret_id, &VersionSelector::current())
            .await
            .unwrap();
        ManagedSecretValue::parse(&stored.value, secret_id).unwrap()
    }

    fn authenticates(&self, instance: &str, token: &SecretString) -> bool {
        matches!(
            self.sim
                .state()
                .authenticate_credential(instance, token.expose()),
            Ok(Ok(_))
        )
    }
}

fn output_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", common::stdout_and_stderr(output)))
}

async fn create_then_rotate(instance: &str, moto: String) {
    let world = World::start(moto).await;
    let target = world.target(instance).await;
    let mut outputs = Vec::new();

    let dry = world.secret_create(&target, &["--dry-run"]);
    common::assert_exit_code(&dry, 0);
    let planned = output_json(&dry);
    assert_eq!(planned["dryRun"], true, "{planned:#}");
    assert_eq!(
        planned["role"], "Editor",
        "Admin is capped by the default policy"
    );
    assert!(planned["created"].is_null());
    let secret_id = planned["secretId"].as_str().unwrap().to_owned();
    let absent = world.store.describe(&secret_id).await;
    assert!(
        absent.as_ref().is_err_and(|error| error.is_not_found()),
        "a dry run creates no secret: {absent:?}"
    );
    outputs.push(common::stdout_and_stderr(&dry));

    let created = world.secret_create(&target, &[]);
    common::assert_exit_code(&created, 0);
    let report = output_json(&created);
    assert_eq!(report["secretId"], secret_id.as_str());
    assert_eq!(report["role"], "Editor");
    assert_eq!(report["accountExisted"], false);
    outputs.push(common::stdout_and_stderr(&created));
    let first = world.current(&secret_id).await;
    assert_eq!(first.service_account_name, "ci-bot");
    assert!(
        world.authenticates(instance, &first.token),
        "AWSCURRENT authenticates"
    );
    let described = world.store.describe(&secret_id).await.unwrap();
    assert_eq!(
        described.version_with_stage(AWSCURRENT),
        report["created"]["versionId"].as_str()
    );

    let again = world.secret_create(&target, &[]);
    common::assert_exit_code(&again, 1);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("Secret.Exists"), "{stderr}");
    assert_eq!(
        world.store.describe(&secret_id).await.unwrap().versions,
        described.versions,
        "the refused run changed nothing"
    );
    outputs.push(common::stdout_and_stderr(&again));

    // Secrets Manager rotates the new secret with the rotation Lambda's logic.
    let function = keyshift_test_support::aws::register_rotation_function(&world.moto).await;
    let token = keyshift_test_support::aws::start_rotation(
        &world.context.secrets_manager_client(),
        &secret_id,
        &function,
    )
    .await;
    let deps = world.rotation_deps().await;
    let policy = world.policy();
    let mut steps = 0;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let event = serde_json::from_value(
            json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token}),
        )
        .unwrap();
        let outcome = rotate_secret(&deps, &policy, event).await;
        outputs.push(format!("{outcome:?}"));
        assert!(outcome.is_ok(), "{step}: {outcome:?}");
        steps += 1;
    }
    assert_eq!(steps, 4);
    let rotated = world.current(&secret_id).await;
    assert_ne!(rotated.token_id, first.token_id);
    assert!(world.authenticates(instance, &rotated.token));
    assert_eq!(
        world
            .store
            .describe(&secret_id)
            .await
            .unwrap()
            .version_with_stage(AWSCURRENT),
        Some(token.as_str())
    );
    roll_back_then_refuse(&world, instance, &target, &secret_id, &mut outputs).await;
    for text in &outputs {
        for secret in [first.token.expose(), rotated.token.expose()] {
            assert!(!text.contains(secret), "a token leaked into the output");
        }
        assert!(!text.contains("admin-pass-116"));
    }
    world.sim.shutdown().await;
}

fn rollback(world: &World, target: &[String], secret_id: &str, extra: &[&str]) -> Value {
    let mut command = common::keyshift_on_moto(&world.moto);
    command
        .args(["rollback", "--secret-id", secret_id, "--output", "json"])
        .args(target)
        .args(["--config", &world.config.path().display().to_string()])
        .args(extra);
    let output = command.output().unwrap();
    json!({
        "rows": output_json(&output),
        "exitCode": output.status.code(),
        "printed": common::stdout_and_stderr(&output),
    })
}

/// `keyshift rollback` after the native rotation: a dry run changes nothing, the rollback
/// restores the created token (still live: revoke-old has not run), and once the token it
/// replaced again is revoked in Grafana, a rollback to it is refused and changes nothing.
async fn roll_back_then_refuse(
    world: &World,
    instance: &str,
    target: &[String],
    secret_id: &str,
    outputs: &mut Vec<String>,
) {
    let stages = |described: keyshift_core::ports::SecretDescription| {
        (
            described.version_with_stage(AWSCURRENT).map(str::to_owned),
            described
                .version_with_stage(keyshift_core::ports::AWSPREVIOUS)
                .map(str::to_owned),
        )
    };
    let (rotated_version, created_version) = stages(world.store.describe(secret_id).await.unwrap());
    let rotated = world.current(secret_id).await;

    let dry = rollback(world, target, secret_id, &["--dry-run"]);
    outputs.push(dry["printed"].to_string());
    assert_eq!(dry["exitCode"], 0, "{}", dry["printed"]);
    assert_eq!(dry["rows"][0]["outcome"]["applied"], false, "{dry:#}");
    assert_eq!(
        dry["rows"][0]["outcome"]["toVersionId"],
        json!(created_version)
    );
    assert_eq!(dry["rows"][0]["outcome"]["role"], "Editor");
    assert_eq!(
        stages(world.store.describe(secret_id).await.unwrap()),
        (rotated_version.clone(), created_version.clone()),
        "a dry run changes nothing"
    );

    let done = rollback(world, target, secret_id, &[]);
    outputs.push(done["printed"].to_string());
    assert_eq!(done["exitCode"], 0, "{}", done["printed"]);
    assert_eq!(done["rows"][0]["outcome"]["applied"], true, "{done:#}");
    assert_eq!(
        stages(world.store.describe(secret_id).await.unwrap()),
        (created_version.clone(), rotated_version.clone())
    );
    assert!(world.authenticates(instance, &world.current(secret_id).await.token));

    // The token the rollback replaced is revoked (as Grafana's secret scanning does with a
    // leaked one): rolling forward to it is refused.
    world
        .sim
        .state()
        .revoke_credential(instance, rotated.token_id)
        .unwrap();
    let refused = rollback(world, target, secret_id, &[]);
    outputs.push(refused["printed"].to_string());
    assert_eq!(refused["exitCode"], 1, "{}", refused["printed"]);
    assert_eq!(
        refused["rows"][0]["error"], "Rollback.Refused",
        "{refused:#}"
    );
    let reason = refused["rows"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no longer works") && reason.contains("fresh rotation"),
        "{reason}"
    );
    assert_eq!(
        stages(world.store.describe(secret_id).await.unwrap()),
        (created_version, rotated_version),
        "the refused rollback changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_create_on_self_hosted_grafana_then_native_rotation() {
    let moto = keyshift_test_support::moto_or_skip!(
        secret_create_on_self_hosted_grafana_then_native_rotation
    );
    create_then_rotate(SELF_HOSTED, moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_create_on_amg_then_native_rotation() {
    let moto = keyshift_test_support::moto_or_skip!(secret_create_on_amg_then_native_rotation);
    create_then_rotate(AMG, moto).await;
}
