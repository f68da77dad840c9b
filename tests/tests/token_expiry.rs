//! A token's `expiresAt` in the secret follows the steps' clock, not wall time: under a clock
//! years ahead of the wall (as in `keyshift demo`), the recorded expiry is that clock's "now"
//! plus the TTL.

use chrono::{Duration, Utc};
use keyshift_core::steps::mint_token::effective_ttl_seconds;
use keyshift_e2e::{Harness, StoreKind};
use serde_json::json;

const YEAR: i64 = 365 * 86_400;

#[tokio::test]
async fn expires_at_follows_the_steps_clock_far_from_wall_time() {
    let Some(harness) = Harness::start(StoreKind::Memory).await else {
        return;
    };
    harness.state().clock().advance_seconds(5 * YEAR);
    let minted_after = harness.state().now();
    let workspace = harness.workspace("sh-104");
    let policy = harness.policy(json!({}));
    let record = harness
        .run_execution(&workspace, &policy, "ks-clock-1")
        .await
        .unwrap();
    let discovered = record.discovered.as_ref().unwrap();
    assert!(!discovered.plan.credentials.is_empty());
    for credential in &discovered.plan.credentials {
        let ttl = effective_ttl_seconds(credential.token_ttl_seconds, &discovered.policy);
        let ttl = Duration::seconds(i64::try_from(ttl).unwrap());
        let value = harness.current_value(&credential.secret_id).await;
        let expires_at = value.expires_at.expect("a rotated token expires");
        let offset = expires_at - (minted_after + ttl);
        assert!(
            offset >= Duration::zero() && offset < Duration::minutes(5),
            "{}: expires at {expires_at}, minted after {minted_after} with TTL {ttl}",
            credential.secret_id
        );
        assert!(
            expires_at - (Utc::now() + ttl) > Duration::seconds(4 * YEAR),
            "{}: expiry {expires_at} follows wall time",
            credential.secret_id
        );
    }
}
