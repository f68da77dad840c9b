//! The AES-256-GCM envelope shared by every [`keyshift_core::ports::Sealer`]: the local sealer
//! and the KMS sealer differ only in where the data key comes from, so the envelope's layout,
//! its checks and its error wording live here once and cannot drift apart.
//!
//! A sealed token is base64 of the JSON `{v, alg, ctx, [edk,] nonce, ct}`. The encryption
//! context is bound as AES-GCM additional authenticated data, and also carried (`ctx`, it holds
//! only identifiers) so a mismatch can be reported by name instead of as a generic failure; the
//! carried copy is never trusted, since authentication is against the presented context.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::error::{KeyshiftError, Result};
use keyshift_core::ports::{SealContext, SealedToken};
use keyshift_core::secret::SecretString;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Envelope format version, so a future format can be told apart.
const ENVELOPE_VERSION: u32 = 1;
const NONCE_BYTES: usize = 12;

/// The wire layout; field order is the serialised order, kept stable for existing tokens.
#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    alg: String,
    ctx: SealContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edk: Option<String>,
    nonce: String,
    ct: String,
}

/// What sets one sealer's envelopes apart, so each sealer rejects the other's tokens by
/// algorithm and words its failures for its own operator.
#[derive(Debug)]
pub struct EnvelopeFormat {
    /// The `alg` value written and required, telling the sealers' tokens apart.
    pub algorithm: &'static str,
    /// Whether an encrypted data key (`edk`) must travel with the ciphertext (KMS does).
    pub wraps_data_key: bool,
    /// The message when the bytes are not this format's envelope at all.
    pub not_an_envelope: &'static str,
    /// The message when AES-GCM refuses the ciphertext, naming the causes this sealer can have.
    pub not_authentic: &'static str,
}

/// An envelope that passed every check that needs no key: version, algorithm, context and
/// field encodings. What remains is to obtain the data key and [`ParsedEnvelope::decrypt`].
pub struct ParsedEnvelope<'format> {
    format: &'format EnvelopeFormat,
    encrypted_data_key: Option<Vec<u8>>,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn seal_failed(reason: impl Into<String>) -> KeyshiftError {
    KeyshiftError::SealFailed {
        reason: reason.into(),
    }
}

/// The context as bytes for AAD: serde_json of a BTreeMap is key-sorted, hence canonical.
fn context_aad(context: &SealContext) -> Result<Vec<u8>> {
    serde_json::to_vec(context).map_err(|_| seal_failed("encryption context is not serialisable"))
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

impl EnvelopeFormat {
    /// Encrypts `plaintext` under `cipher` with a fresh nonce and the context as AAD; the
    /// `encrypted_data_key` (KMS's wrapped key) travels beside it when the format has one.
    pub fn seal(
        &self,
        cipher: &Aes256Gcm,
        plaintext: &SecretString,
        context: &SealContext,
        encrypted_data_key: Option<&[u8]>,
    ) -> Result<SealedToken> {
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
            alg: self.algorithm.to_owned(),
            ctx: context.clone(),
            edk: encrypted_data_key.map(|key| BASE64.encode(key)),
            nonce: BASE64.encode(nonce),
            ct: BASE64.encode(ciphertext),
        };
        let json =
            serde_json::to_vec(&envelope).map_err(|_| seal_failed("envelope encoding failed"))?;
        Ok(SealedToken::new(BASE64.encode(json)))
    }

    /// Decodes and checks `sealed` against the presented `context` before any key is fetched,
    /// so a wrong context is a named `Seal.ContextMismatch` and garbage costs no KMS call.
    pub fn parse(&self, sealed: &SealedToken, context: &SealContext) -> Result<ParsedEnvelope<'_>> {
        let json = BASE64
            .decode(sealed.as_str())
            .map_err(|_| seal_failed("sealed token is not base64"))?;
        let envelope: Envelope =
            serde_json::from_slice(&json).map_err(|_| seal_failed(self.not_an_envelope))?;
        if self.wraps_data_key && envelope.edk.is_none() {
            return Err(seal_failed(self.not_an_envelope));
        }
        if envelope.v != ENVELOPE_VERSION || envelope.alg != self.algorithm {
            return Err(seal_failed(
                "sealed token has an unknown format or algorithm",
            ));
        }
        if envelope.ctx != *context {
            return Err(KeyshiftError::SealContextMismatch {
                reason: describe_context_mismatch(&envelope.ctx, context),
            });
        }
        let decode = |field: &str, what: &str| {
            BASE64
                .decode(field)
                .map_err(|_| seal_failed(format!("sealed token has a malformed {what}")))
        };
        let encrypted_data_key = match (self.wraps_data_key, &envelope.edk) {
            (true, Some(edk)) => Some(decode(edk, "encrypted data key")?),
            _ => None,
        };
        let nonce = decode(&envelope.nonce, "nonce")?;
        if nonce.len() != NONCE_BYTES {
            return Err(seal_failed("sealed token has a malformed nonce"));
        }
        let ciphertext = decode(&envelope.ct, "ciphertext")?;
        Ok(ParsedEnvelope {
            format: self,
            encrypted_data_key,
            nonce,
            ciphertext,
        })
    }
}

impl ParsedEnvelope<'_> {
    /// The wrapped data key to have KMS decrypt; present whenever the format wraps one.
    pub fn encrypted_data_key(&self) -> Option<&[u8]> {
        self.encrypted_data_key.as_deref()
    }

    /// Opens the ciphertext with the data key's `cipher`, authenticating the presented
    /// context as AAD, so a forged `ctx` in the envelope still fails here.
    pub fn decrypt(&self, cipher: &Aes256Gcm, context: &SealContext) -> Result<SecretString> {
        let aad = context_aad(context)?;
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| seal_failed(self.format.not_authentic))?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| seal_failed("unsealed token is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::KeyInit;

    use super::*;

    const PLAIN: EnvelopeFormat = EnvelopeFormat {
        algorithm: "A256GCM",
        wraps_data_key: false,
        not_an_envelope: "not plain",
        not_authentic: "plain tampered",
    };
    const WRAPPED: EnvelopeFormat = EnvelopeFormat {
        algorithm: "KMS+A256GCM",
        wraps_data_key: true,
        not_an_envelope: "not wrapped",
        not_authentic: "wrapped tampered",
    };

    fn cipher() -> Aes256Gcm {
        Aes256Gcm::new(&[3u8; 32].into())
    }

    fn context() -> SealContext {
        SealContext::from([("keyshift:execution".to_owned(), "exec-1".to_owned())])
    }

    fn fields(sealed: &SealedToken) -> Vec<String> {
        let json: serde_json::Value =
            serde_json::from_slice(&BASE64.decode(sealed.as_str()).unwrap()).unwrap();
        let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn reason(error: KeyshiftError) -> String {
        match error {
            KeyshiftError::SealFailed { reason } => reason,
            other => panic!("expected SealFailed, got {other:?}"),
        }
    }

    #[test]
    fn the_wire_fields_are_those_existing_tokens_carry() {
        let secret = SecretString::new("glsa_plaintext");
        let plain = PLAIN.seal(&cipher(), &secret, &context(), None).unwrap();
        assert_eq!(fields(&plain), ["alg", "ct", "ctx", "nonce", "v"]);
        let wrapped = WRAPPED
            .seal(&cipher(), &secret, &context(), Some(b"wrapped-key"))
            .unwrap();
        assert_eq!(fields(&wrapped), ["alg", "ct", "ctx", "edk", "nonce", "v"]);
        let parsed = WRAPPED.parse(&wrapped, &context()).unwrap();
        assert_eq!(parsed.encrypted_data_key(), Some(&b"wrapped-key"[..]));
        let opened = parsed.decrypt(&cipher(), &context()).unwrap();
        assert_eq!(opened.expose(), "glsa_plaintext");
    }

    #[test]
    fn each_format_refuses_the_others_tokens_in_its_own_words() {
        let secret = SecretString::new("glsa_plaintext");
        let plain = PLAIN.seal(&cipher(), &secret, &context(), None).unwrap();
        let wrapped = WRAPPED
            .seal(&cipher(), &secret, &context(), Some(b"k"))
            .unwrap();
        let missing_key = WRAPPED.parse(&plain, &context()).err().unwrap();
        assert_eq!(reason(missing_key), "not wrapped");
        let wrong_algorithm = PLAIN.parse(&wrapped, &context()).err().unwrap();
        assert_eq!(
            reason(wrong_algorithm),
            "sealed token has an unknown format or algorithm"
        );
        let other_cipher = Aes256Gcm::new_from_slice(&[4u8; 32]).unwrap();
        let refused = PLAIN
            .parse(&plain, &context())
            .unwrap()
            .decrypt(&other_cipher, &context())
            .unwrap_err();
        assert_eq!(reason(refused), "plain tampered");
    }
}
