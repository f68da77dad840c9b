//! Request validation as AMG's front door does it: ids, names, TTLs, roles, pagination.
//!
//! AMG rejects a bad request before touching the workspace, with a `ValidationException`
//! naming the offending member. Doing the same here (instead of letting the Grafana-side
//! state decide) keeps the control plane's limits (30-day TTL, role enum, name lengths)
//! independent of how the workspace's Grafana is configured.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::AmgError;
use crate::state::Role;

/// AMG's cap on `secondsToLive` for API keys and service-account tokens: 30 days.
pub(crate) const MAX_SECONDS_TO_LIVE: i64 = 2_592_000;

/// Page size when the caller gives no `maxResults`. AMG's default is UNCONFIRMED; the
/// modelled maximum is used so unpaginated callers see everything in small fleets.
const DEFAULT_PAGE_SIZE: usize = 100;

/// Largest `maxResults` the model allows.
const MAX_PAGE_SIZE: i64 = 100;

/// Rejects ids that do not match `^g-[0-9a-f]{10}$` (checked before any lookup, as AWS
/// validates path labels against their pattern).
pub(crate) fn workspace_id(raw: &str) -> Result<&str, AmgError> {
    let valid = raw.len() == 12
        && raw.starts_with("g-")
        && raw
            .bytes()
            .skip(2)
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if valid {
        Ok(raw)
    } else {
        Err(AmgError::field(
            "workspaceId",
            "Member must satisfy regular expression pattern: ^g-[0-9a-f]{10}$",
        ))
    }
}

/// Parses a numeric Grafana id given as a string path label (`serviceAccountId`, `tokenId`).
pub(crate) fn numeric_id(member: &str, raw: &str) -> Result<i64, AmgError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AmgError::field(member, "Member must be the numeric id Grafana assigned"))
}

/// A required string member with a length range.
pub(crate) fn name(
    member: &str,
    value: Option<String>,
    max_len: usize,
) -> Result<String, AmgError> {
    let value = value.ok_or_else(|| AmgError::field(member, "Member must not be null"))?;
    let length = value.chars().count();
    if length == 0 {
        return Err(AmgError::field(
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if length > max_len {
        return Err(AmgError::field(
            member,
            &format!("Member must have length less than or equal to {max_len}"),
        ));
    }
    Ok(value)
}

/// A required `secondsToLive` within AMG's 1..=30 days.
pub(crate) fn seconds_to_live(value: Option<i64>) -> Result<i64, AmgError> {
    let value = value.ok_or_else(|| AmgError::field("secondsToLive", "Member must not be null"))?;
    if value < 1 {
        return Err(AmgError::field(
            "secondsToLive",
            "Member must have value greater than or equal to 1",
        ));
    }
    if value > MAX_SECONDS_TO_LIVE {
        return Err(AmgError::field(
            "secondsToLive",
            &format!("Member must have value less than or equal to {MAX_SECONDS_TO_LIVE}"),
        ));
    }
    Ok(value)
}

/// `ADMIN|EDITOR|VIEWER` → Grafana's role; `member` is `keyRole` or `grafanaRole`.
pub(crate) fn role(member: &str, value: Option<String>) -> Result<Role, AmgError> {
    let value = value.ok_or_else(|| AmgError::field(member, "Member must not be null"))?;
    match value.as_str() {
        "ADMIN" => Ok(Role::Admin),
        "EDITOR" => Ok(Role::Editor),
        "VIEWER" => Ok(Role::Viewer),
        _ => Err(AmgError::field(
            member,
            "Member must satisfy enum value set: [ADMIN, EDITOR, VIEWER]",
        )),
    }
}

/// AMG's spelling of a Grafana role. Accounts created through Grafana's own API may have
/// the `None` role, which AMG's enum lacks; `NONE` is answered (UNCONFIRMED) so SDK callers
/// see an unknown variant rather than a wrong privilege.
pub(crate) fn role_wire_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "ADMIN",
        Role::Editor => "EDITOR",
        Role::Viewer => "VIEWER",
        Role::None => "NONE",
    }
}

/// Parses a JSON request body into `T`; an empty body counts as `{}` (the SDK sends `{}`
/// when every member is unset, but other clients may send nothing).
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AmgError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|error| {
        // serde's own message quotes the offending value, which may be a credential; only
        // the kind of problem and its position are reported.
        let problem = match error.classify() {
            serde_json::error::Category::Data => "a member has the wrong type",
            serde_json::error::Category::Io
            | serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof => "the body is not valid JSON",
        };
        AmgError::cannot_parse(&format!(
            "{problem} (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

/// The `maxResults`/`nextToken` query of the paginated list operations. Both arrive as
/// strings so a non-numeric `maxResults` becomes a ValidationException, not an axum 400.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageQuery {
    max_results: Option<String>,
    next_token: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    size: usize,
    offset: usize,
}

/// One page of results and the token for the next one.
#[derive(Debug)]
pub(crate) struct PageOf<T> {
    /// Items of this page.
    pub(crate) items: Vec<T>,
    /// Opaque token for the next page; `None` on the last page.
    pub(crate) next_token: Option<String>,
}

impl Page {
    /// Validates the query. `listing` names the list (and scope) the token belongs to, so a
    /// token from one list is refused by another, as opaque AWS tokens are.
    pub(crate) fn parse(query: PageQuery, listing: &str) -> Result<Self, AmgError> {
        let size = match query.max_results {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => {
                let value: i64 = text.parse().map_err(|_| {
                    AmgError::field("maxResults", "Member must be an integer between 1 and 100")
                })?;
                if !(1..=MAX_PAGE_SIZE).contains(&value) {
                    return Err(AmgError::field(
                        "maxResults",
                        "Member must have value between 1 and 100",
                    ));
                }
                usize::try_from(value).unwrap_or(DEFAULT_PAGE_SIZE)
            }
        };
        let offset = match query.next_token {
            None => 0,
            Some(token) => decode_token(&token, listing)
                .ok_or_else(|| AmgError::other("The nextToken is invalid or has expired"))?,
        };
        Ok(Self { size, offset })
    }

    /// Cuts one page out of the full, stably ordered list.
    pub(crate) fn apply<T>(self, items: Vec<T>, listing: &str) -> PageOf<T> {
        let total = items.len();
        let end = self.offset.saturating_add(self.size).min(total);
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(end.saturating_sub(self.offset))
            .collect();
        let next_token = (end < total).then(|| encode_token(end, listing));
        PageOf {
            items: page,
            next_token,
        }
    }
}

fn encode_token(offset: usize, listing: &str) -> String {
    STANDARD.encode(format!("{listing}|{offset}"))
}

fn decode_token(token: &str, listing: &str) -> Option<usize> {
    let bytes = STANDARD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (owner, offset) = text.rsplit_once('|')?;
    (owner == listing).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_must_match_the_amg_pattern() {
        assert!(workspace_id("g-0123456789").is_ok());
        assert!(workspace_id("g-abcdef0123").is_ok());
        assert!(workspace_id("g-ABCDEF0123").is_err());
        assert!(workspace_id("g-012345678").is_err());
        assert!(workspace_id("x-0123456789").is_err());
    }

    #[test]
    fn ttl_is_capped_at_thirty_days() {
        assert_eq!(seconds_to_live(Some(1)), Ok(1));
        assert_eq!(seconds_to_live(Some(2_592_000)), Ok(2_592_000));
        assert!(seconds_to_live(Some(2_592_001)).is_err());
        assert!(seconds_to_live(Some(0)).is_err());
        assert!(seconds_to_live(None).is_err());
    }

    #[test]
    fn pages_walk_the_whole_list_and_tokens_are_scoped() {
        let items: Vec<u32> = (0..5).collect();
        let first = Page::parse(
            PageQuery {
                max_results: Some("2".into()),
                next_token: None,
            },
            "a",
        )
        .unwrap()
        .apply(items.clone(), "a");
        assert_eq!(first.items, vec![0, 1]);
        let token = first.next_token.unwrap();
        let second = Page::parse(
            PageQuery {
                max_results: Some("2".into()),
                next_token: Some(token.clone()),
            },
            "a",
        )
        .unwrap()
        .apply(items.clone(), "a");
        assert_eq!(second.items, vec![2, 3]);
        assert!(
            Page::parse(
                PageQuery {
                    max_results: None,
                    next_token: Some(token),
                },
                "b",
            )
            .is_err()
        );
        assert!(
            Page::parse(
                PageQuery {
                    max_results: Some("101".into()),
                    next_token: None,
                },
                "a",
            )
            .is_err()
        );
    }

    #[test]
    fn malformed_bodies_are_cannot_parse() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[allow(dead_code)]
            name: Option<String>,
        }
        let error = json_body::<Body>(b"{\"name\": ").unwrap_err();
        assert!(matches!(
            error,
            AmgError::Validation {
                reason: super::super::error::ValidationReason::CannotParse,
                ..
            }
        ));
        assert!(json_body::<Body>(b"").is_ok());
    }
}
