//! Standard input and output: the `stdin` source (JSON lines) and the `stdout` sink.
//!
//! Layout: `stdin.rs` is the `stdin` source (not checkpointed: standard input cannot be re-read)
//! and `stdout.rs` the `stdout` sink (one JSON line, or indented JSON, per payload); this module
//! registers both.

mod stdin;
mod stdout;

pub use stdin::StdinSource;
pub use stdout::StdoutSink;

use dataflow_core::{BuildError, Registry};
use dataflow_spec::{SinkSpec, SourceSpec};

/// Registers the `stdin` source and the `stdout` sink.
pub fn register(registry: &mut Registry) {
    registry.register_source("stdin", |spec, _| match spec {
        SourceSpec::Stdin(_) => Ok(Box::new(StdinSource)),
        other => Err(BuildError(format!(
            "stdin source given a {} config",
            other.type_name()
        ))),
    });
    registry.register_sink("stdout", |spec, _| match spec {
        SinkSpec::Stdout(config) => Ok(Box::new(StdoutSink::new(config.pretty))),
        other => Err(BuildError(format!(
            "stdout sink given a {} config",
            other.type_name()
        ))),
    });
}
