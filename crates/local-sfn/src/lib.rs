//! An in-process Amazon States Language engine.
//!
//! A workflow defined in ASL runs on AWS Step Functions; this crate runs the same JSON locally
//! so plans, demos and tests exercise the real control flow (Retry, Catch, Map, Wait…) without
//! an AWS account. It is generic: callers register task handlers; nothing here knows what the
//! tasks do.

#![warn(missing_docs)]

pub mod choice;
pub mod clock;
pub mod definition;
pub mod error;
pub mod intrinsics;
pub mod jsonpath;
pub mod mock;

pub use clock::{Clock, FleetClock, Participation, RealClock, VirtualClock};
pub use definition::StateMachine;
pub use error::{DefinitionError, Failure, TaskError};
pub mod engine;
pub mod handlers;
pub mod history;

pub use engine::{
    AbortHandle, Engine, EngineIdentity, ExecutionResult, ExecutionStatus, StartOptions,
};
pub use handlers::{QueueHandler, QueueMessage, RecordingQueue, TaskContext, TaskHandler};
pub use history::{HistoryDetail, HistoryEvent};
pub use mock::{MockError, MockTestCase, MockedResponse};
