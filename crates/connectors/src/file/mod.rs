//! The `file` connector: a JSON-lines (or JSON-array) source with byte-offset checkpoints, and
//! an appending JSON-lines sink that fsyncs before acknowledging.
//!
//! Layout: `source.rs` is the `file` source (JSON lines or one JSON array; byte-offset
//! positions; a replaced, rotated or truncated file noticed) and `sink.rs` the appending sink;
//! this module registers both.

mod sink;
mod source;

pub use sink::FileSink;
pub use source::FileSource;

use dataflow_core::{BuildError, Registry};
use dataflow_spec::{SinkSpec, SourceSpec};

/// Registers the `file` source and sink.
pub fn register(registry: &mut Registry) {
    registry.register_source("file", |spec, context| match spec {
        SourceSpec::File(config) => Ok(Box::new(FileSource::new(
            config,
            context.resolve_path(&config.path),
        ))),
        other => Err(BuildError(format!(
            "file source given a {} config",
            other.type_name()
        ))),
    });
    registry.register_sink("file", |spec, context| match spec {
        SinkSpec::File(config) => Ok(Box::new(FileSink::new(context.resolve_path(&config.path)))),
        other => Err(BuildError(format!(
            "file sink given a {} config",
            other.type_name()
        ))),
    });
}
