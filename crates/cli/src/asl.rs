//! The state machine definition as keyshift ships it, and the rules it must follow.
//!
//! `statemachine/rotate-workspace.asl.json` is a Terraform `templatefile`: Lambda ARNs, the
//! DLQ URL and the event bus are `${...}` placeholders. Locally the CLI renders the same placeholders with local
//! names, so AWS and local runs execute one and the same orchestration.

use std::collections::BTreeMap;

use keyshift_core::KeyshiftError;
use serde_json::Value;

/// The shipped definition, embedded so `keyshift demo` works from any directory.
pub const ROTATE_WORKSPACE_ASL: &str =
    include_str!("../../../statemachine/rotate-workspace.asl.json");

/// The Lambda-invoke resource every keyshift step uses.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// The SQS integration the DLQ states use.
pub const SQS_SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";
/// The EventBridge integration the failure path publishes `Rotation Failed` with.
pub const EVENTS_PUT_EVENTS: &str = "arn:aws:states:::events:putEvents";
/// Placeholder of the dead-letter queue URL.
pub const DLQ_URL_PLACEHOLDER: &str = "dlq_url";
/// Placeholder of the event bus (empty: the deployment publishes no events).
pub const EVENT_BUS_PLACEHOLDER: &str = "event_bus_name";
/// The bus local runs render into the definition (the in-process event queue).
pub const LOCAL_EVENT_BUS: &str = "keyshift-local";
/// The queue URL local runs render into the definition (the in-process DLQ).
pub const LOCAL_DLQ_URL: &str = "local://keyshift-dlq";
/// Account and region of the synthetic ARNs local runs render (never called).
const LOCAL_ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

/// The six step Lambdas, each named by its templatefile placeholder, so local handlers and
/// structural checks know which Rust type a Task's payload must build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// discover-keys.
    DiscoverKeys,
    /// create-sa.
    CreateSa,
    /// mint-token.
    MintToken,
    /// store-secret (stage and promote).
    StoreSecret,
    /// verify.
    Verify,
    /// revoke-old (credential and workspace scope).
    RevokeOld,
}

impl Step {
    /// Every step, in flow order.
    pub const ALL: [Step; 6] = [
        Step::DiscoverKeys,
        Step::CreateSa,
        Step::MintToken,
        Step::StoreSecret,
        Step::Verify,
        Step::RevokeOld,
    ];

    /// The Terraform templatefile variable holding the function's ARN.
    pub fn placeholder(self) -> &'static str {
        match self {
            Step::DiscoverKeys => "discover_keys_arn",
            Step::CreateSa => "create_sa_arn",
            Step::MintToken => "mint_token_arn",
            Step::StoreSecret => "store_secret_arn",
            Step::Verify => "verify_arn",
            Step::RevokeOld => "revoke_old_arn",
        }
    }

    /// The function name local runs register the in-process step under (also the binary's
    /// crate name).
    pub fn local_function_name(self) -> &'static str {
        match self {
            Step::DiscoverKeys => "keyshift-discover-keys",
            Step::CreateSa => "keyshift-create-sa",
            Step::MintToken => "keyshift-mint-token",
            Step::StoreSecret => "keyshift-store-secret",
            Step::Verify => "keyshift-verify",
            Step::RevokeOld => "keyshift-revoke-old",
        }
    }

    /// The step a `FunctionName` refers to, by placeholder, local name or ARN.
    pub fn from_function_name(function_name: &str) -> Option<Step> {
        let bare = function_name.trim_start_matches("${").trim_end_matches('}');
        let short = bare
            .split_once(":function:")
            .map_or(bare, |(_, rest)| rest.split(':').next().unwrap_or(rest));
        Step::ALL
            .into_iter()
            .find(|step| step.placeholder() == bare || step.local_function_name() == short)
    }
}

/// Values for the templatefile placeholders.
pub type TemplateValues = BTreeMap<String, String>;

/// The placeholder values local runs use: synthetic ARNs naming the in-process steps, the
/// given DLQ URL and the local event bus.
pub fn local_template_values(dlq_url: &str) -> TemplateValues {
    let mut values: TemplateValues = Step::ALL
        .into_iter()
        .map(|step| {
            (
                step.placeholder().to_owned(),
                format!("{LOCAL_ARN_PREFIX}{}", step.local_function_name()),
            )
        })
        .collect();
    values.insert(DLQ_URL_PLACEHOLDER.to_owned(), dlq_url.to_owned());
    values.insert(EVENT_BUS_PLACEHOLDER.to_owned(), LOCAL_EVENT_BUS.to_owned());
    values
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `${name}` has no value.
    #[error("placeholder ${{{0}}} has no value")]
    MissingValue(String),
    /// A `${` is never closed.
    #[error("unterminated placeholder starting at byte {0}")]
    Unterminated(usize),
}

/// Substitutes `${name}` placeholders as Terraform's `templatefile` does (`$${` stays a literal
/// `${`), failing on unknown names so a typo cannot reach a deployed or local run.
pub fn render_template(template: &str, values: &TemplateValues) -> Result<String, TemplateError> {
    let mut rendered = String::with_capacity(template.len());
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        let escaped = start > 0 && rest[..start].ends_with('$');
        let (before, after) = rest.split_at(start);
        if escaped {
            rendered.push_str(&before[..before.len() - 1]);
            rendered.push_str("${");
            rest = &after[2..];
            offset += start + 2;
            continue;
        }
        rendered.push_str(before);
        let Some(end) = after.find('}') else {
            return Err(TemplateError::Unterminated(offset + start));
        };
        let name = &after[2..end];
        let value = values
            .get(name)
            .ok_or_else(|| TemplateError::MissingValue(name.to_owned()))?;
        rendered.push_str(value);
        rest = &after[end + 1..];
        offset += start + end + 1;
    }
    rendered.push_str(rest);
    Ok(rendered)
}

/// The shipped definition rendered for local execution.
pub fn local_definition(dlq_url: &str) -> Result<String, TemplateError> {
    render_template(ROTATE_WORKSPACE_ASL, &local_template_values(dlq_url))
}

/// One finding of [`lint_definition`], located by state path (`Map/Inner`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The state, with enclosing Map/Parallel states before a `/`.
    pub state: String,
    /// What is wrong, in words a person editing the ASL can act on.
    pub message: String,
}

/// Structural rules local-sfn's parser does not enforce and asl-validator does not check:
/// `States.ALL` alone and last, retries only for transient errors, every step Task caught and
/// retried on every transient keyshift error, known error names and function placeholders.
pub fn lint_definition(definition: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    lint_states(definition, "", &mut findings);
    findings
}

fn lint_states(machine: &Value, prefix: &str, findings: &mut Vec<Finding>) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        let path = format!("{prefix}{name}");
        let mut report = |message: String| {
            findings.push(Finding {
                state: path.clone(),
                message,
            })
        };
        for field in ["Retry", "Catch"] {
            if let Some(entries) = state.get(field).and_then(Value::as_array) {
                check_error_equals(field, entries, &mut report);
            }
        }
        let resource = state.get("Resource").and_then(Value::as_str);
        if state.get("Type").and_then(Value::as_str) == Some("Task")
            && resource == Some(LAMBDA_INVOKE)
        {
            check_step_task(state, &mut report);
        }
        for nested in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(nested) {
                lint_states(inner, &format!("{path}/"), findings);
            }
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for (index, branch) in branches.iter().enumerate() {
                lint_states(branch, &format!("{path}[{index}]/"), findings);
            }
        }
    }
}

fn error_names(entry: &Value) -> Vec<&str> {
    entry
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn check_error_equals(field: &str, entries: &[Value], report: &mut impl FnMut(String)) {
    let last = entries.len().saturating_sub(1);
    for (index, entry) in entries.iter().enumerate() {
        let names = error_names(entry);
        if names.contains(&"States.ALL") {
            if names.len() > 1 {
                report(format!(
                    "{field}[{index}]: States.ALL must be alone in ErrorEquals, found {names:?}"
                ));
            }
            if index != last {
                report(format!(
                    "{field}[{index}]: the entry with States.ALL must be the last {field} entry"
                ));
            }
        }
        for name in names {
            let known = name.starts_with("States.")
                || name.starts_with("Lambda.")
                || name.starts_with("SQS.")
                || KeyshiftError::ALL_ASL_NAMES.contains(&name);
            if !known {
                report(format!(
                    "{field}[{index}]: {name:?} is not an error keyshift raises (see KeyshiftError::ALL_ASL_NAMES)"
                ));
            }
        }
    }
}

/// Lambda errors worth retrying besides keyshift's own transient ones.
pub const RETRYABLE_LAMBDA_ERRORS: [&str; 3] = [
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
];

fn check_step_task(state: &Value, report: &mut impl FnMut(String)) {
    let function = state
        .pointer("/Parameters/FunctionName")
        .and_then(Value::as_str);
    match function {
        None => report("a lambda:invoke Task needs Parameters.FunctionName".to_owned()),
        Some(function) if Step::from_function_name(function).is_none() => report(format!(
            "FunctionName {function:?} is none of the step placeholders (${{discover_keys_arn}} …)"
        )),
        Some(_) => {}
    }
    if state.pointer("/Parameters/Payload").is_none()
        && state.pointer("/Parameters/Payload.$").is_none()
    {
        report("Parameters must set Payload (or Payload.$) explicitly".to_owned());
    }
    let retriers: Vec<&Value> = state
        .get("Retry")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().collect())
        .unwrap_or_default();
    let retried: Vec<&str> = retriers
        .iter()
        .flat_map(|entry| error_names(entry))
        .collect();
    for name in &retried {
        let transient = KeyshiftError::RETRYABLE_ASL_NAMES.contains(name)
            || RETRYABLE_LAMBDA_ERRORS.contains(name);
        if !transient {
            report(format!(
                "Retry names {name:?}, which is not transient: only retryable keyshift errors and transient Lambda errors may be retried"
            ));
        }
    }
    for name in KeyshiftError::RETRYABLE_ASL_NAMES
        .iter()
        .chain(RETRYABLE_LAMBDA_ERRORS.iter())
    {
        if !retried.contains(name) {
            report(format!("Retry does not cover the transient error {name:?}"));
        }
    }
    for (index, retrier) in retriers.iter().enumerate() {
        for field in ["IntervalSeconds", "BackoffRate", "MaxDelaySeconds"] {
            if retrier.get(field).is_none() {
                report(format!("Retry[{index}] should set {field}"));
            }
        }
        if retrier.get("JitterStrategy").and_then(Value::as_str) != Some("FULL") {
            report(format!("Retry[{index}] should use JitterStrategy FULL"));
        }
    }
    let catches_all = state
        .get("Catch")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries
                .iter()
                .any(|entry| error_names(entry) == ["States.ALL"])
        });
    if !catches_all {
        report("a step Task must Catch States.ALL so failures reach the DLQ".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_placeholders_and_rejects_unknown_ones() {
        let values = local_template_values("local://q");
        let rendered = render_template(
            r#"{"a":"${verify_arn}","b":"${dlq_url}","c":"$${kept}"}"#,
            &values,
        )
        .unwrap();
        assert_eq!(
            rendered,
            r#"{"a":"arn:aws:lambda:us-east-1:123456789012:function:keyshift-verify","b":"local://q","c":"${kept}"}"#
        );
        assert_eq!(
            render_template("${nope}", &values),
            Err(TemplateError::MissingValue("nope".into()))
        );
        assert_eq!(
            render_template("x ${open", &values),
            Err(TemplateError::Unterminated(2))
        );
    }

    #[test]
    fn shipped_definition_renders_and_passes_the_lint() {
        let rendered = local_definition(LOCAL_DLQ_URL).unwrap();
        assert!(!rendered.contains("${"), "placeholder left in {rendered}");
        let template: Value = serde_json::from_str(ROTATE_WORKSPACE_ASL).unwrap();
        assert_eq!(lint_definition(&template), Vec::<Finding>::new());
    }

    #[test]
    fn steps_are_found_by_placeholder_local_name_or_arn() {
        assert_eq!(
            Step::from_function_name("${mint_token_arn}"),
            Some(Step::MintToken)
        );
        assert_eq!(
            Step::from_function_name("keyshift-verify"),
            Some(Step::Verify)
        );
        assert_eq!(
            Step::from_function_name(
                "arn:aws:lambda:eu-west-1:1:function:keyshift-revoke-old:live"
            ),
            Some(Step::RevokeOld)
        );
        assert_eq!(Step::from_function_name("other"), None);
    }

    #[test]
    fn lint_flags_misplaced_states_all_and_permanent_retries() {
        let machine = json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": "${verify_arn}", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Verify.Failed", "Grafana.Throttled"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}],
            "Catch": [{"ErrorEquals": ["States.ALL", "Grafana.Forbidden"], "Next": "F"}, {"ErrorEquals": ["Nope.Error"], "Next": "F"}],
            "End": true}, "F": {"Type": "Fail"}}});
        let messages: Vec<String> = lint_definition(&machine)
            .into_iter()
            .map(|f| f.message)
            .collect();
        let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
        assert!(has("States.ALL must be alone"), "{messages:?}");
        assert!(has("must be the last Catch entry"), "{messages:?}");
        assert!(
            has("\"Nope.Error\" is not an error keyshift raises"),
            "{messages:?}"
        );
        assert!(
            has("\"Verify.Failed\", which is not transient"),
            "{messages:?}"
        );
        assert!(
            has("does not cover the transient error \"Aws.Unavailable\""),
            "{messages:?}"
        );
        assert!(has("must Catch States.ALL"), "{messages:?}");
    }
}
