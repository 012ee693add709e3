//! `headersToPayload` (older name `headerFrom`): copies message headers (`metadata.headers`)
//! into payload fields; missing headers are skipped.

use dataflow_core::{Payload, Record};
use dataflow_spec::HeadersToPayloadConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation};
use crate::path::FieldPath;
use crate::value::text_of;

struct HeadersToPayload {
    mappings: Vec<(String, FieldPath)>,
}

pub(super) fn compile(
    config: &HeadersToPayloadConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut mappings = Vec::new();
    let mut problems = Vec::new();
    if config.mappings.is_empty() {
        problems.push((
            "mappings".into(),
            "mappings needs at least one `Header-Name:field.path`".into(),
        ));
    }
    for (index, mapping) in config.mappings.iter().enumerate() {
        let field = format!("mappings[{index}]");
        match mapping.split_once(':') {
            Some((header, path)) if !header.trim().is_empty() => {
                match FieldPath::parse_target(path.trim()) {
                    Ok(path) => mappings.push((header.trim().to_string(), path)),
                    Err(e) => problems.push((field, e.to_string())),
                }
            }
            _ => problems.push((
                field,
                format!("{mapping:?} is not `Header-Name:field.path`"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(Box::new(HeadersToPayload { mappings }))
    } else {
        Err(problems)
    }
}

impl Transformation for HeadersToPayload {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Some(Value::Object(headers)) = record.metadata.get("headers") else {
            return Ok(Effect::Keep);
        };
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        if !root.is_object() {
            return Ok(Effect::Keep);
        }
        for (header, path) in &self.mappings {
            let value = headers.get(header).or_else(|| {
                headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(header))
                    .map(|(_, v)| v)
            });
            if let Some(value) = value {
                path.set(root, Value::String(text_of(value).into_owned()))?;
            }
        }
        Ok(Effect::Keep)
    }
}
