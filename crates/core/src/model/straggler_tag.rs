//! The `keyshift:stragglers` tag: which superseded tokens of a managed secret revoke-old keeps
//! because consumers still use them, written on the secret itself so that `keyshift status`
//! reports them from Secrets Manager alone, like everything else it reports.
//!
//! A tag value holds at most 256 characters from a small alphabet (letters, digits, spaces and
//! `+ - = . _ : / @`), so each kept token is `<token id>@<last use>/<kept until>` in UTC
//! seconds, entries are separated by a space, and when more entries are kept than fit, the
//! value ends with `+<count left out>`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::error::{KeyshiftError, Result};

/// The tag's key.
pub const STRAGGLERS_TAG: &str = "keyshift:stragglers";

/// Secrets Manager's limit on a tag value's length.
const TAG_VALUE_LIMIT: usize = 256;

/// Timestamps in the tag: RFC 3339 in UTC, to the second, with no characters tags refuse.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// One kept token as the tag records it: ids and times, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedStraggler {
    /// The token's Grafana id.
    pub token_id: i64,
    /// Grafana's `lastUsedAt` when revoke-old kept it.
    pub last_used_at: DateTime<Utc>,
    /// When it is revoked even if still in use (`policy.maxGracePeriod`).
    pub kept_until: DateTime<Utc>,
}

/// What the tag says: the entries that fit and how many did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StragglerRecord {
    /// Kept tokens, by token id.
    pub entries: Vec<RecordedStraggler>,
    /// Kept tokens left out because the tag value is full.
    pub omitted: usize,
}

impl StragglerRecord {
    /// Reads a tag value. A value keyshift did not write is a named error rather than a guess,
    /// so status says the tag is unreadable instead of reporting nothing.
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = |why: String| KeyshiftError::invalid_input(STRAGGLERS_TAG, why);
        let mut record = Self::default();
        let mut words = value.split(' ').filter(|word| !word.is_empty()).peekable();
        while let Some(word) = words.next() {
            if let Some(count) = word.strip_prefix('+') {
                if words.peek().is_some() {
                    return Err(invalid(
                        "the count of left-out tokens must come last".to_owned(),
                    ));
                }
                record.omitted = count
                    .parse()
                    .map_err(|_| invalid(format!("`{word}` is not a count of left-out tokens")))?;
                continue;
            }
            let entry = parse_entry(word).ok_or_else(|| {
                invalid(format!(
                    "`{word}` is not `<token id>@<last use>/<kept until>`"
                ))
            })?;
            record.entries.push(entry);
        }
        Ok(record)
    }

    /// The tag value, or `None` when nothing is kept (the tag is then removed). Entries are
    /// written by token id so that the same set always gives the same value.
    pub fn render(&self) -> Option<String> {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|entry| entry.token_id);
        entries.dedup_by_key(|entry| entry.token_id);
        let total = entries.len() + self.omitted;
        if total == 0 {
            return None;
        }
        let mut value = String::new();
        for (written, entry) in entries.iter().enumerate() {
            let word = render_entry(entry);
            let separator = usize::from(!value.is_empty());
            let left_after = total - written - 1;
            let reserve = if left_after == 0 {
                0
            } else {
                format!(" +{left_after}").len()
            };
            if value.len() + separator + word.len() + reserve > TAG_VALUE_LIMIT {
                let left = total - written;
                push_word(&mut value, &format!("+{left}"));
                return Some(value);
            }
            push_word(&mut value, &word);
        }
        if self.omitted > 0 {
            push_word(&mut value, &format!("+{}", self.omitted));
        }
        Some(value)
    }

    /// The record after a revoke pass: entries for tokens the pass decided about are dropped
    /// (revoked, or kept again and so among `kept`), as are entries `still_held` says are gone
    /// or labelled; then `kept` is added. The count of left-out entries is not carried over:
    /// their ids are unknown, and the pass that decides about them records them again.
    pub fn updated(
        &self,
        decided: impl Fn(i64) -> bool,
        still_held: impl Fn(i64) -> bool,
        kept: impl IntoIterator<Item = RecordedStraggler>,
    ) -> Self {
        let mut entries: Vec<RecordedStraggler> = self
            .entries
            .iter()
            .filter(|entry| !decided(entry.token_id) && still_held(entry.token_id))
            .copied()
            .collect();
        entries.extend(kept);
        Self {
            entries,
            omitted: 0,
        }
    }
}

fn parse_entry(word: &str) -> Option<RecordedStraggler> {
    let (id, times) = word.split_once('@')?;
    let (last, until) = times.split_once('/')?;
    let time = |text: &str| {
        NaiveDateTime::parse_from_str(text, TIME_FORMAT)
            .ok()
            .map(|time| time.and_utc())
    };
    Some(RecordedStraggler {
        token_id: id.parse().ok()?,
        last_used_at: time(last)?,
        kept_until: time(until)?,
    })
}

fn render_entry(entry: &RecordedStraggler) -> String {
    format!(
        "{}@{}/{}",
        entry.token_id,
        entry.last_used_at.format(TIME_FORMAT),
        entry.kept_until.format(TIME_FORMAT)
    )
}

fn push_word(value: &mut String, word: &str) {
    if !value.is_empty() {
        value.push(' ');
    }
    value.push_str(word);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(token_id: i64) -> RecordedStraggler {
        RecordedStraggler {
            token_id,
            last_used_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
            kept_until: Utc.with_ymd_and_hms(2026, 12, 8, 9, 30, 5).unwrap(),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let record = StragglerRecord {
            entries: vec![entry(12), entry(7)],
            omitted: 0,
        };
        let value = record.render().unwrap();
        assert_eq!(
            value,
            "7@2026-12-01T10:00:00Z/2026-12-08T09:30:05Z 12@2026-12-01T10:00:00Z/2026-12-08T09:30:05Z"
        );
        let read = StragglerRecord::parse(&value).unwrap();
        assert_eq!(read.entries, vec![entry(7), entry(12)]);
        assert_eq!(read.omitted, 0);
        assert!(StragglerRecord::default().render().is_none());
    }

    #[test]
    fn too_many_entries_end_with_the_count_left_out_within_the_limit() {
        let record = StragglerRecord {
            entries: (1..=20).map(entry).collect(),
            omitted: 3,
        };
        let value = record.render().unwrap();
        assert!(value.len() <= TAG_VALUE_LIMIT, "{}", value.len());
        assert!(
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c)),
            "{value}"
        );
        let read = StragglerRecord::parse(&value).unwrap();
        assert_eq!(read.entries.len() + read.omitted, 23);
        assert_eq!(read.entries.len(), 5);
    }

    #[test]
    fn values_keyshift_did_not_write_are_named_errors() {
        for bad in [
            "x",
            "1@2026/2027",
            "+2 1@a/b",
            "+x",
            "12@2026-12-01T10:00:00Z",
        ] {
            let error = StragglerRecord::parse(bad).unwrap_err();
            assert_eq!(error.asl_name(), "Input.Invalid", "{bad}");
        }
        assert_eq!(
            StragglerRecord::parse("").unwrap(),
            StragglerRecord::default()
        );
    }

    #[test]
    fn a_pass_replaces_what_it_decided_and_drops_tokens_no_longer_held() {
        let record = StragglerRecord {
            entries: vec![entry(1), entry(2), entry(3)],
            omitted: 0,
        };
        let mut again = entry(2);
        again.last_used_at = Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap();
        let updated = record.updated(|id| id == 1 || id == 2, |id| id != 3, [again, entry(9)]);
        assert_eq!(updated.entries, vec![again, entry(9)]);
    }
}
