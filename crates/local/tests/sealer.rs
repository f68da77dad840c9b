//! The local AES-GCM sealer: round trip, context binding, tampering, key handling.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyshift_core::ports::{SealContext, SealedToken, Sealer};
use keyshift_core::secret::SecretString;
use keyshift_local::{LocalSealer, LocalSealerError};

fn context(workspace: &str, execution: &str) -> SealContext {
    SealContext::from([
        ("keyshift:workspace".to_owned(), workspace.to_owned()),
        ("keyshift:execution".to_owned(), execution.to_owned()),
    ])
}

const TOKEN: &str = "glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d";

/// A fresh random sealer and [`TOKEN`] sealed by it for execution `exec-1`.
async fn sealed_for_exec_1() -> (LocalSealer, SealedToken) {
    let sealer = LocalSealer::random();
    let sealed = sealer
        .seal(
            &SecretString::new(TOKEN),
            &context("g-0123456789", "exec-1"),
        )
        .await
        .unwrap();
    (sealer, sealed)
}

#[tokio::test]
async fn round_trip_with_the_same_context() {
    let sealer = LocalSealer::random();
    let ctx = context("g-0123456789", "exec-1");
    let sealed = sealer.seal(&SecretString::new(TOKEN), &ctx).await.unwrap();
    assert!(!sealed.as_str().contains(TOKEN));
    let decoded = String::from_utf8(BASE64.decode(sealed.as_str()).unwrap()).unwrap();
    assert!(!decoded.contains("glsa_"), "{decoded}");
    let opened = sealer.unseal(&sealed, &ctx).await.unwrap();
    assert_eq!(opened.expose(), TOKEN);
    let again = sealer.seal(&SecretString::new(TOKEN), &ctx).await.unwrap();
    assert_ne!(again, sealed, "a fresh nonce per seal");
}

#[tokio::test]
async fn another_context_is_a_named_mismatch() {
    let (sealer, sealed) = sealed_for_exec_1().await;
    let error = sealer
        .unseal(&sealed, &context("g-0123456789", "exec-2"))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Seal.ContextMismatch");
    assert!(error.to_string().contains("keyshift:execution"), "{error}");
    assert!(!error.to_string().contains("keyshift:workspace"), "{error}");
}

#[tokio::test]
async fn forged_envelope_context_still_fails_authentication() {
    let (sealer, sealed) = sealed_for_exec_1().await;
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&BASE64.decode(sealed.as_str()).unwrap()).unwrap();
    envelope["ctx"]["keyshift:execution"] = "exec-2".into();
    let forged = SealedToken::new(BASE64.encode(serde_json::to_vec(&envelope).unwrap()));
    let error = sealer
        .unseal(&forged, &context("g-0123456789", "exec-2"))
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Seal.Failed");
}

#[tokio::test]
async fn another_key_or_garbage_fails_without_panicking() {
    let ctx = context("g-0123456789", "exec-1");
    let sealed = LocalSealer::from_key(&[7u8; 32])
        .unwrap()
        .seal(&SecretString::new(TOKEN), &ctx)
        .await
        .unwrap();
    let same_key = LocalSealer::from_key(&[7u8; 32]).unwrap();
    assert_eq!(
        same_key.unseal(&sealed, &ctx).await.unwrap().expose(),
        TOKEN
    );
    let other_key = LocalSealer::from_key(&[8u8; 32]).unwrap();
    assert_eq!(
        other_key
            .unseal(&sealed, &ctx)
            .await
            .unwrap_err()
            .asl_name(),
        "Seal.Failed"
    );
    for garbage in ["", "!!!", "bm90IGpzb24=", "e30="] {
        let error = same_key
            .unseal(&SealedToken::new(garbage), &ctx)
            .await
            .unwrap_err();
        assert_eq!(error.asl_name(), "Seal.Failed", "{garbage}");
    }
    assert_eq!(
        LocalSealer::from_key(&[1u8; 16]).unwrap_err(),
        LocalSealerError::WrongKeyLength(16)
    );
    assert!(!format!("{same_key:?}").contains('7'));
}
