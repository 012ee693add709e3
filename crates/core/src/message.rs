//! The unit that flows through a pipeline: a record (payload, metadata, timestamp) plus the
//! acknowledgement token bound to its source position.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ack::AckToken;

/// String-keyed metadata (`topic`, `partition`, `offset`, `key`, `table`, `id`, `operation`, …).
pub type Metadata = Map<String, Value>;

/// A message body: parsed JSON, or raw bytes for connectors that need them.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON value.
    Json(Value),
    /// Raw bytes (not necessarily JSON).
    Bytes(Bytes),
}

impl Payload {
    /// The payload as JSON text (raw bytes are copied as lossy UTF-8).
    pub fn to_json_text(&self) -> String {
        match self {
            Payload::Json(value) => value.to_string(),
            Payload::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The payload as a JSON value; raw bytes are parsed when they hold JSON.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Payload::Json(value) => Some(value.clone()),
            Payload::Bytes(bytes) => serde_json::from_slice(bytes).ok(),
        }
    }
}

/// Payload, metadata and timestamp: what transformations read and write.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The body.
    pub payload: Payload,
    /// Metadata set by the source and transformations.
    pub metadata: Metadata,
    /// When the record was produced (source time when known, else read time).
    pub timestamp: DateTime<Utc>,
    /// The router route that takes this record instead of the main sink (index among every
    /// route of the chain), set by a `router` step.
    pub route: Option<usize>,
}

impl Record {
    /// A record from its parts, for the main sink.
    pub fn new(payload: Payload, metadata: Metadata, timestamp: DateTime<Utc>) -> Self {
        Record {
            payload,
            metadata,
            timestamp,
            route: None,
        }
    }

    /// A JSON record with empty metadata, stamped now.
    pub fn json(payload: Value) -> Self {
        Record::new(Payload::Json(payload), Metadata::new(), Utc::now())
    }

    /// A copy with the same metadata, timestamp and route, and a null payload (for steps that
    /// derive several records from one).
    pub fn clone_without_payload(&self) -> Self {
        Record {
            payload: Payload::Json(Value::Null),
            metadata: self.metadata.clone(),
            timestamp: self.timestamp,
            route: self.route,
        }
    }

    /// A short human name for this record, for error messages: `message_id`, `id`,
    /// `topic/partition/offset`, `file:line`, or the start of the payload.
    pub fn describe(&self) -> String {
        let text = |key: &str| {
            self.metadata.get(key).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        if let Some(id) = text("message_id").or_else(|| text("id")) {
            return format!("id {id}");
        }
        if let (Some(topic), Some(partition), Some(offset)) =
            (text("topic"), text("partition"), text("offset"))
        {
            return format!("{topic}/{partition}/{offset}");
        }
        if let (Some(file), Some(line)) = (text("file"), text("line")) {
            return format!("{file}:{line}");
        }
        let mut excerpt = self.payload.to_json_text();
        if excerpt.len() > 80 {
            let mut cut = 77;
            while !excerpt.is_char_boundary(cut) {
                cut -= 1;
            }
            excerpt.truncate(cut);
            excerpt.push_str("...");
        }
        format!("payload {excerpt}")
    }
}

/// A record travelling through the pipeline with its acknowledgement token.
#[derive(Debug)]
pub struct Message {
    /// The content.
    pub record: Record,
    /// Acknowledged once the record (and everything derived from it) is durably written.
    pub ack: AckToken,
}

impl Message {
    /// Bundles a record with its token.
    pub fn new(record: Record, ack: AckToken) -> Self {
        Message { record, ack }
    }
}
