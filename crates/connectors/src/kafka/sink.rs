//! The Kafka sink: an idempotent producer (acks=all by default). A message is acknowledged only
//! when its delivery report arrives; a message the broker refuses for good is rejected (error
//! sink), a retriable failure fails the batch for the engine to retry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use dataflow_core::{ErrorType, Message, Payload, Rejection, Sink, SinkError};
use dataflow_spec::{KafkaCompression, KafkaEncoding, KafkaFormat, KafkaSinkConfig, RequiredAcks};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use super::avro::AvroEncoder;
use super::client_config;
use super::registry::RegistryError;
use super::watch::{ClientWatch, WatchedContext, needs_new_settings};

/// The `kafka` sink.
pub struct KafkaSink {
    producer: FutureProducer<WatchedContext>,
    /// Raised when librdkafka reports an error that needs new settings.
    watch: ClientWatch,
    topic: String,
    /// `format: avro`: the encoding settings until the encoder is made on the first write.
    avro_settings: Option<(KafkaEncoding, PathBuf)>,
    avro: Option<AvroEncoder>,
}

impl KafkaSink {
    /// A producer for `config` (secrets resolved); relative paths are read from `base_dir`.
    pub fn new(config: &KafkaSinkConfig, base_dir: &Path) -> Result<Self, String> {
        let topic = config
            .connection
            .topic
            .clone()
            .ok_or("kafka sink: topic is required")?;
        let mut client = client_config(&config.connection)?;
        client.set(
            "acks",
            match config.required_acks {
                RequiredAcks::All => "all",
                RequiredAcks::Local => "1",
                RequiredAcks::None => "0",
            },
        );
        client.set("enable.idempotence", config.idempotent.to_string());
        if let Some(max) = config.max_open_requests {
            client.set("max.in.flight.requests.per.connection", max.to_string());
        }
        client.set(
            "compression.type",
            match config.compression {
                KafkaCompression::None => "none",
                KafkaCompression::Gzip => "gzip",
                KafkaCompression::Snappy => "snappy",
                KafkaCompression::Lz4 => "lz4",
                KafkaCompression::Zstd => "zstd",
            },
        );
        if let Some(messages) = config.flush_messages {
            client.set("batch.num.messages", messages.to_string());
        }
        if let Some(bytes) = config.flush_bytes {
            client.set("batch.size", bytes.to_string());
        }
        if let Some(frequency) = &config.flush_frequency {
            let linger = dataflow_spec::duration::parse_go_duration(frequency)
                .map_err(|e| format!("kafka sink: flushFrequency {e}"))?;
            client.set("linger.ms", linger.as_millis().to_string());
        }
        let context = WatchedContext::default();
        let watch = context.watch.clone();
        let producer: FutureProducer<WatchedContext> = client
            .create_with_context(context)
            .map_err(|e| format!("kafka sink: {e}"))?;
        let avro_settings = (config.encoding.format == KafkaFormat::Avro)
            .then(|| (config.encoding.clone(), base_dir.to_path_buf()));
        Ok(KafkaSink {
            producer,
            watch,
            topic,
            avro_settings,
            avro: None,
        })
    }

    /// The bytes of a payload: Avro with `format: avro`, else JSON text (raw bytes as they are).
    async fn payload_bytes(
        &mut self,
        payload: &Payload,
    ) -> Result<Result<Vec<u8>, String>, SinkError> {
        let Some((encoding, base_dir)) = &self.avro_settings else {
            return Ok(Ok(json_bytes(payload)));
        };
        if self.avro.is_none() {
            let encoder = AvroEncoder::new(encoding, base_dir, &self.topic)
                .await
                .map_err(|error| match error {
                    RegistryError::Unreachable(reason) => {
                        SinkError::transient(ErrorType::ConnectionError, reason)
                    }
                    RegistryError::Refused(reason) => {
                        SinkError::fatal(ErrorType::InvalidData, format!("kafka sink: {reason}"))
                    }
                })?;
            self.avro = Some(encoder);
        }
        let encoder = self.avro.as_ref().expect("made above");
        Ok(match payload.value() {
            Some(value) => encoder.encode(&value),
            None => Err("format avro needs a JSON payload, not raw bytes".into()),
        })
    }
}

/// The bytes of a payload: JSON text, or raw bytes as they are.
fn json_bytes(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Json(value) => serde_json::to_vec(value).expect("JSON serialises"),
        Payload::JsonText(bytes) | Payload::Bytes(bytes) => bytes.to_vec(),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a produce error may succeed when the batch is tried again.
fn is_retriable(error: &KafkaError) -> bool {
    !matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

#[async_trait]
impl Sink for KafkaSink {
    /// JSON text is sent as it is; Avro needs the values (parsed with the exactness check).
    fn takes_json_text(&self) -> bool {
        self.avro_settings.is_none()
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        let mut payloads = Vec::with_capacity(batch.len());
        for message in batch {
            payloads.push(self.payload_bytes(&message.record.payload).await?);
        }
        let keys: Vec<Option<String>> = batch
            .iter()
            .map(|m| m.record.metadata.get("key").map(text_of))
            .collect();
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut rejections = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let payload = match &payloads[index] {
                Ok(bytes) => bytes,
                Err(reason) => {
                    rejections.push(Rejection::of_kind(
                        index,
                        ErrorType::InvalidData,
                        reason.clone(),
                    ));
                    continue;
                }
            };
            let mut record = FutureRecord::to(&self.topic).payload(payload);
            if let Some(key) = &keys[index] {
                record = record.key(key);
            }
            if let Some(Value::Object(headers)) = message.record.metadata.get("headers") {
                let mut owned = OwnedHeaders::new_with_capacity(headers.len());
                for (name, value) in headers {
                    let value = text_of(value);
                    owned = owned.insert(Header {
                        key: name,
                        value: Some(&value),
                    });
                }
                record = record.headers(owned);
            }
            // A full local queue only means waiting; anything else fails this message now.
            let mut record = record;
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push((index, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) if needs_new_settings(&error) => {
                        return Err(SinkError::fatal(
                            ErrorType::AuthError,
                            format!("kafka: {error}"),
                        ));
                    }
                    Err((error, _)) if is_retriable(&error) => {
                        return Err(SinkError::transient(
                            ErrorType::Transient,
                            format!("kafka: {error}"),
                        ));
                    }
                    Err((error, _)) => {
                        rejections.push(Rejection::of_kind(
                            index,
                            ErrorType::InvalidData,
                            format!("kafka refused the message: {error}"),
                        ));
                        break;
                    }
                }
            }
        }
        let mut transient = None;
        for (index, delivery) in deliveries {
            // A delivery waits out `message.timeout.ms`; an error no retry fixes ends it now.
            let report = tokio::select! {
                report = delivery => report,
                reason = self.watch.failed() => return Err(SinkError::fatal(ErrorType::AuthError, format!("kafka: {reason}"))),
            };
            match report {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) if needs_new_settings(&error) => {
                    return Err(SinkError::fatal(
                        ErrorType::AuthError,
                        format!("kafka delivery failed: {error}"),
                    ));
                }
                Ok(Err((error, _))) if is_retriable(&error) => {
                    transient = Some(format!("kafka delivery failed: {error}"))
                }
                Ok(Err((error, _))) => rejections.push(Rejection::of_kind(
                    index,
                    ErrorType::InvalidData,
                    format!("kafka refused the message: {error}"),
                )),
                Err(_) => {
                    transient = Some("kafka producer closed before the delivery report".into())
                }
            }
        }
        match transient {
            Some(reason) => Err(SinkError::transient(ErrorType::Transient, reason)),
            None => Ok(rejections),
        }
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        use rdkafka::producer::Producer;
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|e| SinkError::transient(ErrorType::Transient, format!("kafka flush: {e}")))
    }
}
