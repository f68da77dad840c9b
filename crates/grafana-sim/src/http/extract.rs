//! Lenient path and query extractors.
//!
//! axum's `Path` and `Query` reject a request whose percent-decoded parameters are not UTF-8
//! with a plain-text 400 of their own, a body no Grafana client has ever seen. Grafana (Go)
//! keeps such bytes and then fails its own id parsing with its usual JSON answer. These
//! extractors never reject: undecodable bytes become U+FFFD, so the handler's own validation
//! ("Service Account ID is invalid", ...) answers as Grafana would.

use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use percent_encoding::percent_decode_str;

/// Route parameters by name (`id`, `tokenId`, `keyId`).
#[derive(Debug, Default)]
pub(crate) struct PathParams(pub HashMap<String, String>);

/// Query parameters by name; the last occurrence of a repeated name wins.
#[derive(Debug, Default)]
pub(crate) struct QueryParams(pub HashMap<String, String>);

/// Percent-decodes `text`, keeping malformed escapes literally and replacing invalid UTF-8;
/// in a query (`plus_is_space`) a literal `+` is a space, while `%2B` stays a plus.
fn percent_decode_lossy(text: &str, plus_is_space: bool) -> String {
    let text = if plus_is_space {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    };
    percent_decode_str(&text).decode_utf8_lossy().into_owned()
}

/// Pairs `{name}` segments of the matched route template with the request's raw segments.
fn params_from_template(template: &str, path: &str) -> HashMap<String, String> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(pattern, raw)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_string(), percent_decode_lossy(raw, false)))
        })
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        if let Ok(Path(params)) =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await
        {
            return Ok(Self(params));
        }
        let params = parts
            .extensions
            .get::<MatchedPath>()
            .map(|matched| params_from_template(matched.as_str(), parts.uri.path()))
            .unwrap_or_default();
        Ok(Self(params))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let params = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    percent_decode_lossy(name, true),
                    percent_decode_lossy(value, true),
                )
            })
            .collect();
        Ok(Self(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_bad_escapes_and_replaces_bad_utf8() {
        assert_eq!(percent_decode_lossy("a%20b+c", true), "a b c");
        assert_eq!(percent_decode_lossy("a+b", false), "a+b");
        assert_eq!(percent_decode_lossy("a%2Bb+c", true), "a+b c");
        assert_eq!(percent_decode_lossy("%F0%9F%9A%80", false), "🚀");
        assert_eq!(percent_decode_lossy("%FF%FE", false), "\u{FFFD}\u{FFFD}");
        assert_eq!(percent_decode_lossy("100%", false), "100%");
        assert_eq!(percent_decode_lossy("%zz%4", false), "%zz%4");
    }

    #[test]
    fn template_segments_name_the_raw_values() {
        let params = params_from_template(
            "/g/{instance}/api/serviceaccounts/{id}/tokens/{tokenId}",
            "/g/x/api/serviceaccounts/%FF/tokens/7",
        );
        assert_eq!(params.get("id").map(String::as_str), Some("\u{FFFD}"));
        assert_eq!(params.get("tokenId").map(String::as_str), Some("7"));
    }
}
