//! Sealing tokens so they can travel through Step Functions payloads.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::WorkspaceRef;
use crate::secret::SecretString;

/// Encryption context binding a sealed token to where it may be unsealed.
pub type SealContext = BTreeMap<String, String>;

/// Context key naming the workspace a sealed token belongs to.
pub const SEAL_CONTEXT_WORKSPACE: &str = "keyshift:workspace";
/// Context key naming the execution that sealed the token.
pub const SEAL_CONTEXT_EXECUTION: &str = "keyshift:execution";

/// The encryption context for tokens of `workspace` minted by `execution_name`: a sealed token
/// copied into another execution's or workspace's payload cannot be unsealed there.
pub fn seal_context(workspace: &WorkspaceRef, execution_name: &str) -> SealContext {
    BTreeMap::from([
        (SEAL_CONTEXT_WORKSPACE.to_owned(), workspace.key()),
        (SEAL_CONTEXT_EXECUTION.to_owned(), execution_name.to_owned()),
    ])
}

/// An opaque, base64 ciphertext of a token (KMS Encrypt on AWS, AES-GCM locally). Safe in
/// state payloads and execution history; Debug shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedToken(String);

impl SealedToken {
    /// Wraps ciphertext produced by a [`Sealer`].
    pub fn new(ciphertext_base64: impl Into<String>) -> Self {
        Self(ciphertext_base64.into())
    }

    /// The base64 ciphertext, for the sealer that unseals it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SealedToken({} chars)", self.0.len())
    }
}

/// Envelope encryption with an authenticated context. Unsealing with a different context
/// fails with [`crate::KeyshiftError::SealContextMismatch`] (or `SealFailed` when the
/// backend cannot tell the two apart, as KMS cannot).
#[async_trait]
pub trait Sealer: Send + Sync {
    /// Encrypts a token under `context`.
    async fn seal(&self, plaintext: &SecretString, context: &SealContext) -> Result<SealedToken>;

    /// Decrypts a token sealed under the same `context`.
    async fn unseal(&self, sealed: &SealedToken, context: &SealContext) -> Result<SecretString>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_binds_workspace_and_execution() {
        let workspace = WorkspaceRef::amg("g-0123456789", "eu-west-1", 1).unwrap();
        let context = seal_context(&workspace, "run-1");
        assert_eq!(
            context.get(SEAL_CONTEXT_WORKSPACE).map(String::as_str),
            Some("amg:eu-west-1:g-0123456789:1")
        );
        assert_eq!(
            context.get(SEAL_CONTEXT_EXECUTION).map(String::as_str),
            Some("run-1")
        );
        assert_ne!(context, seal_context(&workspace, "run-2"));
    }

    #[test]
    fn sealed_token_is_a_plain_json_string() {
        let sealed = SealedToken::new("YWJj");
        assert_eq!(serde_json::to_string(&sealed).unwrap(), r#""YWJj""#);
        assert_eq!(format!("{sealed:?}"), "SealedToken(4 chars)");
    }
}
