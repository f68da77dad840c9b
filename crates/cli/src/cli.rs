//! The command line, declared with clap derive so `--help` documents every verb and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, repeated in `--help` because scripts depend on them.
const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   the command ran and its subject failed (an execution FAILED, validation found problems,
      `asl test` ended in another status than --expect)
  2   usage error (bad flags or values)
  3   an input file (definition, mocks, config, policy) is missing or invalid
  4   the environment failed (simulator, AWS, Grafana unreachable)
  10  `plan --detailed-exitcode` only: the plan has work to do
  11  `status` only: a token expires within --warn-days or has expired, a rotation is overdue,
      or a secret's staged token was never promoted";

/// The default `--log`: warnings, except from aws-config and the smithy runtime, which warn
/// about every instance-metadata (IMDS) probe that fails outside EC2 and dump the HTTP
/// response while doing so; what keyshift needs from them is reported as its own error.
pub const DEFAULT_LOG_FILTER: &str =
    "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error";

/// The environment variable `--secret-store memory` reads a self-hosted admin credential from.
pub const ADMIN_CREDENTIAL_ENV: &str = "KEYSHIFT_ADMIN_CREDENTIAL";

/// keyshift moves Grafana fleets (Amazon Managed Grafana and self-hosted) off legacy API keys
/// onto service-account tokens, rotates them and keeps them in AWS Secrets Manager.
#[derive(Debug, Parser)]
#[command(name = "keyshift", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Log filter for diagnostics on stderr (tracing EnvFilter syntax, e.g. `info`,
    /// `keyshift=debug`); also read from KEYSHIFT_LOG. The default keeps the AWS SDK's
    /// credential and instance-metadata probing, expected outside AWS, quiet.
    #[arg(long, global = true, env = "KEYSHIFT_LOG", default_value = DEFAULT_LOG_FILTER)]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate and rotate a simulated fleet end to end, in-process, and print a before/after
    /// report (no AWS account, no network beyond loopback).
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
    /// Show what keyshift would migrate, rotate and revoke, without changing anything.
    #[command(after_help = EXIT_CODES)]
    Plan(PlanArgs),
    /// Run the state machine locally against real Grafana and AWS endpoints.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Show every managed secret's expiry, last rotation and last execution result.
    #[command(after_help = EXIT_CODES)]
    Status(crate::status::StatusArgs),
    /// Check the state machine definition and configuration files.
    #[command(after_help = EXIT_CODES)]
    Validate(ValidateArgs),
    /// Work with state machine definitions.
    #[command(subcommand)]
    Asl(AslCommand),
    /// Work with the dead-letter queue.
    #[command(subcommand, after_help = EXIT_CODES)]
    Dlq(crate::dlq::DlqCommand),
    /// Work on the whole fleet through Step Functions.
    #[command(subcommand)]
    Fleet(crate::fleet_start::FleetCommand),
    /// Create managed secrets from nothing.
    #[command(subcommand, after_help = EXIT_CODES)]
    Secret(crate::secret::SecretCommand),
    /// keyshift's own admin credential on self-hosted Grafana.
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
    /// Move AWSCURRENT back to AWSPREVIOUS, only when the previous token still works.
    #[command(after_help = EXIT_CODES)]
    Rollback(crate::rollback::RollbackArgs),
    /// List every legacy key and service-account token of the fleet, managed or not.
    #[command(after_help = EXIT_CODES)]
    Inventory(crate::inventory::InventoryArgs),
}

/// `keyshift asl …`.
#[derive(Debug, Subcommand)]
pub enum AslCommand {
    /// Run a definition with task results mocked in the Step Functions Local MockConfigFile
    /// format, and print the final status, output and states path as JSON.
    #[command(after_help = EXIT_CODES)]
    Test(AslTestArgs),
}

/// Arguments of `keyshift asl test`.
#[derive(Debug, Args)]
pub struct AslTestArgs {
    /// The ASL definition (Terraform placeholders such as `${verify_arn}` are allowed).
    pub definition: PathBuf,
    /// Execution input: inline JSON, or `@FILE` to read it from a file.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// The MockConfigFile (`StateMachines.<name>.TestCases.<case>`, `MockedResponses`).
    #[arg(long)]
    pub mocks: PathBuf,
    /// The test case to run.
    #[arg(long)]
    pub case: String,
    /// The state machine entry in the mock file (default: the only one, else
    /// `RotateWorkspace`).
    #[arg(long)]
    pub state_machine: Option<String>,
    /// Exit with 1 unless the execution ends with this status.
    #[arg(long, value_enum)]
    pub expect: Option<ExpectedStatus>,
}

/// Final statuses `asl test --expect` can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExpectedStatus {
    /// SUCCEEDED.
    Succeeded,
    /// FAILED.
    Failed,
    /// TIMED_OUT.
    TimedOut,
}

impl ExpectedStatus {
    /// The Step Functions spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedStatus::Succeeded => "SUCCEEDED",
            ExpectedStatus::Failed => "FAILED",
            ExpectedStatus::TimedOut => "TIMED_OUT",
        }
    }
}

/// Arguments of `keyshift validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The definition to check (default: the shipped rotate-workspace definition).
    #[arg(long)]
    pub definition: Option<PathBuf>,
    /// Fleet config files to check (see `keyshift plan --help` for the format).
    #[arg(long = "config")]
    pub configs: Vec<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// A `--role` value, in Grafana's spelling (`Viewer`, `Editor`, `Admin`, `None`).
pub fn parse_role(text: &str) -> Result<keyshift_core::model::Role, String> {
    text.parse::<keyshift_core::model::Role>()
        .map_err(|error| error.to_string())
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    Table,
    /// JSON for scripts.
    Json,
}

/// Where the managed secrets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretStoreKind {
    /// AWS Secrets Manager (default credential chain).
    SecretsManager,
    /// An in-memory store that vanishes with the process (for trials: tokens are lost!).
    Memory,
}

/// Where failed executions are parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DlqKind {
    /// The SQS queue given by `--dlq-url`.
    Sqs,
    /// An in-process queue; its messages are printed at the end.
    Memory,
}

/// Which workspaces a fleet command covers.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Fleet config file (JSON): AMG selection by tag (of this account, and of other accounts
    /// through their role), and self-hosted targets. Format:
    /// `{"amg": {"regions": ["eu-west-1"], "tags": {"keyshift": "managed"},
    ///   "secretNames": {"g-0123456789": "prod-grafana"}},
    ///   "accounts": [{"roleArn": "arn:aws:iam::210987654321:role/keyshift-target",
    ///   "externalId": "…", "regions": ["eu-west-1"], "tags": {"keyshift": "managed"}}],
    ///   "selfHosted": [{"url": "https://grafana.example.com", "adminSecretId": "grafana/admin",
    ///   "orgId": 1, "secretName": "ops-grafana"}], "policy": {"gracePeriod": "24h"}}`; every
    ///   part optional.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// One AMG workspace id (`g-…`) instead of the fleet; needs --region.
    #[arg(long, conflicts_with = "url")]
    pub workspace: Option<String>,
    /// Region of --workspace (or, without a config, the region whose tagged workspaces are
    /// listed); also the region of Secrets Manager, KMS and SQS when the environment
    /// (AWS_REGION, the profile) names none.
    #[arg(long)]
    pub region: Option<String>,
    /// One self-hosted Grafana base URL instead of the fleet; needs --admin-secret-id.
    #[arg(long)]
    pub url: Option<String>,
    /// Secrets Manager id of the self-hosted admin credential.
    #[arg(long, requires = "url")]
    pub admin_secret_id: Option<String>,
    /// Grafana organisation id of --workspace/--url.
    #[arg(long, default_value_t = 1)]
    pub org_id: i64,
    /// What stands for --workspace/--url in its secrets' names instead of the slug of its id
    /// or URL (the config's `secretName`), so a Grafana moved to a new URL keeps its secrets.
    #[arg(long)]
    pub secret_name: Option<String>,
    /// Select AMG workspaces carrying this tag (`key=value`, repeatable); overrides the tags of
    /// every selection of the config (`amg` and each of `accounts`).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Override the AMG control-plane endpoint (for emulators such as grafana-sim).
    #[arg(long, env = "KEYSHIFT_AMG_ENDPOINT")]
    pub amg_endpoint: Option<String>,
    /// Reach AMG workspaces' Grafana at this URL instead of their endpoint; `{workspace_id}`
    /// is replaced (for proxies and emulators).
    #[arg(long, env = "KEYSHIFT_AMG_URL_TEMPLATE")]
    pub amg_url_template: Option<String>,
    /// Override the Secrets Manager endpoint (e.g. a moto server).
    #[arg(long, env = "KEYSHIFT_SECRETS_ENDPOINT")]
    pub secrets_endpoint: Option<String>,
    /// Where managed secrets (and self-hosted admin credentials) are read and written.
    #[arg(long, value_enum, default_value = "secrets-manager")]
    pub secret_store: SecretStoreKind,
    /// With `--secret-store memory`: a file holding the self-hosted admin credential
    /// (`{"username":…,"password":…}`, `{"token":…}` or a bare token), stored under
    /// --admin-secret-id (or every config target's id) before the run. Without it the
    /// credential is read from the KEYSHIFT_ADMIN_CREDENTIAL environment variable; it is never
    /// taken from the command line, where other users could see it.
    #[arg(long, value_name = "PATH")]
    pub admin_credential_file: Option<PathBuf>,
}

/// Arguments of `keyshift plan`.
#[derive(Debug, Args)]
#[command(
    long_about = "Inventory and plan for one workspace or the fleet: which legacy keys will be \
migrated, which tokens rotated and which credentials revoked after the grace period, and why. \
Nothing in Grafana or Secrets Manager is changed; on AMG the inventory uses one short-lived admin \
token minted through the AMG API, which is deleted at the end. AMG workspaces are selected by tag \
through the AMG API; self-hosted targets come from the config file."
)]
pub struct PlanArgs {
    /// The workspaces.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Exit with 10 when any workspace has work to do, 0 when none has.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Arguments of `keyshift run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workspaces.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Override the policy's grace period between promotion and revocation (`24h`, `90m`,
    /// `0s`, or seconds).
    #[arg(long)]
    pub grace_period: Option<String>,
    /// Where failed executions are parked.
    #[arg(long, value_enum, default_value = "memory")]
    pub dlq: DlqKind,
    /// SQS queue URL for `--dlq sqs`.
    #[arg(long, required_if_eq("dlq", "sqs"))]
    pub dlq_url: Option<String>,
    /// KMS key id sealing tokens in payloads (default: a process-local AES-GCM key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Credentials processed at once per workspace (the Map's MaxConcurrency; default: the
    /// config's, else 4).
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// A different ASL definition (default: the shipped one).
    #[arg(long)]
    pub definition: Option<PathBuf>,
    /// Table for people, JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Arguments of `keyshift demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A grafana-sim fleet file (default: the built-in sample fleet).
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// Instead of a file, a generated fleet of this many AMG workspaces (two regions, Grafana
    /// 9.4, 10.4 and 12.1, the same key names on every workspace).
    #[arg(long, value_name = "WORKSPACES", conflicts_with = "fleet")]
    pub generate_fleet: Option<usize>,
    /// Credentials processed at once per workspace (the Map's MaxConcurrency).
    #[arg(long, default_value_t = 4)]
    pub max_concurrency: u32,
    /// Workspaces whose Grafana refuses every call during the migration, to show their
    /// failures reaching the dead-letter queue and the replay converging (0 for none).
    #[arg(long, value_name = "WORKSPACES", default_value_t = 1)]
    pub faulted: usize,
    /// Print the report as JSON instead of text.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}
