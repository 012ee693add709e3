//! `replaceField`: `include` keeps only some paths with their nesting, `exclude` removes paths
//! (pruning parents left empty), then `renames` move values (`old.path:new.path`).

use dataflow_core::{Payload, Record};
use dataflow_spec::ReplaceFieldConfig;
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation};
use crate::path::FieldPath;

struct ReplaceField {
    include: Vec<FieldPath>,
    exclude: Vec<FieldPath>,
    renames: Vec<(FieldPath, FieldPath)>,
}

pub(super) fn compile(
    config: &ReplaceFieldConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    if !config.include.is_empty() && !config.exclude.is_empty() {
        problems.push((
            "exclude".into(),
            "include and exclude cannot be set together".into(),
        ));
    }
    if config.renames.is_empty() && config.include.is_empty() && config.exclude.is_empty() {
        problems.push((
            String::new(),
            "replaceField needs renames, include or exclude".into(),
        ));
    }
    let mut paths = |field: &str, list: &[String]| -> Vec<FieldPath> {
        list.iter()
            .enumerate()
            .filter_map(|(index, text)| {
                FieldPath::parse_target(text)
                    .map_err(|e| problems.push((format!("{field}[{index}]"), e.to_string())))
                    .ok()
            })
            .collect()
    };
    let include = paths("include", &config.include);
    let exclude = paths("exclude", &config.exclude);
    let mut renames = Vec::new();
    for (index, rename) in config.renames.iter().enumerate() {
        let field = format!("renames[{index}]");
        let Some((old, new)) = rename.split_once(':') else {
            problems.push((field, format!("{rename:?} is not `old.path:new.path`")));
            continue;
        };
        match (
            FieldPath::parse_target(old.trim()),
            FieldPath::parse_target(new.trim()),
        ) {
            (Ok(old), Ok(new)) => renames.push((old, new)),
            (Err(e), _) | (_, Err(e)) => problems.push((field, e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(Box::new(ReplaceField {
            include,
            exclude,
            renames,
        }))
    } else {
        Err(problems)
    }
}

impl Transformation for ReplaceField {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        if !root.is_object() {
            return Ok(Effect::Keep);
        }
        if !self.include.is_empty() {
            let mut kept = Value::Object(Map::new());
            for path in &self.include {
                if let Some(value) = path.get(root) {
                    path.set(&mut kept, value.clone())?;
                }
            }
            *root = kept;
        }
        for path in &self.exclude {
            path.remove_pruning(root);
        }
        for (old, new) in &self.renames {
            if let Some(value) = old.get(root).cloned() {
                old.remove_pruning(root);
                new.set(root, value)?;
            }
        }
        Ok(Effect::Keep)
    }
}
