//! Payloads the function cannot read at all: not JSON, nested deeper than the parser allows,
//! or holding a number out of range.
//!
//! `lambda_runtime` parses each invocation body before any handler runs and, when that fails,
//! reports the Rust type name `&lambda_runtime::deserializer::DeserializeError` as the
//! `errorType`. No Catch in the state machine can match that, and no operator can act on it.
//! [`ReadablePayloadLayer`] sits in front of that parse: a body `serde_json` cannot read is
//! replaced by a small marker object, which [`unreadable_reason`] recognises in the handler, so
//! the answer is `Input.Invalid` with a sentence like any other payload the step refuses.

use std::task::{Context, Poll};

use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::{Layer, Service};
use serde_json::Value;

/// The one key of the marker object. Step Functions never sends it: state inputs are the
/// ASL's own payloads, whose fields are all camelCase names without dots.
const MARKER_KEY: &str = "keyshift.unreadablePayload";

/// Installs [`ReadablePayload`] around the runtime's own service.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadablePayloadLayer;

impl<S> Layer<S> for ReadablePayloadLayer {
    type Service = ReadablePayload<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadablePayload { inner }
    }
}

/// Swaps an unreadable invocation body for the marker object before the runtime parses it.
#[derive(Debug, Clone)]
pub struct ReadablePayload<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for ReadablePayload<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        if let Some(marker) = marker_for(&invocation.body) {
            invocation.body = marker.into();
        }
        self.inner.call(invocation)
    }
}

/// The marker object for `body`, or `None` when the body is JSON the runtime can parse. The
/// parse is the one the runtime does next (`serde_json` into a `Value`), so both agree on
/// what is readable. The reason is `serde_json`'s, which names a position, never the content.
fn marker_for(body: &[u8]) -> Option<String> {
    let error = serde_json::from_slice::<Value>(body).err()?;
    let reason = format!("the payload is not JSON this function can read ({error})");
    Some(serde_json::json!({ MARKER_KEY: reason }).to_string())
}

/// Why the payload could not be read, when it is the marker [`ReadablePayload`] put in place
/// of the invocation body.
pub fn unreadable_reason(payload: &Value) -> Option<&str> {
    let object = payload.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(MARKER_KEY)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_for(body: &str) -> Option<String> {
        let marker = marker_for(body.as_bytes())?;
        let payload: Value = serde_json::from_str(&marker).expect("the marker is JSON");
        unreadable_reason(&payload).map(str::to_owned)
    }

    #[test]
    fn readable_json_passes_unchanged() {
        for body in [
            "{}",
            "[]",
            "null",
            "{\"workspace\": {\"kind\": \"amg\"}}",
            "1e300",
        ] {
            assert_eq!(marker_for(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn each_kind_of_unreadable_body_gets_a_reason_that_quotes_nothing_of_it() {
        let deep = "[".repeat(500) + &"]".repeat(500);
        let cases = [
            ("not json glsa_secretLookingText", "expected"),
            ("", "EOF"),
            (deep.as_str(), "recursion limit"),
            ("{\"big\": 1e400}", "number out of range"),
            ("{\"a\": 1", "EOF"),
        ];
        for (body, expected) in cases {
            let reason = reason_for(body).unwrap_or_else(|| panic!("{body:.40} was read"));
            assert!(reason.contains(expected), "{reason}");
            assert!(!reason.contains("glsa_"), "{reason}");
        }
        assert_eq!(cases.len(), 5);
    }

    #[test]
    fn only_the_marker_alone_is_recognised() {
        assert_eq!(unreadable_reason(&serde_json::json!({})), None);
        assert_eq!(
            unreadable_reason(&serde_json::json!({ MARKER_KEY: "x", "other": 1 })),
            None
        );
        assert_eq!(
            unreadable_reason(&serde_json::json!({ MARKER_KEY: 3 })),
            None
        );
        assert_eq!(
            unreadable_reason(&serde_json::json!({ MARKER_KEY: "why" })),
            Some("why")
        );
    }
}
