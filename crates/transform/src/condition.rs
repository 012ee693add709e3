//! Conditions of `filter`, router routes and `when`, compiled once.
//!
//! The original's grammar and meaning — truthiness, `==`, `!=` (string comparison of the
//! field's text), `!`, `&&` (binds tighter), `||`, parentheses, `metadata.<key>`, quoted values,
//! a missing field is false — plus `<`, `<=`, `>`, `>=` (numeric when both sides are numbers)
//! and `=~` (regular expression). Operators work with or without spaces around them.

use std::fmt;

use dataflow_core::Record;
use regex::Regex;
use serde_json::Value;

use crate::path::FieldPath;
use crate::value::{is_truthy, text_of};

/// A condition that could not be compiled, with the 1-based column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column} of the condition)")]
pub struct ConditionError {
    /// 1-based character position.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    expression: Expression,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone)]
enum Expression {
    Any(Vec<Expression>),
    All(Vec<Expression>),
    Not(Box<Expression>),
    Truthy(Operand),
    Compare(Operand, Operator, Literal),
}

#[derive(Debug, Clone)]
enum Operand {
    Payload(FieldPath),
    /// The whole metadata map.
    AllMetadata,
    /// `metadata.<key>` and an optional path inside that value.
    Metadata(String, Option<FieldPath>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Matches,
}

#[derive(Debug, Clone)]
struct Literal {
    text: String,
    number: Option<f64>,
    regex: Option<Regex>,
}

impl Condition {
    /// Compiles a condition.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err(ConditionError {
                column: 1,
                message: "the condition is empty".into(),
            });
        }
        let mut parser = Parser {
            tokens,
            position: 0,
            end_column: text.chars().count() + 1,
        };
        let expression = parser.any()?;
        if let Some(token) = parser.tokens.get(parser.position) {
            return Err(ConditionError {
                column: token.column,
                message: format!("unexpected {}", token.kind.describe()),
            });
        }
        Ok(Condition {
            text: text.to_string(),
            expression,
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the record meets the condition.
    pub fn matches(&self, record: &Record) -> bool {
        self.expression.evaluate(record)
    }
}

impl Expression {
    fn evaluate(&self, record: &Record) -> bool {
        match self {
            Expression::Any(items) => items.iter().any(|e| e.evaluate(record)),
            Expression::All(items) => items.iter().all(|e| e.evaluate(record)),
            Expression::Not(inner) => !inner.evaluate(record),
            Expression::Truthy(operand) => operand.read(record, is_truthy).unwrap_or(false),
            Expression::Compare(operand, operator, literal) => operand
                .read(record, |value| compare(value, *operator, literal))
                .unwrap_or(false),
        }
    }
}

impl Operand {
    /// Applies `check` to the operand's value; `None` when it is missing.
    fn read(&self, record: &Record, check: impl Fn(&Value) -> bool) -> Option<bool> {
        match self {
            Operand::Payload(path) => {
                let root = record.payload.value()?;
                path.get(&root).map(check)
            }
            Operand::AllMetadata => Some(check(&Value::Object(serde_json::Map::clone(
                &record.metadata,
            )))),
            Operand::Metadata(key, rest) => {
                let value = record.metadata.get(key)?;
                match rest {
                    None => Some(check(value)),
                    Some(path) => path.get(value).map(check),
                }
            }
        }
    }
}

fn compare(value: &Value, operator: Operator, literal: &Literal) -> bool {
    if let (Value::Number(number), Some(right)) = (value, literal.number)
        && !matches!(
            operator,
            Operator::Equal | Operator::NotEqual | Operator::Matches
        )
    {
        let Some(order) = number.as_f64().and_then(|left| left.partial_cmp(&right)) else {
            return false;
        };
        return match operator {
            Operator::Less => order.is_lt(),
            Operator::LessOrEqual => order.is_le(),
            Operator::Greater => order.is_gt(),
            _ => order.is_ge(),
        };
    }
    let text = text_of(value);
    match operator {
        Operator::Equal => text == literal.text,
        Operator::NotEqual => text != literal.text,
        Operator::Matches => literal
            .regex
            .as_ref()
            .is_some_and(|regex| regex.is_match(&text)),
        ordering => {
            let order = match (
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|_| !value.is_boolean()),
                literal.number,
            ) {
                (Some(left), Some(right)) => left.partial_cmp(&right),
                _ => Some(text.as_ref().cmp(literal.text.as_str())),
            };
            let Some(order) = order else { return false };
            match ordering {
                Operator::Less => order.is_lt(),
                Operator::LessOrEqual => order.is_le(),
                Operator::Greater => order.is_gt(),
                Operator::GreaterOrEqual => order.is_ge(),
                _ => unreachable!("equality handled above"),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Open,
    Close,
    Not,
    And,
    Or,
    Operator(Operator),
    Word(String),
    Quoted(String),
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Open => "`(`".into(),
            TokenKind::Close => "`)`".into(),
            TokenKind::Not => "`!`".into(),
            TokenKind::And => "`&&`".into(),
            TokenKind::Or => "`||`".into(),
            TokenKind::Operator(op) => format!("`{}`", operator_text(*op)),
            TokenKind::Word(word) => format!("`{word}`"),
            TokenKind::Quoted(text) => format!("'{text}'"),
        }
    }
}

fn operator_text(operator: Operator) -> &'static str {
    match operator {
        Operator::Equal => "==",
        Operator::NotEqual => "!=",
        Operator::Less => "<",
        Operator::LessOrEqual => "<=",
        Operator::Greater => ">",
        Operator::GreaterOrEqual => ">=",
        Operator::Matches => "=~",
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    column: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let column = i + 1;
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (kind, width) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('(', _) => (TokenKind::Open, 1),
            (')', _) => (TokenKind::Close, 1),
            ('&', Some('&')) => (TokenKind::And, 2),
            ('|', Some('|')) => (TokenKind::Or, 2),
            ('=', Some('=')) => (TokenKind::Operator(Operator::Equal), 2),
            ('=', Some('~')) => (TokenKind::Operator(Operator::Matches), 2),
            ('!', Some('=')) => (TokenKind::Operator(Operator::NotEqual), 2),
            ('<', Some('=')) => (TokenKind::Operator(Operator::LessOrEqual), 2),
            ('>', Some('=')) => (TokenKind::Operator(Operator::GreaterOrEqual), 2),
            ('<', _) => (TokenKind::Operator(Operator::Less), 1),
            ('>', _) => (TokenKind::Operator(Operator::Greater), 1),
            ('!', _) => (TokenKind::Not, 1),
            ('\'' | '"', _) => {
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(ConditionError {
                                column,
                                message: "unclosed quote".into(),
                            });
                        }
                        Some('\\') if j + 1 < chars.len() => {
                            value.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(q) if *q == c => break,
                        Some(other) => {
                            value.push(*other);
                            j += 1;
                        }
                    }
                }
                (TokenKind::Quoted(value), j + 1 - i)
            }
            ('&' | '|' | '=', _) => {
                return Err(ConditionError {
                    column,
                    message: format!("unexpected `{c}` (use `&&`, `||`, `==` or `=~`)"),
                });
            }
            _ => {
                let mut word = String::new();
                let mut j = i;
                let mut brackets = 0usize;
                while let Some(&ch) = chars.get(j) {
                    if brackets > 0 {
                        // Inside `[...]` of a path: copy quoted keys verbatim.
                        if ch == ']' {
                            brackets -= 1;
                        } else if ch == '\'' || ch == '"' {
                            word.push(ch);
                            j += 1;
                            while let Some(&inner) = chars.get(j) {
                                word.push(inner);
                                j += 1;
                                if inner == ch {
                                    break;
                                }
                            }
                            continue;
                        }
                    } else if ch.is_whitespace() || "()&|=!<>'\"".contains(ch) {
                        break;
                    } else if ch == '[' {
                        brackets += 1;
                    }
                    word.push(ch);
                    j += 1;
                }
                (TokenKind::Word(word), j - i)
            }
        };
        tokens.push(Token { kind, column });
        i += width;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.position).map(|t| &t.kind)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.position)
            .map_or(self.end_column, |t| t.column)
    }

    fn any(&mut self) -> Result<Expression, ConditionError> {
        let mut items = vec![self.all()?];
        while self.peek() == Some(&TokenKind::Or) {
            self.position += 1;
            items.push(self.all()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Expression::Any(items)
        })
    }

    fn all(&mut self) -> Result<Expression, ConditionError> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&TokenKind::And) {
            self.position += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Expression::All(items)
        })
    }

    fn unary(&mut self) -> Result<Expression, ConditionError> {
        if self.peek() == Some(&TokenKind::Not) {
            self.position += 1;
            return Ok(Expression::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expression, ConditionError> {
        let column = self.column();
        match self.peek().cloned() {
            Some(TokenKind::Open) => {
                self.position += 1;
                let inner = self.any()?;
                if self.peek() != Some(&TokenKind::Close) {
                    return Err(ConditionError {
                        column: self.column(),
                        message: format!("expected `)` to close the `(` at column {column}"),
                    });
                }
                self.position += 1;
                Ok(inner)
            }
            Some(TokenKind::Word(word)) => {
                self.position += 1;
                let operand =
                    operand(&word).map_err(|message| ConditionError { column, message })?;
                let Some(TokenKind::Operator(operator)) = self.peek().cloned() else {
                    return Ok(Expression::Truthy(operand));
                };
                self.position += 1;
                let value_column = self.column();
                let text = match self.peek().cloned() {
                    Some(TokenKind::Word(text)) | Some(TokenKind::Quoted(text)) => text,
                    other => {
                        return Err(ConditionError {
                            column: value_column,
                            message: format!(
                                "expected a value after `{}`, found {}",
                                operator_text(operator),
                                other.map_or("the end".to_string(), |t| t.describe())
                            ),
                        });
                    }
                };
                self.position += 1;
                let regex = if operator == Operator::Matches {
                    Some(Regex::new(&text).map_err(|e| ConditionError {
                        column: value_column,
                        message: format!("invalid regular expression: {e}"),
                    })?)
                } else {
                    None
                };
                let number = text.trim().parse::<f64>().ok();
                Ok(Expression::Compare(
                    operand,
                    operator,
                    Literal {
                        text,
                        number,
                        regex,
                    },
                ))
            }
            Some(other) => Err(ConditionError {
                column,
                message: format!("expected a field, `!` or `(`, found {}", other.describe()),
            }),
            None => Err(ConditionError {
                column,
                message: "the condition ends too early".into(),
            }),
        }
    }
}

fn operand(word: &str) -> Result<Operand, String> {
    if word == "metadata" {
        return Ok(Operand::AllMetadata);
    }
    if let Some(rest) = word.strip_prefix("metadata.") {
        let path = FieldPath::parse(rest).map_err(|e| e.to_string())?;
        let (key, inner) = path
            .split_first_key()
            .ok_or("expected a metadata key after `metadata.`")?;
        return Ok(Operand::Metadata(key, inner));
    }
    FieldPath::parse(word)
        .map(Operand::Payload)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
