//! `keyshift asl test`: run a definition with mocked task results, so users can test their own
//! edits of the ASL (Retry, Catch, Choice, Map…) without deploying anything.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use local_sfn::{Engine, MockTestCase, RecordingQueue, VirtualClock};
use serde::Serialize;
use serde_json::Value;

use crate::asl::{LOCAL_DLQ_URL, local_template_values, render_template};
use crate::exit::{CliError, read_text};
use keyshift_local::LocalEventQueue;

/// The state machine name used when the mock file has several and none is given.
pub const DEFAULT_STATE_MACHINE: &str = "RotateWorkspace";

/// What `keyshift asl test` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AslTestReport {
    /// The test case run.
    pub case: String,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// Output on success.
    pub output: Option<Value>,
    /// Error name on failure.
    pub error: Option<String>,
    /// Cause on failure.
    pub cause: Option<String>,
    /// Top-level states entered, in order.
    pub states_path: Vec<String>,
    /// Every state entered at any depth (Map iterations included), in history order.
    pub all_states_entered: Vec<String>,
    /// Bodies of `sqs:sendMessage` calls that no mock answered (parsed when JSON).
    pub queue_messages: Vec<Value>,
    /// Events the definition's `events:putEvents` states published, as a rule's target
    /// would receive them.
    pub events: Vec<Value>,
}

/// Runs test case `case` of `state_machine` in `mock_config` on `definition`; Waits and retries
/// run on a virtual clock, so week-long waits finish at once. `sqs:sendMessage` states that are
/// not mocked are delivered to an in-process queue whose messages the report lists.
pub async fn run_case(
    definition: &Value,
    input: Value,
    mock_config: &Value,
    state_machine: &str,
    case: &str,
) -> Result<AslTestReport, CliError> {
    let test_case = MockTestCase::from_config(mock_config, state_machine, case)
        .map_err(|error| CliError::invalid_file("--mocks", error.to_string()))?;
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut engine = Engine::from_value(definition)
        .map_err(|error| CliError::invalid_file("definition", error.to_string()))?
        .with_clock(Arc::new(VirtualClock::new(start)));
    let queue = RecordingQueue::new();
    engine.register_queue("*", queue.clone());
    let events = Arc::new(LocalEventQueue::new());
    crate::local::register_event_bus(&mut engine, events.clone());
    let result = test_case.run(engine, &format!("test-{case}"), input).await;
    let queue_messages = queue
        .messages()
        .into_iter()
        .map(|message| serde_json::from_str(&message.body).unwrap_or(Value::String(message.body)))
        .collect();
    Ok(AslTestReport {
        case: case.to_owned(),
        status: result.status.as_str().to_owned(),
        states_path: result.states_path(),
        all_states_entered: result.all_states_entered(),
        output: result.output,
        error: result.error,
        cause: result.cause,
        queue_messages,
        events: events
            .published()
            .iter()
            .map(LocalEventQueue::envelope)
            .collect(),
    })
}

/// Reads a definition file; keyshift's own Terraform placeholders are rendered with local
/// values so the template runs as is, other text is taken verbatim.
pub fn load_definition(path: &Path) -> Result<Value, CliError> {
    let text = read_text(path)?;
    let rendered = render_template(&text, &local_template_values(LOCAL_DLQ_URL)).unwrap_or(text);
    serde_json::from_str(&rendered).map_err(|error| {
        CliError::invalid_file(path.display().to_string(), format!("not JSON: {error}"))
    })
}

/// Parses `--input`: inline JSON or `@FILE`.
pub fn parse_input(input: &str) -> Result<Value, CliError> {
    let (origin, text) = match input.strip_prefix('@') {
        Some(file) => (file.to_owned(), read_text(Path::new(file))?),
        None => ("--input".to_owned(), input.to_owned()),
    };
    serde_json::from_str(&text)
        .map_err(|error| CliError::invalid_file(origin, format!("not JSON: {error}")))
}

/// Picks the state machine entry: the given one, the only one, or [`DEFAULT_STATE_MACHINE`].
pub fn choose_state_machine(mock_config: &Value, requested: Option<&str>) -> String {
    if let Some(name) = requested {
        return name.to_owned();
    }
    let names: Vec<&String> = mock_config
        .get("StateMachines")
        .and_then(Value::as_object)
        .map(|machines| machines.keys().collect())
        .unwrap_or_default();
    match names.as_slice() {
        [only] => (*only).clone(),
        _ => DEFAULT_STATE_MACHINE.to_owned(),
    }
}
