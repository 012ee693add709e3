//! The `generate` source's template language: a JSON value whose strings may hold
//! `{{seq}}`, `{{uuid}}`, `{{now}}`, `{{randInt A B}}`, `{{randString N}}`, `{{pick a|b|c}}`.
//!
//! Compiled once here (so validation and the connector agree); rendered by the connector.

use serde_json::Value;

/// One placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Placeholder {
    /// The message's sequence number, from 0.
    Seq,
    /// A random UUID v4.
    Uuid,
    /// The current time, RFC3339 with milliseconds, UTC.
    Now,
    /// A random integer in `[low, high]`.
    RandInt(i64, i64),
    /// A random alphanumeric string of this length.
    RandString(usize),
    /// One of the choices, at random.
    Pick(Vec<String>),
}

/// A piece of a templated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text copied as is.
    Text(String),
    /// A placeholder replaced at render time.
    Placeholder(Placeholder),
}

/// A compiled template value.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value without placeholders, copied as is.
    Literal(Value),
    /// A string that is exactly `{{seq}}` or `{{randInt A B}}`: rendered as a JSON number.
    Number(Placeholder),
    /// A string with placeholders, rendered as a string.
    Text(Vec<Piece>),
    /// An array with templated items.
    Array(Vec<Template>),
    /// An object with templated values.
    Object(Vec<(String, Template)>),
}

/// The template used when none is given: a small order-like record.
pub fn default_template() -> Value {
    serde_json::json!({
        "id": "{{seq}}",
        "uuid": "{{uuid}}",
        "createdAt": "{{now}}",
        "amount": "{{randInt 1 1000}}",
        "status": "{{pick new|paid|shipped}}"
    })
}

impl Template {
    /// Compiles a template value; the error names the JSON path of the bad placeholder.
    pub fn compile(value: &Value) -> Result<Template, String> {
        compile_at(value, "template")
    }
}

fn compile_at(value: &Value, path: &str) -> Result<Template, String> {
    match value {
        Value::String(text) => compile_string(text).map_err(|e| format!("{path}: {e}")),
        Value::Array(items) => {
            let mut compiled = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                compiled.push(compile_at(item, &format!("{path}[{index}]"))?);
            }
            Ok(collapse(Template::Array(compiled), value))
        }
        Value::Object(object) => {
            let mut compiled = Vec::with_capacity(object.len());
            for (key, item) in object {
                compiled.push((key.clone(), compile_at(item, &format!("{path}.{key}"))?));
            }
            Ok(collapse(Template::Object(compiled), value))
        }
        other => Ok(Template::Literal(other.clone())),
    }
}

/// A container whose members are all literal is one literal.
fn collapse(template: Template, original: &Value) -> Template {
    let all_literal = match &template {
        Template::Array(items) => items.iter().all(|t| matches!(t, Template::Literal(_))),
        Template::Object(fields) => fields
            .iter()
            .all(|(_, t)| matches!(t, Template::Literal(_))),
        _ => false,
    };
    if all_literal {
        Template::Literal(original.clone())
    } else {
        template
    }
}

fn compile_string(text: &str) -> Result<Template, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {text:?} (missing `}}}}`)"))?;
        pieces.push(Piece::Placeholder(parse_placeholder(after[..end].trim())?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(match pieces.as_slice() {
        [] => Template::Literal(Value::String(String::new())),
        [Piece::Text(only)] => Template::Literal(Value::String(only.clone())),
        [Piece::Placeholder(p @ (Placeholder::Seq | Placeholder::RandInt(..)))] => {
            Template::Number(p.clone())
        }
        _ => Template::Text(pieces),
    })
}

fn parse_placeholder(body: &str) -> Result<Placeholder, String> {
    let mut words = body.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let expect_args = |count: usize| -> Result<(), String> {
        if args.len() == count {
            Ok(())
        } else {
            Err(format!(
                "`{{{{{body}}}}}`: {name} takes {count} argument(s), found {}",
                args.len()
            ))
        }
    };
    match name {
        "seq" => expect_args(0).map(|_| Placeholder::Seq),
        "uuid" => expect_args(0).map(|_| Placeholder::Uuid),
        "now" => expect_args(0).map(|_| Placeholder::Now),
        "randInt" => {
            expect_args(2)?;
            let low: i64 = args[0]
                .parse()
                .map_err(|_| format!("`{{{{{body}}}}}`: {:?} is not an integer", args[0]))?;
            let high: i64 = args[1]
                .parse()
                .map_err(|_| format!("`{{{{{body}}}}}`: {:?} is not an integer", args[1]))?;
            if low > high {
                return Err(format!(
                    "`{{{{{body}}}}}`: the low bound {low} exceeds the high bound {high}"
                ));
            }
            Ok(Placeholder::RandInt(low, high))
        }
        "randString" => {
            expect_args(1)?;
            let length: usize = args[0].parse().map_err(|_| {
                format!(
                    "`{{{{{body}}}}}`: {:?} is not a length (a whole number)",
                    args[0]
                )
            })?;
            Ok(Placeholder::RandString(length))
        }
        "pick" => {
            let choices = body["pick".len()..].trim();
            let choices: Vec<String> = choices.split('|').map(|c| c.trim().to_string()).collect();
            if choices.iter().all(String::is_empty) {
                return Err(format!(
                    "`{{{{{body}}}}}`: pick needs choices such as `pick a|b|c`"
                ));
            }
            Ok(Placeholder::Pick(choices))
        }
        other => Err(format!(
            "unknown placeholder `{{{{{other}}}}}` (expected seq, uuid, now, randInt A B, randString N or pick a|b|c)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_placeholders() {
        let t = Template::compile(
            &json!({"id": "{{seq}}", "n": "{{randInt 1 5}}", "s": "x-{{seq}}", "k": 3}),
        )
        .unwrap();
        let Template::Object(fields) = t else {
            panic!("object expected")
        };
        assert_eq!(fields[0].1, Template::Number(Placeholder::Seq));
        assert_eq!(fields[1].1, Template::Number(Placeholder::RandInt(1, 5)));
        assert!(matches!(fields[2].1, Template::Text(_)));
        assert_eq!(fields[3].1, Template::Literal(json!(3)));
    }

    #[test]
    fn rejects_bad_placeholders() {
        for (bad, needle) in [
            ("{{nope}}", "unknown placeholder"),
            ("{{randInt 5 1}}", "exceeds"),
            ("{{randInt a 1}}", "not an integer"),
            ("{{randString}}", "takes 1"),
            ("{{seq", "unclosed"),
        ] {
            let error = Template::compile(&json!({"f": bad})).unwrap_err();
            assert!(
                error.contains(needle) && error.starts_with("template.f"),
                "{bad}: {error}"
            );
        }
    }
}
