//! The Kafka sink: an idempotent producer (acks=all by default). A message is acknowledged only
//! when its delivery report arrives; a message the broker refuses for good is rejected (error
//! sink), a retriable failure fails the batch for the engine to retry.

use std::time::Duration;

use async_trait::async_trait;
use dataflow_core::{Message, Payload, Rejection, Sink, SinkError};
use dataflow_spec::{KafkaCompression, KafkaFormat, KafkaSinkConfig, RequiredAcks};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use super::client_config;

/// The `kafka` sink.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
}

impl KafkaSink {
    /// A producer for `config` (secrets resolved).
    pub fn new(config: &KafkaSinkConfig) -> Result<Self, String> {
        if config.encoding.format == KafkaFormat::Avro {
            return Err("kafka sink: format avro is not available in this version yet".into());
        }
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
        let producer: FutureProducer = client.create().map_err(|e| format!("kafka sink: {e}"))?;
        Ok(KafkaSink { producer, topic })
    }
}

/// The bytes of a payload: JSON text, or raw bytes as they are.
fn payload_bytes(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Json(value) => serde_json::to_vec(value).expect("JSON serialises"),
        Payload::Bytes(bytes) => bytes.to_vec(),
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
                | RDKafkaErrorCode::TopicAuthorizationFailed
        )
    )
}

#[async_trait]
impl Sink for KafkaSink {
    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        let payloads: Vec<Vec<u8>> = batch
            .iter()
            .map(|m| payload_bytes(&m.record.payload))
            .collect();
        let keys: Vec<Option<String>> = batch
            .iter()
            .map(|m| m.record.metadata.get("key").map(text_of))
            .collect();
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut rejections = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let mut record = FutureRecord::to(&self.topic).payload(&payloads[index]);
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
                    Err((error, _)) if is_retriable(&error) => {
                        return Err(SinkError::Transient(format!("kafka: {error}")));
                    }
                    Err((error, _)) => {
                        rejections.push(Rejection::new(
                            index,
                            format!("kafka refused the message: {error}"),
                        ));
                        break;
                    }
                }
            }
        }
        let mut transient = None;
        for (index, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) if is_retriable(&error) => {
                    transient = Some(format!("kafka delivery failed: {error}"))
                }
                Ok(Err((error, _))) => rejections.push(Rejection::new(
                    index,
                    format!("kafka refused the message: {error}"),
                )),
                Err(_) => {
                    transient = Some("kafka producer closed before the delivery report".into())
                }
            }
        }
        match transient {
            Some(reason) => Err(SinkError::Transient(reason)),
            None => Ok(rejections),
        }
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        use rdkafka::producer::Producer;
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|e| SinkError::Transient(format!("kafka flush: {e}")))
    }
}
