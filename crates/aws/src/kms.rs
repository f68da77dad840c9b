//! [`Sealer`] with a KMS envelope: tokens travel through Step Functions payloads (and so
//! execution history) only as ciphertext bound to their workspace and execution.
//!
//! KMS generates a fresh AES-256 data key under the encryption context per seal; the token is
//! encrypted locally with AES-GCM (the context again as AAD) and the envelope
//! `{encrypted data key, nonce, ciphertext, context}` is serialised as base64 JSON. Unsealing
//! asks KMS to decrypt the data key under the presented context, so only a principal allowed
//! `kms:Decrypt` with that context can open the token.

use std::collections::HashMap;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;
use keyshift_local::envelope::EnvelopeFormat;

use crate::aws_errors::{classify, has_code};

const SERVICE: &str = "kms";

/// The KMS envelope: the wrapped data key travels with the ciphertext, and since KMS has
/// already vouched for the data key, an AES-GCM failure can only mean tampering.
const KMS_ENVELOPE: EnvelopeFormat = EnvelopeFormat {
    algorithm: "KMS+A256GCM",
    wraps_data_key: true,
    not_an_envelope: "sealed token is not a KMS envelope",
    not_authentic: "sealed token does not authenticate (tampered)",
};

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

fn seal_failed(reason: &str) -> KeyshiftError {
    KeyshiftError::SealFailed {
        reason: reason.to_owned(),
    }
}

fn kms_context(context: &SealContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
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
        KMS_ENVELOPE.seal(&cipher, plaintext, context, Some(encrypted_key.as_ref()))
    }

    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString> {
        let envelope = KMS_ENVELOPE.parse(sealed, context)?;
        let encrypted_key = envelope
            .encrypted_data_key()
            .ok_or_else(|| seal_failed(KMS_ENVELOPE.not_an_envelope))?;
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
        envelope.decrypt(&cipher_for(data_key.as_ref())?, context)
    }
}
