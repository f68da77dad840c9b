//! Stand-in steps that check the ASL↔Rust contract instead of doing the work.
//!
//! Each handler deserializes the payload its Task built into the step's real input type and
//! answers with a value of the step's real output type derived from that input, so running the
//! definition end to end proves that every Task's Parameters build its step's input and that
//! every step's output is what the following states read. `keyshift validate` and the contract
//! tests both use it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use keyshift_core::model::{GrafanaVersion, MigrationMode, Role, WorkspaceTarget};
use keyshift_core::plan::{CredentialAction, CredentialPlan, Plan, TargetAccount};
use keyshift_core::ports::SealedToken;
use keyshift_core::ports::queue::DlqMessage;
use keyshift_core::steps::io::{
    AccountRef, Bootstrap, CreateSaInput, CreateSaOutput, CredentialRevokeInput, DiscoverInput,
    DiscoverOutput, MintTokenInput, MintTokenOutput, MintedTokenRef, PromoteOutput,
    PromotedVersion, RevokeOldInput, RevokeOldOutput, StageOutput, StagedVersion, StoreSecretInput,
    StoreSecretOutput, Straggler, Verification, VerifyInput, VerifyOutput,
};
use local_sfn::{Engine, ExecutionResult, RecordingQueue, StartOptions, TaskContext, TaskError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::asl::Step;

/// The error name a stand-in step fails with when its payload breaks the contract; it is not a
/// keyshift error, so the definition treats it like any permanent failure.
pub const CONTRACT_VIOLATION: &str = "Contract.Violation";

/// One Task invocation the stand-ins saw.
#[derive(Debug, Clone)]
pub struct ContractCall {
    /// The Task state that invoked the step.
    pub state: String,
    /// The step invoked.
    pub step: Step,
    /// The payload as the definition built it.
    pub payload: Value,
    /// Set when the payload did not deserialize into the step's input type (or broke a rule).
    pub violation: Option<String>,
}

/// The stand-in steps; cheap to clone, all clones share the call log.
#[derive(Clone, Default)]
pub struct ContractSteps {
    calls: Arc<Mutex<Vec<ContractCall>>>,
    failures: Arc<BTreeMap<String, TaskError>>,
    credentials_per_plan: usize,
    stragglers: bool,
}

impl ContractSteps {
    /// Stand-ins whose discover-keys plans `credentials` Map items.
    pub fn new(credentials: usize) -> Self {
        ContractSteps {
            credentials_per_plan: credentials,
            ..ContractSteps::default()
        }
    }

    /// Makes the Task state `state` fail with `error`, to drive the definition's error paths.
    pub fn failing_at(mut self, state: &str, error: TaskError) -> Self {
        Arc::make_mut(&mut self.failures).insert(state.to_owned(), error);
        self
    }

    /// Makes every credential-scope revoke-old report one straggler (a kept superseded token),
    /// to check that the definition carries stragglers into the execution's output.
    pub fn with_stragglers(mut self) -> Self {
        self.stragglers = true;
        self
    }

    /// Everything invoked so far.
    pub fn calls(&self) -> Vec<ContractCall> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    /// The contract violations seen so far, one line each.
    pub fn violations(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| {
                call.violation
                    .map(|violation| format!("{} ({:?}): {violation}", call.state, call.step))
            })
            .collect()
    }

    /// Registers one handler per step on `engine`, by local function name.
    pub fn register(&self, engine: &mut Engine) {
        for step in Step::ALL {
            let steps = self.clone();
            engine.register_task(
                step.local_function_name(),
                move |payload: Value, context: TaskContext| {
                    let steps = steps.clone();
                    async move { steps.invoke(step, payload, context) }
                },
            );
        }
    }

    fn invoke(&self, step: Step, payload: Value, context: TaskContext) -> Result<Value, TaskError> {
        let outcome = self.answer(step, &payload, &context);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(ContractCall {
                state: context.state_name.clone(),
                step,
                payload,
                violation: outcome.as_ref().err().cloned(),
            });
        }
        let output = outcome.map_err(|violation| TaskError::new(CONTRACT_VIOLATION, violation))?;
        match self.failures.get(&context.state_name) {
            Some(error) => Err(error.clone()),
            None => Ok(output),
        }
    }

    fn answer(&self, step: Step, payload: &Value, context: &TaskContext) -> Result<Value, String> {
        match step {
            Step::DiscoverKeys => {
                let input: DiscoverInput = parse(payload, "DiscoverInput")?;
                same_execution(&input.execution_name, context)?;
                to_json(&self.discover(input))
            }
            Step::CreateSa => {
                let input: CreateSaInput = parse(payload, "CreateSaInput")?;
                same_execution(&input.context.execution_name, context)?;
                to_json(&create_sa(input))
            }
            Step::MintToken => {
                let input: MintTokenInput = parse(payload, "MintTokenInput")?;
                same_execution(&input.context.execution_name, context)?;
                to_json(&mint_token(input))
            }
            Step::StoreSecret => {
                let input: StoreSecretInput = parse(payload, "StoreSecretInput")?;
                let execution_name = match &input {
                    StoreSecretInput::Stage(stage) => &stage.context.execution_name,
                    StoreSecretInput::Promote(promote) => &promote.context.execution_name,
                };
                same_execution(execution_name, context)?;
                to_json(&store_secret(input))
            }
            Step::Verify => {
                let input: VerifyInput = parse(payload, "VerifyInput")?;
                same_execution(&input.context.execution_name, context)?;
                if payload.get("promoted").is_some() {
                    return Err("verify received an already promoted version".to_owned());
                }
                to_json(&verify(input))
            }
            Step::RevokeOld => {
                let input: RevokeOldInput = parse(payload, "RevokeOldInput")?;
                let mut output = RevokeOldOutput::default();
                match &input {
                    RevokeOldInput::Credential(credential) => {
                        same_execution(&credential.context.execution_name, context)?;
                        if self.stragglers {
                            output.stragglers.push(straggler_for(credential));
                        }
                    }
                    RevokeOldInput::Workspace(workspace) => {
                        same_execution(&workspace.execution_name, context)?
                    }
                }
                to_json(&output)
            }
        }
    }

    fn discover(&self, input: DiscoverInput) -> DiscoverOutput {
        let bootstrap = match &input.workspace.target {
            WorkspaceTarget::Amg { .. } => Bootstrap::AmgServiceAccountToken {
                service_account_id: "1".to_owned(),
                token_id: "1".to_owned(),
                token_name: format!("keyshift-bootstrap-{}", input.execution_name),
                sealed: SealedToken::new("c2VhbGVkLWJvb3RzdHJhcA=="),
            },
            WorkspaceTarget::SelfHosted {
                admin_secret_id, ..
            } => Bootstrap::SelfHostedSecret {
                admin_secret_id: admin_secret_id.clone(),
            },
        };
        let credentials = (0..self.credentials_per_plan)
            .map(|index| sample_credential(index, &input))
            .collect();
        let plan = Plan {
            workspace: input.workspace.clone(),
            version: GrafanaVersion::new(10, 4, 0),
            computed_at: fixed_time(),
            grace_period_seconds: input.policy.grace_period_seconds(),
            credentials,
            expired_keys: Vec::new(),
            excluded_keys: Vec::new(),
            token_cleanups: Vec::new(),
            up_to_date: Vec::new(),
            ignored_accounts: Vec::new(),
        };
        DiscoverOutput {
            execution_name: input.execution_name,
            workspace: input.workspace,
            grafana_url: "https://grafana.example.invalid".to_owned(),
            version: GrafanaVersion::new(10, 4, 0),
            policy: input.policy,
            bootstrap,
            plan,
        }
    }
}

fn fixed_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 25, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn sample_credential(index: usize, input: &DiscoverInput) -> CredentialPlan {
    let key_name = format!("legacy-key-{index}");
    CredentialPlan {
        secret_id: format!("keyshift/{}/1/{key_name}/token", input.workspace.slug()),
        action: CredentialAction::MigrateKey {
            key_id: index as i64 + 1,
            key_name: key_name.clone(),
            mode: MigrationMode::InPlace,
        },
        service_account: TargetAccount {
            id: None,
            name: format!("sa-autogen-{key_name}"),
            role: Role::Editor,
            requested_role: Role::Editor,
        },
        token_ttl_seconds: input.policy.token_ttl_seconds(),
        revocations: Vec::new(),
        legacy_key_deletions: Vec::new(),
        why: "contract check".to_owned(),
    }
}

fn create_sa(input: CreateSaInput) -> CreateSaOutput {
    let context = input.context;
    let account = &context.credential.service_account;
    let service_account = AccountRef {
        id: account.id.unwrap_or(100),
        name: account.name.clone(),
        role: account.role,
        org_id: context.workspace.org_id,
    };
    CreateSaOutput {
        context,
        service_account,
    }
}

fn mint_token(input: MintTokenInput) -> MintTokenOutput {
    let token = MintedTokenRef {
        id: input.service_account.id * 10,
        name: format!(
            "keyshift-{}-{}",
            input.context.execution_name, input.service_account.id
        ),
        expires_at: Some(fixed_time()),
        sealed: SealedToken::new(SAMPLE_SEALED_TOKEN),
    };
    MintTokenOutput {
        context: input.context,
        service_account: input.service_account,
        token,
    }
}

/// The ciphertext the stand-in mint-token seals every token to, so a test can look for it in
/// the payloads after stage (where it must not appear).
pub const SAMPLE_SEALED_TOKEN: &str = "c2VhbGVkLXRva2Vu";

fn store_secret(input: StoreSecretInput) -> StoreSecretOutput {
    match input {
        StoreSecretInput::Stage(stage) => StoreSecretOutput::Staged(StageOutput {
            staged: StagedVersion {
                secret_id: stage.context.credential.secret_id.clone(),
                version_id: format!("version-{}", stage.token.id),
                supersedes: None,
            },
            token: stage.token.without_seal(),
            context: stage.context,
            service_account: stage.service_account,
        }),
        StoreSecretInput::Promote(promote) => StoreSecretOutput::Promoted(PromoteOutput {
            promoted: PromotedVersion {
                secret_id: promote.staged.secret_id,
                version_id: promote.staged.version_id,
                previous_version_id: None,
            },
            context: promote.context,
            service_account: promote.service_account,
            token: promote.token,
        }),
    }
}

fn verify(input: VerifyInput) -> VerifyOutput {
    let verified = Verification {
        role: input.service_account.role,
        org_id: input.service_account.org_id,
        checked_at: fixed_time(),
    };
    VerifyOutput {
        context: input.context,
        service_account: input.service_account,
        token: input.token,
        staged: input.staged,
        verified,
    }
}

fn parse<T: DeserializeOwned>(payload: &Value, type_name: &str) -> Result<T, String> {
    serde_json::from_value(payload.clone())
        .map_err(|error| format!("payload does not deserialize into {type_name}: {error}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|error| format!("output does not serialize: {error}"))
}

fn same_execution(execution_name: &str, context: &TaskContext) -> Result<(), String> {
    if execution_name == context.execution_name {
        Ok(())
    } else {
        Err(format!(
            "executionName {execution_name:?} is not the execution's name {:?}",
            context.execution_name
        ))
    }
}

/// The outcome of one contract run.
#[derive(Debug)]
pub struct ContractRun {
    /// The execution.
    pub result: ExecutionResult,
    /// Every step invocation.
    pub calls: Vec<ContractCall>,
    /// Contract violations (empty when the definition and the Rust types agree).
    pub violations: Vec<String>,
    /// DLQ message bodies that did not deserialize into [`DlqMessage`].
    pub bad_dlq_messages: Vec<String>,
    /// DLQ messages that did.
    pub dlq_messages: Vec<DlqMessage>,
}

/// Runs a rendered definition (placeholders replaced by [`crate::asl::local_template_values`])
/// with the stand-in steps on a virtual clock.
pub async fn run_contract(
    definition: &Value,
    steps: &ContractSteps,
    input: Value,
    execution_name: &str,
    dlq_url: &str,
) -> Result<ContractRun, local_sfn::DefinitionError> {
    let clock = Arc::new(local_sfn::VirtualClock::new(fixed_time()));
    let mut engine = Engine::from_value(definition)?.with_clock(clock);
    steps.register(&mut engine);
    let queue = RecordingQueue::new();
    engine.register_queue(dlq_url, queue.clone());
    crate::local::register_event_bus(&mut engine, Arc::new(keyshift_core::ports::NoEvents));
    let result = engine
        .start(execution_name, input, StartOptions::default())
        .await;
    let mut dlq_messages = Vec::new();
    let mut bad_dlq_messages = Vec::new();
    for message in queue.messages() {
        match DlqMessage::parse(&message.body) {
            Ok(parsed) => dlq_messages.push(parsed),
            Err(error) => bad_dlq_messages.push(format!("{error}: {}", message.body)),
        }
    }
    Ok(ContractRun {
        result,
        calls: steps.calls(),
        violations: steps.violations(),
        bad_dlq_messages,
        dlq_messages,
    })
}

/// The straggler a credential's stand-in revoke-old reports: the token before the promoted one.
fn straggler_for(credential: &CredentialRevokeInput) -> Straggler {
    let at = Utc
        .with_ymd_and_hms(2025, 1, 2, 0, 0, 0)
        .single()
        .unwrap_or_default();
    Straggler {
        token_id: credential.token.id - 1,
        token_name: format!("{}-previous", credential.token.name),
        service_account_id: credential.service_account.id,
        service_account_name: credential.service_account.name.clone(),
        last_used_at: at,
        kept_until: at + chrono::Duration::days(7),
    }
}

/// A valid execution input for contract runs: a self-hosted workspace with the default policy.
pub fn sample_execution_input() -> Value {
    serde_json::json!({
        "workspace": {"kind": "selfHosted", "url": "https://grafana.example.invalid", "adminSecretId": "grafana/admin"},
        "maxConcurrency": 2
    })
}
