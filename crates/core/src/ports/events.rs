//! Rotation events as a port: consumers cache tokens, so keyshift tells them when a secret's
//! AWSCURRENT changed (or an execution failed) instead of making them poll.
//!
//! Events go to an EventBridge bus in AWS and to an in-memory queue in local runs. An event
//! carries identifiers only (secret ARN, version id, workspace, service account, expiry,
//! execution), never a token: the type has no field a secret value could travel in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The EventBridge `source` of every keyshift event; consumers' rules match on it.
pub const EVENT_SOURCE: &str = "keyshift";
/// Detail type of the event published on every promotion (and every rollback).
pub const SECRET_ROTATED: &str = "Secret Rotated";
/// Detail type of the event published when an execution fails.
pub const ROTATION_FAILED: &str = "Rotation Failed";
/// Detail type of the event published when a rollback was refused.
pub const ROLLBACK_REFUSED: &str = "Rollback Refused";

/// The `detail` of a [`SECRET_ROTATED`] event: where consumers find the new value, never the
/// value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotatedDetail {
    /// ARN of the secret whose AWSCURRENT moved.
    pub secret_arn: String,
    /// The version now AWSCURRENT.
    pub version_id: String,
    /// The version AWSCURRENT moved away from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version_id: Option<String>,
    /// The workspace key ([`crate::model::WorkspaceRef::key`]).
    pub workspace: String,
    /// The service account whose token the secret holds.
    pub service_account: String,
    /// When the now-current token expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// The execution (or rollback run) that moved it.
    pub execution: String,
    /// `rotation` or `rollback`, so a consumer can tell a fresh token from a restored one.
    pub reason: String,
}

/// One event, ready for an [`EventPublisher`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationEvent {
    /// The EventBridge `detail-type`.
    pub detail_type: String,
    /// The EventBridge `detail`, as JSON.
    pub detail: serde_json::Value,
}

impl RotationEvent {
    /// The [`SECRET_ROTATED`] event of one promotion.
    pub fn secret_rotated(detail: &SecretRotatedDetail) -> Self {
        Self {
            detail_type: SECRET_ROTATED.to_owned(),
            detail: serde_json::to_value(detail).unwrap_or_default(),
        }
    }
}

/// Where steps publish their events. Publishing failures are errors: promote is idempotent, so
/// a retried promote publishes again and consumers get the event at least once.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes one event (PutEvents with source [`EVENT_SOURCE`]).
    async fn publish(&self, event: &RotationEvent) -> Result<()>;
}

/// Publishes nothing: for deployments without an event bus (`event_bus_name = null`) and for
/// tools whose events nobody reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

#[async_trait]
impl EventPublisher for NoEvents {
    async fn publish(&self, _event: &RotationEvent) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotated_detail_has_the_consumer_fields_in_camel_case() {
        let event = RotationEvent::secret_rotated(&SecretRotatedDetail {
            secret_arn: "arn:aws:secretsmanager:eu-west-1:1:secret:keyshift/x".into(),
            version_id: "v2".into(),
            previous_version_id: Some("v1".into()),
            workspace: "self:http://grafana:1".into(),
            service_account: "ci".into(),
            expires_at: None,
            execution: "ks-1".into(),
            reason: "rotation".into(),
        });
        assert_eq!(event.detail_type, "Secret Rotated");
        // Sorted: whether serde_json keeps field order depends on features other crates enable.
        let mut keys: Vec<&str> = event
            .detail
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec![
                "execution",
                "expiresAt",
                "previousVersionId",
                "reason",
                "secretArn",
                "serviceAccount",
                "versionId",
                "workspace"
            ]
        );
    }
}
