//! [`Sealer`] with a KMS envelope: tokens travel through Step Functions payloads (and so
//! execution history) only as ciphertext bound to their workspace and execution.
//!
//! KMS generates a fresh AES-256 data key under the encryption context per seal; the token is
//! encrypted locally with AES-GCM (the context again as AAD) and the envelope
//! `{encrypted data key, nonce, ciphertext, context}` is serialised as base64 JSON. Unsealing
//! asks KMS to decrypt the data key under the presented context, so only a principal allowed
//! `kms:Decrypt` with that context can open the token.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::aws_errors::{classify, has_code};

const SERVICE: &str = "kms";
const ENVELOPE_VERSION: u32 = 1;
const ALGORITHM: &str = "KMS+A256GCM";
const NONCE_BYTES: usize = 12;

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    alg: String,
    /// The context the token was sealed under: identifiers only, kept so a mismatch can be
    /// named. It is not trusted: KMS and AES-GCM both authenticate the presented context.
    ctx: SealContext,
    edk: String,
    nonce: String,
    ct: String,
}

/// KMS envelope sealer for one KMS key (id, ARN or alias).
#[derive(Debug, Clone)]
pub struct KmsSealer {
    client: Client,
    key_id: String,
}

impl KmsSealer {
    /// Seals under `key_id`; the Lambda role needs `kms:GenerateDataKey` and `kms:Decrypt` on
    /// it, ideally conditioned on the `keyshift:*` encryption-context keys.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn seal_failed(reason: impl Into<String>) -> KeyshiftError {
    KeyshiftError::SealFailed {
        reason: reason.into(),
    }
}

fn kms_context(context: &SealContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn context_aad(context: &SealContext) -> Result<Vec<u8>> {
    serde_json::to_vec(context).map_err(|_| seal_failed("encryption context is not serialisable"))
}

fn mismatch(sealed_with: &SealContext, presented: &SealContext) -> KeyshiftError {
    let mut differing: Vec<&str> = sealed_with
        .keys()
        .chain(presented.keys())
        .filter(|key| sealed_with.get(*key) != presented.get(*key))
        .map(String::as_str)
        .collect();
    differing.sort_unstable();
    differing.dedup();
    KeyshiftError::SealContextMismatch {
        reason: format!("context entries differ: {}", differing.join(", ")),
    }
}

fn cipher_for(data_key: &[u8]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(data_key)
        .map_err(|_| seal_failed("KMS returned a data key of the wrong size"))
}

#[async_trait]
impl Sealer for KmsSealer {
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken> {
        let output = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|error| classify(SERVICE, "GenerateDataKey", &error, None))?;
        let data_key = output
            .plaintext()
            .ok_or_else(|| seal_failed("KMS returned no plaintext data key"))?;
        let encrypted_key = output
            .ciphertext_blob()
            .ok_or_else(|| seal_failed("KMS returned no encrypted data key"))?;
        let cipher = cipher_for(data_key.as_ref())?;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill(&mut nonce);
        let aad = context_aad(context)?;
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
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
            edk: BASE64.encode(encrypted_key.as_ref()),
            nonce: BASE64.encode(nonce),
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
            .map_err(|_| seal_failed("sealed token is not a KMS envelope"))?;
        if envelope.v != ENVELOPE_VERSION || envelope.alg != ALGORITHM {
            return Err(seal_failed(
                "sealed token has an unknown format or algorithm",
            ));
        }
        if envelope.ctx != *context {
            return Err(mismatch(&envelope.ctx, context));
        }
        let decode = |field: &str, what: &str| {
            BASE64
                .decode(field)
                .map_err(|_| seal_failed(format!("sealed token has a malformed {what}")))
        };
        let encrypted_key = decode(&envelope.edk, "encrypted data key")?;
        let nonce = decode(&envelope.nonce, "nonce")?;
        if nonce.len() != NONCE_BYTES {
            return Err(seal_failed("sealed token has a malformed nonce"));
        }
        let ciphertext = decode(&envelope.ct, "ciphertext")?;
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(encrypted_key))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|error| {
                if has_code(&error, "InvalidCiphertextException")
                    || has_code(&error, "IncorrectKeyException")
                {
                    // KMS cannot tell a wrong context from corrupted ciphertext.
                    seal_failed("KMS refused the data key (wrong context, key or corrupted data)")
                } else {
                    classify(SERVICE, "Decrypt", &error, None)
                }
            })?;
        let data_key = output
            .plaintext()
            .ok_or_else(|| seal_failed("KMS returned no plaintext data key"))?;
        let aad = context_aad(context)?;
        let plaintext = cipher_for(data_key.as_ref())?
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| seal_failed("sealed token does not authenticate (tampered)"))?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| seal_failed("unsealed token is not UTF-8"))
    }
}
