//! The tokenizer and recursive-descent parser of intrinsic calls.

use serde_json::{Number, Value};

use super::{Expr, Function, IntrinsicParseError};
use crate::jsonpath::JsonPath;

/// Step Functions allows at most this many nested intrinsic calls in one field.
const MAX_NESTING: usize = 10;

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
pub(crate) fn parse(text: &str) -> Result<Expr, IntrinsicParseError> {
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
