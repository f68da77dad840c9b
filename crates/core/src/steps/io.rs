//! The JSON each step reads and writes: the contract between the ASL definition and Rust.
//!
//! Every step has its own named input and output struct carrying exactly what it needs, with
//! required fields required in the type: a payload missing one fails to deserialize, which the
//! Lambda and the local runs report as `Input.Invalid`. The per-workspace flow passes state
//! along like this (each Task's `OutputPath` is `$.Payload`, so a step's output replaces the
//! state and nothing a step leaves out travels further):
//!
//! ```text
//! execution input  ExecutionInput {workspace, policy}
//! discover-keys    DiscoverInput  (+ executionName from $$.Execution.Name) -> DiscoverOutput
//! Map              ItemsPath $.plan.credentials; ItemSelector builds a CredentialContext:
//!                    executionName, workspace, grafanaUrl, bootstrap, policy,
//!                    gracePeriodSeconds (= $.plan.gracePeriodSeconds), credential (= $$.Map.Item.Value)
//!   create-sa      CreateSaInput {context}                  -> CreateSaOutput {+ serviceAccount}
//!   mint-token     MintTokenInput {context, serviceAccount}  -> MintTokenOutput {+ token, sealed}
//!   store-secret   StoreSecretInput::Stage (action=stage) {.., token with its seal}
//!                                                           -> StageOutput {.., token without it, staged}
//!   verify         VerifyInput {.., token, staged}          -> VerifyOutput {+ verified}
//!   store-secret   StoreSecretInput::Promote (action=promote) {.., token, staged, verified}
//!                                                           -> PromoteOutput {.., token, promoted}
//!   Wait           SecondsPath $.plan.gracePeriodSeconds
//!   revoke-old     RevokeOldInput::Credential (scope=credential) {.., token, promoted} -> RevokeOldOutput
//! revoke-old       RevokeOldInput::Workspace (scope=workspace, after the Map) -> RevokeOldOutput
//! ```
//!
//! The sealed token exists only between mint-token and stage: [`StageOutput`] and everything
//! after carry a [`TokenRef`] (id, name, expiry) instead, so verify, promote, the grace Wait and
//! the revoke Map never hold it.
//!
//! Every input carries `executionName` (from `$$.Execution.Name`): token names, secret version
//! ids and seal contexts are derived from it, which is what makes retries and redrives
//! idempotent. No type here can hold a plaintext credential: minted tokens travel as
//! [`SealedToken`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{GrafanaVersion, OrgId, Policy, Role, WorkspaceRef};
use crate::plan::{CredentialPlan, LegacyKeyDeletion, Plan, TokenRevocation};
use crate::ports::SealedToken;

/// The input of one execution of the per-workspace state machine, as fleet-start (or the CLI)
/// starts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInput {
    /// The workspace to work on.
    pub workspace: WorkspaceRef,
    /// The policy for this run (defaults when omitted).
    #[serde(default)]
    pub policy: Policy,
}

/// discover-keys' input: the execution input plus the execution name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverInput {
    /// `$$.Execution.Name`.
    pub execution_name: String,
    /// The workspace to inventory.
    pub workspace: WorkspaceRef,
    /// The policy to plan with (defaults when omitted).
    #[serde(default)]
    pub policy: Policy,
}

/// How the steps of this execution get admin access to Grafana. For AMG it is a credential
/// discover-keys minted for this execution only (revoked by the workspace-scope revoke-old);
/// for self-hosted Grafana a pointer to the admin credential in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[serde(rename_all_fields = "camelCase")]
pub enum Bootstrap {
    /// A token of keyshift's admin service account, created through the AMG control plane.
    AmgServiceAccountToken {
        /// The admin service account's id (AMG string id).
        service_account_id: String,
        /// The token's id (AMG string id).
        token_id: String,
        /// The token's name.
        token_name: String,
        /// The token, sealed to this workspace and execution.
        sealed: SealedToken,
    },
    /// The self-hosted admin credential, read from Secrets Manager by each step.
    SelfHostedSecret {
        /// Its secret id.
        admin_secret_id: String,
    },
}

/// discover-keys' output: the plan and everything the Map items need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverOutput {
    /// `$$.Execution.Name`, passed on.
    pub execution_name: String,
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// Grafana base URL (from DescribeWorkspace for AMG).
    pub grafana_url: String,
    /// Grafana version found.
    pub version: GrafanaVersion,
    /// The policy planned with, passed on so every step applies the same one.
    pub policy: Policy,
    /// Admin access for the later steps.
    pub bootstrap: Bootstrap,
    /// The plan; `plan.credentials` is the Map's ItemsPath.
    pub plan: Plan,
}

/// One Map item: the context every per-credential step receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialContext {
    /// `$$.Execution.Name`.
    pub execution_name: String,
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// Grafana base URL.
    pub grafana_url: String,
    /// Admin access.
    pub bootstrap: Bootstrap,
    /// The policy.
    pub policy: Policy,
    /// Seconds to wait between promotion and revocation (the Wait state's `SecondsPath`).
    pub grace_period_seconds: u64,
    /// This item of the plan.
    pub credential: CredentialPlan,
}

impl CredentialContext {
    /// The context of a credential handled in-process rather than by the ASL's Map; the grace
    /// period is the policy's, as discover would have planned it.
    pub fn new(
        execution_name: String,
        workspace: WorkspaceRef,
        grafana_url: String,
        bootstrap: Bootstrap,
        policy: &Policy,
        credential: CredentialPlan,
    ) -> Self {
        Self {
            execution_name,
            workspace,
            grafana_url,
            bootstrap,
            policy: policy.clone(),
            grace_period_seconds: policy.grace_period_seconds(),
            credential,
        }
    }
}

/// create-sa's input: the Map item as the ItemSelector built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSaInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
}

/// The service account a credential lives on, as create-sa left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// Account id.
    pub id: i64,
    /// Account name.
    pub name: String,
    /// Its role after capping.
    pub role: Role,
    /// Its org.
    pub org_id: OrgId,
}

/// create-sa's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSaOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The ensured account.
    pub service_account: AccountRef,
}

/// mint-token's input: the Map item and the account create-sa ensured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintTokenInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account to mint on.
    pub service_account: AccountRef,
}

/// A token by id and name, without its plaintext or its seal: what the steps after stage need
/// to recognise it in Grafana and in the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRef {
    /// Token id.
    pub id: i64,
    /// Token name ([`Policy::token_name_for`]).
    pub name: String,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A minted token, sealed: the only shape in which a new token's secret travels, from
/// mint-token to stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedTokenRef {
    /// Token id.
    pub id: i64,
    /// Token name ([`Policy::token_name_for`]).
    pub name: String,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The token, sealed with [`crate::ports::seal_context`] of this workspace and execution.
    pub sealed: SealedToken,
}

impl MintedTokenRef {
    /// The token without its seal, for everything after stage.
    pub fn without_seal(&self) -> TokenRef {
        TokenRef {
            id: self.id,
            name: self.name.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// mint-token's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintTokenOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The new token, sealed.
    pub token: MintedTokenRef,
}

/// The version store-secret staged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedVersion {
    /// Secret ARN (or id).
    pub secret_id: String,
    /// The version id ([`crate::naming::client_request_token_for`]).
    pub version_id: String,
    /// The version that held AWSCURRENT when this one was staged (`None`: the secret had no
    /// AWSCURRENT yet). Promote moves AWSCURRENT only off this version, in one conditional
    /// UpdateSecretVersionStage, so of two executions staging over the same AWSCURRENT at
    /// most one promotes: the other finds it moved and stops with `Rotation.InProgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

/// What verify established about the staged token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// The role the token's permissions imply.
    pub role: Role,
    /// The org it authenticated in.
    pub org_id: OrgId,
    /// When.
    pub checked_at: DateTime<Utc>,
}

/// The promotion store-secret performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotedVersion {
    /// Secret ARN (or id).
    pub secret_id: String,
    /// The version now AWSCURRENT.
    pub version_id: String,
    /// The version that was AWSCURRENT before (now AWSPREVIOUS), if any.
    #[serde(default)]
    pub previous_version_id: Option<String>,
}

/// store-secret's stage input: mint-token's output. The sealed token is required, so a stage
/// without a token to store cannot be expressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The token to store, sealed.
    pub token: MintedTokenRef,
}

/// store-secret's stage output: the staged version, and the token without its seal (the last
/// place the sealed token is read is stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The staged token.
    pub token: TokenRef,
    /// The staged version.
    pub staged: StagedVersion,
}

/// verify's input: stage's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account the token must act as.
    pub service_account: AccountRef,
    /// The staged token.
    pub token: TokenRef,
    /// The version to read back.
    pub staged: StagedVersion,
}

/// verify's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The verified token.
    pub token: TokenRef,
    /// The staged version.
    pub staged: StagedVersion,
    /// What was verified.
    pub verified: Verification,
}

/// store-secret's promote input: verify's output. The staged version and verify's result are
/// required, so an unverified version can never become AWSCURRENT through this contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The verified token.
    pub token: TokenRef,
    /// The version to promote.
    pub staged: StagedVersion,
    /// Verify's result.
    pub verified: Verification,
}

/// store-secret's promote output: what the per-credential revoke-old needs after the grace
/// period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The token now AWSCURRENT.
    pub token: TokenRef,
    /// The promotion.
    pub promoted: PromotedVersion,
}

// Each step's output is the next step's input, field for field: the conversions let in-process
// chains (`keyshift secret create`, native rotation) pass one to the next without restating
// the contract, while the ASL keeps passing the same JSON between Lambdas.

impl From<CreateSaOutput> for MintTokenInput {
    fn from(
        CreateSaOutput {
            context,
            service_account,
        }: CreateSaOutput,
    ) -> Self {
        Self {
            context,
            service_account,
        }
    }
}

impl From<MintTokenOutput> for StageInput {
    fn from(
        MintTokenOutput {
            context,
            service_account,
            token,
        }: MintTokenOutput,
    ) -> Self {
        Self {
            context,
            service_account,
            token,
        }
    }
}

impl From<StageOutput> for VerifyInput {
    fn from(
        StageOutput {
            context,
            service_account,
            token,
            staged,
        }: StageOutput,
    ) -> Self {
        Self {
            context,
            service_account,
            token,
            staged,
        }
    }
}

impl From<VerifyOutput> for PromoteInput {
    fn from(output: VerifyOutput) -> Self {
        let VerifyOutput {
            context,
            service_account,
            token,
            staged,
            verified,
        } = output;
        Self {
            context,
            service_account,
            token,
            staged,
            verified,
        }
    }
}

/// store-secret's input: one Lambda serves both actions, chosen by the `action` field the ASL
/// sets, and each action has its own required fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum StoreSecretInput {
    /// Write the token as a new version labelled AWSPENDING.
    Stage(StageInput),
    /// Move AWSCURRENT to the staged, verified version.
    Promote(PromoteInput),
}

/// store-secret's output, the one matching the action (serialized as that struct alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoreSecretOutput {
    /// After promote (listed first: it is the variant with the `promoted` field).
    Promoted(PromoteOutput),
    /// After stage.
    Staged(StageOutput),
}

/// revoke-old after one credential's grace period: retire what the new token replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRevokeInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The new token (protected).
    pub token: TokenRef,
    /// The promotion; revoke-old refuses to run without it (nothing is revoked unless the
    /// replacement was verified and promoted).
    pub promoted: PromotedVersion,
}

/// revoke-old once per execution after the Map: expired keys, clean-ups and the bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRevokeInput {
    /// `$$.Execution.Name`.
    pub execution_name: String,
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// Grafana base URL.
    pub grafana_url: String,
    /// Admin access, revoked last.
    pub bootstrap: Bootstrap,
    /// The policy.
    pub policy: Policy,
    /// The plan (its `expiredKeys` and `tokenCleanups` are acted on).
    pub plan: Plan,
}

/// revoke-old's input: which scope is selected by the `scope` field the ASL adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "camelCase")]
pub enum RevokeOldInput {
    /// Inside the Map, after the grace Wait.
    Credential(CredentialRevokeInput),
    /// After the Map.
    Workspace(WorkspaceRevokeInput),
}

/// A token or key revoke-old decided to keep, and why (e.g. it became AWSCURRENT meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptCredential {
    /// Token or key id.
    pub id: i64,
    /// Token or key name.
    pub name: String,
    /// A sentence for people.
    pub why: String,
}

/// revoke-old's output: what it removed and what it spared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeOldOutput {
    /// Tokens deleted (already-absent ones count as deleted).
    pub revoked_tokens: Vec<TokenRevocation>,
    /// Legacy keys deleted.
    pub deleted_keys: Vec<LegacyKeyDeletion>,
    /// Planned revocations skipped, with the reason.
    pub kept: Vec<KeptCredential>,
    /// Whether the bootstrap admin credential was revoked (workspace scope only).
    pub bootstrap_revoked: bool,
    /// Superseded tokens kept past the grace period because Grafana saw them in use within
    /// `policy.revokeWhenUnusedFor` (empty without that policy). Ids and names only.
    #[serde(default)]
    pub stragglers: Vec<Straggler>,
}

/// A superseded token a consumer still uses: kept, and revoked by a later run once unused or
/// at `kept_until` at the latest. Never carries a token value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Straggler {
    /// Token id.
    pub token_id: i64,
    /// Token name.
    pub token_name: String,
    /// The owning account's id.
    pub service_account_id: i64,
    /// The owning account's name.
    pub service_account_name: String,
    /// Grafana's `lastUsedAt` for the token.
    pub last_used_at: DateTime<Utc>,
    /// The end of `policy.maxGracePeriod`: revoked then even if still in use.
    pub kept_until: DateTime<Utc>,
}

/// fleet-start's event and output, defined with the tick in [`crate::fleet::start`] and named
/// here with the other Lambdas' contracts.
pub use crate::fleet::start::{
    FleetExecution, FleetFailure, FleetSkip, FleetStartEvent, FleetStartOutput, ListingFailure,
};

/// dlq-replay's input (Lambda event or CLI flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqReplayInput {
    /// Upper bound on messages handled in this invocation.
    #[serde(default = "default_replay_batch")]
    pub max_messages: u32,
    /// Report what would be replayed, touching nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_replay_batch() -> u32 {
    10
}

impl Default for DlqReplayInput {
    fn default() -> Self {
        Self {
            max_messages: default_replay_batch(),
            dry_run: false,
        }
    }
}

/// How one DLQ message was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplayAction {
    /// The failed execution was redriven.
    Redriven,
    /// A new execution was started from the original input.
    Restarted,
    /// Left in the queue (dry run, or replay could not start); it reappears later.
    Kept,
    /// Dropped because its body is unusable (malformed); reported, never silently.
    DiscardedMalformed,
}

/// One message's replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResult {
    /// The execution named in the message (empty if the body was unreadable).
    pub execution: String,
    /// What was done.
    pub action: ReplayAction,
    /// A sentence for people.
    pub why: String,
}

/// dlq-replay's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqReplayOutput {
    /// One entry per message received.
    pub results: Vec<ReplayResult>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::MigrationMode;
    use crate::plan::{CredentialAction, TargetAccount};

    fn workspace_json() -> Value {
        json!({"kind": "amg", "workspaceId": "g-0123456789", "region": "eu-west-1", "orgId": 1})
    }

    fn credential_json() -> Value {
        let credential = CredentialPlan {
            secret_id: "keyshift/g-0123456789/1/sa-autogen-ci/token".into(),
            action: CredentialAction::MigrateKey {
                key_id: 4,
                key_name: "ci".into(),
                mode: MigrationMode::InPlace,
            },
            service_account: TargetAccount {
                id: None,
                name: "sa-autogen-ci".into(),
                role: Role::Editor,
                requested_role: Role::Admin,
            },
            token_ttl_seconds: 2_592_000,
            revocations: vec![],
            legacy_key_deletions: vec![],
            why: "migrate".into(),
        };
        serde_json::to_value(credential).unwrap()
    }

    /// What the Map's ItemSelector builds for one item.
    fn context_json() -> Value {
        json!({
            "executionName": "ks-g-0123456789-1-20250301-0630",
            "workspace": workspace_json(),
            "grafanaUrl": "https://g-0123456789.grafana-workspace.eu-west-1.amazonaws.com",
            "bootstrap": {"kind": "amgServiceAccountToken", "serviceAccountId": "1", "tokenId": "1", "tokenName": "keyshift-bootstrap-x", "sealed": "c2VhbGVk"},
            "policy": {},
            "gracePeriodSeconds": 86400,
            "credential": credential_json(),
        })
    }

    fn merge(base: Value, extra: Value) -> Value {
        let (Value::Object(mut base), Value::Object(extra)) = (base, extra) else {
            panic!("objects expected")
        };
        base.extend(extra);
        Value::Object(base)
    }

    #[test]
    fn execution_input_accepts_a_bare_workspace() {
        let input: ExecutionInput =
            serde_json::from_value(json!({"workspace": workspace_json()})).unwrap();
        assert_eq!(input.policy, Policy::default());
    }

    fn account() -> AccountRef {
        AccountRef {
            id: 12,
            name: "sa-autogen-ci".into(),
            role: Role::Editor,
            org_id: 1,
        }
    }

    fn staged_version() -> StagedVersion {
        StagedVersion {
            secret_id: "arn:secret".into(),
            version_id: "v-1".into(),
            supersedes: None,
        }
    }

    fn verification() -> Verification {
        Verification {
            role: Role::Editor,
            org_id: 1,
            checked_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    /// Serializes `value` and deserializes it as the next step's input, as Step Functions does.
    fn hop<T: serde::de::DeserializeOwned>(value: &impl Serialize, extra: Value) -> T {
        let json = serde_json::to_value(value).unwrap();
        let json = if extra.is_null() {
            json
        } else {
            merge(json, extra)
        };
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_output_feeds_the_next_input_through_the_chain() {
        let create: CreateSaInput = serde_json::from_value(context_json()).unwrap();
        assert_eq!(create.context.grace_period_seconds, 86_400);

        let created = CreateSaOutput {
            context: create.context,
            service_account: account(),
        };
        let created_json = serde_json::to_value(&created).unwrap();
        assert_eq!(
            created_json["executionName"], "ks-g-0123456789-1-20250301-0630",
            "context is flattened"
        );
        let mint: MintTokenInput = hop(&created, Value::Null);

        let minted = MintTokenOutput {
            context: mint.context,
            service_account: mint.service_account,
            token: MintedTokenRef {
                id: 31,
                name: "keyshift-x".into(),
                expires_at: None,
                sealed: SealedToken::new("Y2lwaGVy"),
            },
        };
        let StoreSecretInput::Stage(stage) = hop(&minted, json!({"action": "stage"})) else {
            panic!("action stage must select the stage input")
        };
        assert_eq!(stage.token.sealed, SealedToken::new("Y2lwaGVy"));

        let staged = StoreSecretOutput::Staged(StageOutput {
            token: stage.token.without_seal(),
            context: stage.context,
            service_account: stage.service_account,
            staged: staged_version(),
        });
        let staged_json = serde_json::to_value(&staged).unwrap();
        assert!(
            staged_json["token"].get("sealed").is_none(),
            "{staged_json}"
        );
        assert!(staged_json.get("action").is_none(), "outputs are untagged");
        let verify: VerifyInput = hop(&staged, Value::Null);
        let verified = VerifyOutput {
            context: verify.context,
            service_account: verify.service_account,
            token: verify.token,
            staged: verify.staged,
            verified: verification(),
        };
        let StoreSecretInput::Promote(promote) = hop(&verified, json!({"action": "promote"}))
        else {
            panic!("action promote must select the promote input")
        };
        assert_eq!(promote.verified, verification());

        let promoted = StoreSecretOutput::Promoted(PromoteOutput {
            context: promote.context,
            service_account: promote.service_account,
            token: promote.token,
            promoted: PromotedVersion {
                secret_id: "arn:secret".into(),
                version_id: "v-1".into(),
                previous_version_id: None,
            },
        });
        let round_trip: StoreSecretOutput = hop(&promoted, Value::Null);
        assert_eq!(
            round_trip, promoted,
            "the untagged output reads back as itself"
        );
        match hop::<RevokeOldInput>(&promoted, json!({"scope": "credential"})) {
            RevokeOldInput::Credential(input) => {
                assert_eq!(input.promoted.version_id, "v-1");
                assert_eq!(input.token.id, 31);
            }
            other => panic!("expected credential scope, got {other:?}"),
        }
    }

    fn store_secret_error(payload: Value) -> String {
        serde_json::from_value::<StoreSecretInput>(payload)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_promote_without_the_verified_staged_version_does_not_deserialize() {
        let unverified = merge(
            context_json(),
            json!({
                "action": "promote",
                "serviceAccount": account(),
                "token": {"id": 31, "name": "keyshift-x"},
                "staged": staged_version(),
            }),
        );
        assert!(store_secret_error(unverified).contains("verified"));
        let unstaged = merge(
            context_json(),
            json!({
                "action": "promote",
                "serviceAccount": account(),
                "token": {"id": 31, "name": "keyshift-x"},
                "verified": verification(),
            }),
        );
        assert!(store_secret_error(unstaged).contains("staged"));
    }

    #[test]
    fn a_stage_without_the_sealed_token_does_not_deserialize() {
        let unsealed = merge(
            context_json(),
            json!({
                "action": "stage",
                "serviceAccount": account(),
                "token": {"id": 31, "name": "keyshift-x"},
            }),
        );
        assert!(store_secret_error(unsealed).contains("sealed"));
        let unknown = merge(
            context_json(),
            json!({"action": "publish", "serviceAccount": account()}),
        );
        assert!(store_secret_error(unknown).contains("publish"));
        let untagged = merge(context_json(), json!({"serviceAccount": account()}));
        assert!(store_secret_error(untagged).contains("action"));
    }

    #[test]
    fn revoke_old_refuses_a_credential_scope_without_promotion() {
        let created = merge(
            context_json(),
            json!({
                "scope": "credential",
                "serviceAccount": {"id": 12, "name": "sa-autogen-ci", "role": "Editor", "orgId": 1},
                "token": {"id": 31, "name": "keyshift-x", "sealed": "Y2lwaGVy"},
            }),
        );
        assert!(serde_json::from_value::<RevokeOldInput>(created).is_err());
    }

    #[test]
    fn workspace_scope_reads_the_discover_output() {
        let plan = json!({
            "workspace": workspace_json(), "version": "10.4.1", "computedAt": "2025-03-01T06:30:00Z",
            "gracePeriodSeconds": 86400, "credentials": [credential_json()], "expiredKeys": [], "excludedKeys": [],
            "tokenCleanups": [], "upToDate": [], "ignoredAccounts": []
        });
        let discover = json!({
            "executionName": "run-1", "workspace": workspace_json(), "grafanaUrl": "https://g.example.com",
            "version": "10.4.1", "policy": {}, "plan": plan,
            "bootstrap": {"kind": "amgServiceAccountToken", "serviceAccountId": "3", "tokenId": "9", "tokenName": "keyshift-bootstrap-run-1", "sealed": "eA=="},
        });
        let output: DiscoverOutput = serde_json::from_value(discover.clone()).unwrap();
        assert_eq!(output.plan.credentials.len(), 1);
        let revoke: RevokeOldInput =
            serde_json::from_value(merge(discover, json!({"scope": "workspace"}))).unwrap();
        assert!(
            matches!(revoke, RevokeOldInput::Workspace(ref input) if input.execution_name == "run-1")
        );
    }

    #[test]
    fn events_default_sensibly() {
        let event: FleetStartEvent = serde_json::from_value(json!({})).unwrap();
        assert_eq!(event, FleetStartEvent::default());
        let replay: DlqReplayInput = serde_json::from_value(json!({})).unwrap();
        assert_eq!(replay.max_messages, 10);
    }

    #[test]
    fn sealed_tokens_do_not_show_ciphertext_in_debug() {
        let token = MintedTokenRef {
            id: 1,
            name: "n".into(),
            expires_at: None,
            sealed: SealedToken::new("Y2lwaGVydGV4dA=="),
        };
        assert!(!format!("{token:?}").contains("Y2lwaGVy"));
    }
}
