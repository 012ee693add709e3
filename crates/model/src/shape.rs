//! Normalises the two block shapes the original accepted into one.
//!
//! Current shape: `{type: postgresql, config: {...}}`. Older typed shape:
//! `{type: postgresql, postgresql: {...}}`. Each block (source, sink, errors, every
//! transformation, every router route sink) may use either, independently. After normalisation
//! every block has `config`; the moves are recorded so that problems are reported at the path
//! the user wrote.

use serde_json::{Map, Value};

use crate::problem::{Problem, did_you_mean};
use crate::yaml::{join_index, join_key, rebase};

/// A block that was moved during normalisation: `normalised` (`spec.sink.config`) was written
/// at `written` (`spec.sink.postgresql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Path after normalisation.
    pub normalised: String,
    /// Path as written.
    pub written: String,
}

/// The moves made while normalising one document.
#[derive(Debug, Clone, Default)]
pub struct Moves(Vec<Move>);

impl Moves {
    /// Records a move.
    pub fn push(&mut self, normalised: String, written: String) {
        self.0.push(Move {
            normalised,
            written,
        });
    }

    /// Maps a normalised path back to the path the user wrote.
    pub fn written_path(&self, path: &str) -> String {
        let mut path = path.to_string();
        // Later moves are nested inside earlier ones (route sinks inside transformations), so
        // undo them first.
        for step in self.0.iter().rev() {
            if let Some(rewritten) = rebase(&path, &step.normalised, &step.written) {
                path = rewritten;
            }
        }
        path
    }

    /// All recorded moves.
    pub fn iter(&self) -> impl Iterator<Item = &Move> {
        self.0.iter()
    }
}

/// The kind of block being normalised, which decides the extra keys it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Source,
    Sink,
    ErrorSink,
    Transformation,
}

impl BlockKind {
    fn extra_keys(self) -> &'static [&'static str] {
        match self {
            BlockKind::Source | BlockKind::Sink => &[],
            BlockKind::ErrorSink => &["ackPolicy"],
            BlockKind::Transformation => &["when"],
        }
    }

    fn is_sink(self) -> bool {
        matches!(self, BlockKind::Sink | BlockKind::ErrorSink)
    }
}

/// Normalises every block of a DataFlow spec value in place (`spec` is the object under
/// `spec:`), returning the moves and any shape problems.
pub fn normalise_spec(spec: &mut Value, spec_path: &str) -> (Moves, Vec<Problem>) {
    let mut moves = Moves::default();
    let mut problems = Vec::new();
    let Some(object) = spec.as_object_mut() else {
        return (moves, problems);
    };
    for (key, kind) in [
        ("source", BlockKind::Source),
        ("sink", BlockKind::Sink),
        ("errors", BlockKind::ErrorSink),
    ] {
        if let Some(block) = object.get_mut(key) {
            let path = join_key(spec_path, key);
            normalise_block(block, &path, kind, &mut moves, &mut problems);
        }
    }
    if let Some(Value::Array(steps)) = object.get_mut("transformations") {
        for (index, step) in steps.iter_mut().enumerate() {
            let path = join_index(&join_key(spec_path, "transformations"), index);
            normalise_block(
                step,
                &path,
                BlockKind::Transformation,
                &mut moves,
                &mut problems,
            );
            if step.get("type").and_then(Value::as_str) == Some("router") {
                normalise_routes(step, &path, &mut moves, &mut problems);
            }
        }
    }
    (moves, problems)
}

fn normalise_routes(
    step: &mut Value,
    step_path: &str,
    moves: &mut Moves,
    problems: &mut Vec<Problem>,
) {
    let routes_path = join_key(&join_key(step_path, "config"), "routes");
    let Some(Value::Array(routes)) = step.pointer_mut("/config/routes") else {
        return;
    };
    for (index, route) in routes.iter_mut().enumerate() {
        if let Some(sink) = route.get_mut("sink") {
            let path = join_key(&join_index(&routes_path, index), "sink");
            normalise_block(sink, &path, BlockKind::Sink, moves, problems);
        }
    }
}

fn normalise_block(
    block: &mut Value,
    path: &str,
    kind: BlockKind,
    moves: &mut Moves,
    problems: &mut Vec<Problem>,
) {
    let Some(object) = block.as_object_mut() else {
        return; // the schema check reports the wrong type
    };
    // YAML reads `type: null` as a null value; in a sink block it names the `null` sink.
    if kind.is_sink() && object.get("type") == Some(&Value::Null) {
        object.insert("type".into(), Value::String("null".into()));
    }
    let Some(type_name) = object
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        if !object.contains_key("type") {
            problems.push(Problem::error(join_key(path, "type"), "type is required"));
        }
        return;
    };
    let typed_key = typed_key_in(object, &type_name);
    // The older name of a transformation type.
    let type_name = match (kind, type_name.as_str()) {
        (BlockKind::Transformation, "headerFrom") => {
            object.insert("type".into(), Value::String("headersToPayload".into()));
            "headersToPayload".to_string()
        }
        _ => type_name,
    };
    match (object.contains_key("config"), typed_key.clone()) {
        (true, Some(key)) => problems.push(Problem::unknown_key(
            join_key(path, &key),
            format!("use either `config` or `{key}` for the settings of this block, not both"),
        )),
        (false, Some(key)) => {
            if let Some(settings) = object.remove(&key) {
                object.insert("config".into(), settings);
                moves.push(join_key(path, "config"), join_key(path, &key));
            }
        }
        (false, None) => {
            object.insert("config".into(), Value::Object(Map::new()));
        }
        (true, None) => {}
    }
    let written_type = typed_key.clone().unwrap_or_else(|| type_name.clone());
    let allowed: Vec<&str> = ["type", "config", type_name.as_str(), written_type.as_str()]
        .into_iter()
        .chain(kind.extra_keys().iter().copied())
        .collect();
    let unknown: Vec<String> = object
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        let message = match did_you_mean(&key, allowed.iter().copied()) {
            Some(suggestion) => format!("unknown field `{key}`; did you mean `{suggestion}`?"),
            None => format!(
                "unknown field `{key}`; a `type: {type_name}` block holds `type`, `config` \
                 (or `{type_name}`){}",
                kind.extra_keys()
                    .iter()
                    .map(|extra| format!(", `{extra}`"))
                    .collect::<String>()
            ),
        };
        problems.push(Problem::unknown_key(join_key(path, &key), message));
        object.remove(&key);
    }
}

/// The key holding the typed-shape settings: the type name itself.
fn typed_key_in(object: &Map<String, Value>, type_name: &str) -> Option<String> {
    object.keys().find(|key| key.as_str() == type_name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn moves_typed_blocks_into_config() {
        let mut spec = json!({
            "source": {"type": "kafka", "kafka": {"topic": "t"}},
            "sink": {"type": "postgresql", "config": {"table": "x"}},
            "errors": {"type": "file", "file": {"path": "e"}, "ackPolicy": "never"},
            "transformations": [
                {"type": "filter", "filter": {"condition": "a"}},
                {"type": "router", "config": {"routes": [
                    {"condition": "b", "sink": {"type": "stdout", "stdout": {"pretty": true}}}
                ]}},
                {"type": "snakeCase"}
            ]
        });
        let (moves, problems) = normalise_spec(&mut spec, "spec");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            spec["source"],
            json!({"type": "kafka", "config": {"topic": "t"}})
        );
        assert_eq!(spec["errors"]["config"], json!({"path": "e"}));
        assert_eq!(
            spec["transformations"][0]["config"],
            json!({"condition": "a"})
        );
        assert_eq!(
            spec["transformations"][1]["config"]["routes"][0]["sink"]["config"],
            json!({"pretty": true})
        );
        assert_eq!(spec["transformations"][2]["config"], json!({}));
        assert_eq!(
            moves.written_path("spec.source.config.topic"),
            "spec.source.kafka.topic"
        );
        assert_eq!(
            moves.written_path("spec.transformations[1].config.routes[0].sink.config.pretty"),
            "spec.transformations[1].config.routes[0].sink.stdout.pretty"
        );
        assert_eq!(
            moves.written_path("spec.sink.config.table"),
            "spec.sink.config.table"
        );
    }

    #[test]
    fn yaml_null_type_names_the_null_sink() {
        let mut spec = json!({"source": {"type": null}, "sink": {"type": null}});
        let (_, problems) = normalise_spec(&mut spec, "spec");
        assert_eq!(spec["sink"], json!({"type": "null", "config": {}}));
        assert_eq!(spec["source"]["type"], Value::Null);
        assert!(
            problems.is_empty(),
            "the structure check reports the source: {problems:?}"
        );
    }

    #[test]
    fn reports_shape_problems() {
        let mut spec = json!({
            "source": {"kafka": {}},
            "sink": {"type": "file", "config": {}, "file": {}},
            "errors": {"type": "file", "config": {}, "ackPolicyy": "never"}
        });
        let (_, problems) = normalise_spec(&mut spec, "spec");
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("spec.source.type: type is required")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("spec.sink.file: use either")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("did you mean `ackPolicy`")),
            "{text:?}"
        );
    }
}
