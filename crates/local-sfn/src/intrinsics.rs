//! ASL intrinsic functions (`States.Format(...)` and friends): a tokenizer and recursive parser
//! so nested calls, quoted literals with escapes and paths as arguments all work, plus the
//! evaluator. Parsing happens at definition load, so a malformed call is a definition error and
//! only data problems surface at run time as `States.IntrinsicFailure`.

use base64::Engine as _;
use md5::Digest as _;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};

use crate::error::Failure;
use crate::jsonpath::{JsonPath, Root};

/// Largest string Base64Encode/Decode and Hash accept, as documented for Step Functions.
const MAX_STRING_ARGUMENT: usize = 10_000;
/// Largest array ArrayRange may produce.
const MAX_RANGE_ITEMS: usize = 1_000;
/// Step Functions allows at most this many nested intrinsic calls in one field.
const MAX_NESTING: usize = 10;

/// Why an intrinsic expression failed to parse; reported as a definition error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid intrinsic function '{expression}': {reason}")]
pub struct IntrinsicParseError {
    /// The text as written in the definition.
    pub expression: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed argument or call.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A nested function call.
    Call {
        /// Which intrinsic; resolved at parse time so an unknown name is a definition error.
        name: Function,
        /// The arguments, already checked against the function's arity.
        args: Vec<Expr>,
    },
    /// A quoted string literal.
    Str {
        /// The text with escapes kept, so States.Format can tell `\{` from a placeholder `{`.
        raw: String,
    },
    /// A JSON number, `true`, `false` or `null`.
    Literal(Value),
    /// `$...` or `$$...`.
    Path(JsonPath),
}

/// Every intrinsic function Step Functions defines for JSONPath states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `States.Format(template, args...)`: fills `{}` placeholders in order; a count mismatch
    /// is a `States.IntrinsicFailure`.
    Format,
    /// `States.StringToJson(text)`: parses escaped JSON, e.g. a Lambda result passed as text.
    StringToJson,
    /// `States.JsonToString(value)`: serialises a value, e.g. for an SQS message body.
    JsonToString,
    /// `States.Array(items...)`: builds an array from its arguments.
    Array,
    /// `States.ArrayPartition(array, size)`: chunks an array so a Map can batch; the size must
    /// be positive.
    ArrayPartition,
    /// `States.ArrayContains(array, value)`: membership by JSON equality.
    ArrayContains,
    /// `States.ArrayRange(start, end, step)`: inclusive integer range; the step must not be 0
    /// and at most 1,000 items may result.
    ArrayRange,
    /// `States.ArrayGetItem(array, index)`: one element; an index outside the array fails
    /// rather than yielding `null`.
    ArrayGetItem,
    /// `States.ArrayLength(array)`: the element count, e.g. for a Choice on an empty list.
    ArrayLength,
    /// `States.ArrayUnique(array)`: drops repeated values, keeping first occurrences in order.
    ArrayUnique,
    /// `States.Base64Encode(text)`: standard base64 of the UTF-8 bytes; input is capped at
    /// 10,000 characters as on AWS.
    Base64Encode,
    /// `States.Base64Decode(text)`: the inverse; the decoded bytes must be UTF-8 text.
    Base64Decode,
    /// `States.Hash(text, algorithm)`: hex digest with MD5, SHA-1, SHA-256, SHA-384 or
    /// SHA-512, e.g. for stable idempotency keys.
    Hash,
    /// `States.JsonMerge(left, right, false)`: shallow merge where `right` wins; deep merge
    /// (`true`) is rejected as unsupported.
    JsonMerge,
    /// `States.MathRandom(start, end[, seed])`: a random integer in `[start, end)`; a seed
    /// makes it reproducible.
    MathRandom,
    /// `States.MathAdd(a, b)`: integer addition, e.g. to count loop iterations; overflow fails.
    MathAdd,
    /// `States.StringSplit(text, delimiters)`: splits on any delimiter character and drops
    /// empty pieces.
    StringSplit,
    /// `States.UUID()`: a random v4 UUID, e.g. for a unique name per execution.
    Uuid,
}

impl Function {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "States.Format" => Function::Format,
            "States.StringToJson" => Function::StringToJson,
            "States.JsonToString" => Function::JsonToString,
            "States.Array" => Function::Array,
            "States.ArrayPartition" => Function::ArrayPartition,
            "States.ArrayContains" => Function::ArrayContains,
            "States.ArrayRange" => Function::ArrayRange,
            "States.ArrayGetItem" => Function::ArrayGetItem,
            "States.ArrayLength" => Function::ArrayLength,
            "States.ArrayUnique" => Function::ArrayUnique,
            "States.Base64Encode" => Function::Base64Encode,
            "States.Base64Decode" => Function::Base64Decode,
            "States.Hash" => Function::Hash,
            "States.JsonMerge" => Function::JsonMerge,
            "States.MathRandom" => Function::MathRandom,
            "States.MathAdd" => Function::MathAdd,
            "States.StringSplit" => Function::StringSplit,
            "States.UUID" => Function::Uuid,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    /// Allowed argument counts (inclusive), checked at parse time.
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Format => (1, usize::MAX),
            Function::Array => (0, usize::MAX),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, 1),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, 2),
            Function::ArrayRange | Function::JsonMerge => (3, 3),
            Function::MathRandom => (2, 3),
            Function::Uuid => (0, 0),
        }
    }
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub fn looks_like_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Open,
    Close,
    Comma,
    Str(String),
    Literal(Value),
    Path(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                i += 1;
                let mut raw = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => {
                            let Some(&escaped) = chars.get(i + 1) else {
                                return Err("dangling '\\' in a string literal".into());
                            };
                            if !matches!(escaped, '\'' | '{' | '}' | '\\') {
                                return Err(format!(
                                    "unknown escape '\\{escaped}' (only \\', \\{{, \\}} and \\\\ are allowed)"
                                ));
                            }
                            raw.push('\\');
                            raw.push(escaped);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            raw.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(raw));
            }
            '$' => {
                let start = i;
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while let Some(&c) = chars.get(i) {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '[') => depth += 1,
                        (None, ']') => depth = depth.saturating_sub(1),
                        (None, ',' | ')') if depth == 0 => break,
                        (None, c) if c.is_whitespace() && depth == 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
                tokens.push(Token::Path(chars[start..i].iter().collect()));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number: Number =
                    serde_json::from_str(&text).map_err(|_| format!("'{text}' is not a number"))?;
                tokens.push(Token::Literal(Value::Number(number)));
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "null" => Token::Literal(Value::Null),
                    _ => Token::Ident(word),
                });
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn call(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_NESTING {
            return Err(format!("more than {MAX_NESTING} nested calls"));
        }
        let name = match self.next() {
            Some(Token::Ident(name)) => name,
            _ => return Err("expected a function name such as States.Format".into()),
        };
        let function =
            Function::from_name(&name).ok_or_else(|| format!("unknown function '{name}'"))?;
        if self.next() != Some(Token::Open) {
            return Err(format!("expected '(' after {name}"));
        }
        let mut args = Vec::new();
        if self.peek() == Some(&Token::Close) {
            self.next();
        } else {
            loop {
                args.push(self.argument(depth)?);
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            return Err(format!(
                "{name} takes {} arguments, got {}",
                if min == max {
                    min.to_string()
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                args.len()
            ));
        }
        Ok(Expr::Call {
            name: function,
            args,
        })
    }

    fn argument(&mut self, depth: usize) -> Result<Expr, String> {
        match self.peek().cloned() {
            Some(Token::Ident(_)) => self.call(depth + 1),
            Some(Token::Str(raw)) => {
                self.next();
                Ok(Expr::Str { raw })
            }
            Some(Token::Literal(value)) => {
                self.next();
                Ok(Expr::Literal(value))
            }
            Some(Token::Path(text)) => {
                self.next();
                JsonPath::parse(&text)
                    .map(Expr::Path)
                    .map_err(|e| e.to_string())
            }
            _ => Err("expected an argument".into()),
        }
    }
}

/// Parses `States.X(...)`; the whole text must be one call.
pub fn parse(text: &str) -> Result<Expr, IntrinsicParseError> {
    let fail = |reason: String| IntrinsicParseError {
        expression: text.to_string(),
        reason,
    };
    let tokens = tokenize(text).map_err(fail)?;
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.call(1).map_err(fail)?;
    if parser.peek().is_some() {
        return Err(fail("unexpected text after the closing ')'".into()));
    }
    Ok(expr)
}

/// Removes the escapes of a string literal (`\'` → `'`, `\{` → `{`, `\}` → `}`, `\\` → `\`).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An evaluated argument; string literals keep their raw text for States.Format.
enum Arg {
    Literal { raw: String },
    Value(Value),
}

impl Arg {
    fn into_value(self) -> Value {
        match self {
            Arg::Literal { raw } => Value::String(unescape(&raw)),
            Arg::Value(v) => v,
        }
    }
}

/// Evaluates a parsed call against the effective input (`$`) and the context object (`$$`).
pub fn evaluate(expr: &Expr, input: &Value, context: &Value) -> Result<Value, Failure> {
    eval_arg(expr, input, context).map(Arg::into_value)
}

fn eval_arg(expr: &Expr, input: &Value, context: &Value) -> Result<Arg, Failure> {
    match expr {
        Expr::Str { raw } => Ok(Arg::Literal { raw: raw.clone() }),
        Expr::Literal(v) => Ok(Arg::Value(v.clone())),
        Expr::Path(path) => {
            let doc = match path.root() {
                Root::Input => input,
                Root::Context => context,
            };
            path.evaluate(doc)
                .map(Arg::Value)
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        Expr::Call { name, args } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(eval_arg(arg, input, context)?);
            }
            call(*name, values).map(Arg::Value)
        }
    }
}

fn fail(function: Function, reason: impl std::fmt::Display) -> Failure {
    Failure::intrinsic(format!("{}: {reason}", function.name()))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn want_string(f: Function, position: usize, value: Value) -> Result<String, Failure> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(fail(
            f,
            format!(
                "argument {position} must be a string, got {}",
                type_name(&other)
            ),
        )),
    }
}

fn want_array(f: Function, position: usize, value: Value) -> Result<Vec<Value>, Failure> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(fail(
            f,
            format!(
                "argument {position} must be an array, got {}",
                type_name(&other)
            ),
        )),
    }
}

fn want_integer(f: Function, position: usize, value: &Value) -> Result<i64, Failure> {
    let as_int = match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
        _ => None,
    };
    as_int.ok_or_else(|| {
        fail(
            f,
            format!("argument {position} must be an integer, got {value}"),
        )
    })
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn check_length(f: Function, s: &str) -> Result<(), Failure> {
    if s.chars().count() > MAX_STRING_ARGUMENT {
        return Err(fail(
            f,
            format!("the input is longer than {MAX_STRING_ARGUMENT} characters"),
        ));
    }
    Ok(())
}

fn format_template(f: Function, template: &str, values: Vec<Value>) -> Result<Value, Failure> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut values = values.into_iter();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let value = values
                    .next()
                    .ok_or_else(|| fail(f, "more {} placeholders than arguments"))?;
                match value {
                    Value::String(s) => out.push_str(&s),
                    Value::Null | Value::Bool(_) | Value::Number(_) => {
                        out.push_str(&value.to_string())
                    }
                    other => {
                        return Err(fail(
                            f,
                            format!("cannot format a value of type {}", type_name(&other)),
                        ));
                    }
                }
            }
            other => out.push(other),
        }
    }
    if values.next().is_some() {
        return Err(fail(f, "more arguments than {} placeholders"));
    }
    Ok(Value::String(out))
}

fn call(f: Function, args: Vec<Arg>) -> Result<Value, Failure> {
    if f == Function::Format {
        let mut args = args.into_iter();
        let template_raw = match args.next() {
            Some(Arg::Literal { raw }) => raw,
            Some(Arg::Value(Value::String(s))) => s,
            Some(Arg::Value(other)) => {
                return Err(fail(
                    f,
                    format!("the template must be a string, got {}", type_name(&other)),
                ));
            }
            None => return Err(fail(f, "missing template")),
        };
        return format_template(f, &template_raw, args.map(Arg::into_value).collect());
    }
    let mut args: Vec<Value> = args.into_iter().map(Arg::into_value).collect();
    let mut take =
        |i: usize| -> Value { args.get_mut(i).map(std::mem::take).unwrap_or(Value::Null) };
    match f {
        Function::Format => Err(fail(f, "unreachable")),
        Function::StringToJson => {
            let text = want_string(f, 1, take(0))?;
            serde_json::from_str(&text).map_err(|e| fail(f, format!("not valid JSON: {e}")))
        }
        Function::JsonToString => serde_json::to_string(&take(0))
            .map(Value::String)
            .map_err(|e| fail(f, e)),
        Function::Array => Ok(Value::Array(args)),
        Function::ArrayPartition => {
            let items = want_array(f, 1, take(0))?;
            let size = want_integer(f, 2, &take(1))?;
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| fail(f, "the chunk size must be a positive integer"))?;
            Ok(Value::Array(
                items
                    .chunks(size)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        Function::ArrayContains => {
            let items = want_array(f, 1, take(0))?;
            let needle = take(1);
            Ok(Value::Bool(items.iter().any(|v| json_equal(v, &needle))))
        }
        Function::ArrayRange => {
            let start = want_integer(f, 1, &take(0))?;
            let end = want_integer(f, 2, &take(1))?;
            let step = want_integer(f, 3, &take(2))?;
            if step == 0 {
                return Err(fail(f, "the step must not be 0"));
            }
            let mut out = Vec::new();
            let mut current = start;
            while (step > 0 && current <= end) || (step < 0 && current >= end) {
                if out.len() >= MAX_RANGE_ITEMS {
                    return Err(fail(
                        f,
                        format!("the range has more than {MAX_RANGE_ITEMS} items"),
                    ));
                }
                out.push(Value::from(current));
                current = match current.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
            Ok(Value::Array(out))
        }
        Function::ArrayGetItem => {
            let items = want_array(f, 1, take(0))?;
            let index = want_integer(f, 2, &take(1))?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| {
                    fail(
                        f,
                        format!(
                            "index {index} is outside an array of length {}",
                            items.len()
                        ),
                    )
                })
        }
        Function::ArrayLength => Ok(Value::from(want_array(f, 1, take(0))?.len())),
        Function::ArrayUnique => {
            let items = want_array(f, 1, take(0))?;
            let mut unique: Vec<Value> = Vec::new();
            for item in items {
                if !unique.iter().any(|seen| json_equal(seen, &item)) {
                    unique.push(item);
                }
            }
            Ok(Value::Array(unique))
        }
        Function::Base64Encode => {
            let text = want_string(f, 1, take(0))?;
            check_length(f, &text)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            ))
        }
        Function::Base64Decode => {
            let text = want_string(f, 1, take(0))?;
            check_length(f, &text)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| fail(f, format!("not valid base64: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| fail(f, "the decoded bytes are not UTF-8 text"))
        }
        Function::Hash => {
            let data = want_string(f, 1, take(0))?;
            check_length(f, &data)?;
            let algorithm = want_string(f, 2, take(1))?;
            let bytes = data.as_bytes();
            let digest = match algorithm.as_str() {
                "MD5" => hex::encode(md5::Md5::digest(bytes)),
                "SHA-1" => hex::encode(sha1::Sha1::digest(bytes)),
                "SHA-256" => hex::encode(sha2::Sha256::digest(bytes)),
                "SHA-384" => hex::encode(sha2::Sha384::digest(bytes)),
                "SHA-512" => hex::encode(sha2::Sha512::digest(bytes)),
                other => {
                    return Err(fail(
                        f,
                        format!(
                            "unknown algorithm '{other}' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"
                        ),
                    ));
                }
            };
            Ok(Value::String(digest))
        }
        Function::JsonMerge => {
            let (Value::Object(mut left), Value::Object(right)) = (take(0), take(1)) else {
                return Err(fail(f, "the first two arguments must be objects"));
            };
            if take(2) != Value::Bool(false) {
                return Err(fail(
                    f,
                    "only shallow merging is supported: the third argument must be false",
                ));
            }
            let right: Map<String, Value> = right;
            left.extend(right);
            Ok(Value::Object(left))
        }
        Function::MathRandom => {
            let start = want_integer(f, 1, &take(0))?;
            let end = want_integer(f, 2, &take(1))?;
            if start >= end {
                return Err(fail(f, "the start must be less than the end"));
            }
            // UNCONFIRMED: the developer guide does not say whether `end` is inclusive; the
            // half-open range [start, end) is what a Java-backed implementation would give.
            let value = match args.get(2) {
                Some(seed) => {
                    let seed = want_integer(f, 3, seed)?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
                }
                None => rand::rng().random_range(start..end),
            };
            Ok(Value::from(value))
        }
        Function::MathAdd => {
            let a = want_integer(f, 1, &take(0))?;
            let b = want_integer(f, 2, &take(1))?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| fail(f, "the sum overflows"))
        }
        Function::StringSplit => {
            let text = want_string(f, 1, take(0))?;
            let delimiters = want_string(f, 2, take(1))?;
            // Every character of the second argument is a delimiter and empty pieces are
            // dropped, matching the developer guide's example ("This.is+a,test=string" split
            // on ".+,=" gives five words).
            Ok(Value::Array(
                text.split(|c: char| delimiters.contains(c))
                    .filter(|piece| !piece.is_empty())
                    .map(|piece| Value::String(piece.to_string()))
                    .collect(),
            ))
        }
        Function::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, input: Value) -> Result<Value, Failure> {
        evaluate(
            &parse(expr).unwrap(),
            &input,
            &json!({"Execution": {"Name": "exec-1"}}),
        )
    }

    fn fails(expr: &str, input: Value) -> Failure {
        let failure = run(expr, input).unwrap_err();
        assert_eq!(failure.error, "States.IntrinsicFailure", "{failure}");
        failure
    }

    #[test]
    fn format_with_escapes_paths_and_nesting() {
        assert_eq!(
            run(
                "States.Format('Hello, {}! \\{literal\\} it\\'s {}', $.name, $$.Execution.Name)",
                json!({"name": "Ada"})
            )
            .unwrap(),
            json!("Hello, Ada! {literal} it's exec-1")
        );
        assert_eq!(
            run("States.Format('{} {} {}', 1, true, null)", json!({})).unwrap(),
            json!("1 true null")
        );
        assert_eq!(
            run(
                "States.Format('a\\\\b {}', States.ArrayLength(States.Array(1, 2)))",
                json!({})
            )
            .unwrap(),
            json!("a\\b 2")
        );
        fails("States.Format('{} {}', 1)", json!({}));
        fails("States.Format('{}', 1, 2)", json!({}));
        fails("States.Format('{}', $.o)", json!({"o": {"a": 1}}));
    }

    #[test]
    fn parse_errors_are_reported() {
        for bad in [
            "States.Nope(1)",
            "States.Format('unterminated)",
            "States.Format('bad \\n escape')",
            "States.ArrayLength()",
            "States.UUID(1)",
            "States.Array(1,",
            "States.Array(1) trailing",
            "Format('x')",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn string_and_json_conversions() {
        assert_eq!(
            run("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})).unwrap(),
            json!({"a": [1, 2]})
        );
        fails("States.StringToJson($.s)", json!({"s": "{oops"}));
        fails("States.StringToJson($.s)", json!({"s": 5}));
        assert_eq!(
            run("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})).unwrap(),
            json!("{\"a\":[1,\"x\"]}")
        );
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            run("States.Array('a', 1, $.x, null)", json!({"x": [true]})).unwrap(),
            json!(["a", 1, [true], null])
        );
        assert_eq!(
            run(
                "States.ArrayPartition($.a, 2)",
                json!({"a": [1, 2, 3, 4, 5]})
            )
            .unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        fails("States.ArrayPartition($.a, 0)", json!({"a": [1]}));
        fails("States.ArrayPartition($.a, 1.5)", json!({"a": [1]}));
        assert_eq!(
            run("States.ArrayContains($.a, 2)", json!({"a": [1, 2.0]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            run(
                "States.ArrayContains($.a, $.v)",
                json!({"a": [{"k": 1}], "v": {"k": 2}})
            )
            .unwrap(),
            json!(false)
        );
        fails("States.ArrayContains($.a, 1)", json!({"a": "nope"}));
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            run("States.ArrayRange(5, 1, -2)", json!({})).unwrap(),
            json!([5, 3, 1])
        );
        assert_eq!(
            run("States.ArrayRange(5, 1, 1)", json!({})).unwrap(),
            json!([])
        );
        fails("States.ArrayRange(1, 5, 0)", json!({}));
        fails("States.ArrayRange(0, 1000, 1)", json!({}));
        assert_eq!(
            run("States.ArrayRange(0, 999, 1)", json!({}))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1000
        );
        assert_eq!(
            run("States.ArrayGetItem($.a, 1)", json!({"a": ["x", "y"]})).unwrap(),
            json!("y")
        );
        fails("States.ArrayGetItem($.a, 2)", json!({"a": ["x", "y"]}));
        fails("States.ArrayGetItem($.a, -1)", json!({"a": ["x", "y"]}));
        assert_eq!(
            run("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(3)
        );
        fails("States.ArrayLength($.a)", json!({"a": {}}));
        assert_eq!(
            run(
                "States.ArrayUnique($.a)",
                json!({"a": [1, 2, 1, "1", {"a": 1}, {"a": 1}]})
            )
            .unwrap(),
            json!([1, 2, "1", {"a": 1}])
        );
        fails("States.ArrayUnique('x')", json!({}));
    }

    #[test]
    fn base64_and_hash() {
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        fails("States.Base64Decode('***')", json!({}));
        fails("States.Base64Encode($.s)", json!({"s": "x".repeat(10_001)}));
        let cases = [
            ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
            ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "SHA-256",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (algorithm, digest) in cases {
            assert_eq!(
                run(&format!("States.Hash('abc', '{algorithm}')"), json!({})).unwrap(),
                json!(digest)
            );
        }
        assert_eq!(
            run("States.Hash('abc', 'SHA-384')", json!({}))
                .unwrap()
                .as_str()
                .unwrap()
                .len(),
            96
        );
        assert!(
            run("States.Hash('abc', 'SHA-512')", json!({}))
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("ddaf35a193617aba")
        );
        fails("States.Hash('abc', 'SHA-3')", json!({}));
        fails("States.Hash($.n, 'MD5')", json!({"n": 1}));
    }

    #[test]
    fn merge_math_split_uuid() {
        assert_eq!(
            run(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "n": {"p": 1}}, "b": {"n": {"q": 2}, "y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "n": {"q": 2}, "y": 2})
        );
        fails(
            "States.JsonMerge($.a, $.b, true)",
            json!({"a": {}, "b": {}}),
        );
        fails(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": [], "b": {}}),
        );
        assert_eq!(run("States.MathAdd(40, -2)", json!({})).unwrap(), json!(38));
        assert_eq!(
            run("States.MathAdd($.v, 1)", json!({"v": 41})).unwrap(),
            json!(42)
        );
        fails("States.MathAdd(1.5, 1)", json!({}));
        fails("States.MathAdd('1', 1)", json!({}));
        for _ in 0..50 {
            let n = run("States.MathRandom(3, 6)", json!({}))
                .unwrap()
                .as_i64()
                .unwrap();
            assert!((3..6).contains(&n));
        }
        assert_eq!(
            run("States.MathRandom(1, 1000, 7)", json!({})).unwrap(),
            run("States.MathRandom(1, 1000, 7)", json!({})).unwrap()
        );
        fails("States.MathRandom(5, 5)", json!({}));
        assert_eq!(
            run(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            run("States.StringSplit($.s, ',')", json!({"s": "1,2,,3"})).unwrap(),
            json!(["1", "2", "3"])
        );
        fails("States.StringSplit(1, ',')", json!({}));
        let id = run("States.UUID()", json!({})).unwrap();
        let parsed = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn missing_path_is_a_runtime_error() {
        let failure = run("States.ArrayLength($.missing)", json!({})).unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
    }
}
