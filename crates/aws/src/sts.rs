//! Reaching another AWS account: STS AssumeRole through aws-config's assume-role provider.
//!
//! fleet-start lists the AMG workspaces of every configured account under that account's
//! role, and the steps call the AMG control plane of such a workspace under the same role
//! (see [`crate::AwsAmgConnector`]). The provider refreshes the temporary credentials itself;
//! [`assume_role`] only checks once, up front, that the role can be assumed, so a wrong role
//! or external id is reported as one named error instead of as an access failure of every
//! later call.

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::model::AssumeRole;

use crate::config::{AwsContext, AwsService};

const SERVICE: &str = "sts";

/// A context whose clients act as `role`: credentials from STS AssumeRole (with the role's
/// external id), authorised by `base`'s credentials, with `base`'s region and endpoint
/// overrides (STS itself honours [`AwsService::Sts`]'s). Assumes the role once to check it;
/// `session_name` shows in the target account's CloudTrail.
pub async fn assume_role(
    base: &AwsContext,
    role: &AssumeRole,
    session_name: &str,
) -> Result<AwsContext> {
    let mut sts_config = base.sdk_config().to_builder();
    if let Some(url) = base.endpoints().endpoint_for(AwsService::Sts) {
        sts_config.set_endpoint_url(Some(url.to_owned()));
    }
    let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
        .session_name(session_name)
        .configure(&sts_config.build());
    if let Some(external_id) = &role.external_id {
        builder = builder.external_id(external_id.clone());
    }
    let provider = builder.build().await;
    provider.provide_credentials().await.map_err(|error| {
        let detail = std::error::Error::source(&error)
            .map_or_else(|| error.to_string(), |source| format!("{error}: {source}"));
        KeyshiftError::AwsFailed {
            service: SERVICE.to_owned(),
            operation: "AssumeRole".to_owned(),
            detail: format!("cannot assume {}: {detail}", role.role_arn),
        }
    })?;
    let assumed = base
        .sdk_config()
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    Ok(base.with_sdk_config(assumed))
}
