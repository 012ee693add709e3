//! The Kafka source: a consumer group on one topic. Offsets are stored only for positions the
//! engine committed (every derived message written), then committed by librdkafka's periodic
//! commit, on rebalance, and synchronously when the flow has drained.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dataflow_core::{
    ErrorType, Payload, Position, Record, Source, SourceContext, SourceError, StreamHandle,
};
use dataflow_spec::{KafkaFormat, KafkaSourceConfig, StartOffset};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde_json::{Map, Value, json};

use super::avro::AvroDecoder;
use super::client_config;
use super::registry::RegistryError;

/// How often committed positions become stored offsets while running.
const STORE_EVERY: Duration = Duration::from_millis(200);

/// The `kafka` source.
pub struct KafkaSource {
    consumer: StreamConsumer,
    topic: String,
    raw_mode: bool,
    avro: Option<AvroDecoder>,
}

impl KafkaSource {
    /// A consumer for `config` (secrets resolved); relative paths are read from `base_dir`.
    pub fn new(config: &KafkaSourceConfig, base_dir: &Path) -> Result<Self, String> {
        let avro = match config.encoding.format {
            KafkaFormat::Json => None,
            KafkaFormat::Avro => Some(
                AvroDecoder::new(&config.encoding, base_dir)
                    .map_err(|e| format!("kafka source: {e}"))?,
            ),
        };
        let topic = config
            .connection
            .topic
            .clone()
            .ok_or("kafka source: topic is required")?;
        let mut client = client_config(&config.connection)?;
        client.set("group.id", &config.consumer_group);
        client.set("enable.auto.commit", "true");
        // The original committed every second (Sarama's default); librdkafka's is five.
        client.set("auto.commit.interval.ms", "1000");
        client.set("enable.auto.offset.store", "false");
        client.set(
            "auto.offset.reset",
            match config.start_offset {
                StartOffset::Oldest => "earliest",
                StartOffset::Latest => "latest",
            },
        );
        let duration = |text: &Option<String>, key: &str| -> Result<Option<String>, String> {
            text.as_ref()
                .map(|t| {
                    dataflow_spec::duration::parse_go_duration(t)
                        .map(|d| d.as_millis().to_string())
                        .map_err(|e| format!("kafka source: {key} {e}"))
                })
                .transpose()
        };
        if let Some(ms) = duration(&config.consumer_max_wait, "consumerMaxWait")? {
            client.set("fetch.wait.max.ms", ms);
        }
        if let Some(ms) = duration(&config.net_read_timeout, "netReadTimeout")? {
            client.set("socket.timeout.ms", ms);
        }
        for (value, key) in [
            (config.fetch_min_bytes, "fetch.min.bytes"),
            (config.fetch_max_bytes, "fetch.max.bytes"),
            (
                config.max_partition_fetch_bytes,
                "max.partition.fetch.bytes",
            ),
        ] {
            if let Some(value) = value {
                client.set(key, value.to_string());
            }
        }
        // The pass-through options win over everything set here.
        for (key, value) in &config.connection.librdkafka_options {
            client.set(key, value);
        }
        let consumer: StreamConsumer = client.create().map_err(|e| format!("kafka source: {e}"))?;
        Ok(KafkaSource {
            consumer,
            topic,
            raw_mode: config.raw_mode,
            avro,
        })
    }

    fn record(&self, message: &BorrowedMessage<'_>, payload: Payload) -> Record {
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned());
        let millis = message.timestamp().to_millis();
        let mut metadata = Map::new();
        metadata.insert("topic".into(), Value::String(message.topic().to_string()));
        metadata.insert("partition".into(), json!(message.partition()));
        metadata.insert("offset".into(), json!(message.offset()));
        if let Some(key) = &key {
            metadata.insert("key".into(), Value::String(key.clone()));
        }
        if let Some(millis) = millis {
            metadata.insert("timestamp".into(), json!(millis));
        }
        if let Some(headers) = message.headers() {
            let mut map = Map::new();
            for header in headers.iter() {
                map.insert(
                    header.key.to_string(),
                    Value::String(
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                    ),
                );
            }
            metadata.insert("headers".into(), Value::Object(map));
        }
        let timestamp = millis
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        let payload = match (self.raw_mode, payload) {
            (true, Payload::Json(value)) => Payload::Json(json!({
                "value": value,
                "_metadata": {"offset": message.offset(), "partition": message.partition(), "timestamp": millis, "key": key, "topic": message.topic()}
            })),
            (_, payload) => payload,
        };
        Record::new(payload, metadata, timestamp)
    }

    /// The record value as JSON (format json or avro); waits out an unreachable schema
    /// registry (retrying with backoff) until it answers or the flow stops (`None`).
    async fn decode(&self, bytes: &[u8], context: &SourceContext) -> Option<Result<Value, String>> {
        let Some(avro) = &self.avro else {
            return Some(
                serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON: {e}")),
            );
        };
        let mut backoff = Duration::from_millis(500);
        loop {
            match avro.decode_value(bytes).await {
                Ok(value) => return Some(Ok(value)),
                Err(RegistryError::Refused(reason)) => return Some(Err(reason)),
                Err(RegistryError::Unreachable(reason)) => {
                    tracing::warn!(%reason, retry_in = ?backoff, "schema registry unreachable");
                    tokio::select! {
                        _ = context.stopping().cancelled() => return None,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Stores the committed positions of this topic's partitions as consumed offsets.
    fn store(&self, committed: &BTreeMap<String, Value>) {
        for (stream, position) in committed {
            let Some((topic, partition)) = stream.rsplit_once('/') else {
                continue;
            };
            let (Ok(partition), Some(offset)) = (partition.parse::<i32>(), position.as_i64())
            else {
                continue;
            };
            if topic != self.topic {
                continue;
            }
            // librdkafka commits the stored offset + 1: the next record to read.
            if let Err(error) = self.consumer.store_offset(topic, partition, offset) {
                tracing::debug!(%error, partition, offset, "offset not stored (partition no longer assigned)");
            }
        }
    }
}

#[async_trait]
impl Source for KafkaSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        self.consumer
            .subscribe(&[&self.topic])
            .map_err(|e| SourceError::Fatal(format!("subscribing to {}: {e}", self.topic)))?;
        let mut streams: HashMap<i32, StreamHandle> = HashMap::new();
        let mut store_tick = tokio::time::interval(STORE_EVERY);
        loop {
            let message = tokio::select! {
                _ = context.stopping().cancelled() => return Ok(()),
                _ = store_tick.tick() => {
                    self.store(&context.committed());
                    continue;
                }
                message = self.consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, topic = %self.topic, "kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let partition = message.partition();
            let stream = streams
                .entry(partition)
                .or_insert_with(|| context.stream(&format!("{}/{partition}", self.topic)))
                .clone();
            let token = stream.track(Position::Count(message.offset() as u64));
            let bytes = message.payload().unwrap_or_default();
            let Some(decoded) = self.decode(bytes, context).await else {
                return Ok(());
            };
            match decoded {
                Ok(value) => {
                    context
                        .emit(self.record(&message, Payload::Json(value)), token)
                        .await?
                }
                Err(error) => {
                    let reason = format!(
                        "{}/{partition}/{}: {error}",
                        message.topic(),
                        message.offset()
                    );
                    let record =
                        self.record(&message, Payload::Bytes(Bytes::copy_from_slice(bytes)));
                    context
                        .reject(record, token, reason, ErrorType::InvalidData)
                        .await?;
                }
            }
        }
    }

    async fn finish(&mut self, committed: &BTreeMap<String, Value>) -> Result<(), SourceError> {
        self.store(committed);
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(error) => Err(SourceError::Fatal(format!("committing offsets: {error}"))),
        }
    }
}
