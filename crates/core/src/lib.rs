//! keyshift's core: the domain of Grafana credential migration and rotation, the ports the
//! steps need from the outside world, and the steps' JSON contract.
//!
//! Nothing here knows it runs in Lambda or talks to AWS: adapters (`keyshift-aws`,
//! `keyshift-local`) implement the [`ports`], and thin binaries wire them to the steps. That
//! keeps the decisions (what to migrate, rotate, revoke) testable as pure functions.

#![warn(missing_docs)]

pub mod dead_letter;
pub mod error;
pub mod fleet;
pub mod invocation;
pub mod model;
pub mod naming;
pub mod plan;
pub mod ports;
pub mod secret;
pub mod steps;

pub use error::{KeyshiftError, Result};
pub use secret::SecretString;
