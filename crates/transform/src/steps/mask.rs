//! `mask`: replaces field values with mask characters (three, or one per character with
//! `keepLength`). Numbers and objects become masked strings too; missing fields are ignored.

use dataflow_core::{Payload, Record};
use dataflow_spec::MaskConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation, compile_paths};
use crate::path::FieldPath;
use crate::value::text_of;

struct Mask {
    paths: Vec<FieldPath>,
    mask: String,
    keep_length: bool,
}

pub(super) fn compile(config: &MaskConfig) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    if config.mask_char.is_empty() {
        problems.push((
            "maskChar".to_string(),
            "maskChar must not be empty".to_string(),
        ));
    }
    match compile_paths("fields", &config.fields, FieldPath::parse) {
        Ok(paths) if problems.is_empty() => Ok(Box::new(Mask {
            paths,
            mask: config.mask_char.clone(),
            keep_length: config.keep_length,
        })),
        Ok(_) => Err(problems),
        Err(more) => Err(problems.into_iter().chain(more).collect()),
    }
}

impl Transformation for Mask {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        for path in &self.paths {
            path.for_each_mut(root, &mut |value| {
                let count = if self.keep_length {
                    text_of(value).chars().count()
                } else {
                    3
                };
                *value = Value::String(self.mask.repeat(count));
            });
        }
        Ok(Effect::Keep)
    }
}
