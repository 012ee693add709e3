//! `structFlatten`: nested objects become one level of joined keys; arrays stay values; empty
//! nested objects vanish; more than 64 levels is an error.

use dataflow_core::{Payload, Record};
use dataflow_spec::StructFlattenConfig;
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation, problem};

const MAX_DEPTH: usize = 64;

struct StructFlatten {
    delimiter: String,
}

pub(super) fn compile(
    config: &StructFlattenConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let delimiter = config.delimiter.clone().unwrap_or_else(|| ".".into());
    if delimiter.is_empty() {
        return Err(problem(
            "delimiter",
            "delimiter must not be empty (omit it for \".\")",
        ));
    }
    Ok(Box::new(StructFlatten { delimiter }))
}

impl StructFlatten {
    fn flatten_into(
        &self,
        prefix: &str,
        object: Map<String, Value>,
        out: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), String> {
        for (key, value) in object {
            let joined = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}{}{key}", self.delimiter)
            };
            match value {
                Value::Object(inner) => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(format!(
                            "nesting deeper than {MAX_DEPTH} levels at {joined}"
                        ));
                    }
                    self.flatten_into(&joined, inner, out, depth + 1)?;
                }
                other => {
                    out.insert(joined, other);
                }
            }
        }
        Ok(())
    }
}

/// Whether `value` nests objects deeper than `limit` levels (stops looking past it).
fn deeper_than(value: &Value, limit: usize) -> bool {
    match value {
        Value::Object(object) => {
            limit == 0 || object.values().any(|child| deeper_than(child, limit - 1))
        }
        _ => false,
    }
}

impl Transformation for StructFlatten {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root @ Value::Object(_)) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        if deeper_than(root, MAX_DEPTH) {
            return Err(format!(
                "the payload nests objects deeper than {MAX_DEPTH} levels"
            ));
        }
        let Value::Object(object) = root.take() else {
            unreachable!("matched an object")
        };
        let mut flat = Map::with_capacity(object.len());
        self.flatten_into("", object, &mut flat, 1)?;
        *root = Value::Object(flat);
        Ok(Effect::Keep)
    }
}
