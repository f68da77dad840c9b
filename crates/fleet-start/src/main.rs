//! The fleet-start Lambda: the target of the EventBridge Scheduler schedule. Its event is the
//! fleet config plus the schedule time; it returns the tick's summary.

use std::process::ExitCode;
use std::sync::Arc;

use fleet_start::FleetStartConfig;
use keyshift_aws::AwsContext;
use keyshift_core::fleet::{FleetStartDeps, FleetStartEvent, fleet_start};

#[tokio::main]
async fn main() -> ExitCode {
    keyshift_lambda::serve(
        || async {
            let config = FleetStartConfig::from_env()?;
            Ok(config.deps(&AwsContext::from_env().await))
        },
        |deps: Arc<FleetStartDeps>, event: FleetStartEvent| async move {
            fleet_start(&deps, event).await
        },
    )
    .await
}
