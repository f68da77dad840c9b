//! fleet-start's real pauses ([`TokioSleeper`]); its AMG listing per account is
//! [`crate::AwsAmgConnector`], shared with the steps.

use std::time::Duration;

use async_trait::async_trait;
use keyshift_core::fleet::Sleeper;

/// [`Sleeper`] on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
