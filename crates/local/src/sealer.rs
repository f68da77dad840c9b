//! A local AES-256-GCM [`Sealer`]: the stand-in for the KMS envelope in local runs.
//!
//! The encryption context is bound as additional authenticated data, exactly as KMS binds it,
//! so a sealed token copied into another workspace's or execution's payload fails to open
//! locally just as it would on AWS. The context is also carried in the envelope (it holds only
//! identifiers) so a mismatch can be reported by name instead of as a generic failure.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Envelope format version, so a future format can be told apart.
const ENVELOPE_VERSION: u32 = 1;
const ALGORITHM: &str = "A256GCM";
const NONCE_BYTES: usize = 12;

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    alg: String,
    ctx: SealContext,
    nonce: String,
    ct: String,
}

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

/// The context as bytes for AAD: serde_json of a BTreeMap is key-sorted, hence canonical.
fn context_aad(context: &SealContext) -> Result<Vec<u8>> {
    serde_json::to_vec(context).map_err(|_| KeyshiftError::SealFailed {
        reason: "encryption context is not serialisable".to_owned(),
    })
}

fn seal_failed(reason: &str) -> KeyshiftError {
    KeyshiftError::SealFailed {
        reason: reason.to_owned(),
    }
}

/// Names the context keys that differ, never the plaintext (context values are identifiers).
pub fn describe_context_mismatch(sealed_with: &SealContext, presented: &SealContext) -> String {
    let mut differing: Vec<&str> = sealed_with
        .keys()
        .chain(presented.keys())
        .filter(|key| sealed_with.get(*key) != presented.get(*key))
        .map(String::as_str)
        .collect();
    differing.sort_unstable();
    differing.dedup();
    format!("context entries differ: {}", differing.join(", "))
}

#[async_trait]
impl Sealer for LocalSealer {
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken> {
        let mut nonce_bytes = [0u8; NONCE_BYTES];
        rand::rng().fill(&mut nonce_bytes);
        let aad = context_aad(context)?;
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| seal_failed("AES-GCM encryption failed"))?;
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            alg: ALGORITHM.to_owned(),
            ctx: context.clone(),
            nonce: BASE64.encode(nonce_bytes),
            ct: BASE64.encode(ciphertext),
        };
        let json =
            serde_json::to_vec(&envelope).map_err(|_| seal_failed("envelope encoding failed"))?;
        Ok(SealedToken::new(BASE64.encode(json)))
    }

    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString> {
        let json = BASE64
            .decode(sealed.as_str())
            .map_err(|_| seal_failed("sealed token is not base64"))?;
        let envelope: Envelope = serde_json::from_slice(&json)
            .map_err(|_| seal_failed("sealed token is not an envelope"))?;
        if envelope.v != ENVELOPE_VERSION || envelope.alg != ALGORITHM {
            return Err(seal_failed(
                "sealed token has an unknown format or algorithm",
            ));
        }
        if envelope.ctx != *context {
            return Err(KeyshiftError::SealContextMismatch {
                reason: describe_context_mismatch(&envelope.ctx, context),
            });
        }
        let nonce = BASE64
            .decode(&envelope.nonce)
            .ok()
            .filter(|nonce| nonce.len() == NONCE_BYTES)
            .ok_or_else(|| seal_failed("sealed token has a malformed nonce"))?;
        let ciphertext = BASE64
            .decode(&envelope.ct)
            .map_err(|_| seal_failed("sealed token has malformed ciphertext"))?;
        let aad = context_aad(context)?;
        let plaintext = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                seal_failed("sealed token does not authenticate (wrong key or tampered)")
            })?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| seal_failed("unsealed token is not UTF-8"))
    }
}
