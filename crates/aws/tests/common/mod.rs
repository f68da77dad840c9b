//! Shared setup of the moto-backed tests.

#![allow(dead_code)]

use keyshift_aws::{AwsContext, EndpointOverrides};

/// The moto server the test script started, or `None` (after a printed notice) when it is not
/// running; with `KEYSHIFT_REQUIRE_TOOLS=1` a missing server fails the test instead.
pub async fn moto_context(test: &str) -> Option<AwsContext> {
    match std::env::var("KEYSHIFT_MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            Some(AwsContext::for_emulator(EndpointOverrides::for_all(endpoint.trim())).await)
        }
        _ => {
            assert!(
                std::env::var("KEYSHIFT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{test}: KEYSHIFT_MOTO_ENDPOINT is not set but KEYSHIFT_REQUIRE_TOOLS=1"
            );
            eprintln!("SKIPPED {test}: KEYSHIFT_MOTO_ENDPOINT is not set (no moto server)");
            None
        }
    }
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
