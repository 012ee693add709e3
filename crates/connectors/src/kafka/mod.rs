//! The Kafka connector (librdkafka through `rdkafka`): a consumer-group source and a producer
//! sink.

mod avro;
mod config;
mod decode;
mod registry;
mod repeated;
mod sink;
mod source;
mod watch;

pub use config::client_config;
pub use sink::KafkaSink;
pub use source::KafkaSource;

use dataflow_core::{BuildError, Registry};
use dataflow_spec::{SinkSpec, SourceSpec};

/// Registers the `kafka` source and sink.
pub fn register(registry: &mut Registry) {
    registry.register_source("kafka", |spec, context| match spec {
        SourceSpec::Kafka(config) => Ok(Box::new(
            KafkaSource::new(config, &context.base_dir).map_err(BuildError)?,
        )),
        other => Err(BuildError(format!(
            "kafka source given a {} config",
            other.type_name()
        ))),
    });
    registry.register_sink("kafka", |spec, context| match spec {
        SinkSpec::Kafka(config) => Ok(Box::new(
            KafkaSink::new(config, &context.base_dir).map_err(BuildError)?,
        )),
        other => Err(BuildError(format!(
            "kafka sink given a {} config",
            other.type_name()
        ))),
    });
}
