//! Human-friendly durations in configuration: `"7d"`, `"24h"`, `"90m"`, `"30s"` or a plain
//! number of seconds. Operators write policies by hand; `"604800"` is not what they expect to type.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses `"7d"`, `"24h"`, `"90m"`, `"30s"` or `"3600"` (seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let trimmed = text.trim();
    let (digits, multiplier) = match trimmed.chars().last() {
        Some(unit) if unit.is_ascii_alphabetic() => {
            let multiplier = UNITS
                .iter()
                .find(|(name, _)| *name == unit.to_ascii_lowercase())?
                .1;
            (trimmed.get(..trimmed.len() - 1)?, multiplier)
        }
        Some(_) => (trimmed, 1),
        None => return None,
    };
    if digits.is_empty() || !digits.chars().all(|character| character.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    amount.checked_mul(multiplier).map(Duration::from_secs)
}

/// Formats with the largest unit that divides the duration exactly, so `"7d"` round-trips.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in UNITS {
        if seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// `serialize_with` for [`Duration`] fields in configuration.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrSeconds {
    Seconds(u64),
    Text(String),
}

/// `deserialize_with` for [`Duration`] fields: accepts a unit string or whole seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    match TextOrSeconds::deserialize(deserializer)? {
        TextOrSeconds::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        TextOrSeconds::Text(text) => parse_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{:?} is not a duration (use e.g. \"7d\", \"24h\", \"90m\", \"30s\" or seconds)",
                text.chars().take(32).collect::<String>()
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_plain_seconds() {
        let table = [
            ("7d", 604_800),
            ("24h", 86_400),
            ("90m", 5_400),
            ("30s", 30),
            ("3600", 3_600),
            (" 2D ", 172_800),
        ];
        for (text, seconds) in table {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "d", "7w", "-1d", "1.5h", "7 d", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(604_800)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90_000)), "25h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
