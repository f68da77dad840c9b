//! `keyshift plan` and `keyshift run`: the fleet against real endpoints (AMG through the AWS
//! default credential chain, self-hosted Grafana over HTTP), built on the same wiring as the
//! demo.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::provider::ProvideCredentials;
use aws_types::region::Region;
use keyshift_aws::{
    AwsAmgConnector, AwsContext, AwsService, CLI_SESSION, EndpointOverrides, GrafanaHttpSettings,
    HttpGrafanaConnector, KmsSealer, SecretsManagerStore, SqsDeadLetterQueue,
};
use keyshift_core::SecretString;
use keyshift_core::fleet::FleetDirectory;
use keyshift_core::model::duration::parse_duration;
use keyshift_core::model::{GrafanaCredential, Policy, WorkspaceRef, WorkspaceTarget};
use keyshift_core::naming::execution_name_for;
use keyshift_core::plan::Plan;
use keyshift_core::ports::{AWSCURRENT, AmgConnector, Sealer, SecretStore, SystemClock};
use keyshift_core::steps::io::{DiscoverInput, ExecutionInput};
use keyshift_core::steps::{
    BootstrapCleanup, StepDeps, discover_keys, revoke_bootstrap_credential,
};
use keyshift_local::{InMemorySecretStore, LocalSealer};
use local_sfn::RealClock;
use serde::Serialize;

use crate::asl::ROTATE_WORKSPACE_ASL;
use crate::cli::{
    ADMIN_CREDENTIAL_ENV, DlqKind, OutputFormat, PlanArgs, RunArgs, SecretStoreKind, TargetArgs,
};
use crate::config::{FleetConfig, LoadFleetConfig};
use crate::exit::{self, CliError, read_text};
use crate::local::{LocalDlq, LocalRuntime};
use crate::progress::{Progress, stdout_is_terminal};
use crate::select::select_workspaces;

/// The resolved fleet and the ports to work on it.
pub struct FleetContext {
    /// The workspaces selected.
    pub workspaces: Vec<WorkspaceRef>,
    /// The policy from the config (or defaults).
    pub policy: Policy,
    /// The config's MaxConcurrency, if any.
    pub max_concurrency: Option<u32>,
    /// The step dependencies.
    pub deps: StepDeps,
    /// The AWS context, when anything selected needs AWS (`None` for a trial with the memory
    /// store on self-hosted Grafana, which must not probe for AWS credentials at all).
    pub aws: Option<AwsContext>,
}

/// What of AWS a command needs, decided before anything AWS is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsNeeds {
    /// The AMG control plane (regional clients, region from the workspace).
    pub amg: bool,
    /// Services called in the default region: Secrets Manager, KMS, SQS.
    pub regional: bool,
}

impl AwsNeeds {
    /// The needs of one `plan`/`run` invocation: AMG when an AMG workspace or selection is
    /// given, the default region for the Secrets Manager store, a KMS key or an SQS DLQ.
    pub fn of(targets: &TargetArgs, config: &FleetConfig, kms: bool, sqs: bool) -> Self {
        Self {
            amg: crate::select::selects_amg(targets, config),
            regional: targets.secret_store == SecretStoreKind::SecretsManager || kms || sqs,
        }
    }

    fn any(self) -> bool {
        self.amg || self.regional
    }
}

/// The sentence printed when a regional AWS service is needed and no region is known.
pub const NO_REGION: &str = "no AWS region: pass --region or set AWS_REGION";

/// The sentence printed when AWS is needed and the default credential chain finds nothing.
pub const NO_CREDENTIALS: &str = "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, or run with an IAM role";

/// Loads aws-config's default chain, with `--region` as the region when the environment names
/// none, and the endpoint overrides of the flags on top of the environment's.
async fn aws_context(targets: &TargetArgs, needs: AwsNeeds) -> Result<AwsContext, CliError> {
    let mut endpoints = EndpointOverrides::from_env();
    if let Some(url) = &targets.amg_endpoint {
        endpoints = endpoints.with_service(AwsService::Grafana, url.clone());
    }
    if let Some(url) = &targets.secrets_endpoint {
        endpoints = endpoints.with_service(AwsService::SecretsManager, url.clone());
    }
    operator_aws_context(targets.region.as_deref(), needs.regional, endpoints).await
}

/// The operator's AWS context for every CLI verb: aws-config's default chain, `region` when
/// the environment names none, and one sentence instead of SDK noise when a region
/// (`require_region`) or credentials are missing.
pub async fn operator_aws_context(
    region: Option<&str>,
    require_region: bool,
    endpoints: EndpointOverrides,
) -> Result<AwsContext, CliError> {
    let mut chain = RegionProviderChain::default_provider();
    if let Some(fallback) = region {
        chain = chain.or_else(Region::new(fallback.to_owned()));
    }
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .region(chain)
        .load()
        .await;
    if require_region && sdk_config.region().is_none() {
        return Err(CliError::Usage(NO_REGION.to_owned()));
    }
    if let Some(provider) = sdk_config.credentials_provider() {
        provider.provide_credentials().await.map_err(|error| {
            tracing::debug!(?error, "the AWS credential chain found nothing");
            CliError::Usage(NO_CREDENTIALS.to_owned())
        })?;
    }
    Ok(AwsContext::new(sdk_config, endpoints))
}

/// Reads the config, builds the adapters (AWS ones only when needed) and selects the
/// workspaces.
pub async fn fleet_context(
    targets: &TargetArgs,
    kms_key_id: Option<&str>,
    sqs_dlq: bool,
) -> Result<FleetContext, CliError> {
    let config = match &targets.config {
        Some(path) => FleetConfig::load(path)?,
        None => FleetConfig::default(),
    };
    if targets.admin_credential_file.is_some() && targets.secret_store != SecretStoreKind::Memory {
        return Err(CliError::InvalidArgument {
            flag: "--admin-credential-file".to_owned(),
            message: "only with --secret-store memory; Secrets Manager already holds the admin \
                      credential under --admin-secret-id"
                .to_owned(),
        });
    }
    let needs = AwsNeeds::of(targets, &config, kms_key_id.is_some(), sqs_dlq);
    let aws = if needs.any() {
        Some(aws_context(targets, needs).await?)
    } else {
        None
    };
    // One connector lists the fleet (this account's and each account's workspaces) and serves
    // the steps, so each role is assumed once and carried in every workspace it reached.
    let amg: Option<Arc<AwsAmgConnector>> = match (&aws, needs.amg) {
        (Some(aws), true) => Some(Arc::new(AwsAmgConnector::new(aws.clone(), CLI_SESSION))),
        _ => None,
    };
    let directory = amg
        .as_deref()
        .map(|connector| connector as &dyn FleetDirectory);
    let workspaces = select_workspaces(targets, &config, directory).await?;
    let secrets: Arc<dyn SecretStore> = match (targets.secret_store, &aws) {
        (SecretStoreKind::SecretsManager, Some(aws)) => {
            Arc::new(SecretsManagerStore::new(aws.secrets_manager_client()))
        }
        (SecretStoreKind::SecretsManager, None) => {
            return Err(CliError::Usage(NO_REGION.to_owned()));
        }
        (SecretStoreKind::Memory, _) => {
            let store = InMemorySecretStore::new();
            seed_admin_credentials(&store, targets, &workspaces).await?;
            Arc::new(store)
        }
    };
    let sealer: Arc<dyn Sealer> = match (kms_key_id, &aws) {
        (Some(key), Some(aws)) => Arc::new(KmsSealer::new(aws.kms_client(), key)),
        (Some(_), None) => return Err(CliError::Usage(NO_REGION.to_owned())),
        (None, _) => Arc::new(LocalSealer::random()),
    };
    let connector =
        HttpGrafanaConnector::new(GrafanaHttpSettings::default().with_loopback_http_from_env())
            .map_err(|error| CliError::environment("building the Grafana HTTP client", error))?;
    let deps = StepDeps {
        grafana: Arc::new(connector),
        secrets,
        sealer,
        amg: amg.map(|connector| connector as Arc<dyn AmgConnector>),
        clock: Arc::new(SystemClock),
        amg_url_template: targets.amg_url_template.clone(),
        metrics: Arc::new(keyshift_core::ports::NoMetrics),
        events: Arc::new(keyshift_core::ports::NoEvents),
    };
    Ok(FleetContext {
        workspaces,
        policy: config.policy,
        max_concurrency: config.max_concurrency,
        deps,
        aws,
    })
}

/// A trial's admin credential and where it came from (the file or variable, named in
/// messages instead of the value), or `None` when none was given.
fn admin_credential(targets: &TargetArgs) -> Result<Option<(SecretString, String)>, CliError> {
    if let Some(path) = &targets.admin_credential_file {
        let text = read_text(path)?;
        return Ok(Some((SecretString::new(text), path.display().to_string())));
    }
    match std::env::var(ADMIN_CREDENTIAL_ENV) {
        Ok(value) if !value.trim().is_empty() => Ok(Some((
            SecretString::new(value),
            ADMIN_CREDENTIAL_ENV.to_owned(),
        ))),
        _ => Ok(None),
    }
}

/// Puts the trial's admin credential into the memory store under each self-hosted target's
/// admin secret id, after checking it parses the way the steps will read it.
async fn seed_admin_credentials(
    store: &InMemorySecretStore,
    targets: &TargetArgs,
    workspaces: &[WorkspaceRef],
) -> Result<(), CliError> {
    let admin_secret_ids: Vec<(&str, &WorkspaceRef)> = workspaces
        .iter()
        .filter_map(|workspace| match &workspace.target {
            WorkspaceTarget::SelfHosted {
                admin_secret_id, ..
            } => Some((admin_secret_id.as_str(), workspace)),
            WorkspaceTarget::Amg { .. } => None,
        })
        .collect();
    let Some(&(_, first)) = admin_secret_ids.first() else {
        return Ok(());
    };
    let Some((value, source)) = admin_credential(targets)? else {
        return Err(CliError::Usage(format!(
            "the memory store starts empty, so it has no admin credential for {first}: put it \
             in the {ADMIN_CREDENTIAL_ENV} environment variable or in a file given with \
             --admin-credential-file (JSON {{\"username\":…,\"password\":…}}, \
             {{\"token\":…}} or a bare token)"
        )));
    };
    GrafanaCredential::from_admin_secret(&value).map_err(|error| {
        CliError::invalid_file(source.clone(), format!("not an admin credential: {error}"))
    })?;
    for (admin_secret_id, _) in admin_secret_ids {
        if store.describe(admin_secret_id).await.is_ok() {
            continue;
        }
        let seeded = async {
            store
                .ensure_secret(
                    admin_secret_id,
                    "self-hosted admin credential",
                    &BTreeMap::new(),
                )
                .await?;
            store.put_secret_value(
                admin_secret_id,
                &uuid::Uuid::new_v4().to_string(),
                &value,
                &[AWSCURRENT],
                chrono::Utc::now(),
            )
        };
        seeded
            .await
            .map_err(|error| CliError::environment("seeding the admin credential", error))?;
    }
    Ok(())
}

/// One workspace's plan, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspacePlan {
    /// `WorkspaceRef::key`, the stable identity scripts match on.
    pub workspace: String,
    /// `WorkspaceRef::label`, the target as people name it.
    pub target: String,
    /// The plan.
    pub plan: Option<Plan>,
    /// The ASL error name and message when discovery failed.
    pub error: Option<String>,
}

/// Plans one workspace: discover-keys, then (AMG) immediately deletes the short-lived admin
/// token discovery minted, through the bootstrap-only clean-up; nothing else is changed.
pub async fn plan_workspace(
    deps: &StepDeps,
    workspace: &WorkspaceRef,
    policy: &Policy,
) -> WorkspacePlan {
    let execution_name = format!("plan-{}", uuid::Uuid::new_v4().simple());
    let discovered = discover_keys(
        deps,
        DiscoverInput {
            execution_name: execution_name.clone(),
            workspace: workspace.clone(),
            policy: policy.clone(),
        },
    )
    .await;
    let output = match discovered {
        Ok(output) => output,
        Err(error) => {
            return WorkspacePlan {
                workspace: workspace.key(),
                target: workspace.label(),
                plan: None,
                error: Some(format!("{}: {error}", error.asl_name())),
            };
        }
    };
    let cleanup = release_bootstrap(deps, execution_name, workspace, &output.bootstrap, policy)
        .await
        .map(|error| format!("the plan is complete, but {error}"));
    WorkspacePlan {
        workspace: workspace.key(),
        target: workspace.label(),
        error: cleanup,
        plan: Some(output.plan),
    }
}

/// Deletes the short-lived admin token a read-only look-up minted on AMG (nothing to do on
/// self-hosted Grafana), through the bootstrap-only clean-up; the sentence to report when that
/// failed.
pub async fn release_bootstrap(
    deps: &StepDeps,
    execution_name: String,
    workspace: &WorkspaceRef,
    bootstrap: &keyshift_core::steps::io::Bootstrap,
    policy: &Policy,
) -> Option<String> {
    let cleanup = revoke_bootstrap_credential(
        deps,
        BootstrapCleanup {
            execution_name,
            workspace: workspace.clone(),
            bootstrap: bootstrap.clone(),
            policy: policy.clone(),
        },
    )
    .await;
    cleanup.err().map(|error| {
        format!(
            "revoking the look-up's admin credential failed: {}: {error}",
            error.asl_name()
        )
    })
}

/// `keyshift plan`.
pub async fn plan_command(args: PlanArgs) -> Result<u8, CliError> {
    let context = fleet_context(&args.targets, None, false).await?;
    let progress = Progress::new(
        args.output == OutputFormat::Table && stdout_is_terminal(),
        context.workspaces.len() as u64,
        "plan",
    );
    let mut plans = Vec::new();
    for workspace in &context.workspaces {
        plans.push(plan_workspace(&context.deps, workspace, &context.policy).await);
        progress.inc();
    }
    progress.finish();
    match args.output {
        OutputFormat::Json => crate::print_json(&plans)?,
        OutputFormat::Table => print!("{}", render_plans(&plans)),
    }
    let failed = plans.iter().any(|plan| plan.plan.is_none());
    let has_work = plans
        .iter()
        .filter_map(|plan| plan.plan.as_ref())
        .any(Plan::has_work);
    Ok(if failed {
        exit::FAILED
    } else if args.detailed_exitcode && has_work {
        exit::PLAN_HAS_WORK
    } else {
        exit::SUCCESS
    })
}

/// The plans as text for people.
pub fn render_plans(plans: &[WorkspacePlan]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for entry in plans {
        let _ = writeln!(out, "{}", entry.target);
        if let Some(plan) = &entry.plan {
            let _ = writeln!(
                out,
                "  Grafana {}, grace period {} s",
                plan.version, plan.grace_period_seconds
            );
            for credential in &plan.credentials {
                let _ = writeln!(
                    out,
                    "  + {:<36} {:<8} -> {}  ({})",
                    credential.service_account.name,
                    credential.service_account.role.as_grafana(),
                    credential.secret_id,
                    credential.why
                );
                for revocation in &credential.revocations {
                    let _ = writeln!(
                        out,
                        "      then revoke token {} ({})",
                        revocation.token_name, revocation.why
                    );
                }
                for key in &credential.legacy_key_deletions {
                    let _ = writeln!(out, "      then delete key {} ({})", key.key_name, key.why);
                }
            }
            for key in &plan.expired_keys {
                let _ = writeln!(out, "  - delete expired key {} ({})", key.key_name, key.why);
            }
            for cleanup in &plan.token_cleanups {
                let _ = writeln!(
                    out,
                    "  - revoke token {} of {} ({})",
                    cleanup.token_name, cleanup.service_account_name, cleanup.why
                );
            }
            for excluded in &plan.excluded_keys {
                let _ = writeln!(out, "  = excluded {} ({})", excluded.key_name, excluded.why);
            }
            for note in &plan.up_to_date {
                let _ = writeln!(out, "  = up to date {} ({})", note.name, note.why);
            }
            if !plan.has_work() {
                let _ = writeln!(out, "  nothing to do");
            }
        }
        if let Some(error) = &entry.error {
            let _ = writeln!(out, "  ! {error}");
        }
    }
    out
}

/// One execution of `keyshift run`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Execution name.
    pub execution: String,
    /// Workspace key, the stable identity scripts match on.
    pub workspace: String,
    /// The target as people name it.
    pub target: String,
    /// Final status.
    pub status: String,
    /// Error name on failure.
    pub error: Option<String>,
    /// Cause on failure (scrubbed by the steps).
    pub cause: Option<String>,
    /// Top-level states entered.
    pub states_path: Vec<String>,
}

/// `keyshift run`.
pub async fn run_command(args: RunArgs) -> Result<u8, CliError> {
    let mut context = fleet_context(
        &args.targets,
        args.kms_key_id.as_deref(),
        args.dlq == DlqKind::Sqs,
    )
    .await?;
    if let Some(grace) = &args.grace_period {
        context.policy.grace_period =
            parse_duration(grace).ok_or_else(|| CliError::InvalidArgument {
                flag: "--grace-period".to_owned(),
                message: format!("{grace:?} is not a duration such as 24h, 90m, 0s or 3600"),
            })?;
    }
    context
        .policy
        .validate()
        .map_err(|error| CliError::invalid_file("policy", error.to_string()))?;
    let template = match &args.definition {
        Some(path) => read_text(path)?,
        None => ROTATE_WORKSPACE_ASL.to_owned(),
    };
    let dlq = match args.dlq {
        DlqKind::Memory => LocalDlq::in_process(),
        DlqKind::Sqs => {
            let url = args
                .dlq_url
                .clone()
                .ok_or_else(|| CliError::InvalidArgument {
                    flag: "--dlq-url".to_owned(),
                    message: "required with --dlq sqs".to_owned(),
                })?;
            let aws = context
                .aws
                .as_ref()
                .ok_or_else(|| CliError::Usage(NO_REGION.to_owned()))?;
            LocalDlq::forwarding(Arc::new(SqsDeadLetterQueue::new(aws.sqs_client(), url)))
        }
    };
    let runtime = LocalRuntime::new(&template, context.deps.clone(), Arc::new(RealClock), dlq)
        .map_err(|error| CliError::invalid_file("definition", error.to_string()))?;
    let max_concurrency = args
        .max_concurrency
        .or(context.max_concurrency)
        .unwrap_or(4)
        .max(1);
    let progress = Progress::new(
        args.output == OutputFormat::Table && stdout_is_terminal(),
        context.workspaces.len() as u64,
        "run",
    );
    let slot = chrono::Utc::now();
    let runs = context.workspaces.iter().map(|workspace| {
        let name = execution_name_for(workspace, slot);
        let input = ExecutionInput {
            workspace: workspace.clone(),
            policy: context.policy.clone(),
        };
        let runtime = runtime.clone();
        let progress = progress.clone();
        async move {
            let result = runtime.execute(&name, &input, max_concurrency).await;
            progress.inc();
            RunSummary {
                execution: name,
                workspace: workspace.key(),
                target: workspace.label(),
                status: result.status.as_str().to_owned(),
                error: result.error.clone(),
                cause: result.cause.clone(),
                states_path: result.states_path(),
            }
        }
    });
    let summaries = futures::future::join_all(runs).await;
    progress.finish();
    let dead_letters = runtime.dlq().messages();
    match args.output {
        OutputFormat::Json => crate::print_json(
            &serde_json::json!({"executions": summaries, "deadLetters": dead_letters}),
        )?,
        OutputFormat::Table => {
            for summary in &summaries {
                println!(
                    "{:<9} {}  {}: {}",
                    summary.status,
                    summary.target,
                    summary.execution,
                    summary.states_path.join(" > ")
                );
                if let (Some(error), Some(cause)) = (&summary.error, &summary.cause) {
                    println!("          {error}: {cause}");
                }
            }
            if !dead_letters.is_empty() {
                println!(
                    "{} message(s) sent to the dead-letter queue",
                    dead_letters.len()
                );
            }
        }
    }
    Ok(
        if summaries
            .iter()
            .all(|summary| summary.status == "SUCCEEDED")
        {
            exit::SUCCESS
        } else {
            exit::FAILED
        },
    )
}
