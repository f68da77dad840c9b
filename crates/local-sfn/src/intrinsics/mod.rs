//! ASL intrinsic functions (`States.Format(...)` and friends): a tokenizer and recursive parser
//! so nested calls, quoted literals with escapes and paths as arguments all work, plus the
//! evaluator. Parsing happens at definition load, so a malformed call is a definition error and
//! only data problems surface at run time as `States.IntrinsicFailure`.

mod eval;
mod parser;
#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::jsonpath::JsonPath;

pub(crate) use eval::evaluate;
pub(crate) use parser::parse;

/// Why an intrinsic expression failed to parse; reported as a definition error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid intrinsic function '{expression}': {reason}")]
pub(crate) struct IntrinsicParseError {
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
pub(crate) fn looks_like_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}
