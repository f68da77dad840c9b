//! Two executions of the shipped state machine for one workspace at once, on the local engine
//! against grafana-sim over HTTP, with the in-memory store and with Secrets Manager on moto.
//!
//! A wrapper around the secret store holds both executions just before their PutSecretValue
//! (each already found no rotation in progress: the check-then-write race), then releases
//! their calls in a chosen order, so the interleaving is forced, not hoped for. Each test
//! asserts the holds fired, then that one execution rotated the secret exactly once, the other
//! failed with `Rotation.InProgress` and deleted the token it minted, no token is live that no
//! secret version holds, and AWSCURRENT authenticates: for rotations (after a migration) in two
//! interleavings, and for two migrations of a fresh instance. Another scenario starts the
//! second execution while the first waits out its grace period.
//!
//! The workspace has one managed credential. With several, the loser's first failing
//! iteration fails the Map, which stops its other iterations wherever they are (on Step
//! Functions as on the local engine): a token minted by a stopped iteration stays live, as an
//! orphan until a later run's clean-up, or under a stale AWSPENDING that later runs take for a
//! rotation in progress. That is the state machine's failure path, not the per-secret race
//! this suite pins down.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::SecretsManagerStore;
use keyshift_aws::{AwsContext, EndpointOverrides, GrafanaHttpSettings, HttpGrafanaConnector};
use keyshift_cli::asl::ROTATE_WORKSPACE_ASL;
use keyshift_cli::demo::SimFollower;
use keyshift_cli::local::{FleetExecution, LocalRuntime, SyncedClock};
use keyshift_core::Result;
use keyshift_core::model::{ManagedSecretValue, Policy, WorkspaceRef};
use keyshift_core::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, NoMetrics, SecretDescription, SecretStore,
    SecretVersionValue, StageUpdate, VersionSelector,
};
use keyshift_core::secret::SecretString;
use keyshift_core::steps::StepDeps;
use keyshift_core::steps::io::ExecutionInput;
use keyshift_local::{InMemorySecretStore, LocalSealer};
use local_sfn::{Clock as _, ExecutionResult, ExecutionStatus};
use serde_json::json;

const INSTANCE: &str = "sh-121";
const ADMIN_PASSWORD: &str = "admin-pass-race";
/// How long the hold waits for the second execution before giving up (and the test fails).
const HOLD_TIMEOUT: Duration = Duration::from_secs(30);

fn fleet() -> FleetSpec {
    serde_json::from_value(json!({"seed": 5, "workspaces": [
        {"kind": "selfHosted", "id": INSTANCE, "version": "12.1.0",
         "users": [{"login": "admin", "password": ADMIN_PASSWORD, "isGrafanaAdmin": true,
                    "roles": {"1": "Admin"}}],
         "apiKeys": [{"name": "ci-deploy", "role": "Editor", "expires": "20d"}]}
    ]}))
    .unwrap()
}

/// Which interleaving of the two executions' calls the hold forces, on every secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interleaving {
    /// Both checked, `first` writes, the other writes, and only then does `first` go on: the
    /// second write has moved AWSPENDING before `first` looks again.
    BothWriteThenCheck,
    /// Both checked, `first` writes and verifies (reads AWSPENDING back, its own), then the
    /// other writes and verifies too; `first` moves AWSCURRENT only once the other has asked
    /// to move it as well (having read the secret before `first`'s move), and the other's move
    /// goes to the store after `first`'s: both verified a version of their own, both promote
    /// over the same AWSCURRENT, and only the store's conditional move can tell them apart.
    SecondWritesAfterFirstVerified,
}

/// What the hold saw, per secret, while armed.
#[derive(Debug, Default)]
struct HoldState {
    /// How many secrets the hold waits on (zero: not armed).
    secrets: usize,
    /// Secret id to the executions that reached PutSecretValue, in arrival order.
    arrivals: BTreeMap<String, Vec<String>>,
    /// Secret id to the executions whose write is done.
    written: BTreeMap<String, Vec<String>>,
    /// Version id to the execution that wrote it.
    writers: BTreeMap<String, String>,
    /// Secrets whose AWSPENDING `first` read back as its own version (its verify).
    verified_by_first: BTreeSet<String>,
    /// Secrets on which `first`'s move of AWSCURRENT was held until the other had written.
    held_promotions: BTreeSet<String>,
    /// Secrets on which `first`'s move of AWSCURRENT is done: the other's waits for it.
    promoted_by_first: BTreeSet<String>,
    /// Secrets on which the other execution asked to move AWSCURRENT (so it read the secret
    /// before `first` moved it): `first`'s move waits for that.
    second_move_arrived: BTreeSet<String>,
    /// Secrets on which the store itself refused the other's move (a stale RemoveFromVersionId).
    refused_second_moves: BTreeSet<String>,
}

impl HoldState {
    fn written_by(&self, secret_id: &str, execution: &str) -> bool {
        self.written
            .get(secret_id)
            .is_some_and(|done| done.iter().any(|name| name == execution))
    }

    fn both_written(&self, secret_id: &str) -> bool {
        self.written.get(secret_id).map_or(0, Vec::len) >= 2
    }
}

/// The secret store with holds that force an [`Interleaving`]. Once armed for `n` secrets,
/// every write waits until two executions have reached the write of each of the `n` secrets
/// (so no execution fails on one secret before reaching the others), each having found no
/// rotation in progress; then `first` writes each secret before the other does, and the other
/// calls are held as the interleaving says.
struct HoldingStore {
    inner: Arc<dyn SecretStore>,
    state: Mutex<HoldState>,
    first: String,
    interleaving: Interleaving,
}

impl HoldingStore {
    fn arm(&self, secrets: usize) {
        self.state.lock().unwrap().secrets = secrets;
    }

    fn armed(&self) -> bool {
        self.state.lock().unwrap().secrets > 0
    }

    async fn wait_for(&self, ready: impl Fn(&HoldState) -> bool) {
        let started = Instant::now();
        while !ready(&self.state.lock().unwrap()) && started.elapsed() < HOLD_TIMEOUT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[async_trait]
impl SecretStore for HoldingStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription> {
        self.inner.describe(secret_id).await
    }

    async fn get(&self, secret_id: &str, selector: &VersionSelector) -> Result<SecretVersionValue> {
        let read = self.inner.get(secret_id, selector).await;
        if let (Ok(version), VersionSelector::Stage(stage)) = (&read, selector)
            && stage == AWSPENDING
        {
            let mut state = self.state.lock().unwrap();
            if state.writers.get(&version.version_id) == Some(&self.first) {
                state.verified_by_first.insert(secret_id.to_owned());
            }
        }
        read
    }

    async fn ensure_secret(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        self.inner.ensure_secret(name, description, tags).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        client_request_token: &str,
        value: &SecretString,
    ) -> Result<String> {
        if !self.armed() {
            return self
                .inner
                .put_pending(secret_id, client_request_token, value)
                .await;
        }
        let execution = ManagedSecretValue::parse(value, secret_id)
            .map(|parsed| parsed.execution_name)
            .unwrap_or_default();
        self.state
            .lock()
            .unwrap()
            .arrivals
            .entry(secret_id.to_owned())
            .or_default()
            .push(execution.clone());
        self.wait_for(|state| {
            state.arrivals.len() == state.secrets
                && state.arrivals.values().all(|arrived| arrived.len() >= 2)
        })
        .await;
        let is_first = execution == self.first;
        if !is_first {
            let first = self.first.clone();
            let after_verify = self.interleaving == Interleaving::SecondWritesAfterFirstVerified;
            self.wait_for(|state| {
                state.written_by(secret_id, &first)
                    && (!after_verify || state.verified_by_first.contains(secret_id))
            })
            .await;
        }
        let written = self
            .inner
            .put_pending(secret_id, client_request_token, value)
            .await;
        {
            let mut state = self.state.lock().unwrap();
            state
                .written
                .entry(secret_id.to_owned())
                .or_default()
                .push(execution.clone());
            state
                .writers
                .insert(client_request_token.to_owned(), execution);
        }
        if is_first && self.interleaving == Interleaving::BothWriteThenCheck {
            self.wait_for(|state| state.both_written(secret_id)).await;
        }
        written
    }

    async fn apply_stage_update(&self, secret_id: &str, update: &StageUpdate) -> Result<()> {
        let writer = match (update.stage, &update.move_to) {
            (AWSCURRENT, Some(version)) => self.state.lock().unwrap().writers.get(version).cloned(),
            _ => None,
        };
        let held = self.interleaving == Interleaving::SecondWritesAfterFirstVerified;
        let Some(writer) = writer.filter(|_| held) else {
            return self.inner.apply_stage_update(secret_id, update).await;
        };
        if writer == self.first {
            self.state
                .lock()
                .unwrap()
                .held_promotions
                .insert(secret_id.to_owned());
            self.wait_for(|state| state.second_move_arrived.contains(secret_id))
                .await;
            let moved = self.inner.apply_stage_update(secret_id, update).await;
            self.state
                .lock()
                .unwrap()
                .promoted_by_first
                .insert(secret_id.to_owned());
            moved
        } else {
            self.state
                .lock()
                .unwrap()
                .second_move_arrived
                .insert(secret_id.to_owned());
            self.wait_for(|state| state.promoted_by_first.contains(secret_id))
                .await;
            let moved = self.inner.apply_stage_update(secret_id, update).await;
            if moved.is_err() {
                self.state
                    .lock()
                    .unwrap()
                    .refused_second_moves
                    .insert(secret_id.to_owned());
            }
            moved
        }
    }

    async fn list_tagged(&self, key: &str, value: &str) -> Result<Vec<String>> {
        self.inner.list_tagged(key, value).await
    }

    async fn set_tag(&self, secret_id: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.inner.set_tag(secret_id, key, value).await
    }
}

struct Race {
    sim: RunningSim,
    clock: SyncedClock,
    runtime: LocalRuntime,
    store: Arc<HoldingStore>,
    input: ExecutionInput,
    prefix: String,
}

/// The instance migrated by one execution, then two days on so every token is due under a
/// one-day `maxAge`: the state both racing rotations start from. `None` without moto.
async fn prepared(
    moto: Option<&str>,
    first: &str,
    interleaving: Interleaving,
    migrate_first: bool,
) -> Race {
    let sim = Simulator::from_fleet(fleet())
        .unwrap()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let state = sim.state().clone();
    let prefix = format!("race-{}", uuid::Uuid::new_v4().simple());
    let inner: Arc<dyn SecretStore> = match moto {
        Some(endpoint) => {
            let context = AwsContext::for_emulator(EndpointOverrides::for_all(endpoint)).await;
            Arc::new(SecretsManagerStore::new(context.secrets_manager_client()))
        }
        None => Arc::new(InMemorySecretStore::new()),
    };
    let admin_secret = format!("{prefix}/admin/{INSTANCE}");
    inner
        .ensure_secret(&admin_secret, "admin", &BTreeMap::new())
        .await
        .unwrap();
    inner
        .put_pending(
            &admin_secret,
            &uuid::Uuid::new_v4().to_string(),
            &SecretString::new(
                json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
            ),
        )
        .await
        .unwrap();
    let store = Arc::new(HoldingStore {
        inner,
        state: Mutex::default(),
        first: first.to_owned(),
        interleaving,
    });
    let settings = GrafanaHttpSettings {
        allow_loopback_http: true,
        ..GrafanaHttpSettings::default()
    };
    let clock = SyncedClock::new(state.now(), Some(Arc::new(SimFollower(state.clone()))));
    let deps = StepDeps {
        grafana: Arc::new(HttpGrafanaConnector::new(settings).unwrap()),
        secrets: store.clone(),
        sealer: Arc::new(LocalSealer::random()),
        amg: None,
        clock: Arc::new(clock.clone()),
        amg_url_template: None,
        metrics: Arc::new(NoMetrics),
        events: Arc::new(keyshift_core::ports::NoEvents),
    };
    let runtime = LocalRuntime::on_virtual_time(ROTATE_WORKSPACE_ASL, deps, &clock).unwrap();
    let policy: Policy = serde_json::from_value(json!({
        "secretNameTemplate": format!("{prefix}/{{workspace}}/{{org_id}}/{{service_account}}/token"),
        "maxAge": "1d",
        "gracePeriod": "1h",
    }))
    .unwrap();
    let workspace = WorkspaceRef::self_hosted(sim.instance_url(INSTANCE), admin_secret, 1).unwrap();
    let input = ExecutionInput { workspace, policy };
    if migrate_first {
        let migration = runtime.execute("migrate", &input, 4).await;
        assert_eq!(
            migration.status,
            ExecutionStatus::Succeeded,
            "migration: {:?} {:?}",
            migration.error,
            migration.cause
        );
        clock.advance(Duration::from_secs(2 * 24 * 3600));
    }
    Race {
        sim,
        clock,
        runtime,
        store,
        input,
        prefix,
    }
}

impl Race {
    /// The managed token secrets (the admin secret excluded), sorted.
    async fn managed_secrets(&self) -> Vec<String> {
        let mut names = self
            .store
            .list_tagged("keyshift:workspace", &self.input.workspace.key())
            .await
            .unwrap();
        names.retain(|name| name.starts_with(&self.prefix) && !name.contains("/admin/"));
        names
    }

    async fn value(&self, secret_id: &str, stage: &str) -> ManagedSecretValue {
        let stored = self
            .store
            .get(secret_id, &VersionSelector::Stage(stage.to_owned()))
            .await
            .unwrap_or_else(|error| panic!("no {stage} in {secret_id}: {error}"));
        ManagedSecretValue::parse(&stored.value, secret_id).unwrap()
    }

    /// Live (unexpired, unrevoked) token ids of every service account of the instance.
    fn live_token_ids(&self) -> BTreeSet<i64> {
        let state = self.sim.state();
        let mut live = BTreeSet::new();
        for account in state.list_service_accounts(INSTANCE, 1).unwrap() {
            for token in state.list_tokens(INSTANCE, 1, account.row.id).unwrap() {
                if !token.has_expired && !token.is_revoked {
                    live.insert(token.id);
                }
            }
        }
        live
    }

    /// After both executions: each secret's AWSCURRENT was written by `winner` and superseded
    /// `previous_writer`'s version directly (`None`: it is the secret's first version), so
    /// AWSCURRENT moved once; the log shows one promotion per
    /// secret since `promotions_before`, every live token is held by some secret's AWSCURRENT
    /// or AWSPREVIOUS, and each AWSCURRENT authenticates.
    async fn assert_rotated_once_by(
        &self,
        winner: &str,
        previous_writer: Option<&str>,
        promotions_before: usize,
    ) {
        let secrets = self.managed_secrets().await;
        assert_eq!(secrets.len(), 1, "one managed secret: {secrets:?}");
        let log = self.runtime.log();
        let promoted = &log.promoted[promotions_before..];
        assert_eq!(
            promoted.len(),
            secrets.len(),
            "exactly one promotion per secret: {promoted:?}"
        );
        let mut held = BTreeSet::new();
        for secret_id in &secrets {
            let current = self.value(secret_id, AWSCURRENT).await;
            assert_eq!(
                current.execution_name, winner,
                "{secret_id}: AWSCURRENT's writer"
            );
            match previous_writer {
                Some(writer) => {
                    let previous = self.value(secret_id, AWSPREVIOUS).await;
                    assert_eq!(
                        previous.execution_name, writer,
                        "{secret_id}: AWSCURRENT moved once, off {writer}'s version"
                    );
                    held.insert(previous.token_id);
                }
                None => {
                    let described = self.store.describe(secret_id).await.unwrap();
                    assert_eq!(
                        described.version_with_stage(AWSPREVIOUS),
                        None,
                        "{secret_id}: the first version, never moved: {described:?}"
                    );
                }
            }
            assert_eq!(
                promoted
                    .iter()
                    .filter(|record| record.secret_id == *secret_id)
                    .count(),
                1,
                "{secret_id}: one promotion"
            );
            assert!(
                matches!(
                    self.sim
                        .state()
                        .authenticate_credential(INSTANCE, current.token.expose()),
                    Ok(Ok(_))
                ),
                "{secret_id}: AWSCURRENT authenticates"
            );
            held.insert(current.token_id);
        }
        let live = self.live_token_ids();
        assert_eq!(
            live, held,
            "every live token is held by AWSCURRENT or AWSPREVIOUS (kept for rollback): no orphan"
        );
    }

    /// Tokens `execution` minted (by the log), each asserted not live any more; returns how
    /// many there were, so a caller can require that there was something to clean up.
    fn assert_withdrawn(&self, execution: &str) -> usize {
        let live = self.live_token_ids();
        let minted: Vec<_> = self
            .runtime
            .log()
            .minted
            .into_iter()
            .filter(|record| record.token_name.contains(execution))
            .collect();
        for record in &minted {
            assert!(
                !live.contains(&record.token_id),
                "{execution}'s token {} is withdrawn",
                record.token_name
            );
        }
        minted.len()
    }
}

fn outcome(result: &ExecutionResult) -> String {
    format!(
        "{} {:?} {:?} {:?}",
        result.name, result.status, result.error, result.cause
    )
}

/// The loser's DLQ message names `Rotation.InProgress` too (the Map's Catch parks it), and the
/// state it lost in.
fn assert_parked_as_in_progress(race: &Race, loser: &str, failed_state: &str) {
    let messages: Vec<serde_json::Value> = race
        .runtime
        .dlq()
        .bodies()
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect();
    let parked: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|message| message["execution"] == loser)
        .collect();
    assert!(
        !parked.is_empty(),
        "the loser parked its failure: {messages:?}"
    );
    for message in parked {
        assert_eq!(message["error"], "Rotation.InProgress", "{message}");
        assert_eq!(message["failedState"], failed_state, "{message}");
    }
}

/// Races `race-a` (writing first) and `race-b` as `interleaving` forces, and asserts the
/// interleaving happened and `winner` rotated every secret once while the other failed with
/// `Rotation.InProgress` and withdrew what it minted.
async fn race(moto: Option<&str>, interleaving: Interleaving, winner: &str, loser: &str) {
    race_from(moto, interleaving, true, winner, loser).await;
}

/// [`race`] on an instance already migrated (`migrate_first`: a rotation race) or not yet (a
/// migration race, where the secret does not exist until the executions write it).
async fn race_from(
    moto: Option<&str>,
    interleaving: Interleaving,
    migrate_first: bool,
    winner: &str,
    loser: &str,
) {
    let race = prepared(moto, "race-a", interleaving, migrate_first).await;
    let promotions_before = race.runtime.log().promoted.len();
    // One secret per legacy key of the fleet, whether the migration made it already or not.
    let secrets_expected = 1;
    race.store.arm(secrets_expected);
    let executions: Vec<FleetExecution> = ["race-a", "race-b"]
        .iter()
        .map(|name| FleetExecution {
            name: (*name).to_owned(),
            input: race.input.clone(),
        })
        .collect();
    let results = race.runtime.execute_fleet(&executions, 4, |_| {}).await;

    // The forced interleaving happened: on every secret both executions reached the write,
    // each having found no rotation in progress, and in the second interleaving race-a had
    // verified its own version before race-b wrote.
    {
        let state = race.store.state.lock().unwrap();
        assert_eq!(
            state.arrivals.len(),
            secrets_expected,
            "held on every secret: {:?}",
            state.arrivals
        );
        for (secret_id, arrived) in &state.arrivals {
            let arrived: BTreeSet<&str> = arrived.iter().map(String::as_str).collect();
            assert_eq!(
                arrived,
                BTreeSet::from(["race-a", "race-b"]),
                "{secret_id}: both executions reached PutSecretValue"
            );
            assert!(state.both_written(secret_id), "{secret_id}: both wrote");
        }
        if interleaving == Interleaving::SecondWritesAfterFirstVerified {
            assert_eq!(
                state.verified_by_first.len(),
                secrets_expected,
                "race-a read its own AWSPENDING back on every secret before race-b wrote"
            );
            assert_eq!(
                state.held_promotions.len(),
                secrets_expected,
                "race-a's move of AWSCURRENT waited for race-b's on every secret"
            );
            assert_eq!(
                state.refused_second_moves.len(),
                secrets_expected,
                "the store refused race-b's move off the version race-a had moved AWSCURRENT from"
            );
        }
    }

    let outcome_of = |name: &str| {
        results
            .iter()
            .find(|result| result.name == name)
            .unwrap_or_else(|| panic!("no result for {name}"))
    };
    let (won, lost) = (outcome_of(winner), outcome_of(loser));
    assert_eq!(won.status, ExecutionStatus::Succeeded, "{}", outcome(won));
    assert_eq!(lost.status, ExecutionStatus::Failed, "{}", outcome(lost));
    assert_eq!(
        lost.error.as_deref(),
        Some("Rotation.InProgress"),
        "{}",
        outcome(lost)
    );
    // Where the loser finds out: its check after writing, unless it had verified before the
    // other's write, when only the conditional move of AWSCURRENT tells them apart.
    let lost_at = match interleaving {
        Interleaving::BothWriteThenCheck => "StageSecret",
        Interleaving::SecondWritesAfterFirstVerified => "PromoteSecret",
    };
    assert_parked_as_in_progress(&race, loser, lost_at);
    let previous_writer = migrate_first.then_some("migrate");
    race.assert_rotated_once_by(winner, previous_writer, promotions_before)
        .await;
    let secrets = race.managed_secrets().await;
    assert_eq!(
        race.assert_withdrawn(loser),
        secrets.len(),
        "the loser minted a token per secret before losing, and deleted each"
    );
}

/// The second write takes AWSPENDING before the first execution looks again: the first one
/// finds it gone and stops, the second rotates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_stage_wins_when_both_write_before_either_checks_on_the_memory_store() {
    race(None, Interleaving::BothWriteThenCheck, "race-b", "race-a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_stage_wins_when_both_write_before_either_checks_on_moto() {
    let moto = keyshift_test_support::moto_or_skip!(
        the_later_stage_wins_when_both_write_before_either_checks_on_moto
    );
    race(
        Some(&moto),
        Interleaving::BothWriteThenCheck,
        "race-b",
        "race-a",
    )
    .await;
}

/// Two migrations at once, before the secret exists: the first write is the secret's first
/// version, which Secrets Manager makes AWSCURRENT on the spot, so the first writer rotates and
/// the second finds AWSCURRENT on a version it did not stage over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_write_wins_two_migrations_at_once_on_the_memory_store() {
    race_from(
        None,
        Interleaving::BothWriteThenCheck,
        false,
        "race-a",
        "race-b",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_write_wins_two_migrations_at_once_on_moto() {
    let moto =
        keyshift_test_support::moto_or_skip!(the_first_write_wins_two_migrations_at_once_on_moto);
    race_from(
        Some(&moto),
        Interleaving::BothWriteThenCheck,
        false,
        "race-a",
        "race-b",
    )
    .await;
}

/// Both verify a version of their own: the first to move AWSCURRENT off the version both
/// staged over wins, the other finds it moved and stops (the double rotation this prevents).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_promotion_wins_when_both_verified_on_the_memory_store() {
    race(
        None,
        Interleaving::SecondWritesAfterFirstVerified,
        "race-a",
        "race-b",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_promotion_wins_when_both_verified_on_moto() {
    let moto =
        keyshift_test_support::moto_or_skip!(the_first_promotion_wins_when_both_verified_on_moto);
    race(
        Some(&moto),
        Interleaving::SecondWritesAfterFirstVerified,
        "race-a",
        "race-b",
    )
    .await;
}

/// The second execution starts once the first has promoted the secret and waits in its
/// grace period: it plans against the new tokens (not due), so it rotates nothing and the
/// first one's rotation stands, revoked and clean, as before.
async fn second_starts_during_the_grace_period(moto: Option<&str>) {
    let race = prepared(moto, "grace-a", Interleaving::BothWriteThenCheck, true).await;
    let promotions_before = race.runtime.log().promoted.len();
    // Keeps virtual time from running the first execution's Wait to its end before the second
    // one has started.
    let hold = race.clock.participate();
    let first = race.runtime.execute("grace-a", &race.input, 4);
    let second = async {
        let started = Instant::now();
        while race.runtime.log().promoted.len() < promotions_before + 1
            && started.elapsed() < HOLD_TIMEOUT
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let promoted = race.runtime.log().promoted.len() - promotions_before;
        let run = race.runtime.execute("grace-b", &race.input, 4);
        let (result, ()) = futures::join!(run, async { drop(hold) });
        (promoted, result)
    };
    let (first, (promoted_before_second, second)) = futures::join!(first, second);
    assert_eq!(
        promoted_before_second, 1,
        "the second started after the promotion"
    );
    assert_eq!(
        first.status,
        ExecutionStatus::Succeeded,
        "{}",
        outcome(&first)
    );
    assert_eq!(
        second.status,
        ExecutionStatus::Succeeded,
        "{}",
        outcome(&second)
    );
    let plans = race.runtime.log().plans;
    let second_plan = plans
        .iter()
        .find(|plan| plan.execution_name == "grace-b")
        .expect("the second execution planned");
    assert!(
        second_plan.plan.credentials.is_empty(),
        "nothing is due right after a rotation: {:?}",
        second_plan.plan.credentials
    );
    race.assert_rotated_once_by("grace-a", Some("migrate"), promotions_before)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_execution_during_the_grace_period_rotates_nothing_on_the_memory_store() {
    second_starts_during_the_grace_period(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_execution_during_the_grace_period_rotates_nothing_on_moto() {
    let moto = keyshift_test_support::moto_or_skip!(
        a_second_execution_during_the_grace_period_rotates_nothing_on_moto
    );
    second_starts_during_the_grace_period(Some(&moto)).await;
}
