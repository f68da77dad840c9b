//! In-process adapters for keyshift's ports: a secret store with Secrets Manager's staging
//! semantics, an AES-GCM sealer, an SQS-like queue and a recording metrics sink.
//!
//! They let `keyshift run`, the demo and the tests execute the real state machine in one
//! process without AWS, while [`contract`] keeps the secret store honest against Secrets
//! Manager itself.

#![warn(missing_docs)]

pub mod contract;
pub mod envelope;
pub mod events;
pub mod metrics;
pub mod queue;
pub mod sealer;
pub mod secret_store;

pub use events::LocalEventQueue;
pub use metrics::{RecordedMetric, RecordingMetrics};
pub use queue::InMemoryQueue;
pub use sealer::{LocalSealer, LocalSealerError};
pub use secret_store::InMemorySecretStore;
