//! The ports: everything a step needs from the outside world, as traits.
//!
//! Steps in [`crate::steps`] depend only on these, so the same logic runs in Lambda (AWS
//! adapters), locally (in-process adapters) and in unit tests (mocks). All traits are
//! `Send + Sync` and object-safe, meant to be held as `Arc<dyn Trait>`.

pub mod amg;
pub mod clock;
pub mod events;
pub mod execution;
pub mod grafana;
pub mod metrics;
pub mod queue;
pub mod sealer;
pub mod secrets;

pub use amg::{
    AMG_STATUS_ACTIVE, AmgConnector, AmgControlPlane, AmgMintedToken, AmgServiceAccount,
    AmgServiceAccountToken, AmgWorkspaceSummary, SingleAccountAmg,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use events::{
    EVENT_SOURCE, EventPublisher, NoEvents, ROLLBACK_REFUSED, ROTATION_FAILED, RotationEvent,
    SECRET_ROTATED, SecretRotatedDetail,
};
pub use execution::{ExecutionDescription, ExecutionStarter, ExecutionStatus, StartOutcome};
pub use grafana::{GrafanaApi, GrafanaConnector};
pub use metrics::{MetricUnit, MetricsSink, NoMetrics, RotationMetric};
pub use queue::{DeadLetterQueue, DlqMessage, ReceivedMessage};
pub use sealer::{
    SEAL_CONTEXT_EXECUTION, SEAL_CONTEXT_WORKSPACE, SealContext, SealedToken, Sealer, seal_context,
};
pub use secrets::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription, SecretStore, SecretVersionInfo,
    SecretVersionValue, StageChange, StageUpdate, VersionSelector, check_stage_change,
    promotion_changes,
};
