//! The source contract and the context a source reads into.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::ack::AckToken;
use crate::classify::{ErrorReason, ErrorType};
use crate::failure::{Failure, FailureRouter};
use crate::message::{InvalidJson, Message, Payload, Record};
use crate::stage::Emitter;
use crate::stats::Stats;
use crate::telemetry::SourceMetrics;
use crate::tracker::{PositionTracker, StreamHandle};

/// A source could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A failure that stops the flow.
    #[error("{0}")]
    Fatal(ErrorReason),
    /// The pipeline downstream stopped; the source just returns.
    #[error("the pipeline stopped")]
    Closed,
}

impl SourceError {
    /// A failure of `kind` that stops the flow.
    pub fn fatal(kind: ErrorType, text: impl Into<String>) -> Self {
        SourceError::Fatal(ErrorReason::new(kind, text))
    }
}

/// Where messages come from. `run` reads until a finite source is drained or until
/// [`SourceContext::stopping`] fires, emitting each record with a token bound to its position.
#[async_trait]
pub trait Source: Send {
    /// Reads and emits records.
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError>;

    /// Called once the flow has drained (everything written or failed) with the committed
    /// position of every stream; sources that keep positions elsewhere (Kafka offsets) store
    /// them here. Not called when the stop deadline aborted the flow.
    async fn finish(&mut self, _committed: &BTreeMap<String, Value>) -> Result<(), SourceError> {
        Ok(())
    }
}

/// What a source needs from the engine; a clone serves a task the source spawns. Built by the
/// running flow, which knows every part.
#[derive(Clone)]
pub struct SourceContext {
    /// Where emitted messages go.
    pub(crate) output: Emitter,
    /// Where rejected records go.
    pub(crate) failures: FailureRouter,
    /// Hands out position-bound tokens.
    pub(crate) tracker: PositionTracker,
    /// The positions of the last checkpoint.
    pub(crate) stored: Map<String, Value>,
    /// Fires when the source should stop reading.
    pub(crate) stop: CancellationToken,
    pub(crate) stats: Arc<Stats>,
    /// The source's metric handles.
    pub(crate) metrics: SourceMetrics,
    /// The main sink's type, for the error records of rejections.
    pub(crate) sink_type: String,
    /// Whether JSON text is parsed on the source's task (see [`SourceContext::json_payload`]).
    pub(crate) parse_json: bool,
}

impl SourceContext {
    /// The payload of JSON text a source read: checked, and also parsed here when no
    /// transformation stage parses it and the sink needs values. The source's task then does
    /// that work beside the sink's (measured, file → postgresql: 0.52 of `psql \copy` with
    /// the parse on the sink's task). Text with a number a value cannot hold
    /// exactly stays text; the sink rejects it with the reason.
    pub fn json_payload(&self, bytes: Bytes) -> Result<Payload, InvalidJson> {
        if self.parse_json {
            Payload::parsed_json(&bytes)
        } else {
            Payload::json_text(bytes)
        }
    }

    /// [`SourceContext::json_payload`] of text the source holds in a buffer of its own: copied
    /// only when it is kept as text.
    pub fn json_payload_of(&self, text: &[u8]) -> Result<Payload, InvalidJson> {
        if self.parse_json {
            Payload::parsed_json(text)
        } else {
            Payload::json_text(Bytes::copy_from_slice(text))
        }
    }

    /// The handle of stream `name`, which hands out position-bound tokens.
    pub fn stream(&self, name: &str) -> StreamHandle {
        self.tracker.stream(name)
    }

    /// The position stored for stream `name` by the last checkpoint, if any.
    pub fn stored_position(&self, name: &str) -> Option<&Value> {
        self.stored.get(name)
    }

    /// The committed position of every stream (what is safe to store as consumed).
    pub fn committed(&self) -> BTreeMap<String, Value> {
        self.tracker.committed()
    }

    /// Reports a read (a poll, a fetch) that failed and will be retried: counted in
    /// `dataflow_connector_errors_total{operation="read"}` by kind, and the source is not
    /// healthy until its next success.
    pub fn read_failed(&self, kind: ErrorType) {
        self.metrics.errors.add("read", kind, 1);
        self.metrics.poll_healthy.set(0);
    }

    /// Reports a read that succeeded: the source is healthy.
    pub fn read_succeeded(&self) {
        self.metrics.poll_healthy.set(1);
    }

    /// Reports, per stream, how many records follow its committed position (a Kafka
    /// partition's consumer lag), for `dataflow_connector_consumer_lag`; streams left out are
    /// no longer reported.
    pub fn set_lags(&self, lags: &std::collections::BTreeMap<String, i64>) {
        self.metrics.lags.set_all(lags);
    }

    /// Fires when the source should stop reading (shutdown requested or flow aborted).
    pub fn stopping(&self) -> &CancellationToken {
        &self.stop
    }

    /// Sends a record downstream (through the transformation chain); waits while the
    /// pipeline is full (backpressure).
    pub async fn emit(&self, record: Record, ack: AckToken) -> Result<(), SourceError> {
        if !ack.has_room() {
            self.wait_for_room(&ack).await?;
        }
        self.stats.add_read(1);
        self.metrics.add_read(1);
        self.output
            .emit(Message::new(record, ack))
            .await
            .map_err(|_| SourceError::Closed)
    }

    /// Sends records downstream in order, like [`SourceContext::emit`] one after the other but
    /// taking channel room for many at once; waits while the pipeline is full.
    pub async fn emit_all(&self, records: Vec<(Record, AckToken)>) -> Result<(), SourceError> {
        // Every record's stream (a chunk holds several partitions); an atomic load each while
        // there is room.
        for (_, ack) in &records {
            if !ack.has_room() {
                self.wait_for_room(ack).await?;
            }
        }
        self.stats.add_read(records.len() as u64);
        self.metrics.add_read(records.len() as u64);
        let messages = records
            .into_iter()
            .map(|(record, ack)| Message::new(record, ack))
            .collect();
        self.output
            .emit_all(messages)
            .await
            .map_err(|_| SourceError::Closed)
    }

    /// Waits while the stream of `ack` holds as many positions as allowed; a stop ends the
    /// wait.
    async fn wait_for_room(&self, ack: &AckToken) -> Result<(), SourceError> {
        tokio::select! {
            _ = ack.wait_for_room() => Ok(()),
            _ = self.stop.cancelled() => Err(SourceError::Closed),
        }
    }

    /// Reports a record the source could not decode: it goes to the error sink as
    /// `stage: source`, or stops the flow when there is no error sink.
    pub async fn reject(
        &self,
        record: Record,
        ack: AckToken,
        reason: impl Into<String>,
        error_type: ErrorType,
    ) -> Result<(), SourceError> {
        self.stats.add_read(1);
        self.metrics.add_read(1);
        self.metrics.errors.add("read", error_type, 1);
        let routed = self
            .failures
            .route(Failure {
                message: Message::new(record, ack),
                reason: reason.into(),
                error_type,
                stage: "source".into(),
                original_sink: self.sink_type.clone(),
            })
            .await;
        if routed {
            Ok(())
        } else {
            Err(SourceError::Closed)
        }
    }
}
