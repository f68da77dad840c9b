//! Compilation and validation: raw shapes become the typed model, with every rule the ASL
//! specification states checked up front and named by state and field.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::raw::{RawMachine, RawState};
use super::*;
use crate::choice::parse_timestamp;
use crate::error::names;

struct Ctx<'a> {
    state: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidState {
            state: self.state.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Pulls the field name out of a serde message such as "unknown field `Foo`, expected ...".
fn field_from_serde_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "-".to_string())
}

fn check_query_language(ctx: &Ctx<'_>, language: &Option<String>) -> Result<(), DefinitionError> {
    match language.as_deref() {
        None | Some("JSONPath") => Ok(()),
        Some("JSONata") => Err(DefinitionError::Unsupported(format!(
            "state '{}' uses QueryLanguage JSONata; only JSONPath is implemented",
            ctx.state
        ))),
        Some(other) => Err(ctx.err("QueryLanguage", format!("unknown query language '{other}'"))),
    }
}

fn transition(
    ctx: &Ctx<'_>,
    next: Option<String>,
    end: Option<bool>,
) -> Result<Transition, DefinitionError> {
    match (next, end) {
        (Some(next), None | Some(false)) => Ok(Transition::Next(next)),
        (None, Some(true)) => Ok(Transition::End),
        (Some(_), Some(true)) => Err(ctx.err("Next", "a state cannot have both Next and End")),
        (None, _) => Err(ctx.err("Next", "a non-terminal state needs Next or \"End\": true")),
    }
}

fn check_result_path(ctx: &Ctx<'_>, field: &str, path: &PathField) -> Result<(), DefinitionError> {
    if let PathField::Path(p) = path
        && !p.is_reference_path()
    {
        return Err(ctx.err(
            field,
            format!("'{p}' must be a reference path (definite, rooted at '$')"),
        ));
    }
    Ok(())
}

fn check_error_equals(
    ctx: &Ctx<'_>,
    field: &str,
    lists: &[&[String]],
) -> Result<(), DefinitionError> {
    let count = lists.len();
    for (i, list) in lists.iter().enumerate() {
        if list.is_empty() {
            return Err(ctx.err(field, "ErrorEquals must not be empty"));
        }
        if list.iter().any(|e| e == names::ALL) {
            if list.len() != 1 {
                return Err(ctx.err(
                    field,
                    "States.ALL must appear alone in its ErrorEquals array",
                ));
            }
            if i + 1 != count {
                return Err(ctx.err(field, "the entry with States.ALL must be the last one"));
            }
        }
    }
    Ok(())
}

fn error_handling(
    ctx: &Ctx<'_>,
    retry: Vec<Retrier>,
    catch: Vec<Catcher>,
) -> Result<ErrorHandling, DefinitionError> {
    let retry_lists: Vec<&[String]> = retry.iter().map(|r| r.error_equals.as_slice()).collect();
    check_error_equals(ctx, "Retry", &retry_lists)?;
    for retrier in &retry {
        if retrier.interval_seconds < 1.0 || retrier.interval_seconds.fract() != 0.0 {
            return Err(ctx.err("Retry", "IntervalSeconds must be a positive integer"));
        }
        if retrier.backoff_rate < 1.0 {
            return Err(ctx.err("Retry", "BackoffRate must be at least 1.0"));
        }
        if retrier.max_delay_seconds.is_some_and(|d| d < 1.0) {
            return Err(ctx.err("Retry", "MaxDelaySeconds must be at least 1"));
        }
    }
    let catch_lists: Vec<&[String]> = catch.iter().map(|c| c.error_equals.as_slice()).collect();
    check_error_equals(ctx, "Catch", &catch_lists)?;
    for catcher in &catch {
        check_result_path(ctx, "Catch.ResultPath", &catcher.result_path)?;
    }
    Ok(ErrorHandling { retry, catch })
}

fn number_or_path(
    ctx: &Ctx<'_>,
    field: &str,
    number: Option<f64>,
    path: Option<JsonPath>,
) -> Result<Option<NumberOrPath>, DefinitionError> {
    match (number, path) {
        (Some(_), Some(_)) => Err(ctx.err(field, format!("{field} and {field}Path are exclusive"))),
        (Some(n), None) if n < 0.0 => Err(ctx.err(field, "must not be negative")),
        (Some(n), None) => Ok(Some(NumberOrPath::Number(n))),
        (None, Some(p)) => Ok(Some(NumberOrPath::Path(p))),
        (None, None) => Ok(None),
    }
}

impl StateMachine {
    pub(super) fn compile(value: &Value, scope: &str) -> Result<Self, DefinitionError> {
        let raw: RawMachine = serde_json::from_value(value.clone()).map_err(|e| {
            DefinitionError::Malformed(if scope.is_empty() {
                e.to_string()
            } else {
                format!("in {scope}: {e}")
            })
        })?;
        if let Some("JSONata") = raw.query_language.as_deref() {
            return Err(DefinitionError::Unsupported(
                "QueryLanguage JSONata; only JSONPath is implemented".into(),
            ));
        }
        let _ = (raw.comment, raw.version, raw.processor_config);
        if raw.states.is_empty() {
            return Err(DefinitionError::Malformed(format!(
                "{}States must not be empty",
                if scope.is_empty() {
                    String::new()
                } else {
                    format!("in {scope}: ")
                }
            )));
        }
        let mut states = BTreeMap::new();
        for (name, state_value) in &raw.states {
            states.insert(name.clone(), compile_state(name, state_value)?);
        }
        let machine = StateMachine {
            start_at: raw.start_at,
            states,
            timeout_seconds: raw.timeout_seconds,
        };
        machine.check_targets(scope)?;
        Ok(machine)
    }

    fn check_targets(&self, scope: &str) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(DefinitionError::UnknownTarget {
                state: if scope.is_empty() {
                    "(top level)".into()
                } else {
                    scope.to_string()
                },
                field: "StartAt".into(),
                target: self.start_at.clone(),
            });
        }
        for (name, state) in &self.states {
            let mut targets: Vec<(&str, &str)> = Vec::new();
            let transition = match &state.kind {
                StateKind::Task(t) => Some(&t.transition),
                StateKind::Pass(p) => Some(&p.transition),
                StateKind::Wait(w) => Some(&w.transition),
                StateKind::Map(m) => Some(&m.transition),
                StateKind::Parallel(p) => Some(&p.transition),
                _ => None,
            };
            if let Some(Transition::Next(next)) = transition {
                targets.push(("Next", next));
            }
            let errors = match &state.kind {
                StateKind::Task(t) => Some(&t.errors),
                StateKind::Map(m) => Some(&m.errors),
                StateKind::Parallel(p) => Some(&p.errors),
                _ => None,
            };
            if let Some(errors) = errors {
                for catcher in &errors.catch {
                    targets.push(("Catch.Next", &catcher.next));
                }
            }
            if let StateKind::Choice(choice) = &state.kind {
                for rule in &choice.choices {
                    targets.push(("Choices.Next", &rule.next));
                }
                if let Some(default) = &choice.default {
                    targets.push(("Default", default));
                }
            }
            for (field, target) in targets {
                if !self.states.contains_key(target) {
                    return Err(DefinitionError::UnknownTarget {
                        state: name.clone(),
                        field: field.into(),
                        target: target.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn compile_state(name: &str, value: &Value) -> Result<State, DefinitionError> {
    let ctx = Ctx { state: name };
    let raw: RawState = serde_json::from_value(value.clone()).map_err(|e| {
        let message = e.to_string();
        ctx.err(&field_from_serde_message(&message), message)
    })?;
    let kind = match raw {
        RawState::Task(t) => {
            check_query_language(&ctx, &t.query_language)?;
            let _ = (t.comment, t.credentials);
            if t.heartbeat_seconds.is_some() || t.heartbeat_seconds_path.is_some() {
                tracing::debug!(
                    state = name,
                    "HeartbeatSeconds is accepted but not enforced"
                );
            }
            if t.timeout_seconds.is_some() && t.timeout_seconds_path.is_some() {
                return Err(ctx.err(
                    "TimeoutSeconds",
                    "TimeoutSeconds and TimeoutSecondsPath are exclusive",
                ));
            }
            if t.timeout_seconds == Some(0) {
                return Err(ctx.err("TimeoutSeconds", "must be a positive integer"));
            }
            check_result_path(&ctx, "ResultPath", &t.result_path)?;
            if t.resource.is_empty() {
                return Err(ctx.err("Resource", "must not be empty"));
            }
            StateKind::Task(Box::new(TaskState {
                resource: t.resource,
                parameters: t.parameters,
                result_selector: t.result_selector,
                input_path: t.input_path,
                output_path: t.output_path,
                result_path: t.result_path,
                timeout_seconds: t.timeout_seconds,
                timeout_seconds_path: t.timeout_seconds_path,
                errors: error_handling(&ctx, t.retry, t.catch)?,
                transition: transition(&ctx, t.next, t.end)?,
            }))
        }
        RawState::Pass(p) => {
            check_query_language(&ctx, &p.query_language)?;
            let _ = p.comment;
            check_result_path(&ctx, "ResultPath", &p.result_path)?;
            StateKind::Pass(PassState {
                parameters: p.parameters,
                result: p.result,
                input_path: p.input_path,
                output_path: p.output_path,
                result_path: p.result_path,
                transition: transition(&ctx, p.next, p.end)?,
            })
        }
        RawState::Choice(c) => {
            check_query_language(&ctx, &c.query_language)?;
            let _ = c.comment;
            if c.choices.is_empty() {
                return Err(ctx.err("Choices", "must contain at least one rule"));
            }
            StateKind::Choice(ChoiceState {
                choices: c.choices,
                default: c.default,
                input_path: c.input_path,
                output_path: c.output_path,
            })
        }
        RawState::Wait(w) => {
            check_query_language(&ctx, &w.query_language)?;
            let _ = w.comment;
            let mut options = Vec::new();
            if let Some(s) = w.seconds {
                options.push(WaitFor::Seconds(s));
            }
            if let Some(p) = w.seconds_path {
                if !p.is_reference_path() {
                    return Err(ctx.err("SecondsPath", "must be a reference path"));
                }
                options.push(WaitFor::SecondsPath(p));
            }
            if let Some(t) = w.timestamp {
                if parse_timestamp(&t).is_none() {
                    return Err(ctx.err("Timestamp", format!("'{t}' is not an RFC 3339 timestamp")));
                }
                options.push(WaitFor::Timestamp(t));
            }
            if let Some(p) = w.timestamp_path {
                if !p.is_reference_path() {
                    return Err(ctx.err("TimestampPath", "must be a reference path"));
                }
                options.push(WaitFor::TimestampPath(p));
            }
            if options.len() != 1 {
                return Err(ctx.err(
                    "Seconds",
                    "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required",
                ));
            }
            StateKind::Wait(WaitState {
                wait: options.remove(0),
                input_path: w.input_path,
                output_path: w.output_path,
                transition: transition(&ctx, w.next, w.end)?,
            })
        }
        RawState::Succeed(s) => {
            check_query_language(&ctx, &s.query_language)?;
            let _ = s.comment;
            StateKind::Succeed(SucceedState {
                input_path: s.input_path,
                output_path: s.output_path,
            })
        }
        RawState::Fail(f) => {
            check_query_language(&ctx, &f.query_language)?;
            let _ = f.comment;
            let error = match (f.error, f.error_path) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err("Error", "Error and ErrorPath are exclusive"));
                }
                (Some(e), None) => Some(FailText::Fixed(e)),
                (None, Some(p)) => Some(FailText::Computed(p)),
                (None, None) => None,
            };
            let cause = match (f.cause, f.cause_path) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err("Cause", "Cause and CausePath are exclusive"));
                }
                (Some(c), None) => Some(FailText::Fixed(c)),
                (None, Some(p)) => Some(FailText::Computed(p)),
                (None, None) => None,
            };
            StateKind::Fail(FailState { error, cause })
        }
        RawState::Map(m) => {
            check_query_language(&ctx, &m.query_language)?;
            let _ = (m.comment, m.label);
            if m.item_reader.is_some() || m.item_batcher.is_some() || m.result_writer.is_some() {
                return Err(DefinitionError::Unsupported(format!(
                    "state '{name}': ItemReader, ItemBatcher and ResultWriter (Distributed Map over S3) are not implemented"
                )));
            }
            let item_selector = match (m.item_selector, m.parameters) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        "ItemSelector",
                        "ItemSelector and the legacy Parameters are exclusive",
                    ));
                }
                (selector, legacy) => selector.or(legacy),
            };
            let processor_value = match (m.item_processor, m.iterator) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        "ItemProcessor",
                        "ItemProcessor and the legacy Iterator are exclusive",
                    ));
                }
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => {
                    return Err(ctx.err("ItemProcessor", "a Map state needs ItemProcessor"));
                }
            };
            let processor = StateMachine::compile(&processor_value, &format!("Map '{name}'"))?;
            check_result_path(&ctx, "ResultPath", &m.result_path)?;
            StateKind::Map(Box::new(MapState {
                items_path: m.items_path,
                item_selector,
                processor: Arc::new(processor),
                max_concurrency: number_or_path(
                    &ctx,
                    "MaxConcurrency",
                    m.max_concurrency,
                    m.max_concurrency_path,
                )?,
                tolerated_failure_count: number_or_path(
                    &ctx,
                    "ToleratedFailureCount",
                    m.tolerated_failure_count,
                    m.tolerated_failure_count_path,
                )?,
                tolerated_failure_percentage: number_or_path(
                    &ctx,
                    "ToleratedFailurePercentage",
                    m.tolerated_failure_percentage,
                    m.tolerated_failure_percentage_path,
                )?,
                result_selector: m.result_selector,
                input_path: m.input_path,
                output_path: m.output_path,
                result_path: m.result_path,
                errors: error_handling(&ctx, m.retry, m.catch)?,
                transition: transition(&ctx, m.next, m.end)?,
            }))
        }
        RawState::Parallel(p) => {
            check_query_language(&ctx, &p.query_language)?;
            let _ = p.comment;
            if p.branches.is_empty() {
                return Err(ctx.err("Branches", "must contain at least one branch"));
            }
            let mut branches = Vec::with_capacity(p.branches.len());
            for (i, branch) in p.branches.iter().enumerate() {
                branches.push(Arc::new(StateMachine::compile(
                    branch,
                    &format!("Parallel '{name}' branch {i}"),
                )?));
            }
            check_result_path(&ctx, "ResultPath", &p.result_path)?;
            StateKind::Parallel(ParallelState {
                branches,
                parameters: p.parameters,
                result_selector: p.result_selector,
                input_path: p.input_path,
                output_path: p.output_path,
                result_path: p.result_path,
                errors: error_handling(&ctx, p.retry, p.catch)?,
                transition: transition(&ctx, p.next, p.end)?,
            })
        }
    };
    Ok(State {
        name: name.to_string(),
        kind,
    })
}
