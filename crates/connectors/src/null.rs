//! The `null` sink: acknowledges every message without writing it (for benchmarks).

use async_trait::async_trait;
use dataflow_core::{BuildError, Message, Registry, Rejection, Sink, SinkError};
use dataflow_spec::SinkSpec;

/// The `null` sink.
#[derive(Default)]
pub struct NullSink {
    count: u64,
}

impl NullSink {
    /// Messages seen so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[async_trait]
impl Sink for NullSink {
    fn takes_json_text(&self) -> bool {
        true
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        self.count += batch.len() as u64;
        Ok(Vec::new())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        tracing::debug!(messages = self.count, "null sink closed");
        Ok(())
    }
}

/// Registers the `null` sink.
pub fn register(registry: &mut Registry) {
    registry.register_sink("null", |spec, _| match spec {
        SinkSpec::Null(_) => Ok(Box::new(NullSink::default())),
        other => Err(BuildError(format!(
            "null sink given a {} config",
            other.type_name()
        ))),
    });
}
