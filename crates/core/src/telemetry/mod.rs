//! Prometheus metrics with the original's families, names, labels and buckets
//! (original-behaviour §5.1), so that its dashboards and alerts keep working.
//!
//! Two of the original's bugs are fixed: `connector_name` carries the connector's name (its
//! topic, table or path) and the role (`source`, `sink`, `route`, `error_sink`) has a label of
//! its own; `dataflow_status` is 1 for the current phase whatever it is, so an alert on
//! `phase="Error"` can fire.
//!
//! Layout: this file holds [`Telemetry`], the registry of one process with every family, and
//! the [`Phase`]s; `labels.rs` the label sets; `flow.rs` [`FlowMetrics`], the handles of one
//! flow, made once when the flow starts so that the hot path only adds to atomics, once per
//! batch or run of messages, and the [`FlowIdentity`] they are labelled with; `handles.rs` the
//! handles of one connector or of the chain ([`SinkMetrics`], [`SourceMetrics`],
//! [`TransformerMetrics`]); `health.rs` [`Health`], what `/readyz` and `/livez` read.

mod flow;
mod handles;
mod health;
mod labels;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use flow::{ConnectorIdentity, FlowIdentity, FlowMetrics};
pub use handles::{ErrorCounters, LagGauges, SinkMetrics, SourceMetrics, TransformerMetrics};
pub use health::Health;
use labels::*;

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
    pub(super) received: Family<ReceivedLabels, Counter>,
    pub(super) sent: Family<SentLabels, Counter>,
    pub(super) read: Family<ConnectorLabels, Counter>,
    pub(super) written: Family<WrittenLabels, Counter>,
    pub(super) errors: Family<ErrorLabels, Counter>,
    pub(super) connection: Family<ConnectorLabels, Gauge>,
    pub(super) poll_healthy: Family<ConnectorLabels, Gauge>,
    pub(super) status: Family<StatusLabels, Gauge>,
    pub(super) active: Family<FlowLabels, Gauge>,
    pub(super) oldest_held: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    pub(super) committed_streams: Family<FlowLabels, Gauge>,
    pub(super) last_checkpoint: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    pub(super) queue_size: Family<QueueLabels, Gauge>,
    pub(super) committed_position: Family<StreamLabels, Gauge<f64, AtomicU64>>,
    pub(super) consumer_lag: Family<StreamLabels, Gauge>,
    pub(super) end_to_end: Family<FlowLabels, Histogram>,
    pub(super) stage_duration: Family<StageLabels, Histogram>,
    pub(super) throughput: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    pub(super) success_rate: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    pub(super) executions: Family<TransformerLabels, Counter>,
    pub(super) transformer_in: Family<TransformerLabels, Counter>,
    pub(super) transformer_out: Family<TransformerLabels, Counter>,
    pub(super) transformer_errors: Family<TransformerErrorLabels, Counter>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ErrorType;

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
}
