//! Shared setup of the moto-backed tests.

#![allow(dead_code)]

use keyshift_aws::{AwsContext, EndpointOverrides};

/// The moto server the test script started, or `None` (after a printed notice) when it is not
/// running; with `KEYSHIFT_REQUIRE_TOOLS=1` a missing server fails the test instead.
pub async fn moto_context(test: &str) -> Option<AwsContext> {
    let endpoint = keyshift_test_support::moto_endpoint(test)?;
    Some(AwsContext::for_emulator(EndpointOverrides::for_all(endpoint)).await)
}
