//! `cast`: converts field values to `string`, `int64`, `float64`, `bool` or `null`. Missing
//! paths are skipped; a value that cannot be converted is an error (and nothing is changed).

use dataflow_core::{Payload, Record};
use dataflow_spec::{CastConfig, CastType};
use serde_json::{Number, Value};

use super::{ConfigProblem, Effect, Transformation};
use crate::path::FieldPath;

struct Cast {
    fields: Vec<(FieldPath, CastType)>,
}

pub(super) fn compile(config: &CastConfig) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut fields = Vec::new();
    let mut problems = Vec::new();
    if config.spec.is_empty() {
        problems.push((
            "spec".into(),
            "cast needs at least one `path: type` entry".into(),
        ));
    }
    for (path, target) in &config.spec {
        match FieldPath::parse(path) {
            Ok(compiled) => fields.push((compiled, *target)),
            Err(e) => problems.push((format!("spec.{path}"), e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(Box::new(Cast { fields }))
    } else {
        Err(problems)
    }
}

/// Converts one value, or says why it cannot be.
pub fn convert(value: &Value, target: CastType) -> Result<Value, String> {
    let fail = || format!("cannot cast {} to {}", describe(value), target.as_str());
    match target {
        CastType::Null => Ok(Value::Null),
        CastType::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(fail()),
        },
        CastType::Int64 => {
            let from_float = |f: f64| {
                if f.fract() == 0.0 && f.is_finite() && f.abs() < 9.2e18 {
                    Ok(Value::from(f as i64))
                } else {
                    Err(fail())
                }
            };
            match value {
                Value::Number(n) => match n.as_i64() {
                    Some(i) => Ok(Value::from(i)),
                    None => from_float(n.as_f64().ok_or_else(fail)?),
                },
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(i) => Ok(Value::from(i)),
                    Err(_) => from_float(s.trim().parse::<f64>().map_err(|_| fail())?),
                },
                _ => Err(fail()),
            }
        }
        CastType::Float64 => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            number
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(fail)
        }
        CastType::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Value::Bool(false)),
            _ => Err(fail()),
        },
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Transformation for Cast {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        // Convert everything first: on error the record stays as it was.
        let mut converted = Vec::with_capacity(self.fields.len());
        for (path, target) in &self.fields {
            let values = path
                .get_all(root)
                .into_iter()
                .map(|value| convert(value, *target).map_err(|e| format!("{path}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            converted.push(values);
        }
        for ((path, _), values) in self.fields.iter().zip(converted) {
            let mut values = values.into_iter();
            path.for_each_mut(root, &mut |slot| {
                if let Some(value) = values.next() {
                    *slot = value;
                }
            });
        }
        Ok(Effect::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversion_table() {
        let ok = |value: Value, target, expected: Value| {
            assert_eq!(
                convert(&value, target).unwrap(),
                expected,
                "{value} → {target:?}"
            )
        };
        ok(json!(5), CastType::String, json!("5"));
        ok(json!(true), CastType::String, json!("true"));
        ok(json!("7"), CastType::Int64, json!(7));
        ok(json!(7.0), CastType::Int64, json!(7));
        ok(json!("7.0"), CastType::Int64, json!(7));
        ok(json!("9.99"), CastType::Float64, json!(9.99));
        ok(json!(3), CastType::Float64, json!(3.0));
        ok(json!("TRUE"), CastType::Bool, json!(true));
        ok(json!(0), CastType::Bool, json!(false));
        ok(json!({"a": 1}), CastType::Null, json!(null));
        for (value, target) in [
            (json!({"a": 1}), CastType::String),
            (json!(null), CastType::String),
            (json!(7.5), CastType::Int64),
            (json!("abc"), CastType::Int64),
            (json!(true), CastType::Int64),
            (json!("x"), CastType::Float64),
            (json!(2), CastType::Bool),
            (json!("yes"), CastType::Bool),
        ] {
            assert!(
                convert(&value, target).is_err(),
                "{value} → {target:?} must fail"
            );
        }
    }
}
