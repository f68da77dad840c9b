//! Choice rules: parsed from the definition into a tree once, evaluated strictly by type (no
//! coercion: `"1"` is not numerically equal to `1`), as the States Language specifies.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::Failure;
use crate::jsonpath::JsonPath;

/// A comparison operator; the `*Path` variants are folded into [`Operand::Path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Byte-wise string equality; a non-string on either side is simply false, never coerced.
    StringEquals,
    /// Lexical (code-point) order, so ISO dates in plain strings still sort correctly.
    StringLessThan,
    /// Lexical (code-point) order; false when either side is not a string.
    StringGreaterThan,
    /// Lexical (code-point) order, inclusive; false when either side is not a string.
    StringLessThanEquals,
    /// Lexical (code-point) order, inclusive; false when either side is not a string.
    StringGreaterThanEquals,
    /// Glob match where only `*` is special (see [`string_matches`]): ASL's only way to test
    /// a prefix or suffix.
    StringMatches,
    /// Numeric equality; integers compare exactly so large ids are not rounded through `f64`.
    NumericEquals,
    /// Numeric order; false when either side is not a JSON number (no parsing of `"1"`).
    NumericLessThan,
    /// Numeric order; false when either side is not a JSON number.
    NumericGreaterThan,
    /// Numeric order, inclusive; false when either side is not a JSON number.
    NumericLessThanEquals,
    /// Numeric order, inclusive; false when either side is not a JSON number.
    NumericGreaterThanEquals,
    /// Equality of JSON booleans only; the string `"true"` never matches.
    BooleanEquals,
    /// Instant equality of two RFC 3339 strings, so one moment written with different zone
    /// offsets still matches.
    TimestampEquals,
    /// Instant order; false when either side is not a timestamp Step Functions would accept.
    TimestampLessThan,
    /// Instant order; false when either side is not a timestamp Step Functions would accept.
    TimestampGreaterThan,
    /// Instant order, inclusive; false when either side is not an accepted timestamp.
    TimestampLessThanEquals,
    /// Instant order, inclusive; false when either side is not an accepted timestamp.
    TimestampGreaterThanEquals,
    /// Type test whose literal `true`/`false` says which answer matches; the only way to branch
    /// on an explicit `null`.
    IsNull,
    /// Presence test: the one operator that does not fail when `Variable` finds nothing, so
    /// optional fields can be branched on safely.
    IsPresent,
    /// Type test for JSON numbers; the literal boolean picks "is" or "is not".
    IsNumeric,
    /// Type test for JSON strings; the literal boolean picks "is" or "is not".
    IsString,
    /// Type test for JSON booleans; the literal boolean picks "is" or "is not".
    IsBoolean,
    /// Tests for a string Step Functions would accept as a timestamp, so a rule can guard the
    /// `Timestamp*` operators.
    IsTimestamp,
}

const OPERATORS: &[(&str, Operator)] = &[
    ("StringEquals", Operator::StringEquals),
    ("StringLessThan", Operator::StringLessThan),
    ("StringGreaterThan", Operator::StringGreaterThan),
    ("StringLessThanEquals", Operator::StringLessThanEquals),
    ("StringGreaterThanEquals", Operator::StringGreaterThanEquals),
    ("StringMatches", Operator::StringMatches),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    (
        "NumericGreaterThanEquals",
        Operator::NumericGreaterThanEquals,
    ),
    ("BooleanEquals", Operator::BooleanEquals),
    ("TimestampEquals", Operator::TimestampEquals),
    ("TimestampLessThan", Operator::TimestampLessThan),
    ("TimestampGreaterThan", Operator::TimestampGreaterThan),
    ("TimestampLessThanEquals", Operator::TimestampLessThanEquals),
    (
        "TimestampGreaterThanEquals",
        Operator::TimestampGreaterThanEquals,
    ),
    ("IsNull", Operator::IsNull),
    ("IsPresent", Operator::IsPresent),
    ("IsNumeric", Operator::IsNumeric),
    ("IsString", Operator::IsString),
    ("IsBoolean", Operator::IsBoolean),
    ("IsTimestamp", Operator::IsTimestamp),
];

impl Operator {
    fn is_type_test(self) -> bool {
        matches!(
            self,
            Operator::IsNull
                | Operator::IsPresent
                | Operator::IsNumeric
                | Operator::IsString
                | Operator::IsBoolean
                | Operator::IsTimestamp
        )
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal from the definition.
    Literal(Value),
    /// A `*Path` operator: the value is read from the input at run time.
    Path(JsonPath),
}

/// One node of a Choice rule tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `And`: true only if every nested rule is; stops at the first false so later rules
    /// cannot raise a missing-path error.
    And(Vec<Condition>),
    /// `Or`: true if any nested rule is; stops at the first true, for the same reason.
    Or(Vec<Condition>),
    /// `Not`: inverts one nested rule (an error inside it still propagates).
    Not(Box<Condition>),
    /// A leaf comparison of one input value against a literal or another input value.
    Compare {
        /// The `Variable` path; if it finds nothing the rule fails with `States.Runtime`
        /// (except for `IsPresent`), rather than quietly evaluating to false.
        variable: JsonPath,
        /// Which test to apply; exactly one operator key is allowed per comparison.
        operator: Operator,
        /// The right-hand side, already type-checked against the operator at parse time.
        operand: Operand,
    },
}

/// A top-level rule: a condition and the state it leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// When true, go to `next`.
    pub condition: Condition,
    /// The target state.
    pub next: String,
}

impl TryFrom<Value> for ChoiceRule {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        let next = value
            .get("Next")
            .and_then(Value::as_str)
            .ok_or("a top-level choice rule needs a string 'Next'")?
            .to_string();
        let condition = parse_condition(&value, true)?;
        Ok(ChoiceRule { condition, next })
    }
}

impl<'de> serde::Deserialize<'de> for ChoiceRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        ChoiceRule::try_from(value).map_err(serde::de::Error::custom)
    }
}

fn parse_condition(value: &Value, top_level: bool) -> Result<Condition, String> {
    let object = value.as_object().ok_or("a choice rule must be an object")?;
    if !top_level && object.contains_key("Next") {
        return Err("'Next' is only allowed on top-level choice rules".into());
    }
    let nested = |key: &str| -> Result<Option<Vec<Condition>>, String> {
        match object.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|item| parse_condition(item, false))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("'{key}' must be a non-empty array of rules")),
        }
    };
    if let Some(all) = nested("And")? {
        return Ok(Condition::And(all));
    }
    if let Some(any) = nested("Or")? {
        return Ok(Condition::Or(any));
    }
    if let Some(inner) = object.get("Not") {
        return Ok(Condition::Not(Box::new(parse_condition(inner, false)?)));
    }
    let variable_text = object
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or("a comparison needs a string 'Variable'")?;
    let variable = JsonPath::parse(variable_text).map_err(|e| e.to_string())?;
    let mut found: Option<(Operator, Operand)> = None;
    for (key, raw) in object {
        if matches!(key.as_str(), "Variable" | "Next" | "Comment") {
            continue;
        }
        let (name, is_path) = match key.strip_suffix("Path") {
            Some(stripped) => (stripped, true),
            None => (key.as_str(), false),
        };
        let operator = OPERATORS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| format!("unknown comparison operator '{key}'"))?;
        if is_path && operator.is_type_test() {
            return Err(format!("unknown comparison operator '{key}'"));
        }
        if found.is_some() {
            return Err("a comparison must have exactly one operator".into());
        }
        let operand = if is_path {
            let text = raw
                .as_str()
                .ok_or_else(|| format!("'{key}' must be a path string"))?;
            Operand::Path(JsonPath::parse(text).map_err(|e| e.to_string())?)
        } else {
            check_literal(operator, raw).map_err(|m| format!("'{key}' {m}"))?;
            Operand::Literal(raw.clone())
        };
        found = Some((operator, operand));
    }
    let (operator, operand) = found.ok_or("a comparison needs an operator")?;
    Ok(Condition::Compare {
        variable,
        operator,
        operand,
    })
}

fn check_literal(operator: Operator, value: &Value) -> Result<(), &'static str> {
    use Operator::*;
    let ok = match operator {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals
        | StringMatches => value.is_string(),
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => value.is_number(),
        BooleanEquals | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => {
            value.is_boolean()
        }
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => value.as_str().and_then(parse_timestamp).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err("has a value of the wrong type for this operator")
    }
}

/// Parses an RFC 3339 timestamp as Step Functions accepts it (uppercase `T`, a zone).
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.contains('t') || text.contains('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub(crate) fn string_matches(text: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Piece {
        Char(char),
        Star,
    }
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => pieces.push(Piece::Char(chars.next().unwrap_or('\\'))),
            '*' => pieces.push(Piece::Star),
            other => pieces.push(Piece::Char(other)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic greedy wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0usize, 0usize);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Char(c)) if text.get(t) == Some(c) => {
                t += 1;
                p += 1;
            }
            Some(Piece::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pieces[p.min(pieces.len())..]
        .iter()
        .all(|piece| *piece == Piece::Star)
}

fn numbers_compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return Some(x.cmp(&y));
            }
            x.as_f64()?.partial_cmp(&y.as_f64()?)
        }
        _ => None,
    }
}

impl Condition {
    /// Evaluates the rule against the effective input. A missing `Variable` is a
    /// `States.Runtime` error except for `IsPresent`, as is a missing `*Path` operand.
    pub fn evaluate(&self, input: &Value) -> Result<bool, Failure> {
        match self {
            Condition::And(all) => {
                for c in all {
                    if !c.evaluate(input)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(any) => {
                for c in any {
                    if c.evaluate(input)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!inner.evaluate(input)?),
            Condition::Compare {
                variable,
                operator,
                operand,
            } => {
                let found = variable.find(input);
                if *operator == Operator::IsPresent {
                    let expected = matches!(operand, Operand::Literal(Value::Bool(true)));
                    return Ok(found.is_some() == expected);
                }
                let value = found.ok_or_else(|| {
                    Failure::runtime(format!(
                        "Invalid path '{variable}': the choice rule's Variable references no value"
                    ))
                })?;
                let operand = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(path) => path.find(input).cloned().ok_or_else(|| {
                        Failure::runtime(format!(
                            "Invalid path '{path}': the choice rule's operand path references no value"
                        ))
                    })?,
                };
                Ok(compare(*operator, value, &operand))
            }
        }
    }
}

fn compare(operator: Operator, value: &Value, operand: &Value) -> bool {
    use Operator::*;
    use std::cmp::Ordering::*;
    let expect = |b: bool| operand.as_bool() == Some(b);
    match operator {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals => {
            let (Some(a), Some(b)) = (value.as_str(), operand.as_str()) else {
                return false;
            };
            let ord = a.cmp(b);
            match operator {
                StringEquals => ord == Equal,
                StringLessThan => ord == Less,
                StringGreaterThan => ord == Greater,
                StringLessThanEquals => ord != Greater,
                _ => ord != Less,
            }
        }
        StringMatches => match (value.as_str(), operand.as_str()) {
            (Some(a), Some(pattern)) => string_matches(a, pattern),
            _ => false,
        },
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => {
            let Some(ord) = numbers_compare(value, operand) else {
                return false;
            };
            match operator {
                NumericEquals => ord == Equal,
                NumericLessThan => ord == Less,
                NumericGreaterThan => ord == Greater,
                NumericLessThanEquals => ord != Greater,
                _ => ord != Less,
            }
        }
        BooleanEquals => match (value, operand) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        },
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => {
            let (Some(a), Some(b)) = (
                value.as_str().and_then(parse_timestamp),
                operand.as_str().and_then(parse_timestamp),
            ) else {
                return false;
            };
            let ord = a.cmp(&b);
            match operator {
                TimestampEquals => ord == Equal,
                TimestampLessThan => ord == Less,
                TimestampGreaterThan => ord == Greater,
                TimestampLessThanEquals => ord != Greater,
                _ => ord != Less,
            }
        }
        IsNull => expect(value.is_null()),
        IsNumeric => expect(value.is_number()),
        IsString => expect(value.is_string()),
        IsBoolean => expect(value.is_boolean()),
        IsTimestamp => expect(value.as_str().and_then(parse_timestamp).is_some()),
        IsPresent => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: Value) -> Condition {
        let mut value = value;
        value["Next"] = json!("X");
        ChoiceRule::try_from(value).unwrap().condition
    }

    fn check(rule_json: Value, input: Value) -> bool {
        rule(rule_json).evaluate(&input).unwrap()
    }

    #[test]
    fn string_operators() {
        let input = json!({"s": "beta", "other": "alpha", "n": 1});
        assert!(check(
            json!({"Variable": "$.s", "StringEquals": "beta"}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.n", "StringEquals": "1"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringGreaterThan": "alpha"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringLessThan": "gamma"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringLessThanEquals": "beta"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringGreaterThanEquals": "beta"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringGreaterThanPath": "$.other"}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.s", "StringEqualsPath": "$.other"}),
            input
        ));
    }

    #[test]
    fn string_matches_wildcards_and_escapes() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("anything", "*"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("log.txt", "log-*"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("a\\b", "a\\\\b"));
        assert!(string_matches("abcabd", "*abd"));
        assert!(string_matches("mississippi", "m*iss*ppi"));
        assert!(!string_matches("mississippi", "m*iss*ppx"));
    }

    #[test]
    fn numeric_boolean_timestamp_operators() {
        let input = json!({"n": 5, "f": 5.0, "m": 7.5, "b": true, "t": "2024-08-18T17:33:00Z",
                           "u": "2024-08-18T18:33:00+01:00", "s": "5"});
        assert!(check(
            json!({"Variable": "$.n", "NumericEquals": 5}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.f", "NumericEquals": 5}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.s", "NumericEquals": 5}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericLessThanPath": "$.m"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.m", "NumericGreaterThan": 7}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericLessThanEquals": 5}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.b", "BooleanEquals": true}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.s", "BooleanEquals": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampEqualsPath": "$.u"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampLessThan": "2024-08-18T17:33:01Z"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2024-08-18T17:33:00Z"}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.s", "TimestampGreaterThan": "2024-08-18T17:33:00Z"}),
            input
        ));
    }

    #[test]
    fn type_tests_and_logic() {
        let input = json!({"z": null, "n": 1, "s": "x", "b": false, "t": "2024-01-01T00:00:00Z"});
        assert!(check(
            json!({"Variable": "$.z", "IsNull": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.n", "IsNull": false}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.n", "IsNumeric": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "IsNumeric": false}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "IsString": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.b", "IsBoolean": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "IsTimestamp": false}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.missing", "IsPresent": false}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.missing", "IsPresent": true}),
            input.clone()
        ));
        assert!(check(
            json!({"And": [{"Variable": "$.n", "NumericEquals": 1}, {"Not": {"Variable": "$.s", "StringEquals": "y"}}]}),
            input.clone()
        ));
        assert!(check(
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 2}, {"Variable": "$.b", "BooleanEquals": false}]}),
            input.clone()
        ));
        assert!(!check(
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 2}, {"Variable": "$.b", "BooleanEquals": true}]}),
            input
        ));
    }

    #[test]
    fn missing_variable_is_a_runtime_error() {
        let failure = rule(json!({"Variable": "$.nope", "StringEquals": "x"}))
            .evaluate(&json!({}))
            .unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
        let failure = rule(json!({"Variable": "$.a", "NumericEqualsPath": "$.nope"}))
            .evaluate(&json!({"a": 1}))
            .unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
    }

    #[test]
    fn malformed_rules_are_rejected() {
        for bad in [
            json!({"Variable": "$.a", "Next": "X"}),
            json!({"Variable": "$.a", "StringEquals": 1, "Next": "X"}),
            json!({"Variable": "$.a", "Bogus": 1, "Next": "X"}),
            json!({"Variable": "$.a", "IsNullPath": "$.b", "Next": "X"}),
            json!({"Variable": "$.a", "StringEquals": "a", "StringMatches": "b", "Next": "X"}),
            json!({"And": [], "Next": "X"}),
            json!({"Variable": "$.a", "StringEquals": "a"}),
            json!({"Not": {"Variable": "$.a", "StringEquals": "a", "Next": "Y"}, "Next": "X"}),
        ] {
            assert!(
                ChoiceRule::try_from(bad.clone()).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
