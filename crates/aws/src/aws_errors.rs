//! Folding AWS SDK errors into keyshift's named errors.
//!
//! Every adapter needs the same split: throttling (retry after a pause), server faults and
//! transport failures (retry), everything else (permanent). Adapters handle the few
//! service-specific codes that carry meaning for keyshift (e.g. ResourceNotFound) before
//! falling back to [`classify`].

use std::time::Duration;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use keyshift_core::error::KeyshiftError;
use keyshift_core::secret::scrub_secrets;

/// AWS error codes that mean "slow down"; they differ per service and protocol.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "KMSThrottlingException",
];

/// AWS error codes that mean "the service had a problem": worth retrying.
const SERVER_FAULT_CODES: &[&str] = &[
    "InternalServerException",
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSInternalException",
    "DependencyTimeoutException",
];

/// The service-reported error code of an SDK error, if the service answered at all.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// The `Retry-After` header of a service answer (AMG's ThrottlingException binds
/// `retryAfterSeconds` to it; other services may send it too).
pub(crate) fn retry_after_header<E>(
    error: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> Option<Duration> {
    error
        .raw_response()
        .and_then(|response| response.headers().get("retry-after"))
        .and_then(|value| crate::retry::parse_retry_after(value, std::time::SystemTime::now()))
}

/// Whether a service error carries this code.
pub(crate) fn has_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>, code: &str) -> bool {
    error_code(error) == Some(code)
}

/// The service's message, scrubbed, for error details.
pub(crate) fn service_message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("UnknownError");
            match context.err().message() {
                Some(message) if !message.is_empty() => {
                    format!("{code}: {}", scrub_secrets(message))
                }
                _ => code.to_owned(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "request could not be sent".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request could not be built".to_owned(),
        _ => "unknown SDK failure".to_owned(),
    }
}

/// The generic mapping: throttling → `Aws.Throttled`, faults and transport failures →
/// `Aws.Unavailable`, the rest → `Aws.Failed` with the service's code and message.
pub(crate) fn classify<E: ProvideErrorMetadata>(
    service: &str,
    operation: &str,
    error: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
    retry_after: Option<Duration>,
) -> KeyshiftError {
    let detail = service_message(error);
    let service = service.to_owned();
    let operation = operation.to_owned();
    match error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or_default();
            let status = context.raw().status().as_u16();
            if THROTTLING_CODES.contains(&code) || status == 429 {
                KeyshiftError::AwsThrottled {
                    service,
                    operation,
                    retry_after: retry_after.or_else(|| retry_after_header(error)),
                }
            } else if SERVER_FAULT_CODES.contains(&code) || (500..=599).contains(&status) {
                KeyshiftError::AwsUnavailable {
                    service,
                    operation,
                    detail,
                }
            } else {
                KeyshiftError::AwsFailed {
                    service,
                    operation,
                    detail,
                }
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            KeyshiftError::AwsUnavailable {
                service,
                operation,
                detail,
            }
        }
        _ => KeyshiftError::AwsFailed {
            service,
            operation,
            detail,
        },
    }
}
