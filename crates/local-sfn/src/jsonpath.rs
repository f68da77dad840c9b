//! The subset of JSONPath that the Amazon States Language uses: `$` and `$$` roots, dotted and
//! bracketed field names, array indexes, `[*]` / `.*` wildcards, slices and index unions.
//! Filter expressions are recognised and reported as unsupported so a definition using them
//! fails loudly at load time instead of silently selecting nothing.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// Why a path could not be parsed, selected or written; callers turn it into `States.Runtime`
/// (at run time) or a definition error (at load time) with their own context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text is not JSONPath at all; the message points at the offending position.
    #[error("invalid JSONPath '{path}': {reason}")]
    Syntax {
        /// The path as written, so the user can find it in the definition.
        path: String,
        /// What is wrong and where.
        reason: String,
    },
    /// Valid JSONPath that this engine deliberately does not implement (filters, recursion).
    #[error("unsupported JSONPath '{path}': {reason}")]
    Unsupported {
        /// The path as written.
        path: String,
        /// Which feature it uses that the engine lacks.
        reason: String,
    },
    /// A definite path that does not lead to a value in the document.
    #[error("the JSONPath '{path}' could not be found in the input")]
    NotFound {
        /// The path that selected nothing.
        path: String,
    },
    /// A write (ResultPath) that would have to replace a non-container with a container.
    #[error("unable to apply ResultPath '{path}': {reason}")]
    NotWritable {
        /// The ResultPath being applied.
        path: String,
        /// Which existing value is in the way.
        reason: String,
    },
}

/// One step of a path after its root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]`; negative indexes count from the end.
    Index(i64),
    /// `[*]` or `.*`: every element or member value.
    Wildcard,
    /// `[start:end:step]`.
    Slice {
        /// Where the walk begins (included); negative counts from the end. Defaults to the
        /// first element, or the last when stepping backwards.
        start: Option<i64>,
        /// Where the walk stops (excluded); negative counts from the end. Defaults to past
        /// the far end.
        end: Option<i64>,
        /// Stride, default 1; negative walks backwards, and 0 is rejected at parse time.
        step: Option<i64>,
    },
    /// `[a,b,c]`: several indexes.
    Union(Vec<i64>),
}

/// Which document a path is evaluated against: ASL distinguishes the state input (`$`) from
/// the context object (`$$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the effective state input.
    Input,
    /// `$$`: the context object.
    Context,
}

/// A parsed path; parsing once at definition load keeps run-time failures to data problems.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    root: Root,
    segments: Vec<Segment>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for JsonPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl TryFrom<String> for JsonPath {
    type Error = PathError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        JsonPath::parse(&value)
    }
}

impl<'de> serde::Deserialize<'de> for JsonPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        JsonPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

struct Cursor<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
    fn syntax(&self, reason: impl Into<String>) -> PathError {
        PathError::Syntax {
            path: self.text.to_string(),
            reason: format!("{} (at character {})", reason.into(), self.pos),
        }
    }
    fn unsupported(&self, reason: impl Into<String>) -> PathError {
        PathError::Unsupported {
            path: self.text.to_string(),
            reason: reason.into(),
        }
    }
}

impl JsonPath {
    /// Parses a path such as `$.a['b c'][0]` or `$$.Execution.Id`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let mut cur = Cursor {
            text,
            chars: text.chars().collect(),
            pos: 0,
        };
        if cur.bump() != Some('$') {
            return Err(cur.syntax("a path must start with '$'"));
        }
        let root = if cur.peek() == Some('$') {
            cur.bump();
            Root::Context
        } else {
            Root::Input
        };
        let mut segments = Vec::new();
        while let Some(c) = cur.peek() {
            match c {
                '.' => {
                    cur.bump();
                    match cur.peek() {
                        Some('.') => return Err(cur.unsupported("recursive descent '..'")),
                        Some('*') => {
                            cur.bump();
                            segments.push(Segment::Wildcard);
                        }
                        Some('[') => return Err(cur.syntax("'.' followed by '['")),
                        None => return Err(cur.syntax("path ends with '.'")),
                        Some(_) => {
                            let mut name = String::new();
                            while let Some(c) = cur.peek() {
                                if c == '.' || c == '[' {
                                    break;
                                }
                                if c.is_whitespace() {
                                    return Err(cur.syntax("whitespace in a field name"));
                                }
                                name.push(c);
                                cur.bump();
                            }
                            segments.push(Segment::Field(name));
                        }
                    }
                }
                '[' => {
                    cur.bump();
                    segments.push(parse_bracket(&mut cur)?);
                }
                _ => return Err(cur.syntax(format!("unexpected character '{c}'"))),
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            root,
            segments,
        })
    }

    /// Whether `$` or `$$` anchors the path.
    pub fn root(&self) -> Root {
        self.root
    }

    /// A definite path names at most one value; ASL returns indefinite selections as arrays.
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// ASL reference paths (ResultPath, the *Path fields of Choice and Wait) must be definite
    /// and must not use the context root.
    pub fn is_reference_path(&self) -> bool {
        self.root == Root::Input && self.is_definite()
    }

    /// Every value the path selects, in document order.
    pub fn select<'v>(&self, doc: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![doc];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in current {
                apply_segment(segment, value, &mut next);
            }
            current = next;
        }
        current
    }

    /// The value the path designates: the single match of a definite path (an error when
    /// absent), or the array of all matches of an indefinite one, as Step Functions does.
    pub fn evaluate(&self, doc: &Value) -> Result<Value, PathError> {
        let matches = self.select(doc);
        if self.is_definite() {
            matches
                .into_iter()
                .next()
                .cloned()
                .ok_or_else(|| PathError::NotFound {
                    path: self.text.clone(),
                })
        } else {
            Ok(Value::Array(matches.into_iter().cloned().collect()))
        }
    }

    /// Like [`JsonPath::evaluate`] for definite paths, but absence is not an error; used by
    /// `IsPresent`.
    pub fn find<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        self.select(doc).into_iter().next()
    }

    /// Writes `value` at this path inside `doc`, creating missing objects on the way, the way
    /// ResultPath does. `$` replaces the whole document.
    pub fn write(&self, doc: Value, value: Value) -> Result<Value, PathError> {
        if !self.is_reference_path() {
            return Err(PathError::NotWritable {
                path: self.text.clone(),
                reason: "only definite paths rooted at '$' can be written".into(),
            });
        }
        let mut doc = doc;
        write_into(&mut doc, &self.segments, value, &self.text)?;
        Ok(doc)
    }
}

fn write_into(
    target: &mut Value,
    segments: &[Segment],
    value: Value,
    path: &str,
) -> Result<(), PathError> {
    let Some((first, rest)) = segments.split_first() else {
        *target = value;
        return Ok(());
    };
    match first {
        Segment::Field(name) => {
            let Value::Object(map) = target else {
                return Err(PathError::NotWritable {
                    path: path.to_string(),
                    reason: format!("cannot add field '{name}' to a non-object value"),
                });
            };
            let slot = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !rest.is_empty() && !slot.is_object() && !slot.is_array() {
                *slot = Value::Object(Map::new());
            }
            write_into(slot, rest, value, path)
        }
        Segment::Index(index) => {
            let Value::Array(items) = target else {
                return Err(PathError::NotWritable {
                    path: path.to_string(),
                    reason: format!("cannot index [{index}] into a non-array value"),
                });
            };
            let len = items.len();
            let slot = resolve_index(*index, len)
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| PathError::NotWritable {
                    path: path.to_string(),
                    reason: format!("index {index} is outside an array of length {len}"),
                })?;
            write_into(slot, rest, value, path)
        }
        _ => Err(PathError::NotWritable {
            path: path.to_string(),
            reason: "indefinite segment".into(),
        }),
    }
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let resolved = if index < 0 { len_i + index } else { index };
    if (0..len_i).contains(&resolved) {
        usize::try_from(resolved).ok()
    } else {
        None
    }
}

fn apply_segment<'v>(segment: &Segment, value: &'v Value, out: &mut Vec<&'v Value>) {
    match (segment, value) {
        (Segment::Field(name), Value::Object(map)) => out.extend(map.get(name)),
        (Segment::Index(i), Value::Array(items)) => {
            out.extend(resolve_index(*i, items.len()).and_then(|i| items.get(i)))
        }
        (Segment::Wildcard, Value::Array(items)) => out.extend(items.iter()),
        (Segment::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (Segment::Union(indexes), Value::Array(items)) => {
            for i in indexes {
                out.extend(resolve_index(*i, items.len()).and_then(|i| items.get(i)));
            }
        }
        (Segment::Slice { start, end, step }, Value::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let step = step.unwrap_or(1);
            let clamp = |v: i64| -> i64 {
                let v = if v < 0 { v + len } else { v };
                v.clamp(0, len)
            };
            if step > 0 {
                let mut i = start.map_or(0, clamp);
                let stop = end.map_or(len, clamp);
                while i < stop {
                    out.extend(usize::try_from(i).ok().and_then(|i| items.get(i)));
                    i += step;
                }
            } else if step < 0 {
                let clamp_neg = |v: i64| -> i64 {
                    let v = if v < 0 { v + len } else { v };
                    v.clamp(-1, len - 1)
                };
                let mut i = start.map_or(len - 1, clamp_neg);
                let stop = end.map_or(-1, clamp_neg);
                while i > stop {
                    out.extend(usize::try_from(i).ok().and_then(|i| items.get(i)));
                    i += step;
                }
            }
        }
        _ => {}
    }
}

fn parse_bracket(cur: &mut Cursor<'_>) -> Result<Segment, PathError> {
    skip_ws(cur);
    let segment = match cur.peek() {
        Some('\'') | Some('"') => {
            let quote = cur.bump().unwrap_or('\'');
            let mut name = String::new();
            loop {
                match cur.bump() {
                    None => return Err(cur.syntax("unterminated quoted field name")),
                    Some('\\') => match cur.bump() {
                        Some(c) => name.push(c),
                        None => return Err(cur.syntax("dangling escape")),
                    },
                    Some(c) if c == quote => break,
                    Some(c) => name.push(c),
                }
            }
            Segment::Field(name)
        }
        Some('*') => {
            cur.bump();
            Segment::Wildcard
        }
        Some('?') => return Err(cur.unsupported("filter expressions")),
        Some('(') => return Err(cur.unsupported("script expressions")),
        _ => parse_index_like(cur)?,
    };
    skip_ws(cur);
    if cur.bump() != Some(']') {
        return Err(cur.syntax("expected ']'"));
    }
    Ok(segment)
}

fn skip_ws(cur: &mut Cursor<'_>) {
    while cur.peek().is_some_and(char::is_whitespace) {
        cur.bump();
    }
}

fn parse_int(cur: &mut Cursor<'_>) -> Result<Option<i64>, PathError> {
    skip_ws(cur);
    let mut digits = String::new();
    if cur.peek() == Some('-') && cur.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
        digits.push('-');
        cur.bump();
    }
    while let Some(c) = cur.peek().filter(char::is_ascii_digit) {
        digits.push(c);
        cur.bump();
    }
    skip_ws(cur);
    if digits.is_empty() {
        return Ok(None);
    }
    digits
        .parse::<i64>()
        .map(Some)
        .map_err(|_| cur.syntax("index out of range"))
}

fn parse_index_like(cur: &mut Cursor<'_>) -> Result<Segment, PathError> {
    let first = parse_int(cur)?;
    match cur.peek() {
        Some(':') => {
            cur.bump();
            let end = parse_int(cur)?;
            let step = if cur.peek() == Some(':') {
                cur.bump();
                parse_int(cur)?
            } else {
                None
            };
            if step == Some(0) {
                return Err(cur.syntax("slice step must not be 0"));
            }
            Ok(Segment::Slice {
                start: first,
                end,
                step,
            })
        }
        Some(',') => {
            let mut indexes = vec![first.ok_or_else(|| cur.syntax("expected an index"))?];
            while cur.peek() == Some(',') {
                cur.bump();
                indexes.push(parse_int(cur)?.ok_or_else(|| cur.syntax("expected an index"))?);
            }
            Ok(Segment::Union(indexes))
        }
        _ => first
            .map(Segment::Index)
            .ok_or_else(|| cur.syntax("expected a quoted name, an index, '*' or a slice")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, doc: &Value) -> Result<Value, PathError> {
        JsonPath::parse(path).unwrap().evaluate(doc)
    }

    #[test]
    fn root_and_fields() {
        let doc = json!({"a": {"b c": [1, 2, 3]}, "x": null});
        assert_eq!(eval("$", &doc).unwrap(), doc);
        assert_eq!(eval("$.a['b c'][1]", &doc).unwrap(), json!(2));
        assert_eq!(eval("$[\"a\"][\"b c\"][-1]", &doc).unwrap(), json!(3));
        assert_eq!(eval("$.x", &doc).unwrap(), Value::Null);
        assert!(matches!(
            eval("$.a.missing", &doc),
            Err(PathError::NotFound { .. })
        ));
        assert!(matches!(
            eval("$.a['b c'][7]", &doc),
            Err(PathError::NotFound { .. })
        ));
    }

    #[test]
    fn indefinite_paths_return_arrays() {
        let doc = json!({"items": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]});
        assert_eq!(eval("$.items[*].id", &doc).unwrap(), json!([1, 2, 3, 4]));
        assert_eq!(eval("$.items[1:3].id", &doc).unwrap(), json!([2, 3]));
        assert_eq!(eval("$.items[::2].id", &doc).unwrap(), json!([1, 3]));
        assert_eq!(eval("$.items[::-1].id", &doc).unwrap(), json!([4, 3, 2, 1]));
        assert_eq!(eval("$.items[-2:].id", &doc).unwrap(), json!([3, 4]));
        assert_eq!(eval("$.items[0,3].id", &doc).unwrap(), json!([1, 4]));
        assert_eq!(eval("$.nothing[*]", &doc).unwrap(), json!([]));
        assert_eq!(eval("$.items[0].*", &doc).unwrap(), json!([1]));
    }

    #[test]
    fn context_root_is_distinguished() {
        let p = JsonPath::parse("$$.Execution.Id").unwrap();
        assert_eq!(p.root(), Root::Context);
        assert!(!p.is_reference_path());
        assert_eq!(JsonPath::parse("$.a").unwrap().root(), Root::Input);
    }

    #[test]
    fn syntax_errors_and_unsupported_features() {
        for bad in ["a.b", "$.", "$.a[", "$.a['b]", "$[1:2:0]", "$.a b", "$x"] {
            assert!(
                matches!(JsonPath::parse(bad), Err(PathError::Syntax { .. })),
                "{bad} should be a syntax error"
            );
        }
        for unsupported in ["$..a", "$.a[?(@.b == 1)]"] {
            assert!(matches!(
                JsonPath::parse(unsupported),
                Err(PathError::Unsupported { .. })
            ));
        }
    }

    #[test]
    fn write_creates_nested_objects_and_replaces_root() {
        let p = JsonPath::parse("$.a.b.c").unwrap();
        assert_eq!(
            p.write(json!({"keep": 1}), json!(5)).unwrap(),
            json!({"keep": 1, "a": {"b": {"c": 5}}})
        );
        let root = JsonPath::parse("$").unwrap();
        assert_eq!(root.write(json!({"x": 1}), json!([1])).unwrap(), json!([1]));
        let overwrite = JsonPath::parse("$.a.b").unwrap();
        assert_eq!(
            overwrite.write(json!({"a": {"b": 1}}), json!(2)).unwrap(),
            json!({"a": {"b": 2}})
        );
        let into_array = JsonPath::parse("$.list[1]").unwrap();
        assert_eq!(
            into_array.write(json!({"list": [0, 0]}), json!(9)).unwrap(),
            json!({"list": [0, 9]})
        );
        assert!(matches!(
            JsonPath::parse("$.a")
                .unwrap()
                .write(json!("text"), json!(1)),
            Err(PathError::NotWritable { .. })
        ));
        assert!(matches!(
            JsonPath::parse("$.a[*]")
                .unwrap()
                .write(json!({}), json!(1)),
            Err(PathError::NotWritable { .. })
        ));
    }
}
