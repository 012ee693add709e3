//! The DataFlow engine.
//!
//! Contracts (see `architecture.md`): a source emits [`Message`]s bound to positions through
//! [`AckToken`]s; the transformation chain may derive several messages from one (the token is
//! split, a counted barrier); sinks write batches durably and report per-message rejections;
//! the [`PositionTracker`] commits, per stream, only positions below which everything is
//! acknowledged; the saver writes them to a [`CheckpointStore`].
//!
//! Layout (one concept per module): `message` is the unit that flows (a record and its token),
//! `metadata` its lazily built metadata map, `ack` the tokens and their counted barrier;
//! `source`, `transform` and `sink` are the three contracts, and `registry` maps connector
//! `type` strings to builders. `tracker` commits positions in order and `checkpoint` stores
//! them (with the saver that writes them); `batch` batches for every sink and `retry` is the
//! backoff; `failure` routes per-message failures and builds the error records, whose
//! `error_type` `classify` decides; `stats` counts a run. `pipeline` is a flow and its driver,
//! whose steps are in `running`, the chain stage in `stage`, one sink's worker in
//! `sink_worker`, and the panic-to-error supervision of its tasks in `supervise`. `json_text`
//! (is it certainly valid?) and `exact_numbers` (does every number survive parsing?) are the
//! payload checks; `testing` (feature `testing`) holds the test doubles.

pub mod ack;
pub mod batch;
pub mod checkpoint;
pub mod classify;
pub mod exact_numbers;
pub mod failure;
pub mod json_text;
pub mod message;
pub mod metadata;
mod monitor;
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
pub mod telemetry;
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
