//! `debeziumUnwrap`: a Debezium change event (`payload.op/before/after`, or the same fields at
//! the root when schemas are off) becomes its row, with `metadata.operation` and `metadata.id`.

use dataflow_core::{Payload, Record};
use dataflow_spec::{DebeziumUnwrapConfig, SnapshotOperation};
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation};

struct DebeziumUnwrap {
    config: DebeziumUnwrapConfig,
}

pub(super) fn compile(
    config: &DebeziumUnwrapConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    Ok(Box::new(DebeziumUnwrap {
        config: config.clone(),
    }))
}

fn is_tombstone(payload: &Payload) -> bool {
    match payload {
        Payload::JsonText(bytes) | Payload::Bytes(bytes) => bytes.is_empty(),
        Payload::Json(value) => value.is_null(),
    }
}

/// The object holding `op`: `payload` of a schema envelope, or the root itself.
fn envelope(root: &Value) -> Option<&Map<String, Value>> {
    let object = root.as_object()?;
    match object.get("payload").and_then(Value::as_object) {
        Some(inner) if inner.contains_key("op") => Some(inner),
        _ if object.contains_key("op")
            && (object.contains_key("after") || object.contains_key("before")) =>
        {
            Some(object)
        }
        _ => None,
    }
}

impl DebeziumUnwrap {
    /// A tombstone: dropped, or with `inferDeleteFromTombstone` the delete of its key's row. A
    /// key that names no row is a failure (the delete would otherwise be lost unseen).
    fn tombstone(&self, record: &mut Record) -> Result<Effect, String> {
        if !self.config.infer_delete_from_tombstone {
            return Ok(Effect::Drop);
        }
        let key = record.metadata.get("key").and_then(|key| match key {
            Value::String(text) => serde_json::from_str::<Value>(text).ok(),
            other => Some(other.clone()),
        });
        let row = match key {
            Some(Value::Object(mut object)) => match object.remove("payload") {
                Some(Value::Object(inner)) => inner,
                Some(other) => {
                    object.insert("payload".into(), other);
                    object
                }
                None => object,
            },
            _ => {
                return Err(
                    "a tombstone needs a JSON object key (metadata.key) to infer the delete".into(),
                );
            }
        };
        self.finish(record, row, "delete", "d", None);
        Ok(Effect::Keep)
    }

    fn finish(
        &self,
        record: &mut Record,
        mut row: Map<String, Value>,
        operation: &str,
        op: &str,
        source: Option<&Map<String, Value>>,
    ) {
        record
            .metadata
            .insert("operation".into(), Value::String(operation.into()));
        if let Some(id) = row.get("id") {
            record.metadata.insert("id".into(), id.clone());
        }
        if let Some(source) = source {
            if self.config.include_source_in_metadata {
                for (key, value) in source {
                    record
                        .metadata
                        .insert(format!("source_{key}"), value.clone());
                }
            }
            for field in &self.config.add_source_fields {
                if let Some(value) = source.get(field) {
                    row.insert(format!("__{field}"), value.clone());
                }
            }
        }
        if self.config.add_operation_fields {
            row.insert("__op".into(), Value::String(op.into()));
            row.insert(
                "__deleted".into(),
                Value::String((operation == "delete").to_string()),
            );
        }
        record.payload = Payload::Json(Value::Object(row));
    }
}

impl Transformation for DebeziumUnwrap {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if is_tombstone(&record.payload) {
            return self.tombstone(record);
        }
        let Payload::Json(root) = &record.payload else {
            return Err("debeziumUnwrap needs a JSON payload".into());
        };
        if !root.is_object() {
            return Err("debeziumUnwrap needs a JSON object payload".into());
        }
        let Some(event) = envelope(root) else {
            return Ok(Effect::Keep);
        };
        let op = event
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (side, operation) = match op.as_str() {
            "c" => ("after", "insert"),
            "u" => ("after", "update"),
            "r" => (
                "after",
                match self.config.snapshot_operation {
                    SnapshotOperation::Insert => "insert",
                    SnapshotOperation::Update => "update",
                },
            ),
            "d" => ("before", "delete"),
            other => {
                return Err(format!(
                    "unknown Debezium op {other:?} (expected c, u, r or d)"
                ));
            }
        };
        let row = match event.get(side) {
            Some(Value::Object(row)) => row.clone(),
            other => {
                return Err(format!(
                    "Debezium op {op:?} needs an object in `{side}`, found {}",
                    other.map_or("nothing".to_string(), |v| if v.is_null() {
                        "null".into()
                    } else {
                        v.to_string()
                    })
                ));
            }
        };
        let source = event.get("source").and_then(Value::as_object).cloned();
        self.finish(record, row, operation, &op, source.as_ref());
        Ok(Effect::Keep)
    }
}
