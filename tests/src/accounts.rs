//! Which AWS accounts a [`crate::Harness`]'s steps reach with their AMG calls: grafana-sim as
//! the only one, or other accounts' roles assumed for real through STS on moto.

use std::sync::Arc;

use keyshift_aws::AwsAmgConnector;
use keyshift_core::ports::{AmgConnector, SingleAccountAmg};

/// The STS session name of the harness's AssumeRole calls ([`AmgAccounts::AssumedOnMoto`]).
pub const E2E_SESSION: &str = "keyshift-e2e";

/// Which AWS accounts the steps' AMG control-plane calls reach.
#[derive(Clone)]
pub enum AmgAccounts {
    /// grafana-sim as the one account there is: every role opens the same control plane, and
    /// each opening is counted under its role ([`SingleAccountAmg::requests`]).
    Single(Arc<SingleAccountAmg>),
    /// Roles assumed for real through STS on moto ([`AwsAmgConnector`], session
    /// [`E2E_SESSION`]), AMG on grafana-sim, whose signer log shows each call's access key.
    AssumedOnMoto(Arc<AwsAmgConnector>),
}

impl AmgAccounts {
    /// The connector the steps get.
    pub fn connector(&self) -> Arc<dyn AmgConnector> {
        match self {
            Self::Single(single) => single.clone(),
            Self::AssumedOnMoto(assumed) => assumed.clone(),
        }
    }
}
