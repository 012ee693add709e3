//! The handles of one connector and of the chain: counters and gauges cloned out of their
//! families, so that counting is an atomic add.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::Families;
use super::labels::*;
use crate::classify::ErrorType;
use crate::transform::{StepCounts, StepTally};

/// One step's handles.
#[derive(Clone)]
pub(super) struct StepMetrics {
    pub(super) executions: Counter,
    pub(super) input: Counter,
    pub(super) output: Counter,
    pub(super) errors: Counter,
}

/// The chain's handles, a set per step.
#[derive(Clone, Default)]
pub struct TransformerMetrics {
    pub(super) steps: Vec<StepMetrics>,
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
    pub(super) families: Arc<Families>,
    pub(super) labels: ConnectorLabels,
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
    pub(super) families: Arc<Families>,
    pub(super) namespace: String,
    pub(super) name: String,
    /// The streams with a series now.
    pub(super) reported: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
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
