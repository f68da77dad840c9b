//! Every credential that existed during a test's runs, for the leak scans: what grafana-sim
//! seeded and everything it issued afterwards (keyshift's minted tokens and the AMG bootstrap
//! admin tokens), counted by kind so a scan can assert how much it really searched.

use grafana_sim::SharedState;
use keyshift_core::naming::BOOTSTRAP_NAME_PREFIX;

/// The credential strings a scan searches for, by kind.
#[derive(Debug, Default)]
pub struct KnownCredentials {
    /// Fleet-seeded legacy keys and tokens.
    pub seeded: Vec<String>,
    /// Tokens issued to keyshift's AMG bootstrap admin accounts.
    pub bootstrap: Vec<String>,
    /// Every other token issued after seeding: the ones keyshift minted (AWSCURRENT,
    /// AWSPREVIOUS, revoked and orphaned alike).
    pub minted: Vec<String>,
    /// Legacy keys created after seeding (by a test).
    pub created_keys: Vec<String>,
}

impl KnownCredentials {
    /// Everything the simulator knows it handed out, seeded or issued.
    pub fn of(state: &SharedState) -> Self {
        let mut known = Self {
            seeded: state
                .seeded_secrets(None)
                .into_iter()
                .map(|secret| secret.key)
                .collect(),
            ..Self::default()
        };
        for issued in state.issued_secrets(None) {
            match issued.service_account.as_deref() {
                None => known.created_keys.push(issued.key),
                Some(account) if account.starts_with(BOOTSTRAP_NAME_PREFIX) => {
                    known.bootstrap.push(issued.key);
                }
                Some(_) => known.minted.push(issued.key),
            }
        }
        known
    }

    /// All of them, plus `extra` (e.g. passwords), as one list for a leak scan.
    pub fn all_with(&self, extra: &[&str]) -> Vec<String> {
        self.seeded
            .iter()
            .chain(&self.bootstrap)
            .chain(&self.minted)
            .chain(&self.created_keys)
            .cloned()
            .chain(extra.iter().map(|text| (*text).to_owned()))
            .collect()
    }
}
