//! The Kafka connector (librdkafka through `rdkafka`): a consumer-group source and a producer
//! sink.
//!
//! Layout: `source.rs` is the consumer-group source (its reading loop, offsets stored and
//! committed) and `decode.rs` its decoding side (JSON checked or Avro decoded, metadata,
//! order); `floors.rs` keeps the offsets it stores from moving the group's offset back after a
//! rebalance. `sink.rs` is the idempotent producer sink. Both use `config.rs` (librdkafka
//! settings from the connection), `watch.rs` (the client context: errors that need new settings
//! stop the flow, the consumer's rebalances are counted), `avro.rs` (Avro values to and from
//! JSON) and `registry.rs` (the Schema Registry client); `repeated.rs` says a persisting warning
//! once and then summarises it.

mod avro;
mod config;
mod decode;
mod floors;
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
