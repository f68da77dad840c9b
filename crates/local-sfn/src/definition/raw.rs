//! The JSON shapes of states as serde reads them, before validation: every field ASL allows
//! (unknown ones are refused), including those the engine accepts and ignores.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{Catcher, Dynamic, PathField, Retrier, Template};
use crate::choice::ChoiceRule;
use crate::jsonpath::JsonPath;

fn some_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawMachine {
    pub(super) start_at: String,
    pub(super) states: Map<String, Value>,
    #[serde(default)]
    pub(super) timeout_seconds: Option<u64>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) version: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
    #[serde(default)]
    pub(super) processor_config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "Type")]
#[allow(clippy::large_enum_variant)] // parsed once per state and immediately compiled
pub(super) enum RawState {
    Task(RawTask),
    Pass(RawPass),
    Choice(RawChoice),
    Wait(RawWait),
    Succeed(RawSucceed),
    Fail(RawFail),
    Map(RawMap),
    Parallel(RawParallel),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawTask {
    pub(super) resource: String,
    #[serde(default)]
    pub(super) parameters: Option<Template>,
    #[serde(default)]
    pub(super) result_selector: Option<Template>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) result_path: PathField,
    #[serde(default)]
    pub(super) timeout_seconds: Option<u64>,
    #[serde(default)]
    pub(super) timeout_seconds_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) heartbeat_seconds: Option<u64>,
    #[serde(default)]
    pub(super) heartbeat_seconds_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) credentials: Option<Value>,
    #[serde(default)]
    pub(super) retry: Vec<Retrier>,
    #[serde(default)]
    pub(super) catch: Vec<Catcher>,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawPass {
    #[serde(default)]
    pub(super) parameters: Option<Template>,
    #[serde(default, deserialize_with = "some_value")]
    pub(super) result: Option<Value>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) result_path: PathField,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawChoice {
    pub(super) choices: Vec<ChoiceRule>,
    #[serde(default)]
    pub(super) default: Option<String>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawWait {
    #[serde(default)]
    pub(super) seconds: Option<u64>,
    #[serde(default)]
    pub(super) seconds_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) timestamp: Option<String>,
    #[serde(default)]
    pub(super) timestamp_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawSucceed {
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawFail {
    #[serde(default)]
    pub(super) error: Option<String>,
    #[serde(default)]
    pub(super) error_path: Option<Dynamic>,
    #[serde(default)]
    pub(super) cause: Option<String>,
    #[serde(default)]
    pub(super) cause_path: Option<Dynamic>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawMap {
    #[serde(default)]
    pub(super) items_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) item_selector: Option<Template>,
    #[serde(default)]
    pub(super) parameters: Option<Template>,
    #[serde(default)]
    pub(super) item_processor: Option<Value>,
    #[serde(default)]
    pub(super) iterator: Option<Value>,
    #[serde(default)]
    pub(super) max_concurrency: Option<f64>,
    #[serde(default)]
    pub(super) max_concurrency_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) tolerated_failure_count: Option<f64>,
    #[serde(default)]
    pub(super) tolerated_failure_count_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) tolerated_failure_percentage: Option<f64>,
    #[serde(default)]
    pub(super) tolerated_failure_percentage_path: Option<JsonPath>,
    #[serde(default)]
    pub(super) result_selector: Option<Template>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) result_path: PathField,
    #[serde(default)]
    pub(super) retry: Vec<Retrier>,
    #[serde(default)]
    pub(super) catch: Vec<Catcher>,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) label: Option<String>,
    #[serde(default)]
    pub(super) item_reader: Option<Value>,
    #[serde(default)]
    pub(super) item_batcher: Option<Value>,
    #[serde(default)]
    pub(super) result_writer: Option<Value>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawParallel {
    pub(super) branches: Vec<Value>,
    #[serde(default)]
    pub(super) parameters: Option<Template>,
    #[serde(default)]
    pub(super) result_selector: Option<Template>,
    #[serde(default)]
    pub(super) input_path: PathField,
    #[serde(default)]
    pub(super) output_path: PathField,
    #[serde(default)]
    pub(super) result_path: PathField,
    #[serde(default)]
    pub(super) retry: Vec<Retrier>,
    #[serde(default)]
    pub(super) catch: Vec<Catcher>,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) comment: Option<String>,
    #[serde(default)]
    pub(super) query_language: Option<String>,
}
