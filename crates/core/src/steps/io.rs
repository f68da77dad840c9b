//! The JSON each step reads and writes: the contract between the ASL definition and Rust.
//!
//! The per-workspace flow passes state along like this (ResultPath `$` unless noted):
//!
//! ```text
//! execution input  ExecutionInput {workspace, policy}
//! discover-keys    DiscoverInput  (+ executionName from $$.Execution.Name) -> DiscoverOutput
//! Map              ItemsPath $.plan.credentials; ItemSelector builds a CredentialContext:
//!                    executionName, workspace, grafanaUrl, bootstrap, policy,
//!                    gracePeriodSeconds (= $.plan.gracePeriodSeconds), credential (= $$.Map.Item.Value)
//!   create-sa      CredentialContext             -> CreateSaOutput
//!   mint-token     CreateSaOutput                -> MintTokenOutput
//!   store-secret   MintTokenOutput + action=stage   -> StoreSecretOutput
//!   verify         StoreSecretOutput             -> VerifyOutput
//!   store-secret   VerifyOutput + action=promote -> StoreSecretOutput (promoted set)
//!   Wait           SecondsPath $.gracePeriodSeconds
//!   revoke-old     StoreSecretOutput + scope=credential -> RevokeOldOutput
//! revoke-old       DiscoverOutput + scope=workspace (after the Map) -> RevokeOldOutput
//! ```
//!
//! Every input carries `executionName` (from `$$.Execution.Name`): token names, secret version
//! ids and seal contexts are derived from it, which is what makes retries and redrives
//! idempotent. No type here can hold a plaintext credential: minted tokens travel as
//! [`SealedToken`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{GrafanaVersion, OrgId, Policy, Role, WorkspaceRef};
use crate::plan::{CredentialPlan, LegacyKeyDeletion, Plan, TokenRevocation};
use crate::ports::{SealedToken, StartOutcome};

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
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Bootstrap {
    /// An AMG workspace API key (Grafana 8–10 workspaces), deleted by name.
    AmgApiKey {
        /// Key name ([`crate::naming::bootstrap_name_for`]).
        key_name: String,
        /// The key, sealed to this workspace and execution.
        sealed: SealedToken,
    },
    /// A token of an admin service account created through the AMG control plane (workspaces
    /// without API keys).
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

/// create-sa's input.
pub type CreateSaInput = CredentialContext;

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

/// mint-token's input.
pub type MintTokenInput = CreateSaOutput;

/// A minted token without its plaintext.
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

/// What store-secret does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StoreAction {
    /// Write the token as a new version labelled AWSPENDING.
    Stage,
    /// Move AWSCURRENT to the staged, verified version.
    Promote,
}

/// The version store-secret staged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedVersion {
    /// Secret ARN (or id).
    pub secret_id: String,
    /// The version id ([`crate::naming::client_request_token_for`]).
    pub version_id: String,
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

/// store-secret's input, for both actions. `promote` requires `staged` and `verified`, so an
/// unverified version can never become AWSCURRENT through this contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSecretInput {
    /// The Map item.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The token to store (sealed).
    pub token: MintedTokenRef,
    /// Stage or promote.
    pub action: StoreAction,
    /// The staged version (required for promote).
    #[serde(default)]
    pub staged: Option<StagedVersion>,
    /// Verify's result (required for promote).
    #[serde(default)]
    pub verified: Option<Verification>,
}

/// store-secret's output, for both actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSecretOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The token (sealed).
    pub token: MintedTokenRef,
    /// The staged version.
    pub staged: StagedVersion,
    /// Verify's result, passed on after promote.
    #[serde(default)]
    pub verified: Option<Verification>,
    /// Set by promote.
    #[serde(default)]
    pub promoted: Option<PromotedVersion>,
}

/// verify's input.
pub type VerifyInput = StoreSecretOutput;

/// verify's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyOutput {
    /// The Map item, passed on.
    #[serde(flatten)]
    pub context: CredentialContext,
    /// The account.
    pub service_account: AccountRef,
    /// The token (sealed).
    pub token: MintedTokenRef,
    /// The staged version.
    pub staged: StagedVersion,
    /// What was verified.
    pub verified: Verification,
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
    pub token: MintedTokenRef,
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
}

/// fleet-start's event: what EventBridge Scheduler (or a person) sends. Every field is
/// optional so a bare scheduled event `{}` works with the Lambda's configured defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStartEvent {
    /// Regions whose AMG workspaces to list (defaults to the Lambda's region when empty).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Only AMG workspaces carrying all these tags are rotated.
    #[serde(default)]
    pub tag_filter: std::collections::BTreeMap<String, String>,
    /// Self-hosted Grafanas (and extra AMG orgs) to rotate too.
    #[serde(default)]
    pub targets: Vec<WorkspaceRef>,
    /// The policy to start executions with.
    #[serde(default)]
    pub policy: Policy,
    /// The schedule slot (EventBridge's `time`, or `<aws.scheduler.scheduled-time>`), from
    /// which execution names are derived so a re-delivered event starts nothing new.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// List what would start without starting it.
    #[serde(default)]
    pub dry_run: bool,
}

/// One execution fleet-start asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetExecution {
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// The deterministic execution name ([`crate::naming::execution_name_for`]).
    pub execution_name: String,
    /// What Step Functions answered; `None` in a dry run.
    #[serde(default)]
    pub outcome: Option<StartOutcome>,
}

/// A workspace fleet-start did not start, and why (inactive, filtered out, invalid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSkip {
    /// Workspace identity (`WorkspaceRef::key` or the AMG id).
    pub workspace: String,
    /// A sentence for people.
    pub why: String,
}

/// fleet-start's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStartOutput {
    /// Executions started, or found already started.
    pub executions: Vec<FleetExecution>,
    /// Workspaces skipped.
    pub skipped: Vec<FleetSkip>,
}

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
            "bootstrap": {"kind": "amgApiKey", "keyName": "keyshift-bootstrap-x", "sealed": "c2VhbGVk"},
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

    #[test]
    fn each_output_feeds_the_next_input_through_the_chain() {
        let context: CreateSaInput = serde_json::from_value(context_json()).unwrap();
        assert_eq!(context.grace_period_seconds, 86_400);

        let created = CreateSaOutput {
            context,
            service_account: AccountRef {
                id: 12,
                name: "sa-autogen-ci".into(),
                role: Role::Editor,
                org_id: 1,
            },
        };
        let created_json = serde_json::to_value(&created).unwrap();
        assert_eq!(
            created_json["executionName"], "ks-g-0123456789-1-20250301-0630",
            "context is flattened"
        );
        let mint_input: MintTokenInput = serde_json::from_value(created_json).unwrap();

        let minted = MintTokenOutput {
            context: mint_input.context,
            service_account: mint_input.service_account,
            token: MintedTokenRef {
                id: 31,
                name: "keyshift-x".into(),
                expires_at: None,
                sealed: SealedToken::new("Y2lwaGVy"),
            },
        };
        let stage_json = merge(
            serde_json::to_value(&minted).unwrap(),
            json!({"action": "stage"}),
        );
        let stage: StoreSecretInput = serde_json::from_value(stage_json).unwrap();
        assert_eq!(
            (stage.action, stage.staged.clone(), stage.verified.clone()),
            (StoreAction::Stage, None, None)
        );

        let staged = StoreSecretOutput {
            context: stage.context,
            service_account: stage.service_account,
            token: stage.token,
            staged: StagedVersion {
                secret_id: "arn:secret".into(),
                version_id: "v-1".into(),
            },
            verified: None,
            promoted: None,
        };
        let verify: VerifyInput =
            serde_json::from_value(serde_json::to_value(&staged).unwrap()).unwrap();
        let verified = VerifyOutput {
            context: verify.context,
            service_account: verify.service_account,
            token: verify.token,
            staged: verify.staged,
            verified: Verification {
                role: Role::Editor,
                org_id: 1,
                checked_at: chrono::DateTime::UNIX_EPOCH,
            },
        };
        let promote_json = merge(
            serde_json::to_value(&verified).unwrap(),
            json!({"action": "promote"}),
        );
        let promote: StoreSecretInput = serde_json::from_value(promote_json).unwrap();
        assert_eq!(promote.action, StoreAction::Promote);
        assert!(promote.staged.is_some() && promote.verified.is_some());

        let promoted = StoreSecretOutput {
            context: promote.context,
            service_account: promote.service_account,
            token: promote.token,
            staged: StagedVersion {
                secret_id: "arn:secret".into(),
                version_id: "v-1".into(),
            },
            verified: promote.verified,
            promoted: Some(PromotedVersion {
                secret_id: "arn:secret".into(),
                version_id: "v-1".into(),
                previous_version_id: None,
            }),
        };
        let revoke_json = merge(
            serde_json::to_value(&promoted).unwrap(),
            json!({"scope": "credential"}),
        );
        match serde_json::from_value::<RevokeOldInput>(revoke_json).unwrap() {
            RevokeOldInput::Credential(input) => assert_eq!(input.promoted.version_id, "v-1"),
            other => panic!("expected credential scope, got {other:?}"),
        }
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
        let scheduled: FleetStartEvent = serde_json::from_value(
            json!({"time": "2025-03-01T06:30:00Z", "tagFilter": {"keyshift": "on"}}),
        )
        .unwrap();
        assert_eq!(
            scheduled.tag_filter.get("keyshift").map(String::as_str),
            Some("on")
        );
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
