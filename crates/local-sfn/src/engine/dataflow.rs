//! Dataflow between states: InputPath, Parameters and the other templates, ResultPath and
//! OutputPath, as the ASL specification orders them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::definition::{Dynamic, NumberOrPath, PathField, Template, Transition};
use crate::error::Failure;
use crate::intrinsics;
use crate::jsonpath::{JsonPath, Root};

/// Sets `key` on an object value (no-op on anything else, which cannot happen for the objects
/// the engine builds itself).
pub(super) fn set_member(target: &mut Value, key: &str, value: Value) {
    if let Some(object) = target.as_object_mut() {
        object.insert(key.to_string(), value);
    }
}

pub(super) fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn to_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) fn resolve_input(
    path: &PathField,
    input: &Value,
    context: &Value,
) -> Result<Value, Failure> {
    match path {
        PathField::Default => Ok(input.clone()),
        PathField::Null => Ok(json!({})),
        PathField::Path(p) => evaluate_path(p, input, context),
    }
}

pub(super) fn evaluate_path(
    path: &JsonPath,
    input: &Value,
    context: &Value,
) -> Result<Value, Failure> {
    let doc = match path.root() {
        Root::Input => input,
        Root::Context => context,
    };
    evaluate_on(path, doc)
}

/// `path` applied to `doc` as given, whatever its root; a path that does not match is a
/// `States.Runtime` failure naming it.
pub(super) fn evaluate_on(path: &JsonPath, doc: &Value) -> Result<Value, Failure> {
    path.evaluate(doc)
        .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))
}

/// The tail every result-producing state shares: ResultSelector on the raw result, ResultPath
/// into the state input, then OutputPath.
pub(super) fn shape_result(
    selector: Option<&Template>,
    result_path: &PathField,
    output_path: &PathField,
    input: &Value,
    result: Value,
    context: &Value,
) -> Result<Value, Failure> {
    let selected = match selector {
        Some(template) => render(template, &result, context)?,
        None => result,
    };
    let output = apply_result_path(result_path, input, selected)?;
    resolve_input(output_path, &output, context)
}

pub(super) fn apply_result_path(
    path: &PathField,
    input: &Value,
    result: Value,
) -> Result<Value, Failure> {
    match path {
        PathField::Default => Ok(result),
        PathField::Null => Ok(input.clone()),
        PathField::Path(p) => p
            .write(input.clone(), result)
            .map_err(|e| Failure::runtime(e.to_string())),
    }
}

/// Fills a Parameters/ItemSelector/ResultSelector template.
pub(super) fn render(
    template: &Template,
    input: &Value,
    context: &Value,
) -> Result<Value, Failure> {
    match template {
        Template::Literal(v) => Ok(v.clone()),
        Template::Array(items) => items
            .iter()
            .map(|t| render(t, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Template::Object(members) => {
            let mut out = serde_json::Map::new();
            for (key, member) in members {
                out.insert(key.clone(), render(member, input, context)?);
            }
            Ok(Value::Object(out))
        }
        Template::Dynamic(dynamic) => evaluate_dynamic(dynamic, input, context),
    }
}

pub(super) fn evaluate_dynamic(
    dynamic: &Dynamic,
    input: &Value,
    context: &Value,
) -> Result<Value, Failure> {
    match dynamic {
        Dynamic::Path(p) => evaluate_path(p, input, context),
        Dynamic::Intrinsic(expr) => intrinsics::evaluate(expr, input, context),
    }
}

pub(super) fn transition_target(transition: &Transition) -> Option<String> {
    match transition {
        Transition::Next(next) => Some(next.clone()),
        Transition::End => None,
    }
}
pub(super) fn resolve_number(
    spec: &NumberOrPath,
    input: &Value,
    what: &str,
) -> Result<f64, Failure> {
    match spec {
        NumberOrPath::Number(n) => Ok(*n),
        NumberOrPath::Path(path) => evaluate_on(path, input)?
            .as_f64()
            .filter(|v| *v >= 0.0)
            .ok_or_else(|| Failure::runtime(format!("{what} must be a non-negative number"))),
    }
}
