//! [`Sealer`] over KMS Encrypt/Decrypt: tokens travel through Step Functions payloads (and so
//! execution history) only as ciphertext bound to their workspace and execution.
//!
//! A service-account token is about 46 bytes, far below KMS Encrypt's 4 KB plaintext limit, so
//! KMS encrypts it directly under the encryption context in one call: no data key, no local
//! AES-GCM. The sealed token is the base64 of KMS's ciphertext blob. Unsealing asks KMS to
//! decrypt under the presented context, so only a principal allowed `kms:Decrypt` with that
//! context can open the token; KMS does not say whether a refusal was the context, the key or
//! corrupted bytes, so all three are `Seal.Failed`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;

use crate::aws_errors::{classify, has_code};

const SERVICE: &str = "kms";

/// KMS sealer for one KMS key (id, ARN or alias).
#[derive(Debug, Clone)]
pub struct KmsSealer {
    client: Client,
    key_id: String,
}

impl KmsSealer {
    /// Seals under `key_id`; the Lambda role needs `kms:Encrypt` and `kms:Decrypt` on it,
    /// ideally conditioned on the `keyshift:*` encryption-context keys.
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

#[async_trait]
impl Sealer for KmsSealer {
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken> {
        let output = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.expose().as_bytes()))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|error| classify(SERVICE, "Encrypt", &error, None))?;
        let ciphertext = output
            .ciphertext_blob()
            .ok_or_else(|| seal_failed("KMS returned no ciphertext"))?;
        Ok(SealedToken::new(BASE64.encode(ciphertext.as_ref())))
    }

    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString> {
        let ciphertext = BASE64
            .decode(sealed.as_str())
            .map_err(|_| seal_failed("sealed token is not KMS ciphertext (not base64)"))?;
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|error| {
                if has_code(&error, "InvalidCiphertextException")
                    || has_code(&error, "IncorrectKeyException")
                {
                    seal_failed(
                        "KMS refused the sealed token (wrong context, wrong key or corrupted data)",
                    )
                } else {
                    classify(SERVICE, "Decrypt", &error, None)
                }
            })?;
        let plaintext = output
            .plaintext()
            .ok_or_else(|| seal_failed("KMS returned no plaintext"))?;
        let token = String::from_utf8(plaintext.as_ref().to_vec())
            .map_err(|_| seal_failed("the unsealed token is not UTF-8 text"))?;
        Ok(SecretString::new(token))
    }
}
