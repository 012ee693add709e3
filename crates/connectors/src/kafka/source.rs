//! The Kafka source: a consumer group on one topic. Offsets are stored only for positions the
//! engine committed (every derived message written), then committed by librdkafka's periodic
//! commit, on rebalance, and synchronously when the flow has drained.
//!
//! Two tasks share the work so that a second core helps: the reading loop takes records from
//! librdkafka, binds each to its offset and copies it out in chunks; the decoding task checks
//! or decodes the values, builds the records with their metadata and emits them in order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use dataflow_core::{
    AckToken, ErrorType, Position, Source, SourceContext, SourceError, StreamHandle,
};
use dataflow_spec::{KafkaFormat, KafkaSourceConfig, StartOffset};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde_json::Value;

use super::avro::AvroDecoder;
use super::client_config;
use super::decode::{Decoder, Fetched, Origin};
use super::floors::{AssignmentFloors, Rebalances};
use super::repeated::{Repeated, Report};
use super::watch::{ClientWatch, WatchedContext, mask_credentials, needs_new_settings};

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
    /// Rebalances so far, and the first offset read per partition since the latest one: no
    /// store moves the group's offset back.
    rebalances: Rebalances,
    floors: Mutex<AssignmentFloors>,
    /// Each partition's consumer lag, from librdkafka's statistics.
    lags: Arc<Mutex<BTreeMap<String, i64>>>,
    topic: String,
    decoder: Arc<Decoder>,
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
        // Statistics every 5 s give each partition's consumer lag (`librdkafkaOptions` may set
        // another interval).
        client.set("statistics.interval.ms", "5000");
        for (key, value) in &config.connection.librdkafka_options {
            client.set(key, value);
        }
        client.set("enable.auto.offset.store", "false");
        let context = WatchedContext::default();
        let watch = context.watch.clone();
        let rebalances = context.rebalances.clone();
        let lags = Arc::clone(&context.lags);
        let consumer: StreamConsumer<WatchedContext> = client
            .create_with_context(context)
            .map_err(|e| format!("kafka source: {e}"))?;
        Ok(KafkaSource {
            consumer,
            watch,
            rebalances,
            lags,
            floors: Mutex::new(AssignmentFloors::default()),
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
        // Whether reads are known to succeed (the first record says so).
        let mut healthy = false;
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
                        self.report_lags(context);
                        next_store = Instant::now() + STORE_EVERY;
                    }
                    match ready {
                        Some(ready) => ready,
                        None => tokio::select! {
                            _ = context.stopping().cancelled() => return Ok(()),
                            // The decoding task ended (a panic, or the pipeline stopped): its
                            // outcome is read by `run`; an idle topic must not hide it.
                            _ = chunks.closed() => return Ok(()),
                            reason = self.watch.failed() => {
                                return Err(SourceError::fatal(ErrorType::AuthError, format!("kafka source: {reason}")));
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
                    return Err(SourceError::fatal(
                        ErrorType::AuthError,
                        format!("kafka source: {reason}"),
                    ));
                }
                Some(Err(error)) => {
                    let error = mask_credentials(&error.to_string());
                    context.read_failed(dataflow_core::classify(&error, None));
                    healthy = false;
                    match errors.seen(&error, std::time::Instant::now()) {
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
                    return Err(SourceError::fatal(
                        ErrorType::Unknown,
                        "the kafka consumer stream ended",
                    ));
                }
            };
            errors.clear();
            if !healthy {
                // Said once when records flow (again), not per record.
                context.read_succeeded();
                healthy = true;
            }
            let partition = message.partition();
            self.floors.lock().expect("floors lock").read(
                self.rebalances.count(),
                partition,
                message.offset(),
            );
            let token = streams
                .entry(partition)
                .or_insert_with(|| context.stream(&format!("{}/{partition}", self.topic)))
                .track(Position::Count(message.offset() as u64));
            chunk.push(Self::fetch(&message, token));
        }
    }

    /// Reports each partition's consumer lag from the latest statistics.
    fn report_lags(&self, context: &SourceContext) {
        if let Ok(lags) = self.lags.lock() {
            context.set_lags(&lags);
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
            let floors = self.floors.lock().expect("floors lock");
            if !floors.may_store(self.rebalances.count(), partition, offset) {
                tracing::debug!(
                    partition,
                    offset,
                    "offset not stored (read before the latest rebalance)"
                );
                continue;
            }
            drop(floors);
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

#[async_trait]
impl Source for KafkaSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        self.consumer.subscribe(&[&self.topic]).map_err(|e| {
            SourceError::fatal(
                ErrorType::Unknown,
                format!("subscribing to {}: {e}", self.topic),
            )
        })?;
        let (chunks, received) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let decoder = Arc::clone(&self.decoder);
        let decoding = tokio::spawn({
            let context = context.clone();
            async move { decoder.run(received, context).await }
        });
        let read = self.read(context, chunks).await;
        // The reading loop dropped its sender: the decoder finishes what it was sent.
        let decoded = decoding.await.map_err(|e| {
            SourceError::fatal(
                ErrorType::Unknown,
                format!("the kafka decoding task failed: {e}"),
            )
        })?;
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
            Err(error) => Err(SourceError::fatal(
                ErrorType::ConnectionError,
                format!("committing offsets: {error}"),
            )),
        }
    }
}
