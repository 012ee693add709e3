//! Prometheus metrics with the original's families, names, labels and buckets
//! (original-behaviour §5.1), so that its dashboards and alerts keep working.
//!
//! Two of the original's bugs are fixed: `connector_name` carries the connector's name (its
//! topic, table or path) and the role (`source`, `sink`, `route`, `error_sink`) has a label of
//! its own; `dataflow_status` is 1 for the current phase whatever it is, so an alert on
//! `phase="Error"` can fire.
//!
//! Layout: [`Telemetry`] is the registry of one process with every family; [`FlowMetrics`] the
//! handles of one flow, made once when the flow starts, so that the hot path only adds to
//! atomics, once per batch or run of messages; [`SinkMetrics`] and [`SourceMetrics`] those of
//! one connector. [`Health`] is what `/readyz` and `/livez` read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::classify::ErrorType;
use crate::transform::{StepCounts, StepTally};

/// `namespace`, `name`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabels {
    namespace: String,
    name: String,
}

/// `dataflow_messages_received_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceivedLabels {
    namespace: String,
    name: String,
    source_type: String,
}

/// `dataflow_messages_sent_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SentLabels {
    namespace: String,
    name: String,
    sink_type: String,
    route: String,
}

/// One connector of one flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    namespace: String,
    name: String,
    connector_type: String,
    connector_name: String,
    role: String,
}

/// A connector's writes to one route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WrittenLabels {
    namespace: String,
    name: String,
    connector_type: String,
    connector_name: String,
    role: String,
    route: String,
}

/// A connector's errors by operation and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    namespace: String,
    name: String,
    connector_type: String,
    connector_name: String,
    role: String,
    operation: String,
    error_type: String,
}

/// One stream (partition, file, table) of a flow's source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    namespace: String,
    name: String,
    stream: String,
}

/// One stage of a flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    namespace: String,
    name: String,
    stage: String,
}

/// One channel of a flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    namespace: String,
    name: String,
    queue_type: String,
}

/// One step of the chain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransformerLabels {
    namespace: String,
    name: String,
    transformer_type: String,
    transformer_index: String,
}

/// One step's failures by kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransformerErrorLabels {
    namespace: String,
    name: String,
    transformer_type: String,
    transformer_index: String,
    error_type: String,
}

/// `dataflow_status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    namespace: String,
    name: String,
    phase: String,
}

/// The phases of `dataflow_status` (the original's, for the CLI and the processor alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting and resuming.
    Pending,
    /// Reading and writing.
    Running,
    /// A finite source was drained and everything written.
    Completed,
    /// Stopped on request.
    Stopped,
    /// Stopped by a failure.
    Error,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Pending,
        Phase::Running,
        Phase::Completed,
        Phase::Stopped,
        Phase::Error,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Completed => "Completed",
            Phase::Stopped => "Stopped",
            Phase::Error => "Error",
        }
    }
}

/// Every family, shared by the flows of a process.
struct Families {
    received: Family<ReceivedLabels, Counter>,
    sent: Family<SentLabels, Counter>,
    read: Family<ConnectorLabels, Counter>,
    written: Family<WrittenLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    connection: Family<ConnectorLabels, Gauge>,
    poll_healthy: Family<ConnectorLabels, Gauge>,
    status: Family<StatusLabels, Gauge>,
    active: Family<FlowLabels, Gauge>,
    oldest_held: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    committed_streams: Family<FlowLabels, Gauge>,
    last_checkpoint: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    queue_size: Family<QueueLabels, Gauge>,
    committed_position: Family<StreamLabels, Gauge<f64, AtomicU64>>,
    consumer_lag: Family<StreamLabels, Gauge>,
    end_to_end: Family<FlowLabels, Histogram>,
    stage_duration: Family<StageLabels, Histogram>,
    throughput: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    success_rate: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    executions: Family<TransformerLabels, Counter>,
    transformer_in: Family<TransformerLabels, Counter>,
    transformer_out: Family<TransformerLabels, Counter>,
    transformer_errors: Family<TransformerErrorLabels, Counter>,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            received: Family::default(),
            sent: Family::default(),
            read: Family::default(),
            written: Family::default(),
            errors: Family::default(),
            connection: Family::default(),
            poll_healthy: Family::default(),
            status: Family::default(),
            active: Family::default(),
            oldest_held: Family::default(),
            committed_streams: Family::default(),
            last_checkpoint: Family::default(),
            queue_size: Family::default(),
            committed_position: Family::default(),
            consumer_lag: Family::default(),
            // The original's buckets: exp(0.001, 2, 12) and exp(0.0001, 2, 14).
            end_to_end: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 12))
            }),
            stage_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 14))
            }),
            throughput: Family::default(),
            success_rate: Family::default(),
            executions: Family::default(),
            transformer_in: Family::default(),
            transformer_out: Family::default(),
            transformer_errors: Family::default(),
        }
    }
}

/// The metrics registry of one process.
pub struct Telemetry {
    registry: Registry,
    families: Arc<Families>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// A registry with every family registered (none has a series before a flow uses it).
    pub fn new() -> Self {
        let families = Arc::new(Families::default());
        let mut registry = Registry::default();
        let f = &families;
        registry.register(
            "dataflow_messages_received",
            "Messages read by the source",
            f.received.clone(),
        );
        registry.register(
            "dataflow_messages_sent",
            "Messages written, by sink and route (default, the route's condition, or error)",
            f.sent.clone(),
        );
        registry.register(
            "dataflow_connector_messages_read",
            "Messages a source connector read",
            f.read.clone(),
        );
        registry.register(
            "dataflow_connector_messages_written",
            "Messages a sink connector wrote durably",
            f.written.clone(),
        );
        registry.register(
            "dataflow_connector_errors",
            "Connector errors by operation (connect, read, write) and error type",
            f.errors.clone(),
        );
        registry.register(
            "dataflow_connector_connection_status",
            "1 while the connector is connected",
            f.connection.clone(),
        );
        registry.register(
            "dataflow_connector_source_poll_healthy",
            "1 while the source's polls (or reads) succeed, 0 while they fail and are retried",
            f.poll_healthy.clone(),
        );
        registry.register(
            "dataflow_status",
            "1 for the flow's current phase",
            f.status.clone(),
        );
        registry.register(
            "dataflow_task_active_messages",
            "Messages read and not yet committed (held positions)",
            f.active.clone(),
        );
        registry.register(
            "dataflow_held_oldest_age_seconds",
            "Age of the oldest held position",
            f.oldest_held.clone(),
        );
        registry.register(
            "dataflow_committed_streams",
            "Streams (partitions, files, tables) with a committed position",
            f.committed_streams.clone(),
        );
        registry.register(
            "dataflow_committed_position",
            "The committed position of a stream, when it is a number (Kafka offset, file offset)",
            f.committed_position.clone(),
        );
        registry.register(
            "dataflow_connector_consumer_lag",
            "Records of a stream after its committed position (Kafka: librdkafka's statistics)",
            f.consumer_lag.clone(),
        );
        registry.register(
            "dataflow_checkpoint_last_save_timestamp_seconds",
            "When the checkpoint was last saved (Unix time)",
            f.last_checkpoint.clone(),
        );
        registry.register(
            "dataflow_task_end_to_end_latency_seconds",
            "From the record's time (the source's when it has one) to its durable write",
            f.end_to_end.clone(),
        );
        registry.register(
            "dataflow_task_stage_duration_seconds",
            "Duration of a stage's unit of work (sink_write, error_sink_write: one batch)",
            f.stage_duration.clone(),
        );
        registry.register(
            "dataflow_task_queue_size",
            "Messages waiting in a channel (input of the chain, default, a route's condition, error)",
            f.queue_size.clone(),
        );
        registry.register(
            "dataflow_task_throughput_messages_per_second",
            "Messages written per second over the last 10 s",
            f.throughput.clone(),
        );
        registry.register(
            "dataflow_task_success_rate",
            "Written / (written + failed) since the flow started",
            f.success_rate.clone(),
        );
        registry.register(
            "dataflow_transformer_executions",
            "Records a transformation step ran on",
            f.executions.clone(),
        );
        registry.register(
            "dataflow_transformer_messages_in",
            "Records into a transformation step",
            f.transformer_in.clone(),
        );
        registry.register(
            "dataflow_transformer_messages_out",
            "Records out of a transformation step (kept or derived)",
            f.transformer_out.clone(),
        );
        registry.register(
            "dataflow_transformer_errors",
            "Records a transformation step failed on",
            f.transformer_errors.clone(),
        );
        Telemetry { registry, families }
    }

    /// The registry, for `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The handles of a flow named `namespace/name` reading from `source`.
    pub fn flow(&self, identity: &FlowIdentity) -> FlowMetrics {
        FlowMetrics {
            families: Arc::clone(&self.families),
            identity: identity.clone(),
        }
    }
}

/// Who a flow is, for its labels: made once when the flow is built.
#[derive(Clone, Debug, Default)]
pub struct FlowIdentity {
    /// The flow's namespace.
    pub namespace: String,
    /// The flow's name.
    pub name: String,
    /// The source's type and name (topic, table or path).
    pub source: ConnectorIdentity,
    /// The main sink's.
    pub sink: ConnectorIdentity,
    /// The error sink's, when there is one.
    pub error_sink: Option<ConnectorIdentity>,
    /// Each route sink's, with the route's condition (the `route` label), in route order.
    pub routes: Vec<(ConnectorIdentity, String)>,
    /// The type of each transformation step, in order.
    pub transformers: Vec<String>,
}

/// A connector's type and name.
#[derive(Clone, Debug, Default)]
pub struct ConnectorIdentity {
    /// `kafka`, `postgresql`, `file`, …
    pub connector_type: String,
    /// Its topic, table or path (its type when it has none of them).
    pub connector_name: String,
}

/// The handles of one flow.
#[derive(Clone)]
pub struct FlowMetrics {
    families: Arc<Families>,
    identity: FlowIdentity,
}

impl FlowMetrics {
    /// Handles in a registry nobody reads (tests, benches).
    pub fn detached(identity: FlowIdentity) -> Self {
        Telemetry::new().flow(&identity)
    }

    fn flow_labels(&self) -> FlowLabels {
        FlowLabels {
            namespace: self.identity.namespace.clone(),
            name: self.identity.name.clone(),
        }
    }

    fn connector_labels(&self, connector: &ConnectorIdentity, role: &str) -> ConnectorLabels {
        ConnectorLabels {
            namespace: self.identity.namespace.clone(),
            name: self.identity.name.clone(),
            connector_type: connector.connector_type.clone(),
            connector_name: connector.connector_name.clone(),
            role: role.into(),
        }
    }

    /// Sets `dataflow_status`: 1 for `phase`, 0 for the others.
    pub fn set_phase(&self, phase: Phase) {
        for each in Phase::ALL {
            let labels = StatusLabels {
                namespace: self.identity.namespace.clone(),
                name: self.identity.name.clone(),
                phase: each.as_str().into(),
            };
            self.families
                .status
                .get_or_create(&labels)
                .set(i64::from(each == phase));
        }
    }

    /// The source's handles.
    pub fn source(&self) -> SourceMetrics {
        let source = &self.identity.source;
        let labels = self.connector_labels(source, "source");
        SourceMetrics {
            received: self.families.received.get_or_create_owned(&ReceivedLabels {
                namespace: self.identity.namespace.clone(),
                name: self.identity.name.clone(),
                source_type: source.connector_type.clone(),
            }),
            read: self.families.read.get_or_create_owned(&labels),
            poll_healthy: self.families.poll_healthy.get_or_create_owned(&labels),
            lags: LagGauges {
                families: Arc::clone(&self.families),
                namespace: self.identity.namespace.clone(),
                name: self.identity.name.clone(),
                reported: Arc::default(),
            },
            errors: ErrorCounters {
                families: Arc::clone(&self.families),
                labels,
            },
        }
    }

    /// The main sink's handles (route `default`).
    pub fn main_sink(&self) -> SinkMetrics {
        self.sink(&self.identity.sink.clone(), "sink", "default")
    }

    /// The error sink's handles (route `error`).
    pub fn error_sink(&self) -> SinkMetrics {
        let connector = self.identity.error_sink.clone().unwrap_or_default();
        self.sink(&connector, "error_sink", "error")
    }

    /// Route `index`'s sink handles (route: its condition).
    pub fn route_sink(&self, index: usize) -> SinkMetrics {
        let connector = self
            .identity
            .routes
            .get(index)
            .map(|(connector, _)| connector.clone())
            .unwrap_or_default();
        self.sink(&connector, "route", &self.route_name(index))
    }

    fn sink(&self, connector: &ConnectorIdentity, role: &str, route: &str) -> SinkMetrics {
        let labels = self.connector_labels(connector, role);
        let stage = StageLabels {
            namespace: labels.namespace.clone(),
            name: labels.name.clone(),
            stage: if role == "error_sink" {
                "error_sink_write"
            } else {
                "sink_write"
            }
            .into(),
        };
        let written = WrittenLabels {
            namespace: labels.namespace.clone(),
            name: labels.name.clone(),
            connector_type: labels.connector_type.clone(),
            connector_name: labels.connector_name.clone(),
            role: labels.role.clone(),
            route: route.into(),
        };
        SinkMetrics {
            sent: self.families.sent.get_or_create_owned(&SentLabels {
                namespace: labels.namespace.clone(),
                name: labels.name.clone(),
                sink_type: connector.connector_type.clone(),
                route: route.into(),
            }),
            written: self.families.written.get_or_create_owned(&written),
            connection: self.families.connection.get_or_create_owned(&labels),
            latency: self
                .families
                .end_to_end
                .get_or_create_owned(&self.flow_labels()),
            write_duration: self.families.stage_duration.get_or_create_owned(&stage),
            errors: ErrorCounters {
                families: Arc::clone(&self.families),
                labels,
            },
        }
    }

    /// The chain's handles, a set per step.
    pub fn transformers(&self) -> TransformerMetrics {
        let steps = self
            .identity
            .transformers
            .iter()
            .enumerate()
            .map(|(index, kind)| {
                let labels = TransformerLabels {
                    namespace: self.identity.namespace.clone(),
                    name: self.identity.name.clone(),
                    transformer_type: kind.clone(),
                    transformer_index: index.to_string(),
                };
                let errors = TransformerErrorLabels {
                    namespace: labels.namespace.clone(),
                    name: labels.name.clone(),
                    transformer_type: labels.transformer_type.clone(),
                    transformer_index: labels.transformer_index.clone(),
                    // A step that fails on a record fails on its data.
                    error_type: ErrorType::InvalidData.as_str().into(),
                };
                StepMetrics {
                    executions: self.families.executions.get_or_create_owned(&labels),
                    input: self.families.transformer_in.get_or_create_owned(&labels),
                    output: self.families.transformer_out.get_or_create_owned(&labels),
                    errors: self
                        .families
                        .transformer_errors
                        .get_or_create_owned(&errors),
                }
            })
            .collect();
        TransformerMetrics { steps }
    }

    /// The `route` label of route `index`: its condition.
    pub fn route_name(&self, index: usize) -> String {
        self.identity.routes.get(index).map_or_else(
            || format!("route {index}"),
            |(_, condition)| condition.clone(),
        )
    }

    /// Sets the depth of channel `queue_type`.
    pub fn set_queue_size(&self, queue_type: &str, depth: usize) {
        let labels = QueueLabels {
            namespace: self.identity.namespace.clone(),
            name: self.identity.name.clone(),
            queue_type: queue_type.into(),
        };
        self.families
            .queue_size
            .get_or_create(&labels)
            .set(depth as i64);
    }

    /// Sets the throughput (messages written per second) and the success rate from the totals
    /// written and failed (1 before anything was processed).
    pub fn set_rates(&self, per_second: f64, written: u64, failed: u64) {
        let labels = self.flow_labels();
        self.families
            .throughput
            .get_or_create(&labels)
            .set(per_second);
        let processed = written + failed;
        let rate = if processed == 0 {
            1.0
        } else {
            written as f64 / processed as f64
        };
        self.families.success_rate.get_or_create(&labels).set(rate);
    }

    /// Sets the held positions and the age of the oldest.
    pub fn set_held(&self, held: u64, oldest: Duration) {
        let labels = self.flow_labels();
        self.families.active.get_or_create(&labels).set(held as i64);
        self.families
            .oldest_held
            .get_or_create(&labels)
            .set(oldest.as_secs_f64());
    }

    /// Notes a saved checkpoint: when, how many streams, and each stream's committed position
    /// when it is a number (a Kafka offset; a file's byte offset or a JSON array's index).
    pub fn checkpoint_saved(&self, streams: &serde_json::Map<String, serde_json::Value>) {
        for (stream, position) in streams {
            let number = position
                .as_f64()
                .or_else(|| position.get("offset").and_then(serde_json::Value::as_f64))
                .or_else(|| position.get("index").and_then(serde_json::Value::as_f64));
            if let Some(number) = number {
                let labels = StreamLabels {
                    namespace: self.identity.namespace.clone(),
                    name: self.identity.name.clone(),
                    stream: stream.clone(),
                };
                self.families
                    .committed_position
                    .get_or_create(&labels)
                    .set(number);
            }
        }
        let streams = streams.len();
        let labels = self.flow_labels();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |t| t.as_secs_f64());
        self.families
            .last_checkpoint
            .get_or_create(&labels)
            .set(now);
        self.families
            .committed_streams
            .get_or_create(&labels)
            .set(streams as i64);
    }
}

/// One step's handles.
#[derive(Clone)]
struct StepMetrics {
    executions: Counter,
    input: Counter,
    output: Counter,
    errors: Counter,
}

/// The chain's handles, a set per step.
#[derive(Clone, Default)]
pub struct TransformerMetrics {
    steps: Vec<StepMetrics>,
}

impl TransformerMetrics {
    /// A tally the size of the chain.
    pub fn tally(&self) -> StepTally {
        StepTally::for_steps(self.steps.len())
    }

    /// Adds what a run of records did to the counters, and clears the tally.
    pub fn flush(&self, tally: &mut StepTally) {
        for (metrics, counts) in self.steps.iter().zip(tally.steps.iter_mut()) {
            if counts.input > 0 {
                metrics.input.inc_by(counts.input);
            }
            if counts.executions > 0 {
                metrics.executions.inc_by(counts.executions);
            }
            if counts.output > 0 {
                metrics.output.inc_by(counts.output);
            }
            if counts.errors > 0 {
                metrics.errors.inc_by(counts.errors);
            }
            *counts = StepCounts::default();
        }
    }
}

/// A connector's error counters: a series per operation and kind, made on the first error
/// (errors are rare; the labels are formatted then, never per message written).
#[derive(Clone)]
pub struct ErrorCounters {
    families: Arc<Families>,
    labels: ConnectorLabels,
}

impl ErrorCounters {
    /// Counts `n` errors of `kind` in `operation` (`connect`, `read`, `write`).
    pub fn add(&self, operation: &str, kind: ErrorType, n: u64) {
        let labels = ErrorLabels {
            namespace: self.labels.namespace.clone(),
            name: self.labels.name.clone(),
            connector_type: self.labels.connector_type.clone(),
            connector_name: self.labels.connector_name.clone(),
            role: self.labels.role.clone(),
            operation: operation.into(),
            error_type: kind.as_str().into(),
        };
        self.families.errors.get_or_create(&labels).inc_by(n);
    }
}

/// The source's handles.
#[derive(Clone)]
pub struct SourceMetrics {
    /// `dataflow_messages_received_total`.
    pub received: Counter,
    /// `dataflow_connector_messages_read_total`.
    pub read: Counter,
    /// `dataflow_connector_source_poll_healthy`.
    pub poll_healthy: Gauge,
    /// `dataflow_connector_consumer_lag`, per stream.
    pub lags: LagGauges,
    /// `dataflow_connector_errors_total` (operation `read`).
    pub errors: ErrorCounters,
}

/// The consumer lag of a source's streams (a series per stream, made on its first report).
#[derive(Clone)]
pub struct LagGauges {
    families: Arc<Families>,
    namespace: String,
    name: String,
    /// The streams with a series now.
    reported: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl LagGauges {
    /// Sets the lag of every stream in `lags`; the series of streams not in it any more (a
    /// partition revoked) are removed rather than left frozen.
    pub fn set_all(&self, lags: &std::collections::BTreeMap<String, i64>) {
        let labels = |stream: &str| StreamLabels {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            stream: stream.into(),
        };
        let Ok(mut reported) = self.reported.lock() else {
            return;
        };
        reported.retain(|stream| {
            let kept = lags.contains_key(stream);
            if !kept {
                self.families.consumer_lag.remove(&labels(stream));
            }
            kept
        });
        for (stream, lag) in lags {
            self.families
                .consumer_lag
                .get_or_create(&labels(stream))
                .set(*lag);
            if !reported.contains(stream) {
                reported.insert(stream.clone());
            }
        }
    }
}

impl SourceMetrics {
    /// Counts `n` messages read.
    pub fn add_read(&self, n: u64) {
        self.received.inc_by(n);
        self.read.inc_by(n);
    }
}

/// One sink's handles.
#[derive(Clone)]
pub struct SinkMetrics {
    /// `dataflow_messages_sent_total`.
    pub sent: Counter,
    /// `dataflow_connector_messages_written_total`.
    pub written: Counter,
    /// `dataflow_connector_connection_status`.
    pub connection: Gauge,
    /// `dataflow_task_end_to_end_latency_seconds` (shared by the flow's sinks).
    pub latency: Histogram,
    /// `dataflow_task_stage_duration_seconds` of this sink's writes.
    pub write_duration: Histogram,
    /// `dataflow_connector_errors_total`.
    pub errors: ErrorCounters,
}

impl SinkMetrics {
    /// Counts `n` messages written durably.
    pub fn add_written(&self, n: u64) {
        self.sent.inc_by(n);
        self.written.inc_by(n);
    }
}

/// What the health endpoints read: updated by the running flow.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    /// Milliseconds since the Unix epoch of the last progress (a write or a commit).
    last_progress_ms: AtomicU64,
    held: AtomicU64,
    /// Milliseconds since the Unix epoch when the held count last rose from zero.
    held_since_ms: AtomicU64,
}

impl Health {
    /// The source reads and the sinks are connected (or not any more).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        self.progressed();
    }

    /// Whether the flow reads with its sinks connected.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Notes progress: a sink wrote, or a position was committed.
    pub fn progressed(&self) {
        self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Notes how many positions are held (work waiting for progress).
    pub fn set_held(&self, held: u64) {
        if self.held.swap(held, Ordering::Relaxed) == 0 && held > 0 {
            self.held_since_ms.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// How long the flow has held work without progress; `None` when it holds nothing (a flow
    /// with no input is not stale).
    pub fn stalled_for(&self) -> Option<Duration> {
        if self.held.load(Ordering::Relaxed) == 0 {
            return None;
        }
        // Measured from the later of the last progress and the moment work arrived: a flow
        // idle for an hour is not stale the second a message comes in.
        let start = self
            .last_progress_ms
            .load(Ordering::Relaxed)
            .max(self.held_since_ms.load(Ordering::Relaxed));
        Some(Duration::from_millis(now_ms().saturating_sub(start)))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> FlowIdentity {
        FlowIdentity {
            namespace: "default".into(),
            name: "orders".into(),
            source: ConnectorIdentity {
                connector_type: "kafka".into(),
                connector_name: "orders".into(),
            },
            sink: ConnectorIdentity {
                connector_type: "postgresql".into(),
                connector_name: "public.orders".into(),
            },
            error_sink: None,
            routes: Vec::new(),
            transformers: vec!["filter".into()],
        }
    }

    fn text(telemetry: &Telemetry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, telemetry.registry())
            .unwrap();
        text
    }

    #[test]
    fn counts_carry_the_original_names_and_the_connector_name() {
        let telemetry = Telemetry::new();
        let flow = telemetry.flow(&identity());
        flow.source().add_read(5);
        flow.main_sink().add_written(4);
        flow.main_sink()
            .errors
            .add("write", ErrorType::ConstraintViolation, 1);
        let text = text(&telemetry);
        for line in [
            r#"dataflow_messages_received_total{namespace="default",name="orders",source_type="kafka"} 5"#,
            r#"dataflow_messages_sent_total{namespace="default",name="orders",sink_type="postgresql",route="default"} 4"#,
            r#"dataflow_connector_messages_read_total{namespace="default",name="orders",connector_type="kafka",connector_name="orders",role="source"} 5"#,
            r#"dataflow_connector_errors_total{namespace="default",name="orders",connector_type="postgresql",connector_name="public.orders",role="sink",operation="write",error_type="constraint_violation"} 1"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn the_status_gauge_is_one_for_the_current_phase_even_error() {
        let telemetry = Telemetry::new();
        let flow = telemetry.flow(&identity());
        flow.set_phase(Phase::Running);
        flow.set_phase(Phase::Error);
        let text = text(&telemetry);
        assert!(
            text.contains(r#"dataflow_status{namespace="default",name="orders",phase="Error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"dataflow_status{namespace="default",name="orders",phase="Running"} 0"#
            ),
            "{text}"
        );
    }

    #[test]
    fn the_stall_clock_starts_when_work_arrives_after_an_idle_time() {
        let health = Health::default();
        health
            .last_progress_ms
            .store(now_ms() - 3_600_000, Ordering::Relaxed);
        health.set_held(1);
        assert!(
            health
                .stalled_for()
                .is_some_and(|d| d < Duration::from_secs(5)),
            "an hour idle is not an hour stalled"
        );
    }

    #[test]
    fn a_flow_holding_nothing_is_never_stalled() {
        let health = Health::default();
        health.set_ready(true);
        assert_eq!(health.stalled_for(), None);
        health.set_held(3);
        assert!(
            health
                .stalled_for()
                .is_some_and(|d| d < Duration::from_secs(5))
        );
    }
}
