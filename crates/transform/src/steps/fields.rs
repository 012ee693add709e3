//! Whole-field steps: `remove` (delete paths), `extractField` (a field becomes the payload) and
//! `hoistField` (the payload goes under one key).

use dataflow_core::{Payload, Record};
use dataflow_spec::{FieldConfig, FieldsConfig};
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation, compile_paths, problem};
use crate::path::FieldPath;

struct Remove {
    paths: Vec<FieldPath>,
}

pub(super) fn compile_remove(
    config: &FieldsConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    Ok(Box::new(Remove {
        paths: compile_paths("fields", &config.fields, FieldPath::parse)?,
    }))
}

impl Transformation for Remove {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload {
            for path in &self.paths {
                path.remove(root);
            }
        }
        Ok(Effect::Keep)
    }
}

struct Extract {
    path: FieldPath,
}

pub(super) fn compile_extract(
    config: &FieldConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let path = FieldPath::parse(&config.field).map_err(|e| problem("field", e.to_string()))?;
    Ok(Box::new(Extract { path }))
}

impl Transformation for Extract {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload
            && let Some(value) = self.path.get(root).cloned()
        {
            *root = value;
        }
        Ok(Effect::Keep)
    }
}

struct Hoist {
    key: String,
}

pub(super) fn compile_hoist(
    config: &FieldConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    if config.field.is_empty() || config.field.contains('.') {
        return Err(problem(
            "field",
            "hoistField takes a plain key, without dots",
        ));
    }
    Ok(Box::new(Hoist {
        key: config.field.clone(),
    }))
}

impl Transformation for Hoist {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload {
            let mut wrapper = Map::with_capacity(1);
            wrapper.insert(self.key.clone(), root.take());
            *root = Value::Object(wrapper);
        }
        Ok(Effect::Keep)
    }
}
