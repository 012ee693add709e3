//! One sink's worker: batches from its channel, writes with retries (a warning while a write
//! runs long), and settles each message: written ones acknowledged, rejected ones routed to
//! the error sink (or the flow stopped). Also the connect with retries and the error-record
//! builder in front of the error sink.

use std::sync::Arc;
use std::time::Duration;

use dataflow_spec::AckPolicy;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ack::AckToken;
use crate::batch::Batcher;
use crate::classify::{ErrorReason, ErrorType};
use crate::failure::{Failure, FailureRouter, FlowState, error_record};
use crate::message::Message;
use crate::pipeline::{FlowError, SinkStage};
use crate::retry::Backoff;
use crate::sink::{Rejection, Sink, SinkError};
use crate::stats::Stats;
use crate::supervise::spawn_supervised;
use crate::telemetry::{Health, SinkMetrics};
use crate::tracker::Pressure;

/// Connects a sink, retrying transient failures with backoff until a stop request.
pub(crate) async fn connect_with_retry(
    sink: &mut dyn Sink,
    what: &str,
    shutdown: &CancellationToken,
    metrics: &SinkMetrics,
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
                    reason: ErrorReason::new(
                        ErrorType::ContextCanceled,
                        "stopped while connecting",
                    ),
                });
            }
        };
        if let Err(SinkError::Fatal(reason) | SinkError::Transient(reason)) = &attempt {
            metrics.errors.add("connect", reason.kind, 1);
        }
        metrics.connection.set(i64::from(attempt.is_ok()));
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
                        let text = format!("{reason} (stopped while retrying)");
                        let reason = ErrorReason { text, ..reason };
                        return Err(FlowError::Connect { what: what.into(), reason });
                    }
                }
            }
        }
    }
}

/// Turns failures into error-record messages; the token follows the acknowledgement policy.
pub(crate) async fn error_records(
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

/// One written message in this many (the first of each batch among them) gives the end-to-end
/// latency histogram a sample: the distribution without a histogram update per message.
const LATENCY_SAMPLE: usize = 8;

/// How long a sink write may run before a warning says so (and again each time as long).
const SLOW_WRITE: Duration = Duration::from_secs(30);

/// Where a sink's per-message rejections go.
pub(crate) enum RejectionTarget {
    /// To the failure router (error sink, or stop).
    Route(FailureRouter),
    /// Nowhere: the flow stops (used for the error sink itself).
    StopTheFlow,
}

/// Writes the batches of one sink, retries transient failures, settles each message.
pub(crate) struct SinkWorker {
    sink: Box<dyn Sink>,
    type_name: String,
    batcher: Batcher,
    rejections: RejectionTarget,
    state: Arc<FlowState>,
    report: SinkReport,
}

/// Where a sink worker reports what it wrote and what failed.
pub(crate) struct SinkReport {
    /// The flow's totals.
    pub(crate) stats: Arc<Stats>,
    /// Whether written messages count in the stats (not for the error sink).
    pub(crate) counts_as_written: bool,
    /// The sink's metric handles.
    pub(crate) metrics: SinkMetrics,
    /// Progress for `/livez`.
    pub(crate) health: Arc<Health>,
}

impl SinkWorker {
    /// A worker writing `stage`'s sink with what arrives on `input`, flushing a partial batch
    /// when `pressure` fires, reporting to `report`.
    pub(crate) fn new(
        stage: SinkStage,
        input: mpsc::Receiver<Message>,
        pressure: Pressure,
        rejections: RejectionTarget,
        state: &Arc<FlowState>,
        report: SinkReport,
    ) -> Self {
        SinkWorker {
            sink: stage.sink,
            type_name: stage.type_name,
            batcher: Batcher::new(input, stage.batching).flushing_on(pressure),
            rejections,
            state: Arc::clone(state),
            report,
        }
    }

    /// Runs the worker on a task of its own, named `name` in a failure.
    pub(crate) fn spawn(self, name: &str) -> JoinHandle<Option<()>> {
        let state = Arc::clone(&self.state);
        spawn_supervised(format!("{name} ({})", self.type_name), &state, self.run())
    }

    async fn run(mut self) {
        let mut batch = Vec::new();
        while self.batcher.next_batch(&mut batch).await {
            if self.state.is_aborted() {
                return; // unacknowledged: positions stay held
            }
            if !self.sink.takes_json_text() && !self.parse_payloads(&mut batch).await {
                return;
            }
            if batch.is_empty() {
                continue;
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
            let written = self.timed_write(batch).await;
            let metrics = &self.report.metrics;
            match &written {
                Ok(_) => {
                    metrics.connection.set(1);
                }
                Err(SinkError::Fatal(reason) | SinkError::Transient(reason)) => {
                    metrics.errors.add("write", reason.kind, 1);
                    if reason.kind == ErrorType::ConnectionError {
                        metrics.connection.set(0);
                    }
                }
            }
            match written {
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
        let write_duration = &self.report.metrics.write_duration;
        let write = self.sink.write(batch);
        let mut write = std::pin::pin!(write);
        loop {
            tokio::select! {
                result = &mut write => {
                    if result.is_ok() {
                        write_duration.observe(started.elapsed().as_secs_f64());
                    }
                    return result;
                }
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
        let now = chrono::Utc::now();
        rejections.sort_by_key(|r| r.index);
        rejections.dedup_by_key(|r| r.index);
        let mut rejections = rejections.into_iter().peekable();
        let mut written = Vec::with_capacity(batch.len());
        let mut keep_going = true;
        for (index, message) in batch.drain(..).enumerate() {
            if rejections.peek().is_some_and(|r| r.index == index) {
                let rejection = rejections.next().expect("peeked");
                keep_going = self.reject(message, rejection).await;
                if !keep_going {
                    break;
                }
            } else {
                // Error records are made at the failure: their age says nothing.
                if self.report.counts_as_written && written.len() % LATENCY_SAMPLE == 0 {
                    let age = now.signed_duration_since(message.record.timestamp);
                    let seconds = age.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                    self.report.metrics.latency.observe(seconds.max(0.0));
                }
                written.push(message.ack);
            }
        }
        if self.report.counts_as_written {
            self.report.stats.add_written(written.len() as u64);
        }
        if !written.is_empty() {
            self.report.metrics.add_written(written.len() as u64);
            self.report.health.progressed();
        }
        AckToken::ack_all(written);
        keep_going
    }

    /// Parses JSON text for a sink that needs values. A message with a number a value cannot
    /// hold exactly is rejected here rather than rounded. False when the flow stops.
    async fn parse_payloads(&mut self, batch: &mut Vec<Message>) -> bool {
        let mut index = 0;
        while index < batch.len() {
            match batch[index].record.payload.parse_text() {
                Ok(()) => index += 1,
                Err(inexact) => {
                    let message = batch.remove(index);
                    let rejection =
                        Rejection::of_kind(index, ErrorType::InvalidData, inexact.to_string());
                    if !self.reject(message, rejection).await {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Routes one rejected message (error sink, or stop). False when the flow stops.
    async fn reject(&mut self, message: Message, rejection: Rejection) -> bool {
        self.report
            .metrics
            .errors
            .add("write", rejection.error_type, 1);
        match &self.rejections {
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
        }
    }
}
