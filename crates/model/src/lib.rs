//! The DataFlow resource model (`apiVersion: dataflow.dataflow.io/v1`, `kind: DataFlow`).
//!
//! Pure: parsing (YAML/JSON, several documents), normalisation of the two block shapes the
//! original accepted, typed configuration with defaults, validation that collects every
//! problem with its path and position, and secret resolution through a [`SecretResolver`].
//!
//! Layout: `load` takes text the whole way to checked DataFlows: `yaml` parses it into JSON
//! values that keep their line:column, `shape` makes the two block shapes one, `structure`
//! checks the document against the JSON Schema, it is decoded into the typed `model`
//! (resource, connector blocks, transformations, defaults) and `validate` applies the semantic
//! rules; `problem` is what they all report. `secrets` resolves `*SecretRef` fields.
//! `duration` (Go-style durations) and `template` (the `generate` source's template) are parsed
//! here so that validation and the runtime agree.

pub mod duration;
pub mod load;
pub mod model;
pub mod problem;
pub mod secrets;
pub mod shape;
pub mod structure;
pub mod template;
pub mod validate;
pub mod yaml;

pub use load::{CheckedFlow, ExtraCheck, LoadedFile, dataflow_schema, load_text, load_text_with};
pub use model::*;
pub use problem::{Problem, Severity};
pub use secrets::{
    ChainResolver, SecretDocuments, SecretError, SecretResolver, SecretsDir, resolve_secrets,
};
