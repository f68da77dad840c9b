//! fleet-start's adapters: AMG listing per account ([`AwsFleetDirectory`]) and real pauses
//! ([`TokioSleeper`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keyshift_core::error::Result;
use keyshift_core::fleet::{FleetDirectory, Sleeper};
use keyshift_core::model::AssumeRole;
use keyshift_core::ports::{AmgControlPlane, AmgWorkspaceSummary};
use tokio::sync::Mutex;

use crate::amg::AmgControlPlaneClient;
use crate::config::AwsContext;
use crate::sts::assume_role;

/// The session name fleet-start's AssumeRole calls carry.
pub const FLEET_START_SESSION: &str = "keyshift-fleet-start";

/// AMG control planes: this account's from the base context, another account's through its
/// role, assumed once per role and kept for the life of the process (the provider refreshes
/// the credentials).
pub struct AwsFleetDirectory {
    base: AwsContext,
    own: AmgControlPlaneClient,
    assumed: Mutex<HashMap<AssumeRole, Arc<AmgControlPlaneClient>>>,
}

impl AwsFleetDirectory {
    /// Lists with `base`'s credentials, and assumes roles with them.
    pub fn new(base: AwsContext) -> Self {
        let own = AmgControlPlaneClient::new(&base.grafana_client());
        Self {
            base,
            own,
            assumed: Mutex::new(HashMap::new()),
        }
    }

    /// The control plane under `role`, assuming it on first use.
    async fn control_plane(&self, role: &AssumeRole) -> Result<Arc<AmgControlPlaneClient>> {
        let mut assumed = self.assumed.lock().await;
        if let Some(client) = assumed.get(role) {
            return Ok(Arc::clone(client));
        }
        let context = assume_role(&self.base, role, FLEET_START_SESSION).await?;
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
impl FleetDirectory for AwsFleetDirectory {
    async fn list_workspaces(
        &self,
        role: Option<&AssumeRole>,
        region: &str,
    ) -> Result<Vec<AmgWorkspaceSummary>> {
        match role {
            None => self.own.list_workspaces(region).await,
            Some(role) => {
                self.control_plane(role)
                    .await?
                    .list_workspaces(region)
                    .await
            }
        }
    }
}

/// [`Sleeper`] on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
