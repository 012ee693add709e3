//! Maps connector `type` strings to builders, so a new connector is one module plus one
//! registration line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dataflow_spec::{DataFlow, SinkSpec, SourceSpec};

use crate::sink::Sink;
use crate::source::Source;

/// A connector could not be built from its configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// What builders may read besides their own configuration.
pub struct BuildContext<'a> {
    /// The whole (secret-resolved) DataFlow.
    pub flow: &'a DataFlow,
    /// Directory relative paths in the configuration are resolved against.
    pub base_dir: PathBuf,
    /// Polling sources stop after the first poll that returns nothing new (`run --once`).
    pub once: bool,
}

impl BuildContext<'_> {
    /// `path` made absolute against the base directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let path = PathBuf::from(path);
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }
}

/// Builds a source from its configuration.
pub type SourceFactory =
    Box<dyn Fn(&SourceSpec, &BuildContext) -> Result<Box<dyn Source>, BuildError> + Send + Sync>;
/// Builds a sink from its configuration.
pub type SinkFactory =
    Box<dyn Fn(&SinkSpec, &BuildContext) -> Result<Box<dyn Sink>, BuildError> + Send + Sync>;

/// The connectors this binary knows.
#[derive(Default)]
pub struct Registry {
    sources: BTreeMap<&'static str, SourceFactory>,
    sinks: BTreeMap<&'static str, SinkFactory>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the source builder of `type_name`.
    pub fn register_source(
        &mut self,
        type_name: &'static str,
        factory: impl Fn(&SourceSpec, &BuildContext) -> Result<Box<dyn Source>, BuildError>
        + Send
        + Sync
        + 'static,
    ) {
        self.sources.insert(type_name, Box::new(factory));
    }

    /// Registers the sink builder of `type_name`.
    pub fn register_sink(
        &mut self,
        type_name: &'static str,
        factory: impl Fn(&SinkSpec, &BuildContext) -> Result<Box<dyn Sink>, BuildError>
        + Send
        + Sync
        + 'static,
    ) {
        self.sinks.insert(type_name, Box::new(factory));
    }

    /// Builds the source of `spec`.
    pub fn build_source(
        &self,
        spec: &SourceSpec,
        context: &BuildContext,
    ) -> Result<Box<dyn Source>, BuildError> {
        let factory = self.sources.get(spec.type_name()).ok_or_else(|| {
            BuildError(format!(
                "source type `{}` is not available in this build (available: {})",
                spec.type_name(),
                self.sources.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })?;
        factory(spec, context)
    }

    /// Builds the sink of `spec`.
    pub fn build_sink(
        &self,
        spec: &SinkSpec,
        context: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        let factory = self.sinks.get(spec.type_name()).ok_or_else(|| {
            BuildError(format!(
                "sink type `{}` is not available in this build (available: {})",
                spec.type_name(),
                self.sinks.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })?;
        factory(spec, context)
    }
}
