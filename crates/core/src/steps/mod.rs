//! The steps of the per-workspace flow. `io` holds their JSON contract; the step logic,
//! written against [`crate::ports`] only, lives beside it. Each step is a plain async function
//! `(&StepDeps, Input) -> Result<Output>`, so the Lambda binaries, the local engine and the
//! tests call exactly the same code.

pub mod admin_adopt;
mod common;
pub mod create_sa;
pub mod discover;
pub mod io;
pub mod mint_token;
pub mod native_rotation;
pub mod revoke_old;
pub mod rollback;
pub mod secret_create;
pub mod store_secret;
pub mod verify;

pub use admin_adopt::{AdoptOutcome, adopt_admin_secret};
pub use common::StepDeps;
pub use create_sa::create_service_account;
pub use discover::{Discovered, discover_inventory, discover_keys};
pub use mint_token::mint_token;
pub use native_rotation::rotate_secret;
pub use revoke_old::{BootstrapCleanup, revoke_bootstrap_credential, revoke_old};
pub use rollback::{RollbackInput, RollbackOutcome, current_token_role, rollback_secret};
pub use secret_create::create_managed_secret;
pub use store_secret::{promote_secret, stage_secret, store_secret};
pub use verify::verify_token;
