//! `select`: a new flat object of the chosen fields, each under its last key (a wildcard path
//! gives the list of its matches). When none of the fields exists the message is unchanged.

use dataflow_core::{Payload, Record};
use dataflow_spec::FieldsConfig;
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation, compile_paths};
use crate::path::FieldPath;

struct Select {
    fields: Vec<(FieldPath, String)>,
}

pub(super) fn compile(
    config: &FieldsConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let paths = compile_paths("fields", &config.fields, FieldPath::parse)?;
    Ok(Box::new(Select {
        fields: paths
            .into_iter()
            .map(|p| {
                let key = p.last_key();
                (p, key)
            })
            .collect(),
    }))
}

impl Transformation for Select {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        let mut selected = Map::new();
        for (path, key) in &self.fields {
            if path.has_wildcard() {
                let values: Vec<Value> = path.get_all(root).into_iter().cloned().collect();
                if !values.is_empty() {
                    selected.insert(key.clone(), Value::Array(values));
                }
            } else if let Some(value) = path.get(root) {
                selected.insert(key.clone(), value.clone());
            }
        }
        if !selected.is_empty() {
            *root = Value::Object(selected);
        }
        Ok(Effect::Keep)
    }
}
