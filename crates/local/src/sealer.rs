//! A local AES-256-GCM [`Sealer`]: the stand-in for the KMS envelope in local runs.
//!
//! The encryption context is bound as additional authenticated data, exactly as KMS binds it,
//! so a sealed token copied into another workspace's or execution's payload fails to open
//! locally just as it would on AWS. The context is also carried in the envelope (it holds only
//! identifiers) so a mismatch can be reported by name instead of as a generic failure.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use async_trait::async_trait;
use keyshift_core::error::Result;
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;
use rand::Rng;

use crate::envelope::EnvelopeFormat;
pub use crate::envelope::describe_context_mismatch;

/// The local envelope: no wrapped data key, and a failure may be the wrong process key.
const LOCAL_ENVELOPE: EnvelopeFormat = EnvelopeFormat {
    algorithm: "A256GCM",
    wraps_data_key: false,
    not_an_envelope: "sealed token is not an envelope",
    not_authentic: "sealed token does not authenticate (wrong key or tampered)",
};

/// AES-256-GCM with a process-local key. Debug never shows the key.
pub struct LocalSealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for LocalSealer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("LocalSealer([REDACTED key])")
    }
}

/// Why a local sealer could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocalSealerError {
    /// AES-256 needs exactly 32 key bytes.
    #[error("a local sealer key must be 32 bytes, got {0}")]
    WrongKeyLength(usize),
}

impl LocalSealer {
    /// A sealer with a fixed key, so several processes (CLI invocations of one local run) can
    /// open each other's sealed tokens.
    pub fn from_key(key: &[u8]) -> std::result::Result<Self, LocalSealerError> {
        let cipher = Aes256Gcm::new_from_slice(key)
            .map_err(|_| LocalSealerError::WrongKeyLength(key.len()))?;
        Ok(Self { cipher })
    }

    /// A sealer with a random key: tokens sealed by it can only be opened in this process,
    /// which is all a one-process local run needs.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        let cipher = Aes256Gcm::new(&key.into());
        Self { cipher }
    }
}

#[async_trait]
impl Sealer for LocalSealer {
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken> {
        LOCAL_ENVELOPE.seal(&self.cipher, plaintext, context, None)
    }

    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString> {
        LOCAL_ENVELOPE
            .parse(sealed, context)?
            .decrypt(&self.cipher, context)
    }
}
