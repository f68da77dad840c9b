//! `keyshift validate`: check a state machine definition and config files before they are
//! deployed or run, with messages that say where the problem is.

use std::path::Path;

use local_sfn::{ExecutionStatus, StateMachine, TaskError};
use serde::Serialize;
use serde_json::Value;

use crate::asl::{
    LOCAL_DLQ_URL, ROTATE_WORKSPACE_ASL, Step, lint_definition, local_template_values,
    render_template,
};
use crate::config::FleetConfig;
use crate::contract::{ContractRun, ContractSteps, run_contract, sample_execution_input};
use crate::exit::{CliError, read_text};

/// One problem found, located by file and, for definitions, state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file checked.
    pub file: String,
    /// The state (definitions) or field (configs), when known.
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Checks one definition text: JSON, placeholders, local-sfn's parser, the structural rules of
/// [`lint_definition`] and, when it orchestrates keyshift's steps, the ASL↔Rust contract on the
/// happy path and on a verification failure.
pub async fn check_definition(file: &str, template: &str) -> Vec<Problem> {
    let problem = |location: Option<String>, message: String| Problem {
        file: file.to_owned(),
        location,
        message,
    };
    let template_json: Value = match serde_json::from_str(template) {
        Ok(value) => value,
        Err(error) => return vec![problem(None, format!("not JSON: {error}"))],
    };
    let rendered = match render_template(template, &local_template_values(LOCAL_DLQ_URL)) {
        Ok(text) => text,
        Err(error) => return vec![problem(None, error.to_string())],
    };
    let rendered_json: Value = match serde_json::from_str(&rendered) {
        Ok(value) => value,
        Err(error) => return vec![problem(None, format!("not JSON once rendered: {error}"))],
    };
    if let Err(error) = StateMachine::from_value(&rendered_json) {
        return vec![problem(None, error.to_string())];
    }
    let mut problems: Vec<Problem> = lint_definition(&template_json)
        .into_iter()
        .map(|finding| problem(Some(finding.state), finding.message))
        .collect();
    let uses_every_step = Step::ALL
        .iter()
        .all(|step| template.contains(&format!("${{{}}}", step.placeholder())));
    if uses_every_step {
        problems.extend(
            contract_problems(&rendered_json)
                .await
                .into_iter()
                .map(|message| problem(Some("contract".to_owned()), message)),
        );
    }
    problems
}

/// Runs the definition with the contract stand-ins, on the happy path and with verification
/// failing, and returns what broke the contract.
pub async fn contract_problems(rendered: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let happy = ContractSteps::new(2);
    if let Some(run) = contract_run(rendered, &happy, "contract-happy", &mut problems).await
        && run.result.status != ExecutionStatus::Succeeded
    {
        problems.push(format!(
            "the happy path ended {} ({}: {})",
            run.result.status.as_str(),
            run.result.error.unwrap_or_default(),
            run.result.cause.unwrap_or_default()
        ));
    }
    let failing = ContractSteps::new(1).failing_at(
        "VerifyToken",
        TaskError::new(
            "Verify.Failed",
            "contract check: token did not authenticate",
        ),
    );
    if let Some(run) =
        contract_run(rendered, &failing, "contract-verify-fails", &mut problems).await
    {
        problems.extend(
            run.bad_dlq_messages
                .into_iter()
                .map(|message| format!("a DLQ message is not a DlqMessage: {message}")),
        );
        if run.result.status != ExecutionStatus::Failed {
            problems.push("a Verify.Failed error must fail the execution".to_owned());
        }
        if run.dlq_messages.is_empty() {
            problems.push("a Verify.Failed error must send a DLQ message".to_owned());
        }
        let after_verify: Vec<String> = run
            .calls
            .iter()
            .filter(|call| {
                call.step == Step::RevokeOld
                    || (call.step == Step::StoreSecret
                        && call.payload.get("action").and_then(Value::as_str) == Some("promote"))
            })
            .map(|call| call.state.clone())
            .collect();
        if !after_verify.is_empty() {
            problems.push(format!(
                "after a verification failure nothing may be promoted or revoked, but {after_verify:?} ran"
            ));
        }
    }
    problems
}

/// Runs the definition with `steps` as execution `name` on the sample input. A run that could
/// not be made is a problem, and so is every contract violation the run saw; the run is
/// returned for the caller's own checks.
async fn contract_run(
    rendered: &Value,
    steps: &ContractSteps,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<ContractRun> {
    match run_contract(
        rendered,
        steps,
        sample_execution_input(),
        name,
        LOCAL_DLQ_URL,
    )
    .await
    {
        Err(error) => {
            problems.push(error.to_string());
            None
        }
        Ok(mut run) => {
            problems.append(&mut run.violations);
            Some(run)
        }
    }
}

/// Checks a definition file, or the shipped definition when `path` is `None`.
pub async fn validate_definition(path: Option<&Path>) -> Result<Vec<Problem>, CliError> {
    match path {
        Some(path) => {
            let text = read_text(path)?;
            Ok(check_definition(&path.display().to_string(), &text).await)
        }
        None => Ok(check_definition(
            "statemachine/rotate-workspace.asl.json (built in)",
            ROTATE_WORKSPACE_ASL,
        )
        .await),
    }
}

/// Checks one fleet config file.
pub fn validate_config(path: &Path) -> Result<Vec<Problem>, CliError> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    let config: FleetConfig = match serde_json::from_str(&text) {
        Ok(config) => config,
        Err(error) => {
            return Ok(vec![Problem {
                file,
                location: None,
                message: error.to_string(),
            }]);
        }
    };
    Ok(config
        .problems()
        .into_iter()
        .map(|message| Problem {
            file: file.clone(),
            location: None,
            message,
        })
        .collect())
}
