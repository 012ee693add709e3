//! The Kafka source: a consumer group on one topic. Offsets are stored only for positions the
//! engine committed (every derived message written), then committed by librdkafka's periodic
//! commit, on rebalance, and synchronously when the flow has drained.
//!
//! Two tasks share the work so that a second core helps: the reading loop takes records from
//! librdkafka, binds each to its offset and copies it out in chunks; the decoding task checks
//! or decodes the values, builds the records with their metadata and emits them in order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dataflow_core::{
    AckToken, ErrorType, Metadata, Payload, Position, Record, Source, SourceContext, SourceError,
    StreamHandle,
};
use dataflow_spec::{KafkaFormat, KafkaSourceConfig, StartOffset};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde_json::{Map, Value, json};

use super::avro::AvroDecoder;
use super::client_config;
use super::registry::RegistryError;
use super::repeated::{Repeated, Report};
use super::watch::{ClientWatch, WatchedContext, needs_new_settings};
use dataflow_core::retry::Backoff;

/// How often committed positions become stored offsets while running.
const STORE_EVERY: Duration = Duration::from_millis(200);
/// Most records per chunk handed from the reading loop to the decoding task (a chunk leaves
/// early when librdkafka holds no more). Each handover may wake a parked worker thread, which
/// costs more than copying records: 1024 took about 7% less CPU per record than 256.
const CHUNK: usize = 1024;
/// Chunks on their way to the decoding task.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The `kafka` source.
pub struct KafkaSource {
    consumer: StreamConsumer<WatchedContext>,
    /// Raised when librdkafka reports an error that needs new settings.
    watch: ClientWatch,
    topic: String,
    decoder: Arc<Decoder>,
}

/// Turns fetched records into pipeline records.
struct Decoder {
    topic: Arc<str>,
    raw_mode: bool,
    avro: Option<AvroDecoder>,
}

/// A record copied out of librdkafka, bound to the token of its offset.
struct Fetched {
    origin: Origin,
    /// The value; `None` for a tombstone (a null value, as compaction and Debezium use).
    value: Option<Bytes>,
    token: AckToken,
}

/// Where a record comes from: what its metadata describes.
struct Origin {
    partition: i32,
    offset: i64,
    key: Option<String>,
    millis: Option<i64>,
    headers: Option<Map<String, Value>>,
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
        // When the prefetch queue is full librdkafka pauses fetching for this long (1 s by
        // default), so a consumer that reads slower than the broker serves stalls ~1 s each
        // time it empties the queue; measured: 133k msg/s → 360k msg/s with a short pause.
        client.set("fetch.queue.backoff.ms", "20");
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
        // The pass-through options win over everything set here but the offset store, which
        // at-least-once depends on (validation refuses to change it too).
        for (key, value) in &config.connection.librdkafka_options {
            client.set(key, value);
        }
        client.set("enable.auto.offset.store", "false");
        let context = WatchedContext::default();
        let watch = context.watch.clone();
        let consumer: StreamConsumer<WatchedContext> = client
            .create_with_context(context)
            .map_err(|e| format!("kafka source: {e}"))?;
        Ok(KafkaSource {
            consumer,
            watch,
            decoder: Arc::new(Decoder {
                topic: Arc::from(topic.as_str()),
                raw_mode: config.raw_mode,
                avro,
            }),
            topic,
        })
    }

    /// Copies a record out of librdkafka's buffer.
    fn fetch(message: &BorrowedMessage<'_>, token: AckToken) -> Fetched {
        let headers = message.headers().map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value = String::from_utf8_lossy(header.value.unwrap_or_default());
                    (header.key.to_string(), Value::String(value.into_owned()))
                })
                .collect()
        });
        Fetched {
            origin: Origin {
                partition: message.partition(),
                offset: message.offset(),
                key: message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                millis: message.timestamp().to_millis(),
                headers,
            },
            value: message.payload().map(Bytes::copy_from_slice),
            token,
        }
    }

    /// Reads records and sends them to the decoding task in chunks, until the flow stops or
    /// the decoding task does.
    async fn read(
        &self,
        context: &SourceContext,
        chunks: mpsc::Sender<Vec<Fetched>>,
    ) -> Result<(), SourceError> {
        // One stream for the whole run (`recv` would register a waker per record).
        let mut records = self.consumer.stream();
        let mut streams: HashMap<i32, StreamHandle> = HashMap::new();
        let mut next_store = Instant::now() + STORE_EVERY;
        // Consumer errors: said once, then summarised, and recalled while records stay away.
        let mut errors = Repeated::default();
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            // Records librdkafka already holds are taken without a wait; a chunk leaves when
            // it is full or when the next record is not there yet.
            let ready = match records.next().now_or_never() {
                Some(ready) if chunk.len() < CHUNK => ready,
                ready => {
                    if !hand_over(&chunks, &mut chunk).await {
                        return Ok(()); // the decoding task stopped; it says why
                    }
                    if context.stopping().is_cancelled() {
                        return Ok(());
                    }
                    if Instant::now() >= next_store {
                        self.store(&context.committed());
                        next_store = Instant::now() + STORE_EVERY;
                    }
                    match ready {
                        Some(ready) => ready,
                        None => tokio::select! {
                            _ = context.stopping().cancelled() => return Ok(()),
                            reason = self.watch.failed() => {
                                return Err(SourceError::Fatal(format!("kafka source: {reason}")));
                            }
                            _ = tokio::time::sleep_until(next_store) => {
                                if let Some((error, waiting)) = errors.reminder(std::time::Instant::now()) {
                                    tracing::warn!(topic = %self.topic, %error, ?waiting,
                                        "no records since this consumer error; still waiting");
                                }
                                continue;
                            }
                            ready = records.next() => ready,
                        },
                    }
                }
            };
            let message = match ready {
                Some(Ok(message)) => message,
                Some(Err(error)) if needs_new_settings(&error) => {
                    let reason = self.watch.reason().unwrap_or_else(|| error.to_string());
                    return Err(SourceError::Fatal(format!("kafka source: {reason}")));
                }
                Some(Err(error)) => {
                    match errors.seen(&error.to_string(), std::time::Instant::now()) {
                        Report::First => {
                            tracing::warn!(%error, topic = %self.topic, "kafka consumer error")
                        }
                        Report::Summary {
                            count,
                            for_how_long,
                        } => tracing::warn!(%error, topic = %self.topic, count, ?for_how_long,
                            "kafka consumer error repeats"),
                        Report::Quiet => {}
                    }
                    // What was read before the error goes on now, not after the pause.
                    if !hand_over(&chunks, &mut chunk).await {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                None => {
                    return Err(SourceError::Fatal("the kafka consumer stream ended".into()));
                }
            };
            errors.clear();
            let partition = message.partition();
            let token = streams
                .entry(partition)
                .or_insert_with(|| context.stream(&format!("{}/{partition}", self.topic)))
                .track(Position::Count(message.offset() as u64));
            chunk.push(Self::fetch(&message, token));
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

/// Sends the records read so far (if any) to the decoding task and starts a new chunk; false
/// when the decoding task has stopped.
async fn hand_over(chunks: &mpsc::Sender<Vec<Fetched>>, chunk: &mut Vec<Fetched>) -> bool {
    if chunk.is_empty() {
        return true;
    }
    let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
    chunks.send(full).await.is_ok()
}

impl Decoder {
    /// Decodes fetched chunks and emits their records in order until the reading loop
    /// stops sending or the pipeline stops.
    async fn run(
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
                    (None, Some(value)) => self.decode_json(value),
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

    /// The record value of format json as a payload: the checked text, unparsed (parsed later
    /// only if a transformation or the sink needs the value; rawMode needs it now). A value
    /// that is not JSON comes back with the reason.
    fn decode_json(&self, bytes: Bytes) -> Result<Payload, (String, Bytes)> {
        let invalid = |e: serde_json::Error| format!("is not valid JSON: {e}");
        if self.raw_mode {
            match serde_json::from_slice(&bytes) {
                Ok(value) => Ok(Payload::Json(value)),
                Err(error) => Err((invalid(error), bytes)),
            }
        } else {
            Payload::json_text(bytes).map_err(|e| (invalid(e.error), e.bytes))
        }
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

#[async_trait]
impl Source for KafkaSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        self.consumer
            .subscribe(&[&self.topic])
            .map_err(|e| SourceError::Fatal(format!("subscribing to {}: {e}", self.topic)))?;
        let (chunks, received) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let decoder = Arc::clone(&self.decoder);
        let decoding = tokio::spawn({
            let context = context.clone();
            async move { decoder.run(received, context).await }
        });
        let read = self.read(context, chunks).await;
        // The reading loop dropped its sender: the decoder finishes what it was sent.
        let decoded = decoding
            .await
            .map_err(|e| SourceError::Fatal(format!("the kafka decoding task failed: {e}")))?;
        read.and(decoded)
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
