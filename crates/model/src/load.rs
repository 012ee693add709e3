//! From text to checked DataFlows: parse every document, collect Secrets, normalise block
//! shapes, check structure, decode the typed model, apply the rules, and map every problem to
//! the path the user wrote and its line:column.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::model::{DataFlow, KIND};
use crate::problem::Problem;
use crate::secrets::SecretDocuments;
use crate::shape::normalise_spec;
use crate::structure;
use crate::validate::validate;
use crate::yaml::{Document, parse_documents};

/// One DataFlow document after checking.
#[derive(Debug, Clone)]
pub struct CheckedFlow {
    /// The typed DataFlow, when it decoded (it may still have problems).
    pub flow: Option<DataFlow>,
    /// Every problem, with written paths and positions, ordered by position.
    pub problems: Vec<Problem>,
}

impl CheckedFlow {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Everything one file holds.
#[derive(Debug, Clone, Default)]
pub struct LoadedFile {
    /// The DataFlow documents, in file order.
    pub flows: Vec<CheckedFlow>,
    /// The `kind: Secret` documents.
    pub secrets: SecretDocuments,
    /// Problems not tied to one DataFlow (syntax errors, unreadable Secrets).
    pub problems: Vec<Problem>,
}

/// The JSON Schema of a DataFlow manifest, generated from the typed model.
pub fn dataflow_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(DataFlow)).expect("schema serialises")
    })
}

/// Extra rules applied to every decoded DataFlow (the transform crate compiles paths and
/// conditions this way); problems carry normalised paths like the built-in rules.
pub type ExtraCheck<'a> = &'a dyn Fn(&DataFlow) -> Vec<Problem>;

/// Parses and checks every document of a YAML or JSON text.
pub fn load_text(text: &str) -> LoadedFile {
    load_text_with(text, &|_| Vec::new())
}

/// Like [`load_text`], with extra rules.
pub fn load_text_with(text: &str, extra: ExtraCheck) -> LoadedFile {
    let mut loaded = LoadedFile::default();
    let documents = match parse_documents(text) {
        Ok(documents) => documents,
        Err(error) => {
            loaded.problems.push(Problem {
                position: error.position,
                ..Problem::error("", format!("not valid YAML or JSON: {}", error.message))
            });
            return loaded;
        }
    };
    for document in documents {
        let kind = document
            .value
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string);
        match kind.as_deref() {
            Some("Secret") => {
                if let Err(message) = loaded.secrets.add_document(&document.value) {
                    let position = document.positions.find("data");
                    loaded.problems.push(Problem {
                        position,
                        ..Problem::error("data", message)
                    });
                }
            }
            Some(KIND) | None => match into_manifest(document) {
                Some(manifest) => loaded.flows.push(check_manifest(manifest, extra)),
                None => loaded.problems.push(Problem::error(
                    "",
                    "not a DataFlow: expected `kind: DataFlow` with a `spec`, or a bare spec \
                     with `source` and `sink`",
                )),
            },
            // Other kinds (ConfigMaps, …) may sit beside a DataFlow; one that looks like a typo
            // of ours is not silently skipped (`kind: Dataflow`).
            Some(other) => {
                if let Some(meant) = crate::problem::did_you_mean(other, [KIND, "Secret"]) {
                    loaded.problems.push(Problem {
                        position: document.positions.find_value("kind"),
                        ..Problem::error(
                            "kind",
                            format!("unknown kind {other:?}; did you mean {meant:?}?"),
                        )
                    });
                }
            }
        }
    }
    loaded
}

/// Wraps a bare spec into a manifest; `None` when the document is neither.
fn into_manifest(mut document: Document) -> Option<Document> {
    let object = document.value.as_object()?;
    if object.contains_key("spec") || object.get("kind").is_some() {
        return Some(document);
    }
    if object.contains_key("source") || object.contains_key("sink") {
        let mut wrapper = Map::new();
        wrapper.insert("spec".into(), document.value);
        document.value = Value::Object(wrapper);
        document.positions.alias_prefix("", "spec");
        return Some(document);
    }
    None
}

fn check_manifest(mut document: Document, extra: ExtraCheck) -> CheckedFlow {
    let mut problems = Vec::new();
    let (moves, shape_problems) = match document.value.get_mut("spec") {
        Some(spec) => normalise_spec(spec, "spec"),
        None => {
            problems.push(Problem::error("spec", "spec is required"));
            Default::default()
        }
    };
    problems.extend(shape_problems);
    let schema = dataflow_schema();
    structure::check(schema, schema, &document.value, "", &mut problems);

    let mut flow = None;
    if problems.iter().any(Problem::is_error) {
        // The semantic checks (conditions, durations, ranges) still run on what is left once
        // the values in error are taken out, so that one round shows every problem (A22).
        problems.extend(checks_of_the_rest(&document.value, &problems, extra));
    } else {
        match serde_path_to_error::deserialize::<_, DataFlow>(&document.value) {
            Ok(decoded) => {
                problems.extend(validate(&decoded));
                problems.extend(extra(&decoded));
                flow = Some(decoded);
            }
            Err(error) => {
                let path = error.path().to_string();
                let path = if path == "." { String::new() } else { path };
                problems.push(Problem::error(path, error.into_inner().to_string()));
            }
        }
    }
    for problem in &mut problems {
        problem.path = moves.written_path(&problem.path);
        let value_position = (!problem.about_key)
            .then(|| document.positions.find_value(&problem.path))
            .flatten();
        problem.position = problem
            .position
            .or(value_position)
            .or_else(|| document.positions.find(&problem.path));
    }
    problems.sort_by_key(|p| p.position.map(|pos| (pos.line, pos.column)));
    problems.dedup();
    CheckedFlow { flow, problems }
}

/// The semantic problems of `document` without the values `problems` are about (each taken
/// out, so defaults apply), away from those paths; none when what is left does not decode.
fn checks_of_the_rest(document: &Value, problems: &[Problem], extra: ExtraCheck) -> Vec<Problem> {
    let mut rest = document.clone();
    let in_error: Vec<&str> = problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.path.as_str())
        .collect();
    for path in &in_error {
        if !remove_path(&mut rest, path) {
            return Vec::new();
        }
    }
    let Ok(decoded) = serde_json::from_value::<DataFlow>(rest) else {
        return Vec::new();
    };
    let reported = |path: &str| {
        in_error.iter().any(|error| {
            path.strip_prefix(error)
                .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
                || error
                    .strip_prefix(path)
                    .is_some_and(|tail| tail.starts_with(['.', '[']))
        })
    };
    let mut found = validate(&decoded);
    found.extend(extra(&decoded));
    found.retain(|problem| !reported(&problem.path));
    found
}

/// Takes the value at a field path (`spec.sink.config.batchSize`, `spec.transformations[1]`)
/// out of `value`; keys may hold dots (`librdkafkaOptions` keys), so the longest key that fits
/// is taken at each step. False when nothing could be taken out: the path is not there, or it
/// names an array item (taking it out would renumber the items after it).
fn remove_path(value: &mut Value, path: &str) -> bool {
    let mut node = value;
    let mut rest = path;
    loop {
        if let Some(after_bracket) = rest.strip_prefix('[') {
            let Some((index, tail)) = after_bracket.split_once(']') else {
                return false;
            };
            let (Ok(index), Value::Array(items)) = (index.parse::<usize>(), node) else {
                return false;
            };
            let tail = tail.strip_prefix('.').unwrap_or(tail);
            let Some(item) = items.get_mut(index).filter(|_| !tail.is_empty()) else {
                return false;
            };
            node = item;
            rest = tail;
            continue;
        }
        let Value::Object(object) = node else {
            return false;
        };
        let Some(key) = object
            .keys()
            .filter(|key| {
                rest.strip_prefix(key.as_str())
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
            })
            .max_by_key(|key| key.len())
            .cloned()
        else {
            return false;
        };
        let tail = &rest[key.len()..];
        if tail.is_empty() {
            return object.remove(&key).is_some();
        }
        node = object.get_mut(&key).expect("found above");
        rest = tail.strip_prefix('.').unwrap_or(tail);
    }
}
