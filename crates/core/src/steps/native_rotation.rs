//! Secrets Manager's own rotation protocol (createSecret, setSecret, testSecret,
//! finishSecret) for a secret in keyshift's managed format, on the same steps as the state
//! machine: create-sa caps the account's role, mint-token mints under a name derived from the
//! rotation, the token is written as AWSPENDING under the event's ClientRequestToken, verify's
//! check proves it, and the promotion moves AWSCURRENT.
//!
//! Secrets Manager's rules, which every step enforces before it changes anything: rotation is
//! enabled on the secret, and the ClientRequestToken is a version of that secret staged
//! AWSPENDING (RotateSecret puts the label there before invoking the Lambda, moving it off any
//! version a failed rotation left behind). A token already AWSCURRENT means the rotation
//! finished: every step then succeeds without a call, so Secrets Manager's retries converge.
//! Superseded tokens are revoked by a later rotation's createSecret, once the grace period
//! since their replacement was promoted has passed; keyshift tokens the secret no longer
//! references (a failed rotation's) are revoked then too.

use std::sync::Arc;

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::error::{KeyshiftError, Result};
use crate::model::{ManagedSecretValue, Policy, ServiceAccount, WorkspaceTarget};
use crate::naming::{short_hash, validate_execution_name};
use crate::plan::{CredentialAction, CredentialPlan, RotationReason, TargetAccount};
use crate::ports::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, GrafanaApi, SecretDescription, SecretRotatedDetail,
    VersionSelector,
};
use crate::steps::common::{StepDeps, admin_api, ignore_not_found, record_current_moved};
use crate::steps::create_sa::create_service_account;
use crate::steps::discover::mint_amg_bootstrap;
use crate::steps::io::{Bootstrap, CreateSaInput, CredentialContext};
use crate::steps::mint_token::{effective_ttl_seconds, mint_token};
use crate::steps::revoke_old::{BootstrapCleanup, revoke_bootstrap_credential};
use crate::steps::store_secret::{ROTATION_REASON, managed_value_of_minted};
use crate::steps::verify::check_token;

/// Prefix of the execution names native rotations use for token names and seal contexts.
pub const NATIVE_EXECUTION_PREFIX: &str = "sm";

/// The four steps Secrets Manager invokes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RotationStep {
    /// Mint the new token and write it as AWSPENDING.
    CreateSecret,
    /// Install the credential in the service: Grafana tokens are live once minted.
    SetSecret,
    /// Prove the pending token authenticates with the intended role.
    TestSecret,
    /// Move AWSCURRENT to the pending version.
    FinishSecret,
}

impl RotationStep {
    fn parse(step: &str) -> Result<Self> {
        match step {
            "createSecret" => Ok(Self::CreateSecret),
            "setSecret" => Ok(Self::SetSecret),
            "testSecret" => Ok(Self::TestSecret),
            "finishSecret" => Ok(Self::FinishSecret),
            other => Err(KeyshiftError::invalid_input(
                "Step",
                format!(
                    "{:?} is not a rotation step (createSecret, setSecret, testSecret, finishSecret)",
                    other.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
}

/// What a step did, for the Lambda's answer and the logs (ids only, never a token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeRotationOutput {
    /// The step run.
    pub step: RotationStep,
    /// The secret's ARN.
    pub secret_arn: String,
    /// The rotation's version id (the ClientRequestToken).
    pub version_id: String,
    /// Whether this call changed anything (false for a repeated step).
    pub changed: bool,
    /// Grafana token ids revoked by createSecret.
    #[serde(default)]
    pub revoked_token_ids: Vec<i64>,
}

/// The execution name a rotation's token name and seal context derive from: a pure function
/// of the ClientRequestToken, so a retried createSecret finds its own token.
pub fn native_execution_name(client_request_token: &str) -> String {
    let cleaned: String = client_request_token
        .chars()
        .filter(|character| character.is_ascii_alphanumeric() || *character == '-')
        .take(64)
        .collect();
    let candidate = format!("{NATIVE_EXECUTION_PREFIX}-{cleaned}");
    if cleaned.len() >= 8 && validate_execution_name(&candidate).is_ok() {
        candidate
    } else {
        format!(
            "{NATIVE_EXECUTION_PREFIX}-{}",
            short_hash(client_request_token)
        )
    }
}

/// Runs one step of Secrets Manager's rotation protocol for the event's secret.
pub async fn rotate_secret(
    deps: &StepDeps,
    policy: &Policy,
    event: SecretsManagerSecretRotationEvent,
) -> Result<NativeRotationOutput> {
    let step = RotationStep::parse(&event.step)?;
    policy.validate()?;
    let token = event.client_request_token;
    let described = checked_secret(deps, &event.secret_id, &token).await?;
    let mut output = NativeRotationOutput {
        step,
        secret_arn: described.arn.clone(),
        version_id: token.clone(),
        changed: false,
        revoked_token_ids: Vec::new(),
    };
    if described
        .versions
        .iter()
        .any(|version| version.version_id == token && version.has_stage(AWSCURRENT))
    {
        tracing::info!(secret = %described.name, version = %token, step = ?step, "rotation already finished");
        return Ok(output);
    }
    let rotation = Rotation {
        deps,
        policy,
        secret_id: described.arn.clone(),
        token,
    };
    match step {
        RotationStep::CreateSecret => rotation.create(&mut output).await?,
        RotationStep::SetSecret => {
            rotation.pending_value().await?;
        }
        RotationStep::TestSecret => rotation.test().await?,
        RotationStep::FinishSecret => {
            rotation.finish(&described).await?;
            output.changed = true;
        }
    }
    tracing::info!(secret = %described.name, version = %output.version_id, step = ?step, changed = output.changed, "rotation step done");
    Ok(output)
}

/// The secret as DescribeSecret shows it, once the event is known to be acceptable: rotation
/// enabled, and the token a version of this secret holding AWSPENDING (or AWSCURRENT, for a
/// finished rotation). Refusals change nothing.
async fn checked_secret(
    deps: &StepDeps,
    secret_id: &str,
    token: &str,
) -> Result<SecretDescription> {
    let described = deps.secrets.describe(secret_id).await?;
    if !described.rotation_enabled {
        return Err(KeyshiftError::RotationNotEnabled {
            secret_id: described.name,
        });
    }
    let invalid = |reason: &str| KeyshiftError::RotationTokenInvalid {
        secret_id: described.name.clone(),
        token: token.chars().take(64).collect(),
        reason: reason.to_owned(),
    };
    let Some(version) = described
        .versions
        .iter()
        .find(|version| version.version_id == token)
    else {
        return Err(invalid("the secret has no version with this id"));
    };
    if !version.has_stage(AWSPENDING) && !version.has_stage(AWSCURRENT) {
        return Err(invalid("the version is not staged AWSPENDING"));
    }
    Ok(described)
}

/// One rotation of one secret: the event's token and what every step needs.
struct Rotation<'a> {
    deps: &'a StepDeps,
    policy: &'a Policy,
    secret_id: String,
    token: String,
}

impl Rotation<'_> {
    fn execution_name(&self) -> String {
        native_execution_name(&self.token)
    }

    async fn current_value(&self) -> Result<ManagedSecretValue> {
        let current = self
            .deps
            .secrets
            .get(&self.secret_id, &VersionSelector::current())
            .await?;
        ManagedSecretValue::parse(&current.value, &self.secret_id)
    }

    /// The pending version's keyshift value; `None` while createSecret has not written it.
    async fn written_pending(&self) -> Result<Option<ManagedSecretValue>> {
        match self
            .deps
            .secrets
            .get(&self.secret_id, &VersionSelector::Id(self.token.clone()))
            .await
        {
            Ok(stored) => ManagedSecretValue::parse(&stored.value, &self.secret_id).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn pending_value(&self) -> Result<ManagedSecretValue> {
        self.written_pending()
            .await?
            .ok_or_else(|| KeyshiftError::SecretNotFound {
                secret_id: self.secret_id.clone(),
                what: format!(
                    "the value of pending version {} (createSecret has not run)",
                    self.token
                ),
            })
    }

    /// Admin access to the secret's workspace: the self-hosted admin secret, or on AMG a
    /// bootstrap token minted through the control plane, which [`Self::close_admin`] revokes.
    async fn open_admin(
        &self,
        current: &ManagedSecretValue,
    ) -> Result<(Arc<dyn GrafanaApi>, Bootstrap)> {
        let workspace = &current.workspace;
        let execution_name = self.execution_name();
        let bootstrap = match &workspace.target {
            WorkspaceTarget::SelfHosted {
                admin_secret_id, ..
            } => Bootstrap::SelfHostedSecret {
                admin_secret_id: admin_secret_id.clone(),
            },
            WorkspaceTarget::Amg { .. } => {
                let amg_workspace = workspace.amg_workspace().ok_or_else(|| {
                    KeyshiftError::invalid_input("workspace", "not an AMG workspace")
                })?;
                let amg = self.deps.amg(workspace).await?;
                mint_amg_bootstrap(
                    self.deps,
                    amg.as_ref(),
                    &amg_workspace,
                    workspace,
                    &execution_name,
                    self.policy,
                )
                .await?
            }
        };
        let api = admin_api(
            self.deps,
            workspace,
            &current.grafana_url,
            &bootstrap,
            &execution_name,
        )
        .await;
        match api {
            Ok(api) => Ok((api, bootstrap)),
            Err(error) => {
                self.close_admin(current, bootstrap).await?;
                Err(error)
            }
        }
    }

    /// Revokes the AMG bootstrap token [`Self::open_admin`] minted (nothing for self-hosted).
    async fn close_admin(&self, current: &ManagedSecretValue, bootstrap: Bootstrap) -> Result<()> {
        let cleanup = BootstrapCleanup {
            execution_name: self.execution_name(),
            workspace: current.workspace.clone(),
            bootstrap,
            policy: self.policy.clone(),
        };
        revoke_bootstrap_credential(self.deps, cleanup).await?;
        Ok(())
    }

    /// createSecret: unless this rotation's value is written already, cap the account's
    /// role, mint (or recover) this rotation's token and write it as the pending version;
    /// then revoke what earlier rotations superseded.
    async fn create(&self, output: &mut NativeRotationOutput) -> Result<()> {
        let current = self.current_value().await?;
        let already = self.written_pending().await?;
        let (api, bootstrap) = self.open_admin(&current).await?;
        let outcome = async {
            if already.is_none() {
                let account = api.get_service_account(current.service_account_id).await?;
                self.mint_and_stage(&current, &account, &bootstrap).await?;
            }
            let pending_token = match &already {
                Some(value) => Some(value.token_id),
                None => self.written_pending().await?.map(|value| value.token_id),
            };
            self.revoke_superseded(api.as_ref(), &current, pending_token)
                .await
        }
        .await;
        self.close_admin(&current, bootstrap).await?;
        let revoked = outcome?;
        output.changed = already.is_none() || !revoked.is_empty();
        output.revoked_token_ids = revoked;
        Ok(())
    }

    async fn mint_and_stage(
        &self,
        current: &ManagedSecretValue,
        account: &ServiceAccount,
        bootstrap: &Bootstrap,
    ) -> Result<()> {
        let deps = self.deps;
        let policy = self.policy;
        let execution_name = self.execution_name();
        let credential = CredentialPlan::standalone(
            self.secret_id.clone(),
            CredentialAction::Rotate {
                service_account_id: current.service_account_id,
                reason: RotationReason::TooOld,
            },
            TargetAccount {
                id: Some(current.service_account_id),
                name: current.service_account_name.clone(),
                role: policy.roles.granted(
                    &current.workspace,
                    &current.service_account_name,
                    &self.secret_id,
                    account.role,
                ),
                requested_role: account.role,
            },
            effective_ttl_seconds(0, policy),
            "Secrets Manager rotation",
        );
        let context = CredentialContext::new(
            execution_name.clone(),
            current.workspace.clone(),
            current.grafana_url.clone(),
            bootstrap.clone(),
            policy,
            credential,
        );
        let account = create_service_account(deps, CreateSaInput { context }).await?;
        let minted = mint_token(deps, account.into()).await?;
        let value = managed_value_of_minted(
            deps,
            &minted.context,
            &minted.service_account,
            &minted.token,
        )
        .await?;
        deps.secrets
            .put_pending(&self.secret_id, &self.token, &value.to_secret_string()?)
            .await?;
        tracing::info!(secret = %self.secret_id, version = %self.token, token = %value.token_name, "wrote the new token as AWSPENDING");
        Ok(())
    }

    /// Revokes keyshift tokens of the account that the secret no longer protects: the
    /// AWSPREVIOUS token once the grace period since AWSCURRENT was written has passed, and any
    /// other token this policy minted that is neither AWSCURRENT's, AWSPREVIOUS's nor this
    /// rotation's (a failed rotation's). Tokens a person made are never touched.
    async fn revoke_superseded(
        &self,
        api: &dyn GrafanaApi,
        current: &ManagedSecretValue,
        pending_token: Option<i64>,
    ) -> Result<Vec<i64>> {
        let grace = Duration::seconds(
            i64::try_from(self.policy.grace_period_seconds()).unwrap_or(i64::MAX),
        );
        let grace_over = current
            .rotated_at
            .checked_add_signed(grace)
            .is_some_and(|end| self.deps.clock.now() >= end);
        let previous = match self
            .deps
            .secrets
            .get(&self.secret_id, &VersionSelector::Stage(AWSPREVIOUS.into()))
            .await
        {
            Ok(stored) => ManagedSecretValue::parse(&stored.value, &self.secret_id)
                .ok()
                .map(|value| value.token_id),
            Err(error) if error.is_not_found() => None,
            Err(error) => return Err(error),
        };
        let Some(matcher) = self.policy.token_name_matcher() else {
            return Ok(Vec::new());
        };
        let mut revoked = Vec::new();
        for token in api.list_tokens(current.service_account_id).await? {
            let protected = token.id == current.token_id
                || Some(token.id) == pending_token
                || (Some(token.id) == previous && !grace_over);
            if protected || !matcher.is_match(&token.name) {
                continue;
            }
            ignore_not_found(api.delete_token(current.service_account_id, token.id).await)?;
            tracing::info!(token = %token.name, token_id = token.id, "revoked a superseded token");
            revoked.push(token.id);
        }
        Ok(revoked)
    }

    /// testSecret: the pending token authenticates in the workspace's org with the role its
    /// account holds (read through admin access; create-sa capped it).
    async fn test(&self) -> Result<()> {
        let pending = self.pending_value().await?;
        let (api, bootstrap) = self.open_admin(&pending).await?;
        let account = api.get_service_account(pending.service_account_id).await;
        self.close_admin(&pending, bootstrap).await?;
        let account = account?;
        let subject = format!(
            "token {} of service account {}",
            pending.token_name, pending.service_account_name
        );
        let role = check_token(
            self.deps,
            &pending.grafana_url,
            pending.workspace.org_id,
            pending.token.clone(),
            self.policy.roles.granted(
                &pending.workspace,
                &pending.service_account_name,
                &self.secret_id,
                account.role,
            ),
            &|reason| KeyshiftError::VerifyFailed {
                subject: subject.clone(),
                reason,
            },
        )
        .await?;
        tracing::info!(token = %pending.token_name, role = %role, "verified the pending token");
        Ok(())
    }

    /// finishSecret: AWSCURRENT moves to the pending version (the old one becomes
    /// AWSPREVIOUS) and AWSPENDING comes off it.
    async fn finish(&self, described: &SecretDescription) -> Result<()> {
        let pending = self.pending_value().await?;
        let previous_version_id = described
            .version_with_stage(AWSCURRENT)
            .filter(|current| *current != self.token)
            .map(str::to_owned);
        self.deps
            .secrets
            .promote(&self.secret_id, &self.token, described)
            .await?;
        tracing::info!(secret = %described.name, version = %self.token, "promoted the pending version to AWSCURRENT");
        record_current_moved(
            self.deps,
            &described.name,
            SecretRotatedDetail {
                secret_arn: described.arn.clone(),
                version_id: self.token.clone(),
                previous_version_id,
                workspace: pending.workspace.key(),
                service_account: pending.service_account_name,
                expires_at: pending.expires_at,
                execution: self.execution_name(),
                reason: ROTATION_REASON.to_owned(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_by_their_protocol_names_only() {
        assert_eq!(
            RotationStep::parse("testSecret").unwrap(),
            RotationStep::TestSecret
        );
        let error = RotationStep::parse("dropSecret").unwrap_err();
        assert_eq!(error.asl_name(), "Input.Invalid");
    }

    #[test]
    fn execution_names_are_valid_and_deterministic() {
        let uuid = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
        assert_eq!(native_execution_name(uuid), format!("sm-{uuid}"));
        let odd = "tok en/with+odd=chars!!";
        let name = native_execution_name(odd);
        assert_eq!(name, native_execution_name(odd));
        assert!(validate_execution_name(&name).is_ok(), "{name}");
        assert!(validate_execution_name(&native_execution_name(&"x".repeat(200))).is_ok());
    }
}
