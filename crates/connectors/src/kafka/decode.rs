//! The decoding side of the Kafka source: records copied out of librdkafka in chunks become
//! pipeline records (JSON checked, or Avro decoded through the schema registry), with their
//! metadata, emitted in order; values that do not decode go to the error sink.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dataflow_core::retry::Backoff;
use dataflow_core::{AckToken, ErrorType, Metadata, Payload, Record, SourceContext, SourceError};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::avro::AvroDecoder;
use super::registry::RegistryError;

/// Turns fetched records into pipeline records.
pub(super) struct Decoder {
    pub(super) topic: Arc<str>,
    pub(super) raw_mode: bool,
    pub(super) avro: Option<AvroDecoder>,
}

/// A record copied out of librdkafka, bound to the token of its offset.
pub(super) struct Fetched {
    pub(super) origin: Origin,
    /// The value; `None` for a tombstone (a null value, as compaction and Debezium use).
    pub(super) value: Option<Bytes>,
    pub(super) token: AckToken,
}

/// Where a record comes from: what its metadata describes.
pub(super) struct Origin {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<String>,
    pub(super) millis: Option<i64>,
    pub(super) headers: Option<Map<String, Value>>,
}

impl Decoder {
    /// Decodes fetched chunks and emits their records in order until the reading loop
    /// stops sending or the pipeline stops.
    pub(super) async fn run(
        &self,
        mut chunks: mpsc::Receiver<Vec<Fetched>>,
        context: SourceContext,
    ) -> Result<(), SourceError> {
        while let Some(chunk) = chunks.recv().await {
            let mut records = Vec::with_capacity(chunk.len());
            for fetched in chunk {
                // JSON decodes without an await: building the Avro path's future for every
                // record cost a copy of its state each time.
                let decoded = match (&self.avro, fetched.value) {
                    // A tombstone goes on as a null payload (`debeziumUnwrap` turns it into a
                    // delete); it used to be rejected as invalid JSON.
                    (_, None) => Ok(Payload::Json(Value::Null)),
                    (None, Some(value)) => self.decode_json(value, &context),
                    (Some(avro), Some(value)) => {
                        match Self::decode_avro(avro, value, &context).await {
                            Some(decoded) => decoded,
                            None => return Ok(()),
                        }
                    }
                };
                match decoded {
                    Ok(payload) => {
                        records.push((self.record(fetched.origin, payload), fetched.token))
                    }
                    Err((error, bytes)) => {
                        let at = &fetched.origin;
                        let reason =
                            format!("{}/{}/{}: {error}", self.topic, at.partition, at.offset);
                        let record = self.record(fetched.origin, Payload::Bytes(bytes));
                        context
                            .reject(record, fetched.token, reason, ErrorType::InvalidData)
                            .await?;
                    }
                }
            }
            // In read order; a rejected record's position is held by its own token.
            context.emit_all(records).await?;
        }
        Ok(())
    }

    /// The record value of format json as a payload: the checked text, parsed only if the
    /// context asks for it (no transformation stage, a sink that needs values) or rawMode
    /// needs the value now. A value that is not JSON, or in rawMode holds a number a value
    /// would round, comes back with the reason.
    fn decode_json(
        &self,
        bytes: Bytes,
        context: &SourceContext,
    ) -> Result<Payload, (String, Bytes)> {
        let invalid = |e: serde_json::Error| format!("is not valid JSON: {e}");
        let mut payload = context
            .json_payload(bytes)
            .map_err(|e| (invalid(e.error), e.bytes))?;
        if self.raw_mode
            && let Err(inexact) = payload.parse_text()
        {
            // Refused text stays text: it goes to the error sink as it came.
            let text = match payload {
                Payload::JsonText(bytes) => bytes,
                _ => Bytes::new(),
            };
            return Err((inexact.to_string(), text));
        }
        Ok(payload)
    }

    /// The record value of format avro decoded to JSON; a value that does not decode comes
    /// back with the reason. Waits out an unreachable schema registry (retrying with backoff)
    /// until it answers or the flow stops (`None`).
    async fn decode_avro(
        avro: &AvroDecoder,
        bytes: Bytes,
        context: &SourceContext,
    ) -> Option<Result<Payload, (String, Bytes)>> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            match avro.decode_value(&bytes).await {
                Ok(value) => return Some(Ok(Payload::Json(value))),
                Err(RegistryError::Refused(reason)) => return Some(Err((reason, bytes))),
                Err(RegistryError::Unreachable(reason)) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(%reason, retry_in = ?wait, "schema registry unreachable");
                    tokio::select! {
                        _ = context.stopping().cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The pipeline record: the payload with the metadata of its Kafka record (rawMode wraps
    /// the value with it).
    fn record(&self, origin: Origin, payload: Payload) -> Record {
        let Origin {
            partition,
            offset,
            key,
            millis,
            headers,
        } = origin;
        let payload = match (self.raw_mode, payload) {
            (true, Payload::Json(value)) => Payload::Json(json!({
                "value": value,
                "_metadata": {"offset": offset, "partition": partition, "timestamp": millis, "key": key, "topic": &*self.topic}
            })),
            (_, payload) => payload,
        };
        let timestamp = millis
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        // Built only if a transformation or sink reads it.
        let topic = Arc::clone(&self.topic);
        let metadata = Metadata::deferred(Arc::new(move || {
            let mut metadata = Map::with_capacity(6);
            metadata.insert("topic".into(), Value::String(topic.to_string()));
            metadata.insert("partition".into(), json!(partition));
            metadata.insert("offset".into(), json!(offset));
            if let Some(key) = &key {
                metadata.insert("key".into(), Value::String(key.clone()));
            }
            if let Some(millis) = millis {
                metadata.insert("timestamp".into(), json!(millis));
            }
            if let Some(headers) = &headers {
                metadata.insert("headers".into(), Value::Object(headers.clone()));
            }
            metadata
        }));
        Record::new(payload, metadata, timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(raw_mode: bool) -> Decoder {
        Decoder {
            topic: Arc::from("orders"),
            raw_mode,
            avro: None,
        }
    }

    fn headers() -> Map<String, Value> {
        let mut headers = Map::new();
        headers.insert("trace".into(), json!("t-1"));
        headers
    }

    #[test]
    fn records_carry_every_metadata_entry_built_on_first_read() {
        let payload = Payload::json_text(Bytes::from_static(b"{\"id\": 1}")).unwrap();
        let origin = Origin {
            partition: 2,
            offset: 41,
            key: Some("k1".into()),
            millis: Some(1_700_000_000_123),
            headers: Some(headers()),
        };
        let record = decoder(false).record(origin, payload);
        assert_eq!(
            Value::Object(record.metadata.clone().into_map()),
            json!({"topic": "orders", "partition": 2, "offset": 41, "key": "k1",
                   "timestamp": 1_700_000_000_123_i64, "headers": {"trace": "t-1"}})
        );
        assert_eq!(record.timestamp.timestamp_millis(), 1_700_000_000_123);
        assert_eq!(record.describe(), "orders/2/41");
    }

    #[test]
    fn absent_key_timestamp_and_headers_are_left_out() {
        let origin = Origin {
            partition: 0,
            offset: 5,
            key: None,
            millis: None,
            headers: None,
        };
        let record = decoder(false).record(origin, Payload::Json(json!(1)));
        assert_eq!(
            Value::Object(record.metadata.into_map()),
            json!({"topic": "orders", "partition": 0, "offset": 5})
        );
    }

    #[test]
    fn raw_mode_wraps_the_value_with_its_metadata() {
        let origin = Origin {
            partition: 1,
            offset: 7,
            key: Some("k".into()),
            millis: Some(1000),
            headers: None,
        };
        let record = decoder(true).record(origin, Payload::Json(json!({"a": 1})));
        assert_eq!(
            record.payload,
            Payload::Json(json!({"value": {"a": 1}, "_metadata": {
                "offset": 7, "partition": 1, "timestamp": 1000, "key": "k", "topic": "orders"}}))
        );
        assert_eq!(record.metadata.get("key"), Some(&json!("k")));
    }
}
