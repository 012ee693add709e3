//! `insertField`: sets fields to a literal, `${now}` (RFC3339), `${metadata.<key>}` (text,
//! empty when missing) or `json:<raw JSON>`.

use chrono::{SecondsFormat, Utc};
use dataflow_core::{Payload, Record};
use dataflow_spec::InsertFieldConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation};
use crate::path::FieldPath;
use crate::value::text_of;

enum Source {
    Literal(Value),
    Now,
    Metadata(String),
}

struct InsertField {
    fields: Vec<(FieldPath, Source)>,
}

pub(super) fn compile(
    config: &InsertFieldConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut fields = Vec::new();
    let mut problems = Vec::new();
    if config.fields.is_empty() {
        problems.push((
            "fields".into(),
            "fields needs at least one `path: value` entry".into(),
        ));
    }
    for (path_text, value) in &config.fields {
        let field = format!("fields.{path_text}");
        let path = match FieldPath::parse_target(path_text) {
            Ok(path) => path,
            Err(e) => {
                problems.push((field, e.to_string()));
                continue;
            }
        };
        let source = match value.as_str() {
            Some("${now}") => Source::Now,
            Some(text) if text.starts_with("${metadata.") && text.ends_with('}') => {
                Source::Metadata(text["${metadata.".len()..text.len() - 1].to_string())
            }
            Some(text) if text.starts_with("json:") => match serde_json::from_str(&text[5..]) {
                Ok(parsed) => Source::Literal(parsed),
                Err(e) => {
                    problems.push((
                        field,
                        format!("the value after `json:` is not valid JSON: {e}"),
                    ));
                    continue;
                }
            },
            _ => Source::Literal(value.clone()),
        };
        fields.push((path, source));
    }
    if problems.is_empty() {
        Ok(Box::new(InsertField { fields }))
    } else {
        Err(problems)
    }
}

impl Transformation for InsertField {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        if !root.is_object() {
            return Ok(Effect::Keep);
        }
        for (path, source) in &self.fields {
            let value = match source {
                Source::Literal(value) => value.clone(),
                Source::Now => Value::String(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
                Source::Metadata(key) => Value::String(
                    record
                        .metadata
                        .get(key)
                        .map(|v| text_of(v).into_owned())
                        .unwrap_or_default(),
                ),
            };
            path.set(root, value)?;
        }
        Ok(Effect::Keep)
    }
}
