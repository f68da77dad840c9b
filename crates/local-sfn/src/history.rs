//! Execution history in the shape `GetExecutionHistory` reports, so tooling and assertions
//! written against AWS histories read local ones too.

use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// One history event: `timestamp`, `type`, `id`, `previousEventId` and one `*EventDetails`
/// object named after the event type, as Step Functions reports them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// When the event happened, on the engine's clock.
    #[serde(serialize_with = "serialize_time")]
    pub timestamp: DateTime<Utc>,
    /// The event type, e.g. `TaskStateEntered`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1-based sequence number.
    pub id: u64,
    /// The event this one follows on the same path of execution (0 for the first).
    pub previous_event_id: u64,
    /// The `*EventDetails` member(s).
    #[serde(flatten)]
    pub details: Map<String, Value>,
    /// Whether the event belongs to a Map iteration or Parallel branch rather than the
    /// top-level machine; lets [`crate::ExecutionResult::states_path`] ignore nested states.
    #[serde(skip)]
    pub nested: bool,
}

impl HistoryEvent {
    /// The `name` inside `stateEnteredEventDetails`, for `*StateEntered` events.
    pub fn entered_state_name(&self) -> Option<&str> {
        if !self.event_type.ends_with("StateEntered") {
            return None;
        }
        self.details
            .get("stateEnteredEventDetails")?
            .get("name")?
            .as_str()
    }
}

fn serialize_time<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Where one path of execution (the top level, a Map iteration, a Parallel branch) is in the
/// history, so `previousEventId` chains stay per path even when paths run concurrently.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Track {
    pub last: u64,
    pub nested: bool,
}

/// How much of each event an execution keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HistoryDetail {
    /// Every event with its details, states' inputs and outputs included, as
    /// `GetExecutionHistory` reports them.
    #[default]
    Full,
    /// Every event, but of the details only what says where the execution went and why it
    /// failed: the name of each state entered and the error and cause of failure events. A
    /// fleet of thousands of executions in one process otherwise holds every state's whole
    /// input and output until each execution ends; [`crate::ExecutionResult::states_path`]
    /// reads the same from either.
    StatesOnly,
}

/// The append-only event log of one execution.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: Mutex<Vec<HistoryEvent>>,
    detail: HistoryDetail,
}

impl History {
    /// An empty log keeping `detail` of each event.
    pub fn new(detail: HistoryDetail) -> Self {
        Self {
            events: Mutex::default(),
            detail,
        }
    }

    /// Whether events keep their states' inputs and outputs; callers skip rendering them
    /// otherwise.
    pub fn keeps_payloads(&self) -> bool {
        self.detail == HistoryDetail::Full
    }

    pub fn record(
        &self,
        track: &mut Track,
        timestamp: DateTime<Utc>,
        event_type: impl Into<String>,
        details: Option<(&str, Value)>,
    ) -> u64 {
        let Ok(mut events) = self.events.lock() else {
            return track.last;
        };
        let id = events.len() as u64 + 1;
        let event_type = event_type.into();
        let mut map = Map::new();
        if let Some((key, value)) = details
            && let Some(kept) = self.kept_details(&event_type, value)
        {
            map.insert(key.to_string(), kept);
        }
        events.push(HistoryEvent {
            timestamp,
            event_type,
            id,
            previous_event_id: track.last,
            details: map,
            nested: track.nested,
        });
        track.last = id;
        id
    }

    /// What of an event's details this log keeps: all of them, or under
    /// [`HistoryDetail::StatesOnly`] the entered state's name and a failure's error and cause.
    fn kept_details(&self, event_type: &str, details: Value) -> Option<Value> {
        if self.detail == HistoryDetail::Full {
            return Some(details);
        }
        let Value::Object(mut fields) = details else {
            return None;
        };
        let keep: &[&str] = if event_type.ends_with("StateEntered") {
            &["name"]
        } else if event_type.ends_with("Failed") || event_type.ends_with("TimedOut") {
            &["error", "cause"]
        } else {
            return None;
        };
        fields.retain(|field, _| keep.contains(&field.as_str()));
        Some(Value::Object(fields))
    }

    /// How many events were recorded, without copying them.
    pub fn len(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or_default()
    }

    /// Hands the events over once the execution has ended, instead of copying them: every
    /// event carries its state's whole input or output as text, so a copy per execution is a
    /// large part of what a fleet run allocates. Anything recorded later (a branch still
    /// unwinding after a timeout) starts a fresh, unreported log.
    pub fn take(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .map(|mut events| std::mem::take(&mut *events))
            .unwrap_or_default()
    }
}
