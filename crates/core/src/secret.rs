//! Handling of credential material (tokens, keys, passwords).
//!
//! keyshift's central promise is that no plaintext credential ever lands in a log line, an
//! error, a state payload or a DLQ message. The types here make the safe path the easy one:
//! a [`SecretString`] cannot be printed or serialized by accident, and [`scrub_secrets`]
//! removes credential-shaped text from strings that come from the outside (response bodies)
//! before they are put into error messages.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serializer};

/// Text printed in place of a secret, so redaction is recognisable in logs and tests.
pub const REDACTED: &str = "[REDACTED]";

/// A credential (token, API key, password) whose value is only reachable through
/// [`SecretString::expose`].
///
/// It is deliberately not `Serialize`: a payload that must carry a secret (the value written to
/// Secrets Manager) opts in explicitly with `#[serde(serialize_with = "expose_secret")]`, so
/// grepping for that function finds every place a secret leaves the process.
/// `Deserialize` is implemented because reading a secret in does not leak it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a credential; the caller hands over ownership so no unwrapped copy lingers.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Gives access to the plaintext for the few places that must use it (an HTTP header,
    /// a Secrets Manager write, a seal operation). Never pass the result to a logger.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lets validation reject empty credentials without exposing the value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Lets tests and leak scanners check for a value without exposing it in assertion output.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

/// The one sanctioned way to serialize a secret: use it as `serialize_with` on a field whose
/// explicit purpose is to carry the plaintext (for example the Secrets Manager secret value).
pub fn expose_secret<S: Serializer>(
    secret: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// Longest text kept from an external message, so a hostile server cannot bloat errors,
/// DLQ messages or execution histories (error causes are capped by Step Functions anyway).
pub const MAX_EXTERNAL_TEXT: usize = 512;

static SECRET_SHAPED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // glsa_ tokens, Bearer/Basic header values, and long base64 runs (legacy API keys are
    // standard base64 of a JSON object, 60+ characters).
    Regex::new(
        r"(?x)
        glsa_[A-Za-z0-9]+(?:_[0-9a-fA-F]*)?
        | (?i:bearer|basic)\s+[A-Za-z0-9+/=._~-]+
        | [A-Za-z0-9+/]{32,}={0,2}
        ",
    )
    .ok()
});

/// Whether a long alphanumeric run looks like key material rather than a word, id or path:
/// random base64 mixes upper case, lower case and digits; names and ARNs rarely do.
fn looks_random(candidate: &str) -> bool {
    let has_upper = candidate
        .chars()
        .any(|character| character.is_ascii_uppercase());
    let has_lower = candidate
        .chars()
        .any(|character| character.is_ascii_lowercase());
    let has_digit = candidate
        .chars()
        .any(|character| character.is_ascii_digit());
    has_upper && has_lower && has_digit
}

/// Makes text from outside (a Grafana or AWS error body) safe to embed in an error message:
/// credential-shaped substrings are replaced by [`REDACTED`], control characters are dropped
/// and the result is cut to [`MAX_EXTERNAL_TEXT`] characters.
pub fn scrub_secrets(text: &str) -> String {
    let replaced = match SECRET_SHAPED.as_ref() {
        Some(pattern) => pattern
            .replace_all(text, |captures: &regex::Captures<'_>| {
                let found = captures.get(0).map_or("", |whole| whole.as_str());
                let is_token_or_header =
                    found.starts_with("glsa_") || found.contains(char::is_whitespace);
                if is_token_or_header || looks_random(found) {
                    REDACTED.to_owned()
                } else {
                    found.to_owned()
                }
            })
            .into_owned(),
        // The pattern is a constant and compiles; if it ever did not, refuse to pass text on.
        None => return REDACTED.to_owned(),
    };
    let mut cleaned: String = replaced
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(MAX_EXTERNAL_TEXT)
        .collect();
    if replaced.chars().count() > MAX_EXTERNAL_TEXT {
        cleaned.push('…');
    }
    cleaned
}

/// Removes double-quoted values from a message (serde errors quote the offending input,
/// which might be a credential), keeping field names, which serde puts in backticks.
pub fn strip_quoted_values(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut inside = false;
    for character in text.chars() {
        if character == '"' {
            if !inside {
                result.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            result.push(character);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = SecretString::new("glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&secret)), format!("Some({REDACTED})"));
        assert_eq!(secret.expose().len(), 46);
    }

    #[test]
    fn explicit_serialization_exposes_only_where_asked() {
        #[derive(serde::Serialize)]
        struct Stored {
            #[serde(serialize_with = "expose_secret")]
            token: SecretString,
        }
        let json = serde_json::to_string(&Stored {
            token: SecretString::new("abc"),
        })
        .unwrap();
        assert_eq!(json, r#"{"token":"abc"}"#);
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let secret: SecretString = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn scrub_removes_tokens_keys_and_headers() {
        let legacy_key =
            "eyJrIjoiT0tTcG1pUlY2RnVKZTFVaDFsNFZXdE9ZWmNrMkZYbk4iLCJuIjoiY2ktZGVwbG95IiwiaWQiOjF9";
        let text = format!(
            "bad token glsa_abcdefghijklmnopqrstuvwxyzABCDEF_0a1b2c3d and key {legacy_key} via Bearer xyz123"
        );
        let scrubbed = scrub_secrets(&text);
        assert!(!scrubbed.contains("glsa_abc"), "{scrubbed}");
        assert!(!scrubbed.contains(legacy_key), "{scrubbed}");
        assert!(!scrubbed.contains("xyz123"), "{scrubbed}");
        assert!(scrubbed.starts_with("bad token [REDACTED] and key [REDACTED]"));
    }

    #[test]
    fn scrub_keeps_ordinary_messages_ids_and_paths() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyshift/g-0123456789/1/sa-autogen-ci-deploy/token-AbCdEf";
        assert_eq!(scrub_secrets(arn), arn);
        let word = "serviceaccountsverylongidentifierwithoutdigitsatall";
        assert_eq!(scrub_secrets(word), word);
    }

    #[test]
    fn quoted_values_are_stripped_but_field_names_kept() {
        let message = r#"invalid type: string "hunter2", expected i64 at `tokenId` line 1"#;
        assert_eq!(
            strip_quoted_values(message),
            r#"invalid type: string "…", expected i64 at `tokenId` line 1"#
        );
    }

    #[test]
    fn scrub_keeps_ordinary_messages_and_caps_length() {
        assert_eq!(
            scrub_secrets("service account not found"),
            "service account not found"
        );
        let long = "word ".repeat(500);
        let scrubbed = scrub_secrets(&long);
        assert_eq!(scrubbed.chars().count(), MAX_EXTERNAL_TEXT + 1);
        assert!(scrubbed.ends_with('…'));
        assert_eq!(scrub_secrets("line\nbreak\u{7}"), "line break ");
    }
}
