//! `flatten`: one message per element of an array. The array is removed from its parent (also
//! for a nested path, as the original's docs show); object elements are merged into the root,
//! other elements are stored at the array's path.

use dataflow_core::{Payload, Record};
use dataflow_spec::FlattenConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation, problem};
use crate::path::FieldPath;

struct Flatten {
    path: FieldPath,
}

pub(super) fn compile(
    config: &FlattenConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let path =
        FieldPath::parse_target(&config.field).map_err(|e| problem("field", e.to_string()))?;
    Ok(Box::new(Flatten { path }))
}

/// The elements of an array, or of an Avro-style wrapper `{"array": [...]}`.
fn elements(value: &Value) -> Option<&Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(object) => object.get("array").and_then(Value::as_array),
        _ => None,
    }
}

impl Transformation for Flatten {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let template = record.clone_without_payload();
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        if !root.is_object() || self.path.get(root).and_then(elements).is_none() {
            return Ok(Effect::Keep);
        }
        let taken = self.path.take(root).expect("checked above");
        let Some(items) = elements(&taken) else {
            return Ok(Effect::Keep);
        };
        if items.is_empty() {
            return Ok(Effect::Keep); // the root without the empty array
        }
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let mut payload = root.clone();
            match (item, &mut payload) {
                (Value::Object(fields), Value::Object(target)) => {
                    for (key, value) in fields {
                        target.insert(key.clone(), value.clone());
                    }
                }
                (scalar, _) => self.path.set(&mut payload, scalar.clone())?,
            }
            let mut derived = template.clone();
            derived.payload = Payload::Json(payload);
            records.push(derived);
        }
        Ok(Effect::Expand(records))
    }
}
