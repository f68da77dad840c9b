//! Task states: the request, its timeout, the integrations (Lambda, SQS) and the history
//! events of one attempt.

use std::sync::Arc;

use md5::Digest as _;
use serde_json::{Value, json};

use super::Shared;
use super::dataflow::{evaluate_path, set_member, to_text};
use super::retry::Attempt;
use crate::definition::State;
use crate::error::{Failure, TaskError, names};
use crate::handlers::{QueueMessage, TaskContext, TaskHandler};
use crate::history::Track;

/// Step Functions' payload limit (bytes of UTF-8 JSON) for a task result.
const MAX_PAYLOAD_BYTES: usize = 262_144;

const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
const SQS_SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";

fn resource_parts(resource: &str) -> (String, String) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::")
        && let Some((service, action)) = rest.split_once(':')
    {
        return (service.to_string(), action.to_string());
    }
    if resource.starts_with("arn:aws:lambda:") {
        return ("lambda".into(), resource.to_string());
    }
    if resource.contains(":activity:") {
        return ("activity".into(), resource.to_string());
    }
    ("custom".into(), resource.to_string())
}

fn positive_seconds(value: &Value, what: &str) -> Result<u64, Failure> {
    value
        .as_u64()
        .filter(|v| *v > 0)
        .ok_or_else(|| Failure::runtime(format!("{what} must be a positive integer, got {value}")))
}

pub(super) async fn run_task_attempt(
    attempt: Attempt<'_>,
    task: &crate::definition::TaskState,
    retry_count: u32,
    track: &mut Track,
) -> Result<Value, Failure> {
    let parameters = attempt.parameters(task.parameters.as_ref())?;
    let timeout = match (&task.timeout_seconds, &task.timeout_seconds_path) {
        (Some(s), _) => Some(*s),
        (None, Some(path)) => Some(positive_seconds(
            &evaluate_path(path, attempt.input, attempt.context)?,
            "TimeoutSecondsPath",
        )?),
        (None, None) => None,
    };
    let (resource_type, resource) = resource_parts(&task.resource);
    let mut scheduled = json!({
        "resourceType": resource_type,
        "resource": resource,
        "region": attempt.shared.region,
        "parameters": attempt.shared.payload_text(&parameters),
    });
    if let Some(t) = timeout {
        set_member(&mut scheduled, "timeoutInSeconds", json!(t));
    }
    attempt.shared.record(
        track,
        "TaskScheduled",
        "taskScheduledEventDetails",
        scheduled,
    );
    attempt.shared.record(
        track,
        "TaskStarted",
        "taskStartedEventDetails",
        json!({"resourceType": resource_type, "resource": resource}),
    );
    let started = attempt.shared.clock.now();
    let invocation = dispatch(attempt.shared, attempt.state, task, parameters, retry_count);
    let result = match timeout {
        Some(seconds) => {
            let deadline = started + chrono::Duration::seconds(seconds as i64);
            tokio::select! {
                result = invocation => result,
                _ = attempt.shared.clock.wait_until(deadline) => {
                    let failure = Failure::new(names::TIMEOUT, format!("The task did not complete within {seconds} seconds"));
                    attempt.shared.record(
                        track,
                        "TaskTimedOut",
                        "taskTimedOutEventDetails",
                        json!({"resourceType": resource_type, "resource": resource, "error": failure.error, "cause": failure.cause}),
                    );
                    return Err(failure);
                }
            }
        }
        None => invocation.await,
    };
    let result = result.and_then(|value| {
        if to_text(&value).len() > MAX_PAYLOAD_BYTES {
            Err(Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                format!("The task result is larger than {MAX_PAYLOAD_BYTES} bytes"),
            ))
        } else {
            Ok(value)
        }
    });
    let value = match result {
        Ok(value) => {
            attempt.shared.record(
                track,
                "TaskSucceeded",
                "taskSucceededEventDetails",
                json!({"resourceType": resource_type, "resource": resource,
                       "output": attempt.shared.payload_text(&value), "outputDetails": {"truncated": false}}),
            );
            value
        }
        Err(failure) => {
            attempt.shared.record(
                track,
                "TaskFailed",
                "taskFailedEventDetails",
                json!({"resourceType": resource_type, "resource": resource,
                       "error": failure.error, "cause": failure.cause}),
            );
            return Err(failure);
        }
    };
    attempt.shape(value)
}

fn task_failure(error: TaskError) -> Failure {
    Failure::new(error.error, error.cause)
}

async fn dispatch(
    shared: &Arc<Shared>,
    state: &State,
    task: &crate::definition::TaskState,
    parameters: Value,
    retry_count: u32,
) -> Result<Value, Failure> {
    let resource = task.resource.as_str();
    let mut context = TaskContext {
        state_name: state.name.clone(),
        retry_count,
        resource: resource.to_string(),
        function_name: None,
        execution_name: shared.execution_name.clone(),
        clock: shared.clock.clone(),
    };
    if let Some(handler) = shared.registry.state_overrides.get(&state.name) {
        let result = handler.call(parameters, context).await;
        return result.map_err(task_failure);
    }
    if resource == LAMBDA_INVOKE {
        let function_name = string_parameter(&parameters, state, "lambda:invoke", "FunctionName")?;
        // UNCONFIRMED what AWS sends when Payload is omitted; null keeps it visible.
        let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
        let handler = lambda_handler(shared, &function_name)?;
        context.function_name = Some(function_name);
        return match handler.call(payload, context).await {
            Ok(result) => {
                let request_id = uuid::Uuid::new_v4().to_string();
                Ok(json!({
                    "ExecutedVersion": "$LATEST",
                    "Payload": result,
                    "SdkHttpMetadata": {
                        "HttpHeaders": {
                            "Content-Type": "application/json",
                            "X-Amz-Executed-Version": "$LATEST",
                            "x-amzn-RequestId": request_id,
                        },
                        "HttpStatusCode": 200,
                    },
                    "SdkResponseMetadata": {"RequestId": request_id},
                    "StatusCode": 200,
                }))
            }
            Err(error) => Err(lambda_failure(error)),
        };
    }
    if resource.starts_with("arn:aws:lambda:") {
        let handler = lambda_handler(shared, resource)?;
        context.function_name = Some(resource.to_string());
        let result = handler.call(parameters, context).await;
        return result.map_err(lambda_failure);
    }
    if resource == SQS_SEND_MESSAGE {
        let queue_url = string_parameter(&parameters, state, "sqs:sendMessage", "QueueUrl")?;
        let body = match parameters.get("MessageBody") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => to_text(other),
            None => {
                return Err(Failure::runtime(format!(
                    "state '{}': sqs:sendMessage needs a MessageBody parameter",
                    state.name
                )));
            }
        };
        let handler = shared.registry.find_queue(&queue_url).ok_or_else(|| {
            Failure::new(
                "SQS.QueueDoesNotExistException",
                format!("The specified queue does not exist: {queue_url}"),
            )
        })?;
        let md5 = hex::encode(md5::Md5::digest(body.as_bytes()));
        let message_id = handler
            .send(QueueMessage {
                queue_url,
                body,
                parameters,
            })
            .await
            .map_err(task_failure)?;
        return Ok(json!({
            "MD5OfMessageBody": md5,
            "MessageId": message_id,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
        }));
    }
    let handler = shared.registry.find_task(resource).ok_or_else(|| {
        // A missing handler is a wiring mistake, not a task outcome: make it uncatchable so it
        // cannot be silently routed down an error path.
        Failure::runtime(format!(
            "state '{}': no handler is registered for resource '{resource}'",
            state.name
        ))
    })?;
    handler
        .call(parameters, context)
        .await
        .map_err(task_failure)
}

/// The string parameter `name` that `integration` requires; its absence is a wiring mistake of
/// the definition, so an uncatchable `States.Runtime`.
fn string_parameter(
    parameters: &Value,
    state: &State,
    integration: &str,
    name: &str,
) -> Result<String, Failure> {
    parameters
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::runtime(format!(
                "state '{}': {integration} needs a string {name} parameter",
                state.name
            ))
        })
}

/// The handler registered for a Lambda function, or the error Lambda gives for a missing one.
fn lambda_handler(shared: &Shared, function: &str) -> Result<Arc<dyn TaskHandler>, Failure> {
    shared.registry.find_task(function).ok_or_else(|| {
        Failure::new(
            names::LAMBDA_RESOURCE_NOT_FOUND,
            format!("Function not found: {function}"),
        )
    })
}

/// A Lambda function error as Step Functions reports it: the function's error type is the
/// error name, and the cause is the function's error object serialised to a string.
fn lambda_failure(error: TaskError) -> Failure {
    let cause = to_text(&json!({"errorMessage": error.cause, "errorType": error.error}));
    Failure::new(error.error, cause)
}
