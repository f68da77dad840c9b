//! The least each phase of a workspace's flow needs, derived from
//! statemachine/rotate-workspace.asl.json and what each step must do, as `per workspace +
//! per credential x n`, to compare the measured calls against.
//!
//! Assumptions, for an AMG workspace:
//! - Grafana is reached with a short-lived admin token minted through the AMG API for the
//!   execution and revoked at its end: find the admin service account, create its token,
//!   delete it (3 AMG calls per workspace). discover-keys seals it for the state payload
//!   (1 KMS Encrypt) and every Lambda that calls Grafana as admin unseals it (1 KMS Decrypt
//!   each: create-sa, mint-token and revoke-old per credential, revoke-old once more for the
//!   workspace's leftovers): separate Lambdas share nothing but the payload.
//! - Discovery lists service accounts and legacy keys (2 Grafana calls per workspace) and,
//!   once the accounts exist, each account's tokens (1 per credential).
//! - Per credential, Grafana: migrate the key into a service account (migration only), mint
//!   1 token, authenticate as it once to verify, and delete once what is superseded: the
//!   migrated legacy key after the migration, the token two generations old after a
//!   steady-state rotation. The first rotation deletes nothing: the migration's token is
//!   AWSPREVIOUS, which is never revoked. Steps that share discovery's knowledge need no
//!   further look-ups.
//! - Per credential, Secrets Manager: CreateSecret (migration only), PutSecretValue to
//!   stage, GetSecretValue of AWSPENDING to verify what consumers will read, one
//!   UpdateSecretVersionStage to move AWSCURRENT (AWSPENDING left on the current version is
//!   not a rotation in progress, so removing it is optional), and one GetSecretValue in
//!   revoke-old, which must see what the labels hold before deleting anything.
//! - Per credential, KMS: Encrypt when mint-token seals the new token, Decrypt when
//!   store-secret unseals it, the three admin-token Decrypts above, and the GenerateDataKey
//!   (the put) and Decrypts (the two reads) Secrets Manager makes on the customer-managed key.
//! - Lambda: the ASL's shape, 6 per credential (create-sa, mint-token, stage, verify,
//!   promote, revoke superseded) and 2 per workspace (discover-keys, revoke leftovers).
//!
//! Per credential means per credential of the workspace (three here), also for the idle
//! tick, whose Map runs no iteration.

use serde::Serialize;

/// `per workspace + per credential x n` of one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Need {
    /// Calls once per execution.
    pub per_workspace: u64,
    /// Calls per credential processed.
    pub per_credential: u64,
}

impl Need {
    /// The total for `credentials` credentials.
    pub fn total(&self, credentials: usize) -> u64 {
        self.per_workspace + self.per_credential * credentials as u64
    }
}

/// What one phase needs at least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Minimum {
    /// `migration`, `first-rotation`, `rotation` or `idle`.
    pub phase: &'static str,
    /// Grafana HTTP plus AMG control-plane requests.
    pub grafana: Need,
    /// Secrets Manager API calls.
    pub secrets_manager: Need,
    /// KMS requests (the functions' own and Secrets Manager's on their behalf).
    pub kms: Need,
    /// Lambda invocations.
    pub lambda: Need,
}

const fn need(per_workspace: u64, per_credential: u64) -> Need {
    Need {
        per_workspace,
        per_credential,
    }
}

/// The minimum of each phase (see the module documentation for the derivation).
pub const MINIMUM: [Minimum; 4] = [
    Minimum {
        phase: "migration",
        grafana: need(3 + 2, 4),
        secrets_manager: need(0, 5),
        kms: need(2, 8),
        lambda: need(2, 6),
    },
    Minimum {
        phase: "first-rotation",
        grafana: need(3 + 2, 1 + 2),
        secrets_manager: need(0, 4),
        kms: need(2, 8),
        lambda: need(2, 6),
    },
    Minimum {
        phase: "rotation",
        grafana: need(3 + 2, 1 + 3),
        secrets_manager: need(0, 4),
        kms: need(2, 8),
        lambda: need(2, 6),
    },
    Minimum {
        phase: "idle",
        grafana: need(3 + 2, 1),
        secrets_manager: need(0, 0),
        kms: need(2, 0),
        lambda: need(2, 0),
    },
];

/// The minimum of `phase`.
pub fn of(phase: &str) -> Option<&'static Minimum> {
    MINIMUM.iter().find(|minimum| minimum.phase == phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_need_is_the_fixed_part_plus_the_per_credential_part() {
        let rotation = of("rotation").unwrap();
        assert_eq!(rotation.grafana.total(3), 5 + 4 * 3);
        assert_eq!(rotation.lambda.total(3), 2 + 6 * 3);
        assert_eq!(of("idle").unwrap().kms.total(3), 2);
        assert_eq!(of("idle").unwrap().secrets_manager.total(3), 0);
        assert!(of("unknown").is_none());
    }
}
