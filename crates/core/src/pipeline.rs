//! One flow as a task tree: source → transformation chain → sink, bounded channels between
//! them, failures to the error sink, committed positions to the checkpoint store.

use std::sync::Arc;
use std::time::Duration;

use dataflow_spec::{AckGranularity, AckPolicy, DataFlow, TransformErrorPolicy};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ack::AckToken;
use crate::batch::{Batcher, Batching};
use crate::checkpoint::{CheckpointStore, SavePolicy, run_saver};
use crate::failure::{Failure, FailureRouter, FlowState, error_record};
use crate::message::Message;
use crate::registry::{BuildContext, BuildError, Registry};
use crate::retry::Backoff;
use crate::sink::{Rejection, Sink, SinkError};
use crate::source::{Source, SourceContext, SourceError};
use crate::stage::{ChainStage, Emitter, Outputs, run_parallel};
use crate::stats::{Stats, StatsSnapshot};
use crate::supervise::{panic_message, supervised};
use crate::tracker::PositionTracker;
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
        /// Why.
        reason: String,
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
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            shutdown: CancellationToken::new(),
            shutdown_timeout: Duration::from_secs(60),
            stats: Arc::new(Stats::default()),
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
        Ok(Flow {
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
    /// asks for a stop, or until a fatal error.
    pub async fn run(self, control: RunControl) -> Result<StatsSnapshot, FlowError> {
        let Flow {
            name,
            mut source,
            source_type,
            transformer,
            mut sink,
            error_sink,
            mut routes,
            transform_workers,
            on_transform_error,
            channel_capacity,
            checkpoints,
        } = self;
        let stats = Arc::clone(&control.stats);
        let state = Arc::new(FlowState::default());
        if let Some(checkpointing) = &checkpoints {
            checkpointing.store.claim(&name).await?;
        }

        connect_with_retry(
            &mut *sink.sink,
            &format!("sink ({})", sink.type_name),
            &control.shutdown,
        )
        .await?;
        let mut error_sink = error_sink;
        if let Some((stage, _)) = &mut error_sink {
            connect_with_retry(
                &mut *stage.sink,
                &format!("error sink ({})", stage.type_name),
                &control.shutdown,
            )
            .await?;
        }
        for (index, route) in routes.iter_mut().enumerate() {
            let what = format!("route {index} sink ({})", route.type_name);
            connect_with_retry(&mut *route.sink, &what, &control.shutdown).await?;
        }

        let stored = match &checkpoints {
            Some(checkpointing) => {
                if checkpointing.reset {
                    checkpointing.store.delete(&name, &source_type).await?;
                    tracing::info!(flow = %name, "checkpoint reset");
                }
                checkpointing.store.get(&name, &source_type).await?
            }
            None => None,
        };
        let stored: Map<String, Value> = stored
            .as_ref()
            .and_then(|value| value.get("streams"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !stored.is_empty() {
            let positions = serde_json::Value::Object(stored.clone()).to_string();
            tracing::info!(flow = %name, %positions, "resuming from checkpoint");
        }

        // Room for what is in flight (every channel full, every batch open) several times over,
        // within bounds: past it the source waits for commits (U1).
        let largest_batch = std::iter::once(&sink.batching)
            .chain(error_sink.as_ref().map(|(stage, _)| &stage.batching))
            .chain(routes.iter().map(|route| &route.batching))
            .map(|batching| match batching {
                Batching::Greedy { max } => *max,
                Batching::Sized { size, .. } => *size,
            })
            .max()
            .unwrap_or(1);
        let window_limit = (4 * channel_capacity * largest_batch).clamp(100_000, 2_000_000);
        let (sink_tx, sink_rx) = mpsc::channel(channel_capacity);
        // Every task of the flow, by name; a panic in any of them fails the flow.
        let mut tasks: Vec<JoinHandle<Option<()>>> = Vec::new();

        let router = match error_sink {
            Some((stage, policy)) => {
                let (failure_tx, failure_rx) = mpsc::channel(channel_capacity);
                let (record_tx, record_rx) = mpsc::channel(channel_capacity);
                tasks.push(spawn_supervised(
                    "the error record builder",
                    &state,
                    error_records(failure_rx, record_tx, policy),
                ));
                let worker = SinkWorker {
                    sink: stage.sink,
                    type_name: stage.type_name,
                    batcher: Batcher::new(record_rx, stage.batching),
                    rejections: RejectionTarget::StopTheFlow,
                    state: Arc::clone(&state),
                    stats: Arc::clone(&stats),
                    counts_as_written: false,
                };
                tasks.push(worker.spawn("the error sink"));
                FailureRouter::new(Some(failure_tx), Arc::clone(&state), Arc::clone(&stats))
            }
            None => FailureRouter::new(None, Arc::clone(&state), Arc::clone(&stats)),
        }
        .on_transform_error(on_transform_error);

        let tracker = PositionTracker::with_window_limit(window_limit);
        let monitor = tokio::spawn(watch_held_positions(
            tracker.clone(),
            Arc::clone(&stats),
            name.clone(),
        ));
        let stop_reading = CancellationToken::new();
        {
            let stop_reading = stop_reading.clone();
            let shutdown = control.shutdown.clone();
            let abort = state.abort_token().clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = abort.cancelled() => {}
                }
                stop_reading.cancel();
            });
        }

        // The route sinks: full sinks of their own, acknowledging through the same tokens.
        let mut route_channels = Vec::with_capacity(routes.len());
        for (index, route) in routes.into_iter().enumerate() {
            let (route_tx, route_rx) = mpsc::channel(channel_capacity);
            route_channels.push(route_tx);
            let worker = SinkWorker {
                sink: route.sink,
                type_name: route.type_name,
                batcher: Batcher::new(route_rx, route.batching),
                rejections: RejectionTarget::Route(router.clone()),
                state: Arc::clone(&state),
                stats: Arc::clone(&stats),
                counts_as_written: true,
            };
            tasks.push(worker.spawn(&format!("the route {index} sink")));
        }
        let outputs = Outputs {
            main: sink_tx,
            routes: route_channels,
        };
        let emitter = if transformer.is_identity() {
            Emitter::Direct(outputs)
        } else {
            let stage = ChainStage {
                transformer,
                failures: router.clone(),
                stats: Arc::clone(&stats),
                sink_type: sink.type_name.clone(),
                outputs,
            };
            // A stage of its own overlaps the chain with the source's work (measured: 1.4×
            // with one worker on two cores); inline only saves the hand-off on a single core.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if transform_workers > 1 || cores > 1 {
                let (parallel_tx, parallel_rx) = mpsc::channel(channel_capacity);
                tasks.push(spawn_supervised(
                    "the transformation stage",
                    &state,
                    run_parallel(parallel_rx, transform_workers, stage),
                ));
                Emitter::Parallel(parallel_tx)
            } else {
                Emitter::Inline(stage)
            }
        };

        let context = SourceContext::new(
            emitter,
            router.clone(),
            tracker.clone(),
            stored,
            stop_reading,
            Arc::clone(&stats),
            sink.type_name.clone(),
        );
        let source_task = {
            let failed_state = Arc::clone(&state);
            let source_type = source_type.clone();
            // On one core the chain runs inline, on the source's task: its panics land here.
            spawn_supervised(format!("the source ({source_type})"), &state, async move {
                let outcome = source.run(&context).await;
                drop(context);
                match outcome {
                    Ok(()) => {}
                    Err(SourceError::Closed) => {
                        // Downstream closes early only when a task died or the flow was
                        // aborted; judged once every task is joined (`closed_early`).
                        return (source, true);
                    }
                    Err(SourceError::Fatal(reason)) => {
                        failed_state.fail(format!("source ({source_type}): {reason}"))
                    }
                }
                (source, false)
            })
        };
        let worker = SinkWorker {
            sink: sink.sink,
            type_name: sink.type_name,
            batcher: Batcher::new(sink_rx, sink.batching),
            rejections: RejectionTarget::Route(router.clone()),
            state: Arc::clone(&state),
            stats: Arc::clone(&stats),
            counts_as_written: true,
        };
        tasks.push(worker.spawn("the sink"));
        drop(router);

        let saver_stop = CancellationToken::new();
        let saver = checkpoints.map(|checkpointing| {
            let saving = run_saver(
                checkpointing.store,
                name.clone(),
                source_type.clone(),
                tracker.clone(),
                checkpointing.policy,
                saver_stop.clone(),
            );
            // Saves that keep failing stop the flow at once, not at exit.
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let result = saving.await;
                if let Err(error) = &result {
                    state.fail(error.to_string());
                }
                result
            })
        });

        let mut source_task = source_task;
        let mut drained_source = None;
        let mut closed_early = false;
        let finished = async {
            match join(&mut source_task, &state, "the source").await {
                Some((source, closed)) => {
                    drained_source = Some(source);
                    closed_early = closed;
                }
                None => closed_early = false,
            }
            for task in tasks.iter_mut() {
                join(task, &state, "a task of the flow").await;
            }
        };
        let deadline = async {
            control.shutdown.cancelled().await;
            tokio::time::sleep(control.shutdown_timeout).await;
        };
        tokio::select! {
            _ = finished => {}
            _ = deadline => {
                state.fail(format!(
                    "the flow did not drain within the shutdown timeout of {:?}; stopping without \
                     acknowledging what was not written",
                    control.shutdown_timeout
                ));
                for task in &tasks {
                    task.abort();
                }
                source_task.abort();
            }
        }
        if closed_early && !state.is_aborted() && !control.shutdown.is_cancelled() {
            state.fail(format!(
                "source ({source_type}): the pipeline after it stopped before the source finished"
            ));
        }
        // Everything is written or failed: the source may store its positions elsewhere.
        if let Some(mut source) = drained_source
            && !state.is_aborted()
            && let Err(error) = source.finish(&tracker.committed()).await
        {
            state.fail(format!("source ({source_type}): {error}"));
        }

        saver_stop.cancel();
        if let Some(saver) = saver {
            match saver.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => state.fail(e.to_string()),
                Err(e) => state.fail(format!("checkpoint saver: {e}")),
            }
        }
        monitor.abort();
        let snapshot = stats.snapshot();
        tracing::info!(
            flow = %name,
            read = snapshot.read,
            written = snapshot.written,
            failed = snapshot.failed,
            filtered = snapshot.filtered,
            held_positions = tracker.outstanding(),
            "flow finished"
        );
        match state.fatal() {
            Some(reason) => Err(FlowError::Failed(reason)),
            None => Ok(snapshot),
        }
    }
}

/// Copies the number of held positions and the age of the oldest into the stats every second
/// (the progress line shows them), and warns once a minute while commits stand still for
/// more than a minute.
async fn watch_held_positions(tracker: PositionTracker, stats: Arc<Stats>, flow: String) {
    const STUCK: Duration = Duration::from_secs(60);
    let mut warned_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let oldest = tracker.oldest_held();
        let age = oldest.as_ref().map_or(Duration::ZERO, |(_, age)| *age);
        stats.set_held(tracker.outstanding(), age);
        if let Some((stream, age)) = oldest
            && age >= STUCK
            && warned_at.is_none_or(|at| at.elapsed() >= STUCK)
        {
            warned_at = Some(tokio::time::Instant::now());
            tracing::warn!(flow, %stream, held = tracker.outstanding(), oldest_held_for = ?age,
                "commits wait for an unacknowledged message");
        }
    }
}

/// Spawns `task` under supervision: a panic fails the flow naming `name`.
fn spawn_supervised<T: Send + 'static>(
    name: impl Into<String>,
    state: &Arc<FlowState>,
    task: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<Option<T>> {
    tokio::spawn(supervised(name.into(), Arc::clone(state), task))
}

/// Waits for a task. Its own panics are caught inside it; a join error here is a panic that
/// escaped (named as `what`) or the abort of a missed deadline (already a failure).
async fn join<T>(task: &mut JoinHandle<Option<T>>, state: &FlowState, what: &str) -> Option<T> {
    match task.await {
        Ok(output) => output,
        Err(error) if error.is_panic() => {
            state.fail(format!(
                "{what} panicked: {}",
                panic_message(&*error.into_panic())
            ));
            None
        }
        Err(_) => None,
    }
}

async fn connect_with_retry(
    sink: &mut dyn Sink,
    what: &str,
    shutdown: &CancellationToken,
) -> Result<(), FlowError> {
    let mut backoff = Backoff::standard();
    loop {
        // A stop request ends a connect in progress too: a server that never answers must not
        // hold the first signal up (the shutdown deadline is armed only once the flow runs).
        let attempt = tokio::select! {
            attempt = sink.connect() => attempt,
            _ = shutdown.cancelled() => {
                return Err(FlowError::Connect {
                    what: what.into(),
                    reason: "stopped while connecting".into(),
                });
            }
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(SinkError::Fatal(reason)) => {
                return Err(FlowError::Connect {
                    what: what.into(),
                    reason,
                });
            }
            Err(SinkError::Transient(reason)) => {
                let delay = backoff.next_delay();
                tracing::warn!(what, %reason, retry_in = ?delay, "connect failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => {
                        return Err(FlowError::Connect { what: what.into(), reason: format!("{reason} (stopped while retrying)") });
                    }
                }
            }
        }
    }
}

/// Turns failures into error-record messages; the token follows the acknowledgement policy.
async fn error_records(
    mut failures: mpsc::Receiver<Failure>,
    records: mpsc::Sender<Message>,
    policy: AckPolicy,
) {
    while let Some(failure) = failures.recv().await {
        let record = error_record(&failure);
        let token = match policy {
            AckPolicy::AfterWrite => failure.message.ack,
            // The original stays unacknowledged: its position is held and it is read again
            // after a restart.
            AckPolicy::Never | AckPolicy::AfterMainSinkSuccess => {
                drop(failure.message.ack);
                AckToken::none()
            }
        };
        if records.send(Message::new(record, token)).await.is_err() {
            return;
        }
    }
}

/// How long a sink write may run before a warning says so (and again each time as long).
const SLOW_WRITE: Duration = Duration::from_secs(30);

/// Where a sink's per-message rejections go.
enum RejectionTarget {
    /// To the failure router (error sink, or stop).
    Route(FailureRouter),
    /// Nowhere: the flow stops (used for the error sink itself).
    StopTheFlow,
}

struct SinkWorker {
    sink: Box<dyn Sink>,
    type_name: String,
    batcher: Batcher,
    rejections: RejectionTarget,
    state: Arc<FlowState>,
    stats: Arc<Stats>,
    counts_as_written: bool,
}

impl SinkWorker {
    /// Runs the worker on a task of its own, named `name` in a failure.
    fn spawn(self, name: &str) -> JoinHandle<Option<()>> {
        let state = Arc::clone(&self.state);
        spawn_supervised(format!("{name} ({})", self.type_name), &state, self.run())
    }

    async fn run(mut self) {
        let mut batch = Vec::new();
        while self.batcher.next_batch(&mut batch).await {
            if self.state.is_aborted() {
                return; // unacknowledged: positions stay held
            }
            if !self.sink.takes_json_text() {
                for message in &mut batch {
                    message.record.payload.parse_text();
                }
            }
            let Some(rejections) = self.write_with_retry(&batch).await else {
                return;
            };
            if !self.settle(&mut batch, rejections).await {
                return;
            }
            batch.clear();
        }
        if let Err(error) = self.sink.close().await {
            self.state
                .fail(format!("closing the {} sink: {error}", self.type_name));
        }
    }

    async fn write_with_retry(&mut self, batch: &[Message]) -> Option<Vec<Rejection>> {
        let mut backoff = Backoff::standard();
        loop {
            match self.timed_write(batch).await {
                Ok(rejections) => return Some(rejections),
                Err(SinkError::Fatal(reason)) => {
                    self.state
                        .fail(format!("{} sink: {reason}", self.type_name));
                    return None;
                }
                Err(SinkError::Transient(reason)) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(sink = %self.type_name, %reason, attempt = backoff.attempts(), retry_in = ?delay,
                        batch = batch.len(), "write failed; retrying the batch");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.state.abort_token().cancelled() => return None,
                    }
                }
            }
        }
    }

    /// One write, with a warning every [`SLOW_WRITE`] while it runs: a sink blocked on a lock
    /// or an overloaded server otherwise showed only as 0 msg/s.
    async fn timed_write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        let started = tokio::time::Instant::now();
        let type_name = &self.type_name;
        let write = self.sink.write(batch);
        let mut write = std::pin::pin!(write);
        loop {
            tokio::select! {
                result = &mut write => return result,
                _ = tokio::time::sleep(SLOW_WRITE) => {
                    tracing::warn!(sink = %type_name, batch = batch.len(),
                        running_for = ?started.elapsed(), "a write is still running");
                }
            }
        }
    }

    /// Acknowledges the written messages and routes the rejected ones. Returns false when the
    /// flow stops; the messages after the failing one are then left unacknowledged.
    async fn settle(&mut self, batch: &mut Vec<Message>, mut rejections: Vec<Rejection>) -> bool {
        rejections.sort_by_key(|r| r.index);
        rejections.dedup_by_key(|r| r.index);
        let mut rejections = rejections.into_iter().peekable();
        let mut written = Vec::with_capacity(batch.len());
        let mut keep_going = true;
        for (index, message) in batch.drain(..).enumerate() {
            if rejections.peek().is_some_and(|r| r.index == index) {
                let rejection = rejections.next().expect("peeked");
                keep_going = match &self.rejections {
                    RejectionTarget::Route(router) => {
                        router
                            .route(Failure {
                                message,
                                reason: rejection.reason,
                                error_type: rejection.error_type,
                                stage: "sink".into(),
                                original_sink: self.type_name.clone(),
                            })
                            .await
                    }
                    RejectionTarget::StopTheFlow => {
                        self.state.fail(format!(
                            "the {} error sink rejected the error record of {}: {}",
                            self.type_name,
                            message.record.describe(),
                            rejection.reason
                        ));
                        false
                    }
                };
                if !keep_going {
                    break;
                }
            } else {
                written.push(message.ack);
            }
        }
        if self.counts_as_written {
            self.stats.add_written(written.len() as u64);
        }
        AckToken::ack_all(written);
        keep_going
    }
}
