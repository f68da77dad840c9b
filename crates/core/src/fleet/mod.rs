//! The fleet: which workspaces keyshift manages ([`config`]) and the schedule tick that
//! starts one execution per workspace ([`start`]).

pub mod config;
pub mod start;

pub use config::{AccountSelection, AmgSelection, FleetConfig, SelfHostedTarget};
pub use start::{
    FleetDirectory, FleetLister, FleetListing, FleetSkip, FleetStartDeps, FleetStartEvent,
    FleetStartOutput, ListingFailure, Sleeper, StartRetry, failed_start_message, fleet_start,
    list_fleet,
};
