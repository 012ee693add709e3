//! A flow while it runs: the steps [`crate::Flow::run`] takes, each spawning its part of the
//! task tree, and the drain (or abort) that ends it.
//!
//! Layout: [`connect_sinks`] and [`resume_positions`] come first; [`RunningFlow`] then spawns
//! the error sink, the sinks, the chain, the source and the saver, in that order (every
//! receiver exists before its sender is used), and [`RunningFlow::drain_or_abort`] waits for
//! the end. Four signals stop a flow, each with its own meaning:
//! - `RunControl::shutdown`: a graceful stop was asked (a signal); it also arms the deadline;
//! - `FlowState`'s abort: a fatal error; nothing more is acknowledged;
//! - `stop_reading`: either of the two; sources stop reading and return;
//! - `saver_stop`: everything drained; the saver writes the last positions and ends.

use std::sync::{Arc, Mutex};

use dataflow_spec::{AckPolicy, TransformErrorPolicy};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batch::Batching;
use crate::checkpoint::{CheckpointError, run_saver};
use crate::failure::{FailureRouter, FlowState};
use crate::message::Message;
use crate::monitor::{Queues, Reporting, watch_every_second};
use crate::pipeline::{Checkpointing, FlowError, RunControl, SinkStage};
use crate::sink_worker::{
    RejectionTarget, SinkReport, SinkWorker, connect_with_retry, error_records,
};
use crate::source::{Source, SourceContext, SourceError};
use crate::stage::{ChainStage, Emitter, Outputs, run_parallel};
use crate::stats::{Stats, StatsSnapshot};
use crate::supervise::{join, spawn_supervised};
use crate::telemetry::{FlowMetrics, Health, SinkMetrics};
use crate::tracker::PositionTracker;
use crate::transform::Transformer;

/// Connects the main sink, the error sink and every route sink (a stop request ends it).
pub(crate) async fn connect_sinks(
    sink: &mut SinkStage,
    error_sink: Option<&mut SinkStage>,
    routes: &mut [SinkStage],
    shutdown: &CancellationToken,
    metrics: &FlowMetrics,
) -> Result<(), FlowError> {
    let what = format!("sink ({})", sink.type_name);
    connect_with_retry(&mut *sink.sink, &what, shutdown, &metrics.main_sink()).await?;
    if let Some(stage) = error_sink {
        let what = format!("error sink ({})", stage.type_name);
        connect_with_retry(&mut *stage.sink, &what, shutdown, &metrics.error_sink()).await?;
    }
    for (index, route) in routes.iter_mut().enumerate() {
        let what = format!("route {index} sink ({})", route.type_name);
        let route_metrics = metrics.route_sink(index);
        connect_with_retry(&mut *route.sink, &what, shutdown, &route_metrics).await?;
    }
    Ok(())
}

/// Claims the checkpoint store for this run, applies `checkpointReset`, and returns the
/// positions of the last checkpoint (empty without one).
pub(crate) async fn resume_positions(
    checkpoints: Option<&Checkpointing>,
    flow: &str,
    source_type: &str,
) -> Result<Map<String, Value>, CheckpointError> {
    let Some(checkpointing) = checkpoints else {
        return Ok(Map::new());
    };
    if checkpointing.reset {
        checkpointing.store.delete(flow, source_type).await?;
        tracing::info!(flow, "checkpoint reset");
    }
    let stored = checkpointing.store.get(flow, source_type).await?;
    let positions: Map<String, Value> = stored
        .as_ref()
        .and_then(|value| value.get("streams"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !positions.is_empty() {
        let text = Value::Object(positions.clone()).to_string();
        tracing::info!(flow, positions = %text, "resuming from checkpoint");
    }
    Ok(positions)
}

/// How many positions one stream may hold: what can be in flight (every channel full, every
/// batch open) several times over, within bounds; past it the source waits for commits.
pub(crate) fn window_limit<'a>(
    channel_capacity: usize,
    sinks: impl IntoIterator<Item = &'a SinkStage>,
) -> usize {
    let largest_batch = sinks
        .into_iter()
        .map(|stage| match stage.batching {
            Batching::Greedy { max } => max,
            Batching::Sized { size, .. } => size,
        })
        .max()
        .unwrap_or(1);
    (4 * channel_capacity * largest_batch).clamp(100_000, 2_000_000)
}

/// What the source's task gives back: the source, and whether downstream closed before it
/// finished.
type Drained = (Box<dyn Source>, bool);

/// The tasks of a running flow and what they share.
pub(crate) struct RunningFlow {
    name: String,
    source_type: String,
    channel_capacity: usize,
    /// The channels whose depth the monitor reports.
    queues: Queues,
    metrics: FlowMetrics,
    health: Arc<Health>,
    state: Arc<FlowState>,
    stats: Arc<Stats>,
    tracker: PositionTracker,
    /// Fires on a stop request or an abort: sources stop reading.
    stop_reading: CancellationToken,
    /// Fires once everything drained: the saver writes the last positions.
    saver_stop: CancellationToken,
    /// Every task but the source's, by spawn order.
    tasks: Vec<JoinHandle<Option<()>>>,
    /// The source's task; it gives the source back (and whether downstream closed early).
    source: Option<JoinHandle<Option<Drained>>>,
    saver: Option<JoinHandle<Result<(), CheckpointError>>>,
    monitor: JoinHandle<()>,
}

impl RunningFlow {
    /// An empty running flow: the tracker, its monitor, and the stop signals wired.
    pub(crate) fn new(
        name: String,
        source_type: String,
        control: &RunControl,
        metrics: &FlowMetrics,
        window_limit: usize,
        channel_capacity: usize,
    ) -> Self {
        let state = Arc::new(FlowState::default());
        let stats = Arc::clone(&control.stats);
        let tracker = PositionTracker::with_window_limit(window_limit);
        let queues = Queues::default();
        let monitor = tokio::spawn(watch_every_second(
            tracker.clone(),
            Reporting {
                stats: Arc::clone(&stats),
                metrics: metrics.clone(),
                health: Arc::clone(&control.health),
                queues: queues.clone(),
            },
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
        RunningFlow {
            name,
            source_type,
            channel_capacity,
            queues,
            metrics: metrics.clone(),
            health: Arc::clone(&control.health),
            state,
            stats,
            tracker,
            stop_reading,
            saver_stop: CancellationToken::new(),
            tasks: Vec::new(),
            source: None,
            saver: None,
            monitor,
        }
    }

    fn spawn_sink(
        &mut self,
        stage: SinkStage,
        rejections: RejectionTarget,
        report: SinkReport,
        name: &str,
        queue: &str,
    ) -> mpsc::Sender<Message> {
        let (sender, receiver) = mpsc::channel(self.channel_capacity);
        self.queues.add(queue, &sender);
        let worker = SinkWorker::new(
            stage,
            receiver,
            self.tracker.pressure(),
            rejections,
            &self.state,
            report,
        );
        self.tasks.push(worker.spawn(name));
        sender
    }

    /// Where a sink worker reports: the flow's stats (counted as written when
    /// `counts_as_written`, not for the error sink), its metrics and the health endpoints.
    fn report(&self, metrics: SinkMetrics, counts_as_written: bool) -> SinkReport {
        SinkReport {
            stats: Arc::clone(&self.stats),
            counts_as_written,
            metrics,
            health: Arc::clone(&self.health),
        }
    }

    /// The error sink and the builder of its records; the router failures go through.
    pub(crate) fn spawn_error_sink(
        &mut self,
        error_sink: Option<(SinkStage, AckPolicy)>,
        on_transform_error: TransformErrorPolicy,
    ) -> FailureRouter {
        let target = error_sink.map(|(stage, policy)| {
            let records = self.spawn_sink(
                stage,
                RejectionTarget::StopTheFlow,
                self.report(self.metrics.error_sink(), false),
                "the error sink",
                "error",
            );
            let (failures, failure_rx) = mpsc::channel(self.channel_capacity);
            self.tasks.push(spawn_supervised(
                "the error record builder",
                &self.state,
                error_records(failure_rx, records, policy),
            ));
            failures
        });
        FailureRouter::new(target, Arc::clone(&self.state), Arc::clone(&self.stats))
            .on_transform_error(on_transform_error)
    }

    /// The main sink and the route sinks, acknowledging through the same tokens.
    pub(crate) fn spawn_sinks(
        &mut self,
        sink: SinkStage,
        routes: Vec<SinkStage>,
        router: &FailureRouter,
    ) -> Outputs {
        let routes = routes
            .into_iter()
            .enumerate()
            .map(|(index, route)| {
                let rejections = RejectionTarget::Route(router.clone());
                let report = self.report(self.metrics.route_sink(index), true);
                let name = format!("the route {index} sink");
                let queue = self.metrics.route_name(index);
                self.spawn_sink(route, rejections, report, &name, &queue)
            })
            .collect();
        let main = self.spawn_sink(
            sink,
            RejectionTarget::Route(router.clone()),
            self.report(self.metrics.main_sink(), true),
            "the sink",
            "default",
        );
        Outputs { main, routes }
    }

    /// Where the source's messages go: straight to the sinks, through the chain on the
    /// source's own task (one core, one worker), or through the parallel stage.
    pub(crate) fn spawn_chain(
        &mut self,
        transformer: Arc<dyn Transformer>,
        workers: usize,
        router: &FailureRouter,
        outputs: Outputs,
        sink_type: &str,
    ) -> Emitter {
        if transformer.is_identity() {
            return Emitter::Direct(outputs);
        }
        let transformers = self.metrics.transformers();
        let stage = ChainStage {
            transformer,
            failures: router.clone(),
            stats: Arc::clone(&self.stats),
            sink_type: sink_type.to_string(),
            outputs,
            inline_tally: Arc::new(Mutex::new(transformers.tally())),
            metrics: transformers,
        };
        // A stage of its own overlaps the chain with the source's work (measured: 1.4× with
        // one worker on two cores); inline only saves the hand-off on a single core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if workers > 1 || cores > 1 {
            let (input, parallel_rx) = mpsc::channel(self.channel_capacity);
            self.queues.add("input", &input);
            self.tasks.push(spawn_supervised(
                "the transformation stage",
                &self.state,
                run_parallel(parallel_rx, workers, stage),
            ));
            Emitter::Parallel(input)
        } else {
            Emitter::Inline(stage)
        }
    }

    /// The source, reading from the stored positions into `emitter`.
    pub(crate) fn spawn_source(
        &mut self,
        mut source: Box<dyn Source>,
        emitter: Emitter,
        router: FailureRouter,
        stored: Map<String, Value>,
        sink_type: &str,
        parse_json: bool,
    ) {
        let context = SourceContext {
            output: emitter,
            failures: router,
            tracker: self.tracker.clone(),
            stored,
            stop: self.stop_reading.clone(),
            stats: Arc::clone(&self.stats),
            metrics: self.metrics.source(),
            sink_type: sink_type.to_string(),
            parse_json,
        };
        let state = Arc::clone(&self.state);
        let source_type = self.source_type.clone();
        // On one core the chain runs inline, on the source's task: its panics land here.
        let name = format!("the source ({source_type})");
        self.source = Some(spawn_supervised(name, &self.state, async move {
            let outcome = source.run(&context).await;
            drop(context);
            match outcome {
                Ok(()) => (source, false),
                // Downstream closes early only when a task died or the flow stopped; judged
                // once every task is joined.
                Err(SourceError::Closed) => (source, true),
                Err(SourceError::Fatal(reason)) => {
                    state.fail(format!("source ({source_type}): {reason}"));
                    (source, false)
                }
            }
        }));
    }

    /// The saver of committed positions; saves that keep failing stop the flow at once.
    pub(crate) fn spawn_saver(&mut self, checkpoints: Option<Checkpointing>) {
        self.saver = checkpoints.map(|checkpointing| {
            let saving = run_saver(
                checkpointing.store,
                self.name.clone(),
                self.source_type.clone(),
                self.tracker.clone(),
                checkpointing.policy,
                self.saver_stop.clone(),
                {
                    let metrics = self.metrics.clone();
                    move |streams: &Map<String, Value>| metrics.checkpoint_saved(streams)
                },
            );
            let state = Arc::clone(&self.state);
            tokio::spawn(async move {
                let result = saving.await;
                if let Err(error) = &result {
                    state.fail(error.to_string());
                }
                result
            })
        });
    }

    /// Waits until everything is written or failed (or the stop deadline passes, which
    /// aborts every task unacknowledged), lets the source store its positions, saves the last
    /// checkpoint, and reports.
    pub(crate) async fn drain_or_abort(
        mut self,
        control: &RunControl,
    ) -> Result<StatsSnapshot, FlowError> {
        let state = Arc::clone(&self.state);
        let mut source_task = self.source.take().expect("the source was spawned");
        let mut drained: Option<Drained> = None;
        let finished = async {
            drained = join(&mut source_task, &state, "the source").await;
            for task in self.tasks.iter_mut() {
                join(task, &state, "a task of the flow").await;
            }
        };
        // Armed by a stop request, and by a fatal error too: a sink write stuck on a lock
        // must not keep an aborted flow alive.
        let deadline = async {
            tokio::select! {
                _ = control.shutdown.cancelled() => {}
                _ = state.abort_token().cancelled() => {}
            }
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
                // (The first failure stays the one reported.)
                for task in &self.tasks {
                    task.abort();
                }
                source_task.abort();
            }
        }
        let source_type = &self.source_type;
        if let Some((mut source, closed_early)) = drained {
            if closed_early && !state.is_aborted() && !control.shutdown.is_cancelled() {
                state.fail(format!(
                    "source ({source_type}): the pipeline after it stopped before the source finished"
                ));
            }
            // Everything is written or failed: the source may store its positions elsewhere.
            if !state.is_aborted()
                && let Err(error) = source.finish(&self.tracker.committed()).await
            {
                state.fail(format!("source ({source_type}): {error}"));
            }
        }
        self.saver_stop.cancel();
        if let Some(saver) = self.saver.take() {
            match saver.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => state.fail(e.to_string()),
                Err(e) => state.fail(format!("checkpoint saver: {e}")),
            }
        }
        self.monitor.abort();
        let snapshot = self.stats.snapshot();
        tracing::info!(
            flow = %self.name,
            read = snapshot.read,
            written = snapshot.written,
            failed = snapshot.failed,
            filtered = snapshot.filtered,
            held_positions = self.tracker.outstanding(),
            "flow finished"
        );
        match state.fatal() {
            Some(reason) => Err(FlowError::Failed(reason)),
            None => Ok(snapshot),
        }
    }
}
