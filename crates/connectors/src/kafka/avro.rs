//! Avro record values: decoded to JSON at the source edge and encoded from JSON at the sink,
//! with a static schema (`avroSchema`, `avroSchemaFile`, `avroSchemaSecretRef`) and/or a
//! Schema Registry (Confluent framing).

use std::path::Path;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveTime};
use dataflow_spec::KafkaEncoding;

use super::registry::{RegistryError, SchemaRegistry};
use serde_json::{Map, Number, Value};

/// Decodes Avro record values: Confluent-framed bodies with the registry's schema for their id,
/// anything else with the static schema.
pub struct AvroDecoder {
    schema: Option<Schema>,
    registry: Option<SchemaRegistry>,
}

impl AvroDecoder {
    /// The decoder for `encoding`: its schema registry and/or static schema.
    pub fn new(encoding: &KafkaEncoding, base_dir: &Path) -> Result<Self, String> {
        let Some(registry) = &encoding.schema_registry else {
            return Self::from_encoding(encoding, base_dir);
        };
        Ok(AvroDecoder {
            schema: static_schema(encoding, base_dir)?,
            registry: Some(SchemaRegistry::new(registry)?),
        })
    }

    /// The decoder for `encoding`'s static schema, which must be set.
    pub fn from_encoding(encoding: &KafkaEncoding, base_dir: &Path) -> Result<Self, String> {
        let schema = static_schema(encoding, base_dir)?.ok_or(
            "format avro needs a static schema (avroSchema, avroSchemaFile or avroSchemaSecretRef)",
        )?;
        Ok(AvroDecoder {
            schema: Some(schema),
            registry: None,
        })
    }

    /// The JSON form of one record value; `Err(Unreachable)` when the registry could not be
    /// asked (the caller retries), `Err(Refused)` when the value cannot be decoded.
    pub async fn decode_value(&self, bytes: &[u8]) -> Result<Value, RegistryError> {
        if let Some(registry) = &self.registry
            && bytes.len() >= 5
            && bytes[0] == 0
        {
            let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            let schema = registry.schema(id).await?;
            return decode_exact(&schema, &bytes[5..])
                .map_err(|e| RegistryError::Refused(format!("schema id {id}: {e}")));
        }
        match &self.schema {
            Some(_) => self.decode(bytes).map_err(RegistryError::Refused),
            None => Err(RegistryError::Refused(
                "not in the Confluent wire format (byte 0 and a 4-byte schema id) and no static schema is set"
                    .into(),
            )),
        }
    }

    /// The JSON form of one record value. Confluent framing (byte 0 + a 4-byte schema id) is
    /// skipped when the bare body does not decode to exactly the value's bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        match self.decode_exact(bytes) {
            Ok(value) => Ok(value),
            Err(error) if bytes.len() > 5 && bytes[0] == 0 => {
                self.decode_exact(&bytes[5..]).map_err(|_| error)
            }
            Err(error) => Err(error),
        }
    }

    fn decode_exact(&self, bytes: &[u8]) -> Result<Value, String> {
        match &self.schema {
            Some(schema) => decode_exact(schema, bytes),
            None => Err("no static schema".into()),
        }
    }
}

/// The static schema of `encoding`, if one is set (secrets already resolved into `avroSchema`;
/// `avroSchemaFile` read relative to `base_dir`).
fn static_schema(encoding: &KafkaEncoding, base_dir: &Path) -> Result<Option<Schema>, String> {
    let (text, origin) = match (&encoding.avro_schema, &encoding.avro_schema_file) {
        (Some(text), _) if !text.trim().is_empty() => (text.clone(), "avroSchema".to_string()),
        (_, Some(file)) if !file.trim().is_empty() => {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("avroSchemaFile {}: {e}", path.display()))?;
            (text, format!("avroSchemaFile {}", path.display()))
        }
        _ => return Ok(None),
    };
    Schema::parse_str(&text)
        .map(Some)
        .map_err(|e| format!("{origin} is not a valid Avro schema: {e}"))
}

/// `bytes` as exactly one value of `schema`.
fn decode_exact(schema: &Schema, bytes: &[u8]) -> Result<Value, String> {
    let reader = GenericDatumReader::builder(schema)
        .build()
        .map_err(|e| e.to_string())?;
    let mut rest = bytes;
    let value = reader
        .read_value(&mut rest)
        .map_err(|e| format!("Avro decoding failed: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "Avro decoding left {} of {} bytes unread (value does not match the schema)",
            rest.len(),
            bytes.len()
        ));
    }
    to_json(value)
}

/// Encodes JSON payloads as Avro: with a registry, under the schema of `<topic>-value` in
/// Confluent framing; with a static schema only, as bare Avro bodies.
pub struct AvroEncoder {
    schema: Schema,
    /// The registry's id of `schema`, written in the frame.
    id: Option<u32>,
}

impl AvroEncoder {
    /// The encoder for `encoding` on `topic`: a static schema is registered under
    /// `<topic>-value` when a registry is set; without one, the subject's latest schema is used.
    pub async fn new(
        encoding: &KafkaEncoding,
        base_dir: &Path,
        topic: &str,
    ) -> Result<Self, RegistryError> {
        let refused = RegistryError::Refused;
        let static_schema = static_schema(encoding, base_dir).map_err(refused)?;
        let Some(config) = &encoding.schema_registry else {
            let schema = static_schema.ok_or_else(|| {
                RegistryError::Refused("format avro needs schemaRegistry or a static schema".into())
            })?;
            return Ok(AvroEncoder { schema, id: None });
        };
        let registry = SchemaRegistry::new(config).map_err(refused)?;
        let subject = format!("{topic}-value");
        match static_schema {
            Some(schema) => {
                // The full JSON form: the canonical form would drop logical types.
                let text = serde_json::to_string(&schema)
                    .map_err(|e| RegistryError::Refused(e.to_string()))?;
                let id = registry.register(&subject, &text).await?;
                Ok(AvroEncoder {
                    schema,
                    id: Some(id),
                })
            }
            None => {
                let (id, text) = registry.latest(&subject).await?;
                let schema = Schema::parse_str(&text).map_err(|e| {
                    RegistryError::Refused(format!(
                        "schema {id} of {subject} is not valid Avro: {e}"
                    ))
                })?;
                Ok(AvroEncoder {
                    schema,
                    id: Some(id),
                })
            }
        }
    }

    /// The Avro bytes of `value` (fields matched by name, unions by value).
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, String> {
        let avro = AvroValue::try_from(value.clone())
            .and_then(|v| v.resolve(&self.schema))
            .map_err(|e| format!("payload does not fit the Avro schema: {e}"))?;
        let writer = GenericDatumWriter::builder(&self.schema)
            .build()
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        if let Some(id) = self.id {
            bytes.push(0);
            bytes.extend_from_slice(&id.to_be_bytes());
        }
        writer
            .write_value(&mut bytes, avro)
            .map_err(|e| format!("Avro encoding failed: {e}"))?;
        Ok(bytes)
    }
}

/// An Avro value as JSON: unions unwrapped, bytes/fixed/decimal as base64 (as Kafka Connect's
/// JSON converter does), dates and times as ISO-8601 text (as the original's Go library did).
pub fn to_json(value: AvroValue) -> Result<Value, String> {
    let base64 =
        |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    let micros_text = |micros: i64, zone: bool| -> Result<Value, String> {
        let time = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| format!("timestamp {micros} µs is out of range"))?;
        Ok(Value::String(if zone {
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        } else {
            time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()
        }))
    };
    Ok(match value {
        AvroValue::Null => Value::Null,
        AvroValue::Boolean(b) => Value::Bool(b),
        AvroValue::Int(i) => Value::from(i),
        AvroValue::Long(i) => Value::from(i),
        AvroValue::Float(f) => float(f as f64),
        AvroValue::Double(f) => float(f),
        AvroValue::Bytes(bytes) | AvroValue::Fixed(_, bytes) => base64(&bytes),
        AvroValue::String(s) | AvroValue::Enum(_, s) => Value::String(s),
        AvroValue::Union(_, inner) => to_json(*inner)?,
        AvroValue::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        AvroValue::Map(entries) => {
            let mut keys: Vec<_> = entries.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            let mut map = Map::new();
            for (key, item) in keys {
                map.insert(key, to_json(item)?);
            }
            Value::Object(map)
        }
        AvroValue::Record(fields) => {
            let mut map = Map::new();
            for (key, item) in fields {
                map.insert(key, to_json(item)?);
            }
            Value::Object(map)
        }
        AvroValue::Date(days) => {
            let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| format!("date {days} days after 1970-01-01 is out of range"))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        AvroValue::Decimal(decimal) => {
            let bytes: Vec<u8> = Vec::try_from(&decimal).map_err(|e| e.to_string())?;
            base64(&bytes)
        }
        AvroValue::BigDecimal(decimal) => Value::String(decimal.to_string()),
        AvroValue::TimeMillis(ms) => time_of_day(ms as i64 * 1000)?,
        AvroValue::TimeMicros(us) => time_of_day(us)?,
        AvroValue::TimestampMillis(ms) => micros_text(ms.saturating_mul(1000), true)?,
        AvroValue::TimestampMicros(us) => micros_text(us, true)?,
        AvroValue::TimestampNanos(ns) => micros_text(ns / 1000, true)?,
        AvroValue::LocalTimestampMillis(ms) => micros_text(ms.saturating_mul(1000), false)?,
        AvroValue::LocalTimestampMicros(us) => micros_text(us, false)?,
        AvroValue::LocalTimestampNanos(ns) => micros_text(ns / 1000, false)?,
        AvroValue::Duration(duration) => serde_json::json!({
            "months": u32::from(duration.months()),
            "days": u32::from(duration.days()),
            "millis": u32::from(duration.millis()),
        }),
        AvroValue::Uuid(uuid) => Value::String(uuid.to_string()),
    })
}

/// A finite float as a number; NaN and infinities as text (JSON has no such numbers).
fn float(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(f.to_string()))
}

fn time_of_day(micros: i64) -> Result<Value, String> {
    let seconds = u32::try_from(micros.div_euclid(1_000_000)).map_err(|e| e.to_string())?;
    let nanos = (micros.rem_euclid(1_000_000) * 1000) as u32;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos)
        .ok_or_else(|| format!("time of day {micros} µs is out of range"))?;
    Ok(Value::String(time.format("%H:%M:%S%.f").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Record;

    const SCHEMA: &str = r#"{"type":"record","name":"Order","fields":[
        {"name":"id","type":"long"},
        {"name":"customer","type":["null","string"]},
        {"name":"amount","type":"double"},
        {"name":"tags","type":{"type":"array","items":"string"}},
        {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"raw","type":"bytes"}
    ]}"#;

    fn encoded(customer: Option<&str>) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let mut record = Record::new(&schema).unwrap();
        record.put("id", 42i64);
        record.put(
            "customer",
            match customer {
                Some(c) => AvroValue::Union(1, Box::new(AvroValue::String(c.into()))),
                None => AvroValue::Union(0, Box::new(AvroValue::Null)),
            },
        );
        record.put("amount", 9.5f64);
        record.put(
            "tags",
            AvroValue::Array(vec![AvroValue::String("a".into())]),
        );
        record.put("status", AvroValue::Enum(1, "PAID".into()));
        record.put("day", AvroValue::Date(19_000));
        record.put("at", AvroValue::TimestampMillis(1_700_000_000_123));
        record.put("raw", AvroValue::Bytes(vec![1, 2, 3]));
        apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(record)
            .unwrap()
    }

    fn decoder() -> AvroDecoder {
        let encoding = KafkaEncoding {
            avro_schema: Some(SCHEMA.into()),
            ..Default::default()
        };
        AvroDecoder::from_encoding(&encoding, Path::new(".")).unwrap()
    }

    #[test]
    fn decodes_every_kind_of_field_to_json() {
        let value = decoder().decode(&encoded(Some("ada"))).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "id": 42, "customer": "ada", "amount": 9.5, "tags": ["a"], "status": "PAID",
                "day": "2022-01-08", "at": "2023-11-14T22:13:20.123Z", "raw": "AQID"
            })
        );
        let value = decoder().decode(&encoded(None)).unwrap();
        assert_eq!(value["customer"], Value::Null);
    }

    #[tokio::test]
    async fn encodes_json_to_the_static_schema_and_back() {
        let encoding = KafkaEncoding {
            avro_schema: Some(SCHEMA.into()),
            ..Default::default()
        };
        let encoder = AvroEncoder::new(&encoding, Path::new("."), "orders")
            .await
            .unwrap();
        let value = serde_json::json!({
            "id": 7, "customer": null, "amount": 1.25, "tags": ["x", "y"], "status": "NEW",
            "day": 3, "at": 1_700_000_000_000i64, "raw": []
        });
        let bytes = encoder.encode(&value).unwrap();
        let back = decoder().decode(&bytes).unwrap();
        assert_eq!(back["id"], 7);
        assert_eq!(back["customer"], Value::Null);
        assert_eq!(back["tags"], serde_json::json!(["x", "y"]));
        assert_eq!(back["status"], "NEW");
        let error = encoder
            .encode(&serde_json::json!({"id": "seven"}))
            .unwrap_err();
        assert!(error.contains("does not fit the Avro schema"), "{error}");
    }

    #[test]
    fn skips_confluent_framing() {
        let mut framed = vec![0, 0, 0, 0, 7];
        framed.extend(encoded(Some("bob")));
        assert_eq!(decoder().decode(&framed).unwrap()["customer"], "bob");
    }

    #[test]
    fn rejects_bytes_that_do_not_fit_the_schema() {
        let error = decoder().decode(b"{\"id\": 1}").unwrap_err();
        assert!(error.contains("Avro"), "{error}");
        let mut longer = encoded(Some("x"));
        longer.push(9);
        let error = decoder().decode(&longer).unwrap_err();
        assert!(error.contains("unread"), "{error}");
    }

    #[test]
    fn reads_the_schema_file_and_names_a_bad_schema() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("order.avsc"), SCHEMA).unwrap();
        let encoding = KafkaEncoding {
            avro_schema_file: Some("order.avsc".into()),
            ..Default::default()
        };
        let decoder = AvroDecoder::from_encoding(&encoding, dir.path()).unwrap();
        assert_eq!(decoder.decode(&encoded(None)).unwrap()["id"], 42);

        let missing = KafkaEncoding {
            avro_schema_file: Some("nope.avsc".into()),
            ..Default::default()
        };
        let error = AvroDecoder::from_encoding(&missing, dir.path())
            .err()
            .unwrap();
        assert!(
            error.contains("avroSchemaFile") && error.contains("nope.avsc"),
            "{error}"
        );

        let bad = KafkaEncoding {
            avro_schema: Some(r#"{"type":"record"}"#.into()),
            ..Default::default()
        };
        let error = AvroDecoder::from_encoding(&bad, dir.path()).err().unwrap();
        assert!(
            error.contains("avroSchema is not a valid Avro schema"),
            "{error}"
        );
    }
}
