//! The handles of one flow and who the flow is: made once when it starts.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::handles::{ErrorCounters, LagGauges, SinkMetrics, SourceMetrics, StepMetrics};
use super::labels::*;
use super::{Families, Phase, Telemetry, TransformerMetrics};
use crate::classify::ErrorType;

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
    pub(super) families: Arc<Families>,
    pub(super) identity: FlowIdentity,
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
