//! The Kafka connector (librdkafka through `rdkafka`): the producer sink. The consumer-group
//! source lands next.

mod config;
mod sink;

pub use config::client_config;
pub use sink::KafkaSink;

use dataflow_core::{BuildError, Registry};
use dataflow_spec::SinkSpec;

/// Registers the `kafka` sink.
pub fn register(registry: &mut Registry) {
    registry.register_sink("kafka", |spec, _| match spec {
        SinkSpec::Kafka(config) => Ok(Box::new(KafkaSink::new(config).map_err(BuildError)?)),
        other => Err(BuildError(format!(
            "kafka sink given a {} config",
            other.type_name()
        ))),
    });
}
