//! `select`: a new flat object of the chosen fields, each under its last key (a wildcard path
//! gives the list of its matches). When none of the fields exists the message is unchanged.

use dataflow_core::{Payload, Record};
use dataflow_spec::FieldsConfig;
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation, compile_paths};
use crate::path::FieldPath;

struct Select {
    fields: Vec<(FieldPath, String)>,
    /// No path lies inside another and none has a wildcard: values can be moved, not copied.
    can_move: bool,
}

pub(super) fn compile(
    config: &FieldsConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let paths = compile_paths("fields", &config.fields, FieldPath::parse)?;
    let can_move = paths.iter().enumerate().all(|(i, a)| {
        !a.has_wildcard()
            && !a.segments().is_empty()
            && paths
                .iter()
                .enumerate()
                .all(|(j, b)| i == j || !b.segments().starts_with(a.segments()))
    });
    let fields = paths
        .into_iter()
        .map(|path| {
            let key = path.last_key();
            (path, key)
        })
        .collect();
    Ok(Box::new(Select { fields, can_move }))
}

impl Transformation for Select {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        let mut selected = Map::with_capacity(self.fields.len());
        if self.can_move {
            for (path, key) in &self.fields {
                if let Some(value) = path.take_unordered(root) {
                    selected.insert(key.clone(), value);
                }
            }
            // Nothing taken: nothing changed, the message stays as it is.
            if !selected.is_empty() {
                *root = Value::Object(selected);
            }
            return Ok(Effect::Keep);
        }
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
