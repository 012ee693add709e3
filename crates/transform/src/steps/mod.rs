//! One module per transformation type. Each compiles its configuration once into a
//! [`Transformation`] that edits a record in place.

mod case;
mod cast;
mod debezium;
mod fields;
mod flatten;
mod headers;
mod insert_field;
mod mask;
mod replace_field;
mod router;
mod select;
mod struct_flatten;
mod timestamp;
mod timezone;

use dataflow_core::Record;
use dataflow_spec::Step;

pub use router::Route;

/// What a step did to a record.
#[derive(Debug)]
pub enum Effect {
    /// The record goes on (possibly edited).
    Keep,
    /// The record is dropped (filtered out).
    Drop,
    /// The record is replaced by these records.
    Expand(Vec<Record>),
}

/// A compiled step.
pub trait Transformation: Send + Sync {
    /// Applies the step. An error leaves the record as it was given.
    fn apply(&self, record: &mut Record) -> Result<Effect, String>;
}

/// A configuration problem: the field under `config` (`fields[1]`, `condition`) and why.
pub type ConfigProblem = (String, String);

/// Compiles one step. `first_route` is the index the step's first route takes among all
/// routes of the chain (routers only).
pub fn compile(
    step: &Step,
    first_route: usize,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    match step {
        Step::Timestamp(c) => timestamp::compile(c),
        Step::Flatten(c) => flatten::compile(c),
        Step::Filter(c) => router::compile_filter(c),
        Step::Mask(c) => mask::compile(c),
        Step::Router(c) => router::compile(c, first_route),
        Step::Select(c) => select::compile(c),
        Step::Remove(c) => fields::compile_remove(c),
        Step::SnakeCase(c) => case::compile_snake(c),
        Step::CamelCase(c) => case::compile_camel(c),
        Step::DebeziumUnwrap(c) => debezium::compile(c),
        Step::ReplaceField(c) => replace_field::compile(c),
        Step::HeadersToPayload(c) => headers::compile(c),
        Step::StructFlatten(c) => struct_flatten::compile(c),
        Step::ExtractField(c) => fields::compile_extract(c),
        Step::HoistField(c) => fields::compile_hoist(c),
        Step::Cast(c) => cast::compile(c),
        Step::Timezone(c) => timezone::compile(c),
        Step::InsertField(c) => insert_field::compile(c),
    }
}

/// Compiles a list of paths, collecting a problem per bad one under `field[index]`.
fn compile_paths(
    field: &str,
    paths: &[String],
    compile: fn(&str) -> Result<crate::path::FieldPath, crate::path::PathError>,
) -> Result<Vec<crate::path::FieldPath>, Vec<ConfigProblem>> {
    let mut compiled = Vec::new();
    let mut problems = Vec::new();
    if paths.is_empty() {
        problems.push((
            field.to_string(),
            format!("{field} needs at least one path"),
        ));
    }
    for (index, text) in paths.iter().enumerate() {
        match compile(text) {
            Ok(path) => compiled.push(path),
            Err(error) => problems.push((format!("{field}[{index}]"), error.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(compiled)
    } else {
        Err(problems)
    }
}

/// A problem for a single field.
fn problem(field: &str, message: impl Into<String>) -> Vec<ConfigProblem> {
    vec![(field.to_string(), message.into())]
}
