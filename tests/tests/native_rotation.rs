//! Secrets Manager's own rotation (createSecret, setSecret, testSecret, finishSecret) of
//! keyshift-managed secrets, on moto's Secrets Manager through the real aws-sdk client, against
//! grafana-sim (AMG and self-hosted).
//!
//! What moto does: `RotateSecret` with a rotation Lambda ARN validates the function (it must
//! exist in moto's Lambda), stages a new version under the ClientRequestToken with
//! `AWSPENDING` and no value (moving the label off any version a failed rotation left), turns
//! `RotationEnabled` on and "invokes" the function four times. With moto's Lambda in its
//! no-docker mode (`{"lambda": {"use_docker": false}}`, set through `/moto-api/config`) that
//! invocation does nothing, so each test then sends the four events Secrets Manager would send,
//! in order, to keyshift's handler (`keyshift_core::steps::rotate_secret`, what the Lambda's
//! main calls). That is Secrets Manager's protocol with moto's real version and label rules.

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use grafana_sim::FaultKind;
use keyshift_aws::{AwsContext, EndpointOverrides};
use keyshift_core::model::Policy;
use keyshift_core::ports::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription};
use keyshift_core::steps::native_rotation::NativeRotationOutput;
use keyshift_core::steps::rotate_secret;
use keyshift_e2e::{
    Harness, LogCapture, StoreKind, assert_no_leak, expect_error, fault_on, moto_endpoint,
};
use keyshift_test_support::aws::{register_rotation_function, start_rotation};
use serde_json::json;

const HOUR: i64 = 3_600;
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];
const ACCOUNT: &str = "sa-autogen-ci-deploy";

/// A migrated workspace on moto with a rotation Lambda registered in moto.
struct Native {
    harness: Harness,
    sm: aws_sdk_secretsmanager::Client,
    function_arn: String,
    policy: Policy,
    instance: &'static str,
    /// Every text a test produced (outputs, errors), for the leak scan.
    texts: Vec<String>,
}

impl Native {
    /// Migrates `instance` through the state machine's steps, so its secrets are in keyshift's
    /// managed format; `None` without moto (a failure with `KEYSHIFT_REQUIRE_TOOLS=1`).
    async fn start(instance: &'static str) -> Option<Self> {
        let moto = moto_endpoint()?;
        let harness = Harness::start(StoreKind::Moto).await?;
        let policy = harness.policy(json!({}));
        harness
            .run_execution(&harness.workspace(instance), &policy, "ks-native-1")
            .await
            .unwrap();
        let context = AwsContext::for_emulator(EndpointOverrides::for_all(moto.clone())).await;
        Some(Self {
            sm: context.secrets_manager_client(),
            function_arn: register_rotation_function(&moto).await,
            harness,
            policy,
            instance,
            texts: Vec::new(),
        })
    }

    fn secret_id(&self, account: &str) -> String {
        let workspace = self.harness.workspace(self.instance);
        self.policy.secret_name_for(&workspace, account).unwrap()
    }

    /// What Secrets Manager does on RotateSecret; returns the ClientRequestToken.
    async fn start_rotation(&self, secret_id: &str) -> String {
        start_rotation(&self.sm, secret_id, &self.function_arn).await
    }

    async fn step(
        &mut self,
        step: &str,
        secret_id: &str,
        token: &str,
    ) -> keyshift_core::Result<NativeRotationOutput> {
        let event: SecretsManagerSecretRotationEvent = serde_json::from_value(
            json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token}),
        )
        .unwrap();
        let outcome = rotate_secret(&self.harness.deps, &self.policy, event).await;
        self.texts.push(match &outcome {
            Ok(output) => serde_json::to_string(output).unwrap(),
            Err(error) => format!("{error} {error:?}"),
        });
        outcome
    }

    /// The four steps in order, each expected to succeed.
    async fn rotate(&mut self, secret_id: &str, token: &str) -> Vec<NativeRotationOutput> {
        let mut outputs = Vec::new();
        for step in STEPS {
            match self.step(step, secret_id, token).await {
                Ok(output) => outputs.push(output),
                Err(error) => panic!("{step}: {} {error}", error.asl_name()),
            }
        }
        outputs
    }

    async fn describe(&self, secret_id: &str) -> SecretDescription {
        self.harness.store.describe(secret_id).await.unwrap()
    }

    /// The version AWSCURRENT labels now.
    async fn current_version(&self, secret_id: &str) -> Option<String> {
        let described = self.describe(secret_id).await;
        described.version_with_stage(AWSCURRENT).map(str::to_owned)
    }

    /// Live token names on `account`.
    fn tokens_of(&self, account: &str) -> Vec<String> {
        self.harness
            .live_tokens(self.instance)
            .into_iter()
            .filter(|(owner, _)| owner == account)
            .map(|(_, token)| token)
            .collect()
    }
}

/// A full rotation, every step repeated, and the next rotation revoking what the first
/// superseded once the grace period is over.
async fn full_rotation(instance: &'static str) {
    let (capture, _guard) = LogCapture::install();
    let Some(mut native) = Native::start(instance).await else {
        return;
    };
    let secret_id = native.secret_id(ACCOUNT);
    let before = native.harness.current_value(&secret_id).await;
    let old_version = native
        .describe(&secret_id)
        .await
        .version_with_stage(AWSCURRENT)
        .map(str::to_owned);

    let token = native.start_rotation(&secret_id).await;
    let described = native.describe(&secret_id).await;
    assert!(described.rotation_enabled, "RotateSecret enabled rotation");
    assert_eq!(
        described.version_with_stage(AWSPENDING),
        Some(token.as_str())
    );
    let mut steps_run = 0;
    for step in STEPS {
        let first = native.step(step, &secret_id, &token).await.unwrap();
        let again = native.step(step, &secret_id, &token).await.unwrap();
        steps_run += 2;
        assert!(!again.changed, "{step} repeated changes nothing");
        if step == "finishSecret" {
            assert!(first.changed, "finishSecret promoted");
        }
        if step == "createSecret" {
            assert!(first.changed, "createSecret wrote the pending version");
            assert_eq!(
                native.tokens_of(ACCOUNT).len(),
                2,
                "one new token, even when repeated"
            );
        }
    }
    assert_eq!(steps_run, 8, "each of the four steps ran twice");
    let described = native.describe(&secret_id).await;
    assert_eq!(
        described.version_with_stage(AWSCURRENT),
        Some(token.as_str())
    );
    assert_eq!(
        described.version_with_stage(AWSPREVIOUS),
        old_version.as_deref()
    );
    assert_eq!(
        described.version_with_stage(AWSPENDING),
        None,
        "pending cleared"
    );
    let after = native.harness.current_value(&secret_id).await;
    assert_ne!(after.token_id, before.token_id);
    assert!(native.harness.authenticates(instance, after.token.expose()));
    assert!(
        native
            .harness
            .authenticates(instance, before.token.expose()),
        "the superseded token lives through the grace period"
    );

    // A repeated finishSecret after the rotation finished changes nothing either.
    let late = native
        .step("finishSecret", &secret_id, &token)
        .await
        .unwrap();
    assert!(!late.changed);

    // The next rotation, after the grace period, revokes the superseded token in createSecret.
    native.harness.state().clock().advance_seconds(25 * HOUR);
    let next = native.start_rotation(&secret_id).await;
    let outputs = native.rotate(&secret_id, &next).await;
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[0].revoked_token_ids, vec![before.token_id]);
    assert!(
        !native
            .harness
            .authenticates(instance, before.token.expose())
    );
    let latest = native.harness.current_value(&secret_id).await;
    assert!(
        native
            .harness
            .authenticates(instance, latest.token.expose())
    );
    assert!(
        native.harness.authenticates(instance, after.token.expose()),
        "AWSPREVIOUS in grace"
    );
    assert_eq!(
        native.tokens_of(ACCOUNT).len(),
        2,
        "AWSCURRENT's and AWSPREVIOUS's only"
    );
    if instance.starts_with("g-") {
        let bootstrap = native.harness.live_bootstrap_tokens(instance);
        assert!(
            bootstrap.is_empty(),
            "every step revoked its AMG bootstrap token: {bootstrap:?}"
        );
    }

    let mut texts = native.texts.clone();
    texts.push(capture.text());
    let minted = vec![
        before.token.expose().to_owned(),
        after.token.expose().to_owned(),
        latest.token.expose().to_owned(),
    ];
    assert!(
        capture.text().contains("rotation step done"),
        "logs were captured"
    );
    for text in &texts {
        assert_no_leak(text, &minted, "native rotation output or logs");
    }
}

#[tokio::test]
async fn a_full_rotation_with_every_step_repeated_on_self_hosted_grafana() {
    full_rotation("sh-116").await;
}

#[tokio::test]
async fn a_full_rotation_with_every_step_repeated_on_amg() {
    full_rotation("g-0000000104").await;
}

/// How a rotation continues after its testSecret failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Secrets Manager retries the same ClientRequestToken: the rotation resumes.
    SameToken,
    /// A later RotateSecret with a new token (AWSPENDING moves to it).
    NextRotation,
}

/// testSecret fails (Grafana refuses the pending token once): AWSCURRENT stays and works; the
/// same token resumes, or the next rotation succeeds and revokes the failed rotation's token.
async fn failed_test_then_recovery(instance: &'static str, recovery: Recovery) {
    let Some(mut native) = Native::start(instance).await else {
        return;
    };
    let secret_id = native.secret_id(ACCOUNT);
    let before = native.harness.current_value(&secret_id).await;
    let token = native.start_rotation(&secret_id).await;
    native
        .step("createSecret", &secret_id, &token)
        .await
        .unwrap();
    native.step("setSecret", &secret_id, &token).await.unwrap();
    let state = native.harness.state().clone();
    state.faults().clear(None);
    state.clear_request_counts();
    state
        .faults()
        .add(fault_on(
            instance,
            "GET /api/org",
            FaultKind::Status {
                status: 401,
                retry_after_seconds: None,
            },
            1,
        ))
        .unwrap();
    let error = expect_error(native.step("testSecret", &secret_id, &token).await);
    assert_eq!(error.asl_name(), "Verify.Failed", "{error}");
    assert_eq!(
        state
            .request_counts(Some(instance))
            .get("GET /api/org")
            .copied(),
        Some(1),
        "the injected fault fired"
    );
    let described = native.describe(&secret_id).await;
    let current = native.harness.current_value(&secret_id).await;
    assert_eq!(current.token_id, before.token_id, "AWSCURRENT untouched");
    assert!(
        native
            .harness
            .authenticates(instance, current.token.expose())
    );
    assert_eq!(
        described.version_with_stage(AWSPENDING),
        Some(token.as_str())
    );
    let failed_value = native
        .harness
        .store
        .get(
            &secret_id,
            &keyshift_core::ports::VersionSelector::Id(token.clone()),
        )
        .await
        .unwrap();
    let failed =
        keyshift_core::model::ManagedSecretValue::parse(&failed_value.value, &secret_id).unwrap();

    if recovery == Recovery::SameToken {
        let created = native
            .step("createSecret", &secret_id, &token)
            .await
            .unwrap();
        assert!(!created.changed, "the written pending version is kept");
        native.step("testSecret", &secret_id, &token).await.unwrap();
        native
            .step("finishSecret", &secret_id, &token)
            .await
            .unwrap();
        let latest = native.harness.current_value(&secret_id).await;
        assert_eq!(
            latest.token_id, failed.token_id,
            "the resumed rotation's token is current"
        );
        assert!(
            native
                .harness
                .authenticates(instance, latest.token.expose())
        );
        assert_eq!(
            native.current_version(&secret_id).await.as_deref(),
            Some(token.as_str())
        );
        for text in &native.texts {
            assert_no_leak(
                text,
                &[latest.token.expose().to_owned()],
                "native rotation output",
            );
        }
        return;
    }
    // Secrets Manager's next RotateSecret moves AWSPENDING to a new token; it rotates cleanly.
    let next = native.start_rotation(&secret_id).await;
    let outputs = native.rotate(&secret_id, &next).await;
    assert!(
        outputs[0].revoked_token_ids.contains(&failed.token_id),
        "the failed rotation's token is revoked: {:?}",
        outputs[0].revoked_token_ids
    );
    assert!(
        !native
            .harness
            .authenticates(instance, failed.token.expose())
    );
    assert_eq!(
        native.current_version(&secret_id).await.as_deref(),
        Some(next.as_str())
    );
    let latest = native.harness.current_value(&secret_id).await;
    assert!(
        native
            .harness
            .authenticates(instance, latest.token.expose())
    );
    let minted = vec![
        failed.token.expose().to_owned(),
        latest.token.expose().to_owned(),
    ];
    for text in &native.texts {
        assert_no_leak(text, &minted, "native rotation output");
    }
}

#[tokio::test]
async fn a_failed_test_secret_leaves_awscurrent_working_and_the_next_rotation_recovers_self_hosted()
{
    failed_test_then_recovery("sh-116", Recovery::NextRotation).await;
}

#[tokio::test]
async fn a_failed_test_secret_resumes_under_the_same_token_self_hosted() {
    failed_test_then_recovery("sh-116", Recovery::SameToken).await;
}

#[tokio::test]
async fn a_failed_test_secret_leaves_awscurrent_working_and_the_next_rotation_recovers_amg() {
    failed_test_then_recovery("g-0000000104", Recovery::NextRotation).await;
}

/// Events for a secret without rotation enabled, or with another secret's token, are refused
/// with their named error and change nothing (versions, labels, live tokens).
#[tokio::test]
async fn events_without_rotation_enabled_or_with_a_foreign_token_are_refused_and_change_nothing() {
    let Some(mut native) = Native::start("sh-104").await else {
        return;
    };
    let rotated = native.secret_id(ACCOUNT);
    let untouched = native.secret_id("sa-autogen-status-page");
    let token = native.start_rotation(&rotated).await;
    let tokens_before = native.harness.live_tokens("sh-104");
    let rotated_before = native.describe(&rotated).await;
    let untouched_before = native.describe(&untouched).await;
    assert!(!untouched_before.rotation_enabled);

    let mut refusals = 0;
    for step in STEPS {
        let error = expect_error(native.step(step, &untouched, &token).await);
        assert_eq!(error.asl_name(), "Rotation.NotEnabled", "{step}: {error}");
        refusals += 1;
    }
    // Rotation enabled on the second secret too, but the event carries the first's token.
    let own = native.start_rotation(&untouched).await;
    let untouched_enabled = native.describe(&untouched).await;
    for step in STEPS {
        let error = expect_error(native.step(step, &untouched, &token).await);
        assert_eq!(error.asl_name(), "Rotation.TokenInvalid", "{step}: {error}");
        refusals += 1;
    }
    let error = expect_error(native.step("rotateEverything", &rotated, &token).await);
    assert_eq!(error.asl_name(), "Input.Invalid");
    refusals += 1;
    assert_eq!(refusals, 9);
    assert_eq!(
        native.describe(&rotated).await.versions,
        rotated_before.versions
    );
    assert_eq!(
        native.describe(&untouched).await.versions,
        untouched_enabled.versions
    );
    assert_eq!(
        untouched_enabled.version_with_stage(AWSPENDING),
        Some(own.as_str())
    );
    assert_eq!(native.harness.live_tokens("sh-104"), tokens_before);
}
