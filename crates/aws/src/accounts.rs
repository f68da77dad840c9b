//! The AMG control plane of every account keyshift reaches ([`AwsAmgConnector`]): this
//! account's from the base credentials, another account's through its IAM role.
//!
//! One connector serves both fleet listing (fleet-start, `keyshift plan`/`run`/`status`) and
//! the steps, so a process assumes each role once and every AMG call of a workspace in another
//! account is signed by that account's role, never by the caller's own credentials.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use keyshift_core::error::Result;
use keyshift_core::fleet::FleetDirectory;
use keyshift_core::model::AssumeRole;
use keyshift_core::ports::{AmgConnector, AmgControlPlane, AmgWorkspaceSummary};
use tokio::sync::Mutex;

use crate::amg::AmgControlPlaneClient;
use crate::config::AwsContext;
use crate::sts::assume_role;

/// The session name fleet-start's AssumeRole calls carry.
pub const FLEET_START_SESSION: &str = "keyshift-fleet-start";

/// The session name of the operator CLI's AssumeRole calls.
pub const CLI_SESSION: &str = "keyshift-cli";

/// AMG control planes: this account's from the base context, another account's through its
/// role, assumed once per role and kept for the life of the process (the provider refreshes
/// the credentials). Each role's sessions carry `session_name`, which the target account's
/// CloudTrail shows, so it says who used the role (fleet-start, a step function, the CLI).
pub struct AwsAmgConnector {
    base: AwsContext,
    session_name: String,
    own: Arc<AmgControlPlaneClient>,
    assumed: Mutex<HashMap<AssumeRole, Arc<AmgControlPlaneClient>>>,
}

impl std::fmt::Debug for AwsAmgConnector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AwsAmgConnector")
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl AwsAmgConnector {
    /// Calls AMG with `base`'s credentials, and assumes roles with them under `session_name`
    /// (2-64 characters of letters, digits and `=,.@-_`, as STS requires).
    pub fn new(base: AwsContext, session_name: impl Into<String>) -> Self {
        let own = Arc::new(AmgControlPlaneClient::new(&base.grafana_client()));
        Self {
            base,
            session_name: session_name.into(),
            own,
            assumed: Mutex::new(HashMap::new()),
        }
    }

    /// The control plane under `role`, assuming it on first use. The lock is held while
    /// assuming, so concurrent first uses of one role assume it once.
    async fn assumed(&self, role: &AssumeRole) -> Result<Arc<AmgControlPlaneClient>> {
        let mut assumed = self.assumed.lock().await;
        if let Some(client) = assumed.get(role) {
            return Ok(Arc::clone(client));
        }
        let context = assume_role(&self.base, role, &self.session_name).await?;
        let client = Arc::new(AmgControlPlaneClient::new(&context.grafana_client()));
        assumed.insert(role.clone(), Arc::clone(&client));
        Ok(client)
    }

    /// How many roles have been assumed so far, for tests and logs.
    pub async fn assumed_roles(&self) -> usize {
        self.assumed.lock().await.len()
    }
}

#[async_trait]
impl AmgConnector for AwsAmgConnector {
    async fn control_plane(&self, role: Option<&AssumeRole>) -> Result<Arc<dyn AmgControlPlane>> {
        Ok(match role {
            None => Arc::clone(&self.own) as Arc<dyn AmgControlPlane>,
            Some(role) => self.assumed(role).await? as Arc<dyn AmgControlPlane>,
        })
    }
}

#[async_trait]
impl FleetDirectory for AwsAmgConnector {
    async fn list_workspaces(
        &self,
        role: Option<&AssumeRole>,
        region: &str,
    ) -> Result<Vec<AmgWorkspaceSummary>> {
        self.control_plane(role)
            .await?
            .list_workspaces(region)
            .await
    }
}
