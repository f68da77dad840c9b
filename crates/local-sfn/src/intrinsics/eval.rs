//! Evaluation of parsed intrinsic calls; data problems are `States.IntrinsicFailure`.

use base64::Engine as _;
use md5::Digest as _;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::{Expr, Function};
use crate::error::Failure;
use crate::jsonpath::Root;

/// Largest string Base64Encode/Decode and Hash accept, as documented for Step Functions.
const MAX_STRING_ARGUMENT: usize = 10_000;
/// Largest array ArrayRange may produce.
const MAX_RANGE_ITEMS: usize = 1_000;

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
pub(crate) fn evaluate(expr: &Expr, input: &Value, context: &Value) -> Result<Value, Failure> {
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
