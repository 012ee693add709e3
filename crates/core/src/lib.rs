//! The DataFlow engine.
//!
//! Contracts (see `architecture.md`): a source emits [`Message`]s bound to positions through
//! [`AckToken`]s; the transformation chain may derive several messages from one (the token is
//! split, a counted barrier); sinks write batches durably and report per-message rejections;
//! the [`PositionTracker`] commits, per stream, only positions below which everything is
//! acknowledged; the saver writes them to a [`CheckpointStore`].

pub mod ack;
pub mod batch;
pub mod checkpoint;
pub mod classify;
pub mod exact_numbers;
pub mod failure;
pub mod json_text;
pub mod message;
pub mod metadata;
pub mod pipeline;
pub mod registry;
pub mod retry;
mod running;
pub mod sink;
mod sink_worker;
pub mod source;
mod stage;
pub mod stats;
mod supervise;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracker;
pub mod transform;

pub use ack::AckToken;
pub use batch::Batching;
pub use checkpoint::{CheckpointStore, FileCheckpointStore, MemoryCheckpointStore};
pub use classify::{ErrorReason, ErrorType, classify};
pub use message::{InexactNumber, InvalidJson, Message, Payload, Record, json_kind};
pub use metadata::{Metadata, MetadataBuilder};
pub use pipeline::{Flow, FlowError, RunControl, SinkStage};
pub use registry::{BuildContext, BuildError, Registry};
pub use sink::{Rejection, Sink, SinkError};
pub use source::{Source, SourceContext, SourceError};
pub use stats::{Stats, StatsSnapshot};
pub use tracker::{Position, PositionTracker, Pressure, StreamHandle};
pub use transform::{Derived, PassThrough, TransformFailure, Transformer};
