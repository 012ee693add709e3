//! The sink contract: write a batch, report per-message data errors, or fail the batch.

use async_trait::async_trait;

use crate::classify::{ErrorReason, ErrorType, classify};
use crate::message::Message;

/// One message of a batch that can never be written (bad type, constraint, too large).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the message in the batch.
    pub index: usize,
    /// Why, in the server's words where there are any.
    pub reason: String,
    /// Kind of failure.
    pub error_type: ErrorType,
}

impl Rejection {
    /// A rejection of a known kind.
    pub fn of_kind(index: usize, kind: ErrorType, reason: impl Into<String>) -> Self {
        Rejection {
            index,
            reason: reason.into(),
            error_type: kind,
        }
    }

    /// A rejection classified from its reason (for text from foreign systems).
    pub fn new(index: usize, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let error_type = match classify(&reason, None) {
            ErrorType::Unknown => ErrorType::InvalidData,
            other => other,
        };
        Rejection {
            index,
            reason,
            error_type,
        }
    }
}

/// A whole batch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// May succeed if retried (connection lost, timeout, server busy): the engine retries
    /// the whole batch with backoff.
    #[error("{0}")]
    Transient(ErrorReason),
    /// Will not succeed (bad configuration, permission denied): the flow stops.
    #[error("{0}")]
    Fatal(ErrorReason),
}

impl SinkError {
    /// A failure worth a retry, of `kind`.
    pub fn transient(kind: ErrorType, text: impl Into<String>) -> Self {
        SinkError::Transient(ErrorReason::new(kind, text))
    }

    /// A failure no retry fixes, of `kind`.
    pub fn fatal(kind: ErrorType, text: impl Into<String>) -> Self {
        SinkError::Fatal(ErrorReason::new(kind, text))
    }

    /// The kind of the failure.
    pub fn kind(&self) -> ErrorType {
        match self {
            SinkError::Transient(reason) | SinkError::Fatal(reason) => reason.kind,
        }
    }
}

/// A destination. Every message of a batch not listed in the returned rejections must be
/// durably written when `write` returns `Ok` (committed, fsync'ed, delivered).
#[async_trait]
pub trait Sink: Send {
    /// Opens connections, creates tables; transient errors are retried by the engine.
    async fn connect(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Whether the sink writes [`Payload::JsonText`](crate::Payload::JsonText) as it is
    /// (file, Kafka, null); for every other sink the engine parses such payloads before
    /// `write`, so the sink sees `Payload::Json`.
    fn takes_json_text(&self) -> bool {
        false
    }

    /// Writes a batch durably.
    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError>;

    /// Flushes and releases resources at the end of the run.
    async fn close(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
