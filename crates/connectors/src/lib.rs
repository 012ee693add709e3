//! Connectors, one module per component, each registered with one line in [`register_all`].
//!
//! Built in (no server): `file`, `stdin` and `generate` sources; `file`, `stdout` and `null`
//! sinks. Server connectors (Kafka, PostgreSQL, ClickHouse, Trino, Nessie) arrive behind cargo
//! features.
//!
//! Layout: one module per connector: `file` (source and sink), `stdio` (the `stdin` source and
//! the `stdout` sink), `generate` (source) and `null` (sink); behind their features, `postgres`
//! (`postgresql`) and `kafka` (`kafka`). What several connectors share has a module of its own,
//! compiled only with a feature that needs it: `polling` drives the database sources, `bisect`
//! isolates the bad rows of a database sink's batch, and `tls` holds the rustls pieces.

#[cfg(feature = "postgresql")]
pub mod bisect;
pub mod file;
pub mod generate;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod null;
#[cfg(feature = "postgresql")]
pub mod polling;
#[cfg(feature = "postgresql")]
pub mod postgres;
pub mod stdio;
#[cfg(any(feature = "postgresql", feature = "kafka"))]
mod tls;

use dataflow_core::Registry;

/// Registers every connector compiled into this build.
pub fn register_all(registry: &mut Registry) {
    file::register(registry);
    stdio::register(registry);
    generate::register(registry);
    null::register(registry);
    #[cfg(feature = "postgresql")]
    postgres::register(registry);
    #[cfg(feature = "kafka")]
    kafka::register(registry);
}

/// A registry holding every connector of this build.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    register_all(&mut registry);
    registry
}
