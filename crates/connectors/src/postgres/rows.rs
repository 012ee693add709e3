//! What each message of a batch becomes: a row (its JSON object, or the rawMode row with
//! `data`, `_metadata` and flattened metadata columns) or a soft delete; messages that cannot
//! become either are rejected here.

use std::borrow::Cow;

use dataflow_core::{ErrorType, Message, Payload, Rejection, json_kind};
use serde_json::{Map, Value};

use super::sink::PostgresSink;

/// What one message becomes.
pub(super) enum Change<'a> {
    /// A row to insert or upsert.
    Row {
        index: usize,
        fields: Cow<'a, Map<String, Value>>,
    },
    /// A soft delete of the row with this key.
    Delete { index: usize, key: Value },
}

impl Change<'_> {
    pub(super) fn index(&self) -> usize {
        match self {
            Change::Row { index, .. } | Change::Delete { index, .. } => *index,
        }
    }
}

impl PostgresSink {
    /// What each message becomes; messages that cannot become a row are rejected.
    pub(super) fn prepare<'a>(
        &self,
        batch: &'a [Message],
        rejections: &mut Vec<Rejection>,
    ) -> Vec<Change<'a>> {
        let mut changes = Vec::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            let record = &message.record;
            if self.config.soft_delete_column.is_some()
                && record.metadata.get("operation").and_then(Value::as_str) == Some("delete")
            {
                let key = record
                    .metadata
                    .get("id")
                    .cloned()
                    .or_else(|| match &record.payload {
                        Payload::Json(Value::Object(o)) => {
                            o.get(&self.config.conflict_key).cloned()
                        }
                        _ => None,
                    });
                match key {
                    Some(key) => changes.push(Change::Delete { index, key }),
                    None => rejections.push(Rejection::of_kind(
                        index,
                        ErrorType::InvalidData,
                        format!(
                            "a delete needs metadata.id or the field {:?}",
                            self.config.conflict_key
                        ),
                    )),
                }
                continue;
            }
            if self.config.raw_mode {
                changes.push(Change::Row {
                    index,
                    fields: Cow::Owned(self.raw_row(record)),
                });
                continue;
            }
            // The engine parses JSON text before `write`; an unparsed payload still works.
            match record.payload.value() {
                Some(Cow::Borrowed(Value::Object(object))) => changes.push(Change::Row {
                    index,
                    fields: Cow::Borrowed(object),
                }),
                Some(Cow::Owned(Value::Object(object))) => changes.push(Change::Row {
                    index,
                    fields: Cow::Owned(object),
                }),
                Some(other) => rejections.push(Rejection::of_kind(
                    index,
                    ErrorType::InvalidData,
                    format!(
                        "payload is not a JSON object (found {}); use rawMode to store any JSON",
                        json_kind(&other)
                    ),
                )),
                None => rejections.push(Rejection::of_kind(
                    index,
                    ErrorType::InvalidData,
                    "payload is not JSON",
                )),
            }
        }
        changes
    }

    /// The raw-mode row: `data`, `_metadata`, and with `flattenMetadataColumns` a column per key.
    fn raw_row(&self, record: &dataflow_core::Record) -> Map<String, Value> {
        let payload = match record.payload.value() {
            Some(value) => value.into_owned(),
            None => Value::String(record.payload.to_json_text()),
        };
        // A payload already shaped {"value", "_metadata"} is unwrapped.
        let (data, metadata) = match payload {
            Value::Object(mut object)
                if object.contains_key("value")
                    && object.contains_key("_metadata")
                    && object.len() == 2 =>
            {
                let metadata = object.remove("_metadata").unwrap_or(Value::Null);
                (object.remove("value").unwrap_or(Value::Null), metadata)
            }
            other => (other, Value::Object(Map::clone(&record.metadata))),
        };
        let mut row = Map::new();
        if self.config.metadata_columns.flatten_metadata_columns {
            let prefix = self
                .config
                .metadata_columns
                .flatten_metadata_columns_prefix
                .as_deref()
                .unwrap_or("");
            if let Value::Object(fields) = &metadata {
                for (key, value) in fields {
                    row.insert(format!("{prefix}{key}"), value.clone());
                }
            }
        }
        row.insert("data".into(), data);
        row.insert("_metadata".into(), metadata);
        row
    }
}
