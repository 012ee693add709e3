//! YAML and JSON documents turned into JSON values, with the line and column of every node.
//!
//! The loader is driven by `saphyr-parser` events so that each value keeps its position; the
//! validator uses those positions to print `file:line:col` for every problem.
//!
//! Hostile input is bounded: nesting deeper than [`MAX_DEPTH`] and aliases that expand to more
//! than [`MAX_ALIAS_NODES`] nodes are errors with their position (the parser's own loader
//! recurses once per level and overflowed the stack at 10,000 levels; an alias bomb of 521
//! bytes asked for 90 GB). Duplicate keys and tags outside the core schema are errors too.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver, Tag};

/// Deepest nesting of sequences and mappings accepted (serde_json's own recursion limit; a
/// DataFlow needs about ten).
pub const MAX_DEPTH: usize = 128;

/// Most nodes that aliases may expand to in one document (anchors shared between a few blocks
/// stay far below this).
pub const MAX_ALIAS_NODES: usize = 100_000;
use serde_json::{Map, Number, Value};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, counting from 1.
    pub line: usize,
    /// Column, counting from 1.
    pub column: usize,
}

/// Positions of the nodes of one document, keyed by field path (`spec.sink.config.table`,
/// `spec.transformations[0]`). The root has the empty path.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    /// Where each mapping key (or sequence item) was written.
    by_path: HashMap<String, Position>,
    /// Where each scalar value was written.
    values: HashMap<String, Position>,
}

impl Positions {
    /// The position of the node at `path` (its key, for mapping entries), or of its nearest
    /// ancestor that exists.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut current = path;
        loop {
            if let Some(position) = self.by_path.get(current) {
                return Some(*position);
            }
            if current.is_empty() {
                return None;
            }
            current = parent_path(current);
        }
    }

    /// The position of the scalar value at exactly `path`, if it is a scalar.
    pub fn find_value(&self, path: &str) -> Option<Position> {
        self.values.get(path).copied()
    }

    /// Records that the nodes under `from` are also reachable under `to` (used when a block is
    /// moved during normalisation, for example `source.postgresql` → `source.config`).
    pub fn alias_prefix(&mut self, from: &str, to: &str) {
        for map in [&mut self.by_path, &mut self.values] {
            let moved: Vec<(String, Position)> = map
                .iter()
                .filter_map(|(path, position)| {
                    rebase(path, from, to).map(|new_path| (new_path, *position))
                })
                .collect();
            map.extend(moved);
        }
    }

    fn insert(&mut self, path: String, position: Position) {
        self.by_path.entry(path).or_insert(position);
    }
}

/// Rewrites `path` from prefix `from` to prefix `to`, if `path` lies under `from`.
pub fn rebase(path: &str, from: &str, to: &str) -> Option<String> {
    if path == from {
        return Some(to.to_string());
    }
    let rest = path.strip_prefix(from)?;
    if rest.starts_with('.') || rest.starts_with('[') {
        Some(format!("{to}{rest}"))
    } else if from.is_empty() {
        Some(join_key(to, path))
    } else {
        None
    }
}

/// The parent of a field path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
pub fn parent_path(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(index) => &path[..index],
        None => "",
    }
}

/// Appends an object key to a field path.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Appends an array index to a field path.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// One parsed document with the positions of its nodes.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as a JSON value.
    pub value: Value,
    /// Where each node of `value` was written.
    pub positions: Positions,
}

/// A document that could not be parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub position: Option<Position>,
}

/// Parses every document of a YAML stream (JSON is YAML too). Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut builder = Builder::default();
    // Events one by one, not `Parser::load`, which recurses once per nesting level.
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| SyntaxError {
            message: error.info().to_string(),
            position: Some(Position {
                line: error.marker().line(),
                column: error.marker().col() + 1,
            }),
        })?;
        builder.on_event(event, span);
        if let Some(error) = builder.error.take() {
            return Err(error);
        }
    }
    Ok(builder.documents)
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
    Mapping {
        map: Map<String, Value>,
        path: String,
        pending_key: Option<String>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    stack: Vec<Frame>,
    positions: Positions,
    /// Anchored values and their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes added by aliases in the current document.
    alias_nodes: usize,
    root: Option<Value>,
    error: Option<SyntaxError>,
}

impl Builder {
    /// The path the next value will take, or `None` when the next scalar is a mapping key.
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Sequence { items, path, .. }) => Some(join_index(path, items.len())),
            Some(Frame::Mapping {
                path, pending_key, ..
            }) => pending_key.as_ref().map(|key| join_key(path, key)),
        }
    }

    fn fail(&mut self, message: String, span: Span) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                message,
                position: Some(position_of(span)),
            });
        }
    }

    fn push_value(&mut self, value: Value, anchor: usize) {
        if anchor > 0 {
            let nodes = count_nodes(&value);
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping {
                map, pending_key, ..
            }) => {
                if let Some(key) = pending_key.take() {
                    map.insert(key, value);
                }
            }
        }
    }
}

impl Builder {
    /// Checks a collection's tag and the nesting depth before it opens; false after an error.
    fn nest(&mut self, tag: Option<&Tag>, core: &str, span: Span) -> bool {
        if let Some(tag) = tag
            && !(tag.is_yaml_core_schema() && tag.suffix == core)
        {
            self.fail(format!("unsupported YAML tag {tag}"), span);
            return false;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.fail(format!("nesting deeper than {MAX_DEPTH} levels"), span);
            return false;
        }
        true
    }
}

/// Whether a scalar's tag is one of the core schema's (`!!str`, `!!int`, …).
fn is_core_scalar_tag(tag: &Tag) -> bool {
    tag.is_yaml_core_schema()
        && ["str", "int", "float", "bool", "null"].contains(&tag.suffix.as_str())
}

/// How many nodes a value holds (itself included).
fn count_nodes(value: &Value) -> usize {
    let mut count = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        count += 1;
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}

fn position_of(span: Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        match event {
            Event::DocumentStart(_) => {
                self.positions = Positions::default();
                self.root = None;
                self.alias_nodes = 0;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(Document {
                        value,
                        positions: std::mem::take(&mut self.positions),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(
                    self.stack.last(),
                    Some(Frame::Mapping {
                        pending_key: None,
                        ..
                    })
                );
                if is_key {
                    if let Some(Frame::Mapping {
                        map,
                        pending_key,
                        path,
                        ..
                    }) = self.stack.last_mut()
                    {
                        let key_path = join_key(path, &text);
                        if map.contains_key(text.as_ref()) {
                            let first = self
                                .positions
                                .by_path
                                .get(&key_path)
                                .map_or_else(String::new, |p| {
                                    format!(" (first at line {}, column {})", p.line, p.column)
                                });
                            let message = format!("duplicate key '{text}'{first}");
                            self.fail(message, span);
                            return;
                        }
                        *pending_key = Some(text.into_owned());
                        self.positions.insert(key_path, position_of(span));
                    }
                    return;
                }
                if let Some(tag) = tag.as_deref()
                    && !is_core_scalar_tag(tag)
                {
                    self.fail(format!("unsupported YAML tag {tag}"), span);
                    return;
                }
                if let Some(path) = self.next_path() {
                    self.positions
                        .values
                        .entry(path.clone())
                        .or_insert(position_of(span));
                    self.positions.insert(path, position_of(span));
                }
                let forced_string = tag
                    .as_ref()
                    .is_some_and(|tag| tag.suffix == "str" || tag.suffix.ends_with(":str"));
                let value = if style != ScalarStyle::Plain || forced_string {
                    Value::String(text.into_owned())
                } else {
                    resolve_plain_scalar(&text)
                };
                self.push_value(value, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                if !self.nest(tag.as_deref(), "seq", span) {
                    return;
                }
                let path = self.next_path().unwrap_or_default();
                if self.next_path().is_none() {
                    self.fail("a sequence cannot be a mapping key".into(), span);
                }
                self.positions.insert(path.clone(), position_of(span));
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                if !self.nest(tag.as_deref(), "map", span) {
                    return;
                }
                let path = self.next_path().unwrap_or_default();
                if self.next_path().is_none() {
                    self.fail("a mapping cannot be a mapping key".into(), span);
                }
                self.positions.insert(path.clone(), position_of(span));
                self.stack.push(Frame::Mapping {
                    map: Map::new(),
                    path,
                    pending_key: None,
                    anchor,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Sequence { items, anchor, .. }) = self.stack.pop() {
                    self.push_value(Value::Array(items), anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Mapping { map, anchor, .. }) = self.stack.pop() {
                    self.push_value(Value::Object(map), anchor);
                }
            }
            Event::Alias(anchor) => {
                let value = self.anchors.get(&anchor).cloned();
                match value {
                    Some((value, nodes)) => {
                        self.alias_nodes += nodes;
                        if self.alias_nodes > MAX_ALIAS_NODES {
                            self.fail(
                                format!(
                                    "aliases expand to more than {MAX_ALIAS_NODES} nodes (an \
                                     alias bomb?)"
                                ),
                                span,
                            );
                            return;
                        }
                        if let Some(path) = self.next_path() {
                            self.positions.insert(path, position_of(span));
                        }
                        if matches!(
                            self.stack.last(),
                            Some(Frame::Mapping {
                                pending_key: None,
                                ..
                            })
                        ) {
                            self.fail("an alias cannot be a mapping key".into(), span);
                            return;
                        }
                        self.push_value(value, 0);
                    }
                    None => self.fail("alias to an unknown anchor".into(), span),
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema: null, booleans, integers, floats, or text.
fn resolve_plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(integer) = parse_integer(text) {
        return integer;
    }
    let looks_numeric = text
        .trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric
        && text.chars().all(|c| "0123456789+-.eE".contains(c))
        && let Ok(float) = text.parse::<f64>()
        && let Some(number) = Number::from_f64(float)
    {
        return Value::Number(number);
    }
    Value::String(text.to_string())
}

fn parse_integer(text: &str) -> Option<Value> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = digits.strip_prefix("0o") {
        (8, octal)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let signed = i64::try_from(magnitude).ok()?;
        Some(Value::from(-signed))
    } else {
        Some(Value::from(magnitude))
    }
}
