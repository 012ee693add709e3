//! One flow as a task tree: source → transformation chain → sink, bounded channels between
//! them, failures to the error sink, committed positions to the checkpoint store.
//!
//! Layout: this module holds what a flow is ([`Flow`], built from a spec by
//! [`Flow::from_spec`]) and the short driver [`Flow::run`]; the steps it takes live in
//! `running.rs`, one sink's worker in `sink_worker.rs`, the chain stage in `stage.rs`.

use std::sync::Arc;
use std::time::Duration;

use dataflow_spec::{AckGranularity, AckPolicy, DataFlow, TransformErrorPolicy};
use tokio_util::sync::CancellationToken;

use crate::batch::Batching;
use crate::checkpoint::{CheckpointStore, SavePolicy};
use crate::classify::ErrorReason;
use crate::registry::{BuildContext, BuildError, Registry};
use crate::running::{RunningFlow, connect_sinks, resume_positions, window_limit};
use crate::sink::Sink;
use crate::source::Source;
use crate::stats::{Stats, StatsSnapshot};
use crate::telemetry::{ConnectorIdentity, FlowIdentity, FlowMetrics, Health, Phase, Telemetry};
use crate::transform::Transformer;

/// Why a flow stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A connector could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A sink could not connect.
    #[error("connecting the {what}: {reason}")]
    Connect {
        /// `sink (postgresql)`, `error sink (file)`.
        what: String,
        /// Why, and of what kind.
        reason: ErrorReason,
    },
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The flow stopped on a fatal error (a data error without error sink, a fatal sink or
    /// source error, a missed shutdown deadline).
    #[error("{0}")]
    Failed(String),
}

/// A sink with its type name and batching.
pub struct SinkStage {
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Its `type`, for logs and error records.
    pub type_name: String,
    /// How its messages are grouped.
    pub batching: Batching,
}

/// Where and how positions are checkpointed.
pub struct Checkpointing {
    /// The store.
    pub store: Arc<dyn CheckpointStore>,
    /// Debounce / sync-on-ack.
    pub policy: SavePolicy,
    /// Clear the stored checkpoint before starting (`checkpointReset`).
    pub reset: bool,
}

/// A flow ready to run.
pub struct Flow {
    /// `namespace/name`, the checkpoint key of the flow.
    pub name: String,
    /// The source.
    pub source: Box<dyn Source>,
    /// The source's `type`, the checkpoint key of its positions.
    pub source_type: String,
    /// The transformation chain.
    pub transformer: Arc<dyn Transformer>,
    /// The main sink.
    pub sink: SinkStage,
    /// The error sink and its acknowledgement policy.
    pub error_sink: Option<(SinkStage, AckPolicy)>,
    /// The sinks of the router routes, in route order.
    pub routes: Vec<SinkStage>,
    /// Workers running the chain (`transformWorkers`); order is kept whatever the number.
    pub transform_workers: usize,
    /// What a transformation failure does without an error sink (`onTransformError`).
    pub on_transform_error: TransformErrorPolicy,
    /// Capacity of every internal channel (`channelBufferSize`).
    pub channel_capacity: usize,
    /// Checkpointing, when `checkpointPersistence` is on.
    pub checkpoints: Option<Checkpointing>,
    /// Who the flow and its connectors are, for the metrics' labels.
    pub identity: FlowIdentity,
}

/// How a run is controlled from outside.
#[derive(Clone)]
pub struct RunControl {
    /// Cancel to stop gracefully: stop reading, drain, flush, commit.
    pub shutdown: CancellationToken,
    /// Longest a graceful stop may take before the flow is aborted.
    pub shutdown_timeout: Duration,
    /// Counters the caller can watch.
    pub stats: Arc<Stats>,
    /// The metrics registry the flow's handles are made in.
    pub telemetry: Arc<Telemetry>,
    /// What the health endpoints read.
    pub health: Arc<Health>,
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            shutdown: CancellationToken::new(),
            shutdown_timeout: Duration::from_secs(60),
            stats: Arc::new(Stats::default()),
            telemetry: Arc::new(Telemetry::new()),
            health: Arc::new(Health::default()),
        }
    }
}

impl Flow {
    /// Builds the flow of a (secret-resolved) DataFlow with the connectors of `registry`.
    pub fn from_spec(
        flow: &DataFlow,
        registry: &Registry,
        transformer: Arc<dyn Transformer>,
        context: &BuildContext,
        store: Option<Arc<dyn CheckpointStore>>,
    ) -> Result<Flow, BuildError> {
        let spec = &flow.spec;
        let per_message =
            spec.ack_granularity == AckGranularity::Message && spec.collapse_batch_on_message_ack;
        let batching_of = |sink: &dataflow_spec::SinkSpec| {
            if per_message {
                Batching::single()
            } else {
                Batching::from_settings(sink.batch_settings())
            }
        };
        let sink = SinkStage {
            sink: registry.build_sink(&spec.sink, context)?,
            type_name: spec.sink.type_name().into(),
            batching: batching_of(&spec.sink),
        };
        let error_sink = match &spec.errors {
            Some(errors) => Some((
                SinkStage {
                    sink: registry.build_sink(&errors.sink, context)?,
                    type_name: errors.sink.type_name().into(),
                    batching: batching_of(&errors.sink),
                },
                errors.ack_policy,
            )),
            None => None,
        };
        let mut routes = Vec::new();
        for route in spec.routes() {
            routes.push(SinkStage {
                sink: registry.build_sink(&route.sink, context)?,
                type_name: route.sink.type_name().into(),
                batching: batching_of(&route.sink),
            });
        }
        let interval = dataflow_spec::duration::parse_go_duration(&spec.checkpoint_save_interval)
            .map_err(|e| BuildError(format!("spec.checkpointSaveInterval: {e}")))?;
        let checkpoints = match store {
            Some(store) if spec.checkpoint_persistence => Some(Checkpointing {
                store,
                policy: SavePolicy {
                    interval,
                    on_every_commit: spec.checkpoint_sync_on_ack || per_message,
                    give_up_after: crate::checkpoint::DEFAULT_GIVE_UP_AFTER,
                },
                reset: spec.checkpoint_reset,
            }),
            _ => None,
        };
        let identity = FlowIdentity::of(flow);
        Ok(Flow {
            identity,
            name: format!("{}/{}", flow.namespace(), flow.name()),
            source: registry.build_source(&spec.source, context)?,
            source_type: spec.source.type_name().into(),
            transformer,
            sink,
            error_sink,
            routes,
            transform_workers: spec.transform_workers.clamp(1, 64) as usize,
            on_transform_error: spec.on_transform_error,
            channel_capacity: spec.channel_buffer_size.max(1) as usize,
            checkpoints,
        })
    }

    /// Runs until a finite source is drained and everything is written, until `control`
    /// asks for a stop, or until a fatal error. The steps: claim the checkpoint store, connect
    /// the sinks, read the stored positions, then spawn the task tree (see `RunningFlow`) and
    /// wait for it to drain.
    pub async fn run(self, control: RunControl) -> Result<StatsSnapshot, FlowError> {
        let metrics = control.telemetry.flow(&self.identity);
        metrics.set_phase(Phase::Pending);
        let result = self.run_steps(&control, &metrics).await;
        control.health.set_ready(false);
        metrics.set_phase(match &result {
            // Stopped while connecting is a stop, not a failure.
            Err(FlowError::Connect { reason, .. })
                if reason.kind == crate::classify::ErrorType::ContextCanceled =>
            {
                Phase::Stopped
            }
            Err(_) => Phase::Error,
            Ok(_) if control.shutdown.is_cancelled() => Phase::Stopped,
            Ok(_) => Phase::Completed,
        });
        result
    }

    async fn run_steps(
        self,
        control: &RunControl,
        metrics: &FlowMetrics,
    ) -> Result<StatsSnapshot, FlowError> {
        let Flow {
            name,
            source,
            source_type,
            transformer,
            mut sink,
            mut error_sink,
            mut routes,
            transform_workers,
            on_transform_error,
            channel_capacity,
            checkpoints,
            identity: _,
        } = self;
        if let Some(checkpointing) = &checkpoints {
            checkpointing.store.claim(&name).await?;
        }
        let error_stage = error_sink.as_mut().map(|(stage, _)| stage);
        connect_sinks(
            &mut sink,
            error_stage,
            &mut routes,
            &control.shutdown,
            metrics,
        )
        .await?;
        let stored = resume_positions(checkpoints.as_ref(), &name, &source_type).await?;

        let sinks = std::iter::once(&sink)
            .chain(error_sink.as_ref().map(|(stage, _)| stage))
            .chain(&routes);
        let window = window_limit(channel_capacity, sinks);
        let mut running = RunningFlow::new(
            name,
            source_type,
            control,
            metrics,
            window,
            channel_capacity,
        );
        let router = running.spawn_error_sink(error_sink, on_transform_error);
        let sink_type = sink.type_name.clone();
        // Without a chain the sink would parse JSON text itself, on its own task.
        let parse_at_source = transformer.is_identity() && !sink.sink.takes_json_text();
        let outputs = running.spawn_sinks(sink, routes, &router);
        let emitter =
            running.spawn_chain(transformer, transform_workers, &router, outputs, &sink_type);
        running.spawn_source(source, emitter, router, stored, &sink_type, parse_at_source);
        running.spawn_saver(checkpoints);
        control.health.set_ready(true);
        metrics.set_phase(Phase::Running);
        running.drain_or_abort(control).await
    }
}

/// A connector's identity for the metrics: its type, and as its name the first of its
/// `topic`, `table`, `path` settings (its type when it has none).
fn connector_identity(connector_type: &str, block: &impl serde::Serialize) -> ConnectorIdentity {
    let settings = serde_json::to_value(block).unwrap_or_default();
    let name = ["topic", "table", "path"]
        .iter()
        .find_map(|key| settings["config"][key].as_str())
        .unwrap_or(connector_type);
    ConnectorIdentity {
        connector_type: connector_type.into(),
        connector_name: name.into(),
    }
}

impl FlowIdentity {
    /// The identity of `flow` for the metrics' labels. Give it the flow as written, before its
    /// secrets are resolved: a topic or table that comes from a secret is then not there, and
    /// the connector is named by its type (`/metrics` is served without authentication).
    pub fn of(flow: &DataFlow) -> FlowIdentity {
        let spec = &flow.spec;
        FlowIdentity {
            namespace: flow.namespace().to_string(),
            name: flow.name().to_string(),
            source: connector_identity(spec.source.type_name(), &spec.source),
            sink: connector_identity(spec.sink.type_name(), &spec.sink),
            error_sink: spec
                .errors
                .as_ref()
                .map(|errors| connector_identity(errors.sink.type_name(), &errors.sink)),
            routes: spec
                .routes()
                .iter()
                .map(|route| {
                    let sink = connector_identity(route.sink.type_name(), &route.sink);
                    (sink, route.condition.clone())
                })
                .collect(),
            transformers: spec
                .transformations
                .iter()
                .map(|step| step.type_name().to_string())
                .collect(),
        }
    }
}
