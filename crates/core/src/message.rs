//! The unit that flows through a pipeline: a record (payload, metadata, timestamp) plus the
//! acknowledgement token bound to its source position.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ack::AckToken;
pub use crate::exact_numbers::InexactNumber;

pub use crate::metadata::Metadata;

/// A message body: parsed JSON, JSON text not parsed yet, or raw bytes for connectors that
/// need them.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON value.
    Json(Value),
    /// Text a source checked to be exactly one JSON value, kept as it came: the transformation
    /// chain and the sinks that need values parse it ([`Payload::parse_text`]); sinks that write
    /// JSON text pass it on untouched. Build it with [`Payload::json_text`].
    JsonText(Bytes),
    /// Raw bytes (not necessarily JSON).
    Bytes(Bytes),
}

impl Payload {
    /// The payload of JSON text, kept as it came ([`Payload::JsonText`]) when it is exactly one
    /// JSON value: sinks that write text pass every number on as written. The error says what
    /// is wrong and where, and gives the bytes back.
    pub fn json_text(bytes: Bytes) -> Result<Payload, InvalidJson> {
        if crate::json_text::is_certainly_valid(&bytes) {
            return Ok(Payload::JsonText(bytes));
        }
        // The quick check leaves exponents, long numbers, surrogate escapes and deep nesting to
        // the parser (which checks ranges and escapes only when it builds the value). The text
        // is kept all the same, so that a number written `1E2` stays `1E2`.
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(_) => Ok(Payload::JsonText(bytes)),
            Err(error) => Err(InvalidJson { error, bytes }),
        }
    }

    /// The value of JSON text, parsed now (without the quick check [`Payload::json_text`]
    /// makes first); text with a number a value cannot hold exactly is kept as
    /// [`Payload::JsonText`], which [`Payload::parse_text`] refuses with the reason. The text is
    /// copied only when it is kept.
    pub fn parsed_json(text: &[u8]) -> Result<Payload, InvalidJson> {
        let kept = || Bytes::copy_from_slice(text);
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => Ok(match refuse_inexact(value, text) {
                Ok(value) => Payload::Json(value),
                Err(_) => Payload::JsonText(kept()),
            }),
            Err(error) => Err(InvalidJson {
                error,
                bytes: kept(),
            }),
        }
    }

    /// Turns checked JSON text into its value, in place; other payloads stay as they are. Text
    /// with a number a value cannot hold exactly (an integer beyond 64 bits, a decimal a
    /// float would round) is refused and stays text: it is never rounded silently.
    pub fn parse_text(&mut self) -> Result<(), InexactNumber> {
        if let Payload::JsonText(bytes) = self {
            *self = Payload::Json(exact_value(bytes)?);
        }
        Ok(())
    }

    /// The payload's JSON value, borrowed when parsed already; `None` for raw bytes. Text is
    /// parsed here without the exactness check: call [`Payload::parse_text`] first.
    pub fn value(&self) -> Option<std::borrow::Cow<'_, Value>> {
        match self {
            Payload::Json(value) => Some(std::borrow::Cow::Borrowed(value)),
            Payload::JsonText(bytes) => Some(std::borrow::Cow::Owned(parse_checked(bytes))),
            Payload::Bytes(_) => None,
        }
    }

    /// The payload as JSON text (raw bytes are copied as lossy UTF-8).
    pub fn to_json_text(&self) -> String {
        match self {
            Payload::Json(value) => value.to_string(),
            Payload::JsonText(bytes) | Payload::Bytes(bytes) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    /// The payload as a JSON value; raw bytes are parsed when they hold JSON.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Payload::Json(value) => Some(value.clone()),
            Payload::JsonText(bytes) => Some(parse_checked(bytes)),
            Payload::Bytes(bytes) => serde_json::from_slice(bytes).ok(),
        }
    }
}

/// The value of checked JSON text, unless a number in it would be rounded.
fn exact_value(bytes: &[u8]) -> Result<Value, InexactNumber> {
    refuse_inexact(parse_checked(bytes), bytes)
}

/// `value`, parsed from `text`, unless a number of `text` was rounded on the way (only a float
/// can come from one, so text whose value holds none is not scanned).
pub(crate) fn refuse_inexact(value: Value, text: &[u8]) -> Result<Value, InexactNumber> {
    if has_float(&value) {
        crate::exact_numbers::check(text)?;
    }
    Ok(value)
}

/// Whether `value` holds a float: only those can come from a number that was rounded.
fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(object) => object.values().any(has_float),
        _ => false,
    }
}

/// The value of text [`Payload::json_text`] checked; the quick check never accepts what the
/// parser refuses (tested), so the fallback (the text as a string) is not expected to be taken.
fn parse_checked(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Text that is not exactly one JSON value.
#[derive(Debug)]
pub struct InvalidJson {
    /// What is wrong and where.
    pub error: serde_json::Error,
    /// The text, given back (for the error sink).
    pub bytes: Bytes,
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
    pub fn new(payload: Payload, metadata: impl Into<Metadata>, timestamp: DateTime<Utc>) -> Self {
        Record {
            payload,
            metadata: metadata.into(),
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

/// What kind of JSON value this is, for messages: `null`, `a boolean`, `a number`, `a string`,
/// `a list`, `an object`.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_is_checked_and_parsed_on_demand() {
        let mut payload =
            Payload::json_text(Bytes::from_static(b" {\"a\": [1, 2.5, \"x\"]} ")).unwrap();
        assert!(matches!(payload, Payload::JsonText(_)));
        assert_eq!(
            payload.value().unwrap().into_owned(),
            json!({"a": [1, 2.5, "x"]})
        );
        assert_eq!(payload.to_json(), Some(json!({"a": [1, 2.5, "x"]})));
        payload.parse_text().unwrap();
        assert_eq!(payload, Payload::Json(json!({"a": [1, 2.5, "x"]})));
    }

    #[test]
    fn json_text_refuses_what_the_parser_refuses() {
        // Including what a check without building the value would pass: out of range
        // numbers and lone surrogates.
        for bad in [
            &b"{\"a\": }"[..],
            b"{} {}",
            b"",
            b"[1e400]",
            b"\"\\ud800\"",
            b"\"\xff\"",
        ] {
            let checked = Payload::json_text(Bytes::copy_from_slice(bad));
            assert!(checked.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn text_the_quick_check_leaves_open_is_kept_as_written() {
        let text = Bytes::from_static(b"{\"big\": 1e3, \"huge\": 18446744073709551616}");
        let mut payload = Payload::json_text(text.clone()).unwrap();
        assert_eq!(payload, Payload::JsonText(text.clone()));
        let refused = payload.parse_text().unwrap_err();
        assert_eq!(refused.literal, "18446744073709551616");
        assert_eq!(payload, Payload::JsonText(text), "refused text stays text");
        let mut exact = Payload::json_text(Bytes::from_static(b"[1e3]")).unwrap();
        exact.parse_text().unwrap();
        assert_eq!(exact, Payload::Json(json!([1000.0])));
    }

    #[test]
    fn raw_bytes_have_no_value() {
        let payload = Payload::Bytes(Bytes::from_static(b"\x00\x01"));
        assert!(payload.value().is_none());
        let mut same = payload.clone();
        same.parse_text().unwrap();
        assert_eq!(same, payload);
    }
}
