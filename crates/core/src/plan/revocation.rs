//! Which tokens of one account to revoke: shared by the planner and by revoke-old.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::types::{RevocationReason, TokenRevocation};
use crate::model::{AUTOGEN_ACCOUNT_PREFIX, Policy, ServiceAccount, ServiceAccountToken};

/// Inputs to [`select_revocations`]: one account's tokens and what protects them.
#[derive(Debug, Clone, Copy)]
pub struct RevocationRequest<'a> {
    /// The account.
    pub account: &'a ServiceAccount,
    /// Its tokens as listed now.
    pub tokens: &'a [ServiceAccountToken],
    /// Token ids that must survive: those labelled AWSCURRENT, AWSPREVIOUS or AWSPENDING (and,
    /// at revoke time, the token just promoted).
    pub protected: &'a BTreeSet<i64>,
    /// Token ids any secret version has held, to tell superseded tokens from orphans.
    pub stored: &'a BTreeSet<i64>,
    /// Live keyshift tokens that will exist but are not listed yet (1 when planning a
    /// rotation, 0 at revoke time).
    pub expected_new_tokens: u32,
    /// Whether non-keyshift tokens of an `sa-autogen-*` account are migrated legacy keys to
    /// retire (true once the account has a managed token to replace them).
    pub retire_migrated_keys: bool,
}

/// Picks the tokens of one account to revoke, honouring the invariants: a protected token is
/// never chosen; only tokens keyshift minted (recognised by the policy's token-name template)
/// or, when asked, migrated legacy keys are ever chosen, never tokens a person made; expired
/// keyshift tokens always go, and so do live ones no secret version ever held (orphans: nobody
/// has their plaintext); of the remaining stored keyshift tokens the newest are kept up to
/// `max_tokens_per_account` (counting protected and expected ones).
///
/// Used by [`super::compute_plan`] at plan time and by revoke-old against live state after the grace
/// period.
pub fn select_revocations(
    request: RevocationRequest<'_>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<TokenRevocation> {
    let account = request.account;
    let keyshift_token = policy.token_name_matcher();
    let is_keyshift_token = |token: &ServiceAccountToken| {
        keyshift_token
            .as_ref()
            .is_some_and(|matcher| matcher.is_match(&token.name))
    };
    let is_autogen = account.name.starts_with(AUTOGEN_ACCOUNT_PREFIX);

    let mut newest_first: Vec<&ServiceAccountToken> = request.tokens.iter().collect();
    newest_first.sort_by(|left, right| {
        right
            .created
            .cmp(&left.created)
            .then(right.id.cmp(&left.id))
    });

    let revocation =
        |token: &ServiceAccountToken, reason: RevocationReason, why: String| TokenRevocation {
            service_account_id: Some(account.id),
            service_account_name: account.name.clone(),
            token_id: token.id,
            token_name: token.name.clone(),
            reason,
            why,
        };

    let protected_live = newest_first
        .iter()
        .filter(|token| request.protected.contains(&token.id) && token.is_live(now))
        .count();
    let mut live_kept = protected_live.saturating_add(request.expected_new_tokens as usize);
    let max_live = policy.max_tokens_per_account as usize;
    let mut chosen = Vec::new();
    for token in newest_first {
        if request.protected.contains(&token.id) {
            continue;
        }
        if is_keyshift_token(token) {
            if !token.is_live(now) {
                chosen.push(revocation(
                    token,
                    RevocationReason::Expired,
                    format!("keyshift token {} is expired or revoked; it still counts toward the account's token cap", token.name),
                ));
            } else if !request.stored.contains(&token.id) {
                chosen.push(revocation(
                    token,
                    RevocationReason::Orphan,
                    format!(
                        "keyshift token {} is in no version of its secret: minted but never stored, or superseded and no longer listed",
                        token.name
                    ),
                ));
            } else if live_kept < max_live {
                live_kept += 1;
            } else {
                chosen.push(revocation(
                    token,
                    RevocationReason::Superseded,
                    format!(
                        "keyshift token {} was replaced by a newer stored token",
                        token.name
                    ),
                ));
            }
        } else if is_autogen && request.retire_migrated_keys {
            chosen.push(revocation(
                token,
                RevocationReason::MigratedLegacyKey,
                format!(
                    "token {} is the migrated legacy key; its replacement is stored in the secret",
                    token.name
                ),
            ));
        }
    }
    chosen
}
