//! verify: prove the staged token works before anyone is pointed at it.
//!
//! Reads the AWSPENDING version back (so what is checked is what consumers will read, not the
//! token as it left mint-token) and calls Grafana with it. `/api/health` is useless here: it
//! runs before authentication. `/api/org` proves the token authenticates in the right org and
//! `/api/access-control/user/permissions` shows the role it effectively holds.

use crate::error::{KeyshiftError, Result};
use crate::model::{GrafanaCredential, ManagedSecretValue, OrgId, Role};
use crate::ports::{SecretVersionValue, VersionSelector};
use crate::secret::SecretString;
use crate::steps::common::{StepDeps, validate_context};
use crate::steps::io::{Verification, VerifyInput, VerifyOutput};

/// Verifies the staged token; `Verify.Failed` when it does not authenticate or holds another
/// role, transient Grafana errors as themselves so the state machine retries them.
pub async fn verify_token(deps: &StepDeps, input: VerifyInput) -> Result<VerifyOutput> {
    let context = &input.context;
    validate_context(context)?;
    let subject = format!(
        "token {} of service account {}",
        input.token.name, input.service_account.name
    );
    let failed = |reason: String| KeyshiftError::VerifyFailed {
        subject: subject.clone(),
        reason,
    };
    let secret_id = &input.staged.secret_id;
    let pending = match deps
        .secrets
        .get(secret_id, &VersionSelector::pending())
        .await
    {
        Ok(pending) if pending.version_id == input.staged.version_id => pending,
        Ok(_) => staged_by_id(deps, &input).await?,
        Err(error) if error.is_not_found() => staged_by_id(deps, &input).await?,
        Err(error) => return Err(error),
    };
    let value = ManagedSecretValue::parse(&pending.value, secret_id)?;
    if value.token_id != input.token.id || value.service_account_id != input.service_account.id {
        return Err(failed(format!(
            "AWSPENDING of {secret_id} holds another token"
        )));
    }
    let role = check_token(
        deps,
        &context.grafana_url,
        context.workspace.org_id,
        value.token,
        input.service_account.role,
        &failed,
    )
    .await?;
    tracing::info!(token = %input.token.name, role = %role, "verified the staged token");
    let org_id = context.workspace.org_id;
    Ok(VerifyOutput {
        context: input.context,
        service_account: input.service_account,
        token: input.token,
        staged: input.staged,
        verified: Verification {
            role,
            org_id,
            checked_at: deps.clock.now(),
        },
    })
}

/// The staged version read by its id, when AWSPENDING is elsewhere: another execution staged
/// over the same AWSCURRENT after this one (the later write takes the label), or took its own
/// label off again. Versions are immutable, so this is still exactly what was stored, and it
/// is verified all the same: which of the two executions rotates is not verify's call but
/// promote's conditional move of AWSCURRENT, and the one that loses there deletes its token.
async fn staged_by_id(deps: &StepDeps, input: &VerifyInput) -> Result<SecretVersionValue> {
    let secret_id = &input.staged.secret_id;
    tracing::info!(secret = %secret_id, version = %input.staged.version_id, "AWSPENDING is on another version; verifying the staged one by its id");
    deps.secrets
        .get(
            secret_id,
            &VersionSelector::Id(input.staged.version_id.clone()),
        )
        .await
}

/// Proves `token` authenticates in `org_id` of the Grafana at `grafana_url` and acts as
/// `intended`; the one check behind verify and rollback. Rejections become `failed(reason)`,
/// transient Grafana errors stay themselves so callers can retry them.
pub(crate) async fn check_token(
    deps: &StepDeps,
    grafana_url: &str,
    org_id: OrgId,
    token: SecretString,
    intended: Role,
    failed: &(dyn Fn(String) -> KeyshiftError + Send + Sync),
) -> Result<Role> {
    let api = deps
        .grafana
        .connect(grafana_url, org_id, GrafanaCredential::Bearer(token))
        .await?;
    let as_failure = |error: KeyshiftError| match error {
        KeyshiftError::GrafanaUnauthorized { detail, .. } => {
            failed(format!("Grafana rejected it: {detail}"))
        }
        KeyshiftError::GrafanaForbidden { detail, .. } => {
            failed(format!("Grafana denied it: {detail}"))
        }
        other => other,
    };
    // A role-less account may not read its org (UNCONFIRMED in the reference); its
    // permissions call still proves authentication.
    if intended != Role::None {
        let org = api.org().await.map_err(as_failure)?;
        if org.id != org_id {
            return Err(failed(format!(
                "it authenticates in org {}, not org {org_id}",
                org.id
            )));
        }
    }
    let permissions = api.permissions().await.map_err(as_failure)?;
    let role = permissions.implied_role();
    if role != intended {
        return Err(failed(format!(
            "it acts as {role}, but the account should be {intended}"
        )));
    }
    Ok(role)
}
