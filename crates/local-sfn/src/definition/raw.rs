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

/// Declares the raw shape of one state type: its own fields, then the field groups it shares
/// with other types (named in brackets, in that order), then `Comment` and `QueryLanguage`,
/// which every state allows. Missing `Option` fields are `None` without `#[serde(default)]`.
///
/// The groups: `paths` (InputPath, OutputPath), `result` (ResultPath), `recover` (Retry,
/// Catch) and `transition` (Next, End).
macro_rules! raw_state {
    ($name:ident [$($group:ident),*] { $($own:tt)* }) => {
        raw_state!(@group $name [$($group),*] [$($own)*]);
    };
    (@group $name:ident [paths $(, $rest:ident)*] [$($fields:tt)*]) => {
        raw_state!(@group $name [$($rest),*] [$($fields)*
            #[serde(default)]
            pub(super) input_path: PathField,
            #[serde(default)]
            pub(super) output_path: PathField,
        ]);
    };
    (@group $name:ident [result $(, $rest:ident)*] [$($fields:tt)*]) => {
        raw_state!(@group $name [$($rest),*] [$($fields)*
            #[serde(default)]
            pub(super) result_path: PathField,
        ]);
    };
    (@group $name:ident [recover $(, $rest:ident)*] [$($fields:tt)*]) => {
        raw_state!(@group $name [$($rest),*] [$($fields)*
            #[serde(default)]
            pub(super) retry: Vec<Retrier>,
            #[serde(default)]
            pub(super) catch: Vec<Catcher>,
        ]);
    };
    (@group $name:ident [transition $(, $rest:ident)*] [$($fields:tt)*]) => {
        raw_state!(@group $name [$($rest),*] [$($fields)*
            pub(super) next: Option<String>,
            pub(super) end: Option<bool>,
        ]);
    };
    (@group $name:ident [] [$($fields:tt)*]) => {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        pub(super) struct $name {
            $($fields)*
            pub(super) comment: Option<String>,
            pub(super) query_language: Option<String>,
        }
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RawMachine {
    pub(super) start_at: String,
    pub(super) states: Map<String, Value>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) comment: Option<String>,
    pub(super) version: Option<String>,
    pub(super) query_language: Option<String>,
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

raw_state!(RawTask [paths, result, recover, transition] {
    pub(super) resource: String,
    pub(super) parameters: Option<Template>,
    pub(super) result_selector: Option<Template>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) timeout_seconds_path: Option<JsonPath>,
    pub(super) heartbeat_seconds: Option<u64>,
    pub(super) heartbeat_seconds_path: Option<JsonPath>,
    pub(super) credentials: Option<Value>,
});

raw_state!(RawPass [paths, result, transition] {
    pub(super) parameters: Option<Template>,
    #[serde(default, deserialize_with = "some_value")]
    pub(super) result: Option<Value>,
});

raw_state!(RawChoice [paths] {
    pub(super) choices: Vec<ChoiceRule>,
    pub(super) default: Option<String>,
});

raw_state!(RawWait [paths, transition] {
    pub(super) seconds: Option<u64>,
    pub(super) seconds_path: Option<JsonPath>,
    pub(super) timestamp: Option<String>,
    pub(super) timestamp_path: Option<JsonPath>,
});

raw_state!(RawFail [] {
    pub(super) error: Option<String>,
    pub(super) error_path: Option<Dynamic>,
    pub(super) cause: Option<String>,
    pub(super) cause_path: Option<Dynamic>,
});

raw_state!(RawSucceed [paths] {});

raw_state!(RawMap [paths, result, recover, transition] {
    pub(super) items_path: Option<JsonPath>,
    pub(super) item_selector: Option<Template>,
    pub(super) parameters: Option<Template>,
    pub(super) item_processor: Option<Value>,
    pub(super) iterator: Option<Value>,
    pub(super) max_concurrency: Option<f64>,
    pub(super) max_concurrency_path: Option<JsonPath>,
    pub(super) tolerated_failure_count: Option<f64>,
    pub(super) tolerated_failure_count_path: Option<JsonPath>,
    pub(super) tolerated_failure_percentage: Option<f64>,
    pub(super) tolerated_failure_percentage_path: Option<JsonPath>,
    pub(super) result_selector: Option<Template>,
    pub(super) label: Option<String>,
    pub(super) item_reader: Option<Value>,
    pub(super) item_batcher: Option<Value>,
    pub(super) result_writer: Option<Value>,
});

raw_state!(RawParallel [paths, result, recover, transition] {
    pub(super) branches: Vec<Value>,
    pub(super) parameters: Option<Template>,
    pub(super) result_selector: Option<Template>,
});
