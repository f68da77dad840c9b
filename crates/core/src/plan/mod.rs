//! The per-workspace plan: what keyshift will migrate, rotate and revoke, and why.
//!
//! [`compute_plan`] is a pure function of an [`Inventory`] (what discover-keys read), a
//! [`Policy`](crate::model::Policy) and the time, so `keyshift plan`, discover-keys and the tests all get the same
//! answer, and every decision can be unit-tested without Grafana. The plan's
//! [`Plan::credentials`] are the items the state machine's Map iterates over: one per target
//! service account.

mod planner;
mod revocation;
mod types;
mod usage;

pub use planner::compute_plan;
pub use revocation::{RevocationRequest, select_revocations};
pub use types::{
    AccountInventory, AccountNote, CredentialAction, CredentialPlan, ExcludedKey, Inventory,
    LegacyKeyDeletion, ManagedSecretState, Plan, RevocationReason, RotationReason, TargetAccount,
    TokenRevocation,
};
pub use usage::{UsageDecision, usage_decision, usage_may_spare};

#[cfg(test)]
mod tests;
