//! revoke-old: after the grace period, retire what the new credentials replace.
//!
//! Every planned deletion is re-checked against the live secret labels first: a token under
//! AWSCURRENT, AWSPREVIOUS or AWSPENDING is never deleted, whatever the plan said, and nothing
//! at all is deleted for a credential whose verified token is not AWSCURRENT. Deletes of things
//! already gone count as done, so a re-run after a crash converges.
//!
//! With `policy.revokeWhenUnusedFor`, a superseded token (or migrated legacy key) Grafana saw
//! in use within that window is kept instead and reported as a straggler (output, log line and
//! the `StragglerTokens` metric); the planner of a later run lists it again among the token
//! clean-ups, and the workspace-scope revoke-old of that run applies the same rule
//! ([`crate::plan::usage_decision`]), so it goes once unused or at `maxGracePeriod`.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{KeyshiftError, Result};
use crate::model::{
    Policy, RecordedStraggler, STRAGGLERS_TAG, ServiceAccountToken, StragglerRecord, UsageRule,
    WorkspaceRef,
};
use crate::naming::{BOOTSTRAP_NAME_PREFIX, bootstrap_name_for, client_request_token_for};
use crate::plan::{
    LegacyKeyDeletion, ManagedSecretState, RevocationRequest, TokenRevocation, UsageDecision,
    select_revocations, usage_decision, usage_may_spare,
};
use crate::ports::{AmgControlPlane, GrafanaApi, RotationMetric};
use crate::steps::common::{
    StepDeps, admin_api, context_admin_api, ignore_not_found, read_managed_secret,
    validate_bootstrap, validate_context, validate_grafana_url, validate_identity,
};
use crate::steps::io::{
    Bootstrap, CredentialRevokeInput, KeptCredential, RevokeOldInput, RevokeOldOutput, Straggler,
    WorkspaceRevokeInput,
};

/// Revokes what one credential's rotation superseded, or (workspace scope) the execution's
/// clean-ups and its bootstrap admin token.
pub async fn revoke_old(deps: &StepDeps, input: RevokeOldInput) -> Result<RevokeOldOutput> {
    match input {
        RevokeOldInput::Credential(credential) => revoke_for_credential(deps, credential).await,
        RevokeOldInput::Workspace(workspace) => revoke_for_workspace(deps, workspace).await,
    }
}

async fn revoke_for_credential(
    deps: &StepDeps,
    input: CredentialRevokeInput,
) -> Result<RevokeOldOutput> {
    let context = &input.context;
    validate_context(context)?;
    let credential = &context.credential;
    let account = &input.service_account;
    let expected_version = client_request_token_for(&context.execution_name, &credential.secret_id);
    if input.promoted.secret_id != credential.secret_id
        || input.promoted.version_id != expected_version
    {
        return Err(KeyshiftError::invalid_input(
            "promoted",
            "the promoted version is not the one this execution wrote for this credential",
        ));
    }
    let mut output = RevokeOldOutput::default();
    let labels =
        read_managed_secret(deps.secrets.as_ref(), &credential.secret_id, &account.name).await?;
    let current_is_ours = labels.current_version_id.as_deref() == Some(expected_version.as_str())
        && labels.current_token_id == Some(input.token.id);
    if !current_is_ours {
        tracing::warn!(secret = %credential.secret_id, "AWSCURRENT is not this execution's verified token; revoking nothing");
        let why = "AWSCURRENT does not hold this execution's verified token, so nothing it would replace is revoked";
        output.kept = keep_all(
            &credential.revocations,
            &credential.legacy_key_deletions,
            why,
        );
        return Ok(output);
    }
    let mut protected = labels.protected_token_ids();
    protected.insert(input.token.id);
    let stored = labels.all_stored_token_ids();

    let api = context_admin_api(deps, context).await?;
    let live_account = api.get_service_account(account.id).await?;
    let live_tokens = api.list_tokens(account.id).await?;
    let now = deps.clock.now();
    let live_choice = select_revocations(
        RevocationRequest {
            account: &live_account,
            tokens: &live_tokens,
            protected: &protected,
            stored: &stored,
            expected_new_tokens: 0,
            retire_migrated_keys: true,
        },
        &context.policy,
        now,
    );
    let mut candidates: BTreeMap<i64, TokenRevocation> = BTreeMap::new();
    for revocation in credential.revocations.iter().chain(live_choice.iter()) {
        if revocation
            .service_account_id
            .is_none_or(|id| id == account.id)
        {
            candidates
                .entry(revocation.token_id)
                .or_insert_with(|| revocation.clone());
        }
    }
    let live_ids: BTreeSet<i64> = live_tokens.iter().map(|token| token.id).collect();
    let usage_rule = context.policy.usage_rule();
    let mut decided = BTreeSet::new();
    for (token_id, mut revocation) in candidates {
        if protected.contains(&token_id) {
            output.kept.push(KeptCredential {
                id: token_id,
                name: revocation.token_name.clone(),
                why: "it is labelled in the secret (AWSCURRENT, AWSPREVIOUS or AWSPENDING) or is the new token".to_owned(),
            });
            continue;
        }
        revocation.service_account_id = Some(account.id);
        decided.insert(token_id);
        if let Some(straggler) = straggler_of(
            usage_rule,
            &revocation,
            &live_tokens,
            labels.current_rotated_at,
            now,
        ) {
            output.stragglers.push(straggler);
            continue;
        }
        if live_ids.contains(&token_id) {
            ignore_not_found(api.delete_token(account.id, token_id).await)?;
            tracing::info!(token = %revocation.token_name, reason = ?revocation.reason, "revoked token");
        }
        output.revoked_tokens.push(revocation);
    }
    if usage_rule.is_some() {
        report_stragglers(
            deps,
            &context.workspace,
            &credential.secret_id,
            output.stragglers.len(),
        );
    }
    record_stragglers(
        deps,
        &labels,
        &decided,
        |id| live_ids.contains(&id) && !protected.contains(&id),
        &output.stragglers,
    )
    .await?;
    delete_legacy_keys(api.as_ref(), &credential.legacy_key_deletions, &mut output).await?;
    Ok(output)
}

/// The straggler `revocation` is, when the policy's usage rule keeps it: a credential a
/// consumer may hold, still live, used recently and under the cap. `None`: revoke it.
fn straggler_of(
    rule: Option<UsageRule>,
    revocation: &TokenRevocation,
    live_tokens: &[ServiceAccountToken],
    superseded_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Straggler> {
    let rule = rule?;
    if !usage_may_spare(revocation.reason) {
        return None;
    }
    let token = live_tokens
        .iter()
        .find(|token| token.id == revocation.token_id && token.is_live(now))?;
    match usage_decision(rule, token.last_used_at, superseded_at, now) {
        UsageDecision::Keep { kept_until } => {
            let last_used_at = token.last_used_at?;
            tracing::warn!(
                token = %revocation.token_name,
                account = %revocation.service_account_name,
                last_used_at = %last_used_at.to_rfc3339(),
                kept_until = %kept_until.to_rfc3339(),
                "kept a superseded token that is still in use (straggler)"
            );
            Some(Straggler {
                token_id: revocation.token_id,
                token_name: revocation.token_name.clone(),
                service_account_id: revocation.service_account_id.unwrap_or_default(),
                service_account_name: revocation.service_account_name.clone(),
                last_used_at,
                kept_until,
            })
        }
        UsageDecision::Revoke(why) => {
            tracing::info!(token = %revocation.token_name, %why, "usage does not keep the superseded token");
            None
        }
    }
}

/// Rewrites the secret's `keyshift:stragglers` tag after a revoke pass, only when what it
/// records changed: the tokens the pass decided about are replaced by those it `kept`, and
/// tokens no longer `still_held` (gone, or labelled again) leave the record. A tag keyshift
/// cannot read is replaced, with a warning, rather than failing the rotation over a report.
async fn record_stragglers(
    deps: &StepDeps,
    labels: &ManagedSecretState,
    decided: &BTreeSet<i64>,
    still_held: impl Fn(i64) -> bool,
    kept: &[Straggler],
) -> crate::error::Result<()> {
    let existing = match labels.stragglers_tag.as_deref().map(StragglerRecord::parse) {
        None => StragglerRecord::default(),
        Some(Ok(record)) => record,
        Some(Err(error)) => {
            tracing::warn!(secret = %labels.secret_id, %error, "replacing a straggler tag keyshift cannot read");
            StragglerRecord::default()
        }
    };
    let kept = kept.iter().map(|straggler| RecordedStraggler {
        token_id: straggler.token_id,
        last_used_at: straggler.last_used_at,
        kept_until: straggler.kept_until,
    });
    let value = existing
        .updated(|id| decided.contains(&id), still_held, kept)
        .render();
    if value.as_deref() == labels.stragglers_tag.as_deref() {
        return Ok(());
    }
    deps.secrets
        .set_tag(&labels.secret_id, STRAGGLERS_TAG, value.as_deref())
        .await
}

fn report_stragglers(deps: &StepDeps, workspace: &WorkspaceRef, secret_name: &str, count: usize) {
    deps.metrics.emit(
        RotationMetric::StragglerTokens {
            workspace: workspace.key(),
            secret_name: secret_name.to_owned(),
            count: u32::try_from(count).unwrap_or(u32::MAX),
        },
        deps.clock.now(),
    );
}

fn keep_all(
    tokens: &[TokenRevocation],
    keys: &[LegacyKeyDeletion],
    why: &str,
) -> Vec<KeptCredential> {
    tokens
        .iter()
        .map(|token| KeptCredential {
            id: token.token_id,
            name: token.token_name.clone(),
            why: why.to_owned(),
        })
        .chain(keys.iter().map(|key| KeptCredential {
            id: key.key_id,
            name: key.key_name.clone(),
            why: why.to_owned(),
        }))
        .collect()
}

async fn delete_legacy_keys(
    api: &dyn GrafanaApi,
    keys: &[LegacyKeyDeletion],
    output: &mut RevokeOldOutput,
) -> Result<()> {
    for key in keys {
        ignore_not_found(api.delete_legacy_key(key.key_id).await)?;
        tracing::info!(key = %key.key_name, reason = ?key.reason, "deleted legacy key");
        output.deleted_keys.push(key.clone());
    }
    Ok(())
}

async fn revoke_for_workspace(
    deps: &StepDeps,
    input: WorkspaceRevokeInput,
) -> Result<RevokeOldOutput> {
    validate_identity(&input.execution_name, &input.workspace, &input.policy)?;
    validate_grafana_url(&input.workspace, &input.grafana_url)?;
    validate_bootstrap(&input.workspace, &input.bootstrap)?;
    if input.plan.workspace != input.workspace {
        return Err(KeyshiftError::invalid_input(
            "plan.workspace",
            "the plan is for another workspace",
        ));
    }
    let mut output = RevokeOldOutput::default();
    if bootstrap_token_gone(deps, &input).await? {
        // The bootstrap token is revoked last, so an earlier attempt whose answer was lost got
        // through everything else; its Grafana calls cannot be repeated without admin access.
        tracing::warn!(workspace = %input.workspace, "this execution's bootstrap token is already gone; finishing its revocation only");
        output.bootstrap_revoked = revoke_bootstrap(deps, &BootstrapCleanup::of(&input)).await?;
        report_success(deps, &input.workspace);
        return Ok(output);
    }
    let api = admin_api(
        deps,
        &input.workspace,
        &input.grafana_url,
        &input.bootstrap,
        &input.execution_name,
    )
    .await?;
    delete_legacy_keys(api.as_ref(), &input.plan.expired_keys, &mut output).await?;

    let mut labels_by_account: BTreeMap<String, ManagedSecretState> = BTreeMap::new();
    let usage_rule = input.policy.usage_rule();
    let now = deps.clock.now();
    let mut live_by_account: BTreeMap<i64, Vec<ServiceAccountToken>> = BTreeMap::new();
    let mut stragglers_by_secret: BTreeMap<String, usize> = BTreeMap::new();
    let mut decided_by_account: BTreeMap<String, (i64, BTreeSet<i64>)> = BTreeMap::new();
    for cleanup in &input.plan.token_cleanups {
        let Some(account_id) = cleanup.service_account_id else {
            output.kept.push(KeptCredential {
                id: cleanup.token_id,
                name: cleanup.token_name.clone(),
                why: "the owning account is not known".to_owned(),
            });
            continue;
        };
        let labels = match labels_by_account.get(&cleanup.service_account_name) {
            Some(labels) => labels.clone(),
            None => {
                let secret_id = input
                    .policy
                    .secret_name_for(&input.workspace, &cleanup.service_account_name)?;
                let labels = read_managed_secret(
                    deps.secrets.as_ref(),
                    &secret_id,
                    &cleanup.service_account_name,
                )
                .await?;
                labels_by_account.insert(cleanup.service_account_name.clone(), labels.clone());
                labels
            }
        };
        if labels.protected_token_ids().contains(&cleanup.token_id) {
            output.kept.push(KeptCredential {
                id: cleanup.token_id,
                name: cleanup.token_name.clone(),
                why: "it is labelled in the secret since the plan was made".to_owned(),
            });
            continue;
        }
        decided_by_account
            .entry(cleanup.service_account_name.clone())
            .or_insert_with(|| (account_id, BTreeSet::new()))
            .1
            .insert(cleanup.token_id);
        if usage_rule.is_some() && usage_may_spare(cleanup.reason) {
            let live = match live_by_account.get(&account_id) {
                Some(live) => live.clone(),
                None => {
                    let live = match api.list_tokens(account_id).await {
                        Ok(live) => live,
                        Err(KeyshiftError::GrafanaNotFound { .. }) => Vec::new(),
                        Err(error) => return Err(error),
                    };
                    live_by_account.insert(account_id, live.clone());
                    live
                }
            };
            let count = stragglers_by_secret
                .entry(labels.secret_id.clone())
                .or_default();
            if let Some(straggler) =
                straggler_of(usage_rule, cleanup, &live, labels.current_rotated_at, now)
            {
                *count += 1;
                output.stragglers.push(straggler);
                continue;
            }
        }
        ignore_not_found(api.delete_token(account_id, cleanup.token_id).await)?;
        tracing::info!(token = %cleanup.token_name, reason = ?cleanup.reason, "cleaned up token");
        output.revoked_tokens.push(cleanup.clone());
    }
    for (secret_name, count) in &stragglers_by_secret {
        report_stragglers(deps, &input.workspace, secret_name, *count);
    }
    for (account_name, (account_id, decided)) in &decided_by_account {
        let Some(labels) = labels_by_account.get(account_name) else {
            continue;
        };
        let protected = labels.protected_token_ids();
        let live = live_by_account.get(account_id);
        let kept: Vec<Straggler> = output
            .stragglers
            .iter()
            .filter(|straggler| &straggler.service_account_name == account_name)
            .cloned()
            .collect();
        record_stragglers(
            deps,
            labels,
            decided,
            |id| {
                !protected.contains(&id)
                    && live.is_none_or(|live| live.iter().any(|token| token.id == id))
            },
            &kept,
        )
        .await?;
    }

    output.bootstrap_revoked = revoke_bootstrap(deps, &BootstrapCleanup::of(&input)).await?;
    report_success(deps, &input.workspace);
    Ok(output)
}

/// The workspace-scope revoke-old is the execution's last task, reached only when every
/// credential was rotated and revoked: its success is the execution's. A retry after a lost
/// answer reports again; alarms count "at least one", so a duplicate is harmless.
fn report_success(deps: &StepDeps, workspace: &WorkspaceRef) {
    deps.metrics.emit(
        RotationMetric::ExecutionSucceeded {
            workspace: workspace.key(),
        },
        deps.clock.now(),
    );
}

/// What [`revoke_bootstrap_credential`] needs: whose admin credential to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapCleanup {
    /// The execution that minted it (its name is derived from this).
    pub execution_name: String,
    /// The workspace.
    pub workspace: WorkspaceRef,
    /// The credential, as discover-keys returned it.
    pub bootstrap: Bootstrap,
    /// The policy discovery ran with (validated like every step's).
    pub policy: Policy,
}

impl BootstrapCleanup {
    fn of(input: &WorkspaceRevokeInput) -> Self {
        BootstrapCleanup {
            execution_name: input.execution_name.clone(),
            workspace: input.workspace.clone(),
            bootstrap: input.bootstrap.clone(),
            policy: input.policy.clone(),
        }
    }
}

/// Deletes only the short-lived AMG admin credential an execution's discover-keys minted (and
/// expired bootstrap tokens of earlier executions), touching nothing in Grafana: what
/// `keyshift plan` does after planning, instead of a whole workspace-scope revoke-old. Returns
/// whether a credential was revoked (`false` for self-hosted Grafana, which has none).
pub async fn revoke_bootstrap_credential(
    deps: &StepDeps,
    cleanup: BootstrapCleanup,
) -> Result<bool> {
    validate_identity(&cleanup.execution_name, &cleanup.workspace, &cleanup.policy)?;
    validate_bootstrap(&cleanup.workspace, &cleanup.bootstrap)?;
    revoke_bootstrap(deps, &cleanup).await
}

/// Deletes this execution's bootstrap admin credential (and bootstrap tokens of earlier
/// executions that have expired but still count toward AMG's per-account cap). Done last, since
/// everything before needs it.
async fn revoke_bootstrap(deps: &StepDeps, input: &BootstrapCleanup) -> Result<bool> {
    let Some(amg_workspace) = input.workspace.amg_workspace() else {
        return Ok(false);
    };
    let amg = deps.amg(&input.workspace).await?;
    let expected_name = bootstrap_name_for(&input.execution_name);
    match &input.bootstrap {
        Bootstrap::AmgServiceAccountToken {
            service_account_id,
            token_id,
            token_name,
            ..
        } => {
            if *token_name != expected_name {
                return Err(KeyshiftError::invalid_input(
                    "bootstrap.tokenName",
                    "not this execution's bootstrap token",
                ));
            }
            let accounts = amg.list_workspace_service_accounts(&amg_workspace).await?;
            let is_bootstrap_account = accounts.iter().any(|account| {
                account.id == *service_account_id && account.name == BOOTSTRAP_NAME_PREFIX
            });
            if !is_bootstrap_account {
                return Err(KeyshiftError::invalid_input(
                    "bootstrap.serviceAccountId",
                    "not keyshift's bootstrap service account",
                ));
            }
            ignore_not_found(
                amg.delete_workspace_service_account_token(
                    &amg_workspace,
                    service_account_id,
                    token_id,
                )
                .await,
            )?;
            delete_expired_bootstrap_tokens(
                amg.as_ref(),
                &amg_workspace,
                service_account_id,
                deps.clock.now(),
            )
            .await?;
        }
        Bootstrap::SelfHostedSecret { .. } => return Ok(false),
    }
    tracing::info!(workspace = %input.workspace, "revoked the bootstrap admin credential");
    Ok(true)
}

/// Whether this execution's AMG bootstrap token no longer exists on its account (expired
/// tokens are still listed, so only a delete makes it disappear). Other bootstraps cannot be
/// checked this way and count as present.
async fn bootstrap_token_gone(deps: &StepDeps, input: &WorkspaceRevokeInput) -> Result<bool> {
    let (
        Some(amg_workspace),
        Bootstrap::AmgServiceAccountToken {
            service_account_id,
            token_name,
            ..
        },
    ) = (input.workspace.amg_workspace(), &input.bootstrap)
    else {
        return Ok(false);
    };
    let tokens = match deps
        .amg(&input.workspace)
        .await?
        .list_workspace_service_account_tokens(&amg_workspace, service_account_id)
        .await
    {
        Ok(tokens) => tokens,
        // The account itself is gone, and its tokens with it.
        Err(KeyshiftError::GrafanaNotFound { .. }) => return Ok(true),
        Err(error) => return Err(error),
    };
    Ok(!tokens.iter().any(|token| token.name == *token_name))
}

async fn delete_expired_bootstrap_tokens(
    amg: &dyn AmgControlPlane,
    amg_workspace: &crate::model::AmgWorkspace,
    service_account_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let tokens = amg
        .list_workspace_service_account_tokens(amg_workspace, service_account_id)
        .await?;
    for token in tokens
        .iter()
        .filter(|token| token.name.starts_with(BOOTSTRAP_NAME_PREFIX) && token.expires_at <= now)
    {
        ignore_not_found(
            amg.delete_workspace_service_account_token(
                amg_workspace,
                service_account_id,
                &token.id,
            )
            .await,
        )?;
    }
    Ok(())
}
