//! Field paths, compiled once: `a.b.c`, `items.0`, `$.a.b`, `$.items[0]`, `$['odd key']`, and
//! the wildcard `*` / `[*]` for steps that read or edit many values.

use std::fmt;

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key. Written in dot notation with only digits (`items.0`), it also addresses
    /// the element of that index when the value is an array (as gjson does).
    Key {
        /// The key.
        name: String,
        /// The index the key names in an array, if it is all digits.
        index: Option<usize>,
    },
    /// `[n]`: an array element.
    Index(usize),
    /// `*` or `[*]`: every value of an object or element of an array.
    Wildcard,
}

/// A path that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?} at character {column}: {message}")]
pub struct PathError {
    /// The path as written.
    pub path: String,
    /// 1-based character position of the problem.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A compiled field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FieldPath {
    /// Compiles a path. A leading `$` / `$.` is accepted everywhere; `$` alone is the root.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        let fail = |column: usize, message: &str| PathError {
            path: text.to_string(),
            column,
            message: message.to_string(),
        };
        let chars: Vec<char> = text.chars().collect();
        if text.trim().is_empty() {
            return Err(fail(1, "the path is empty"));
        }
        let mut position = 0;
        if chars.first() == Some(&'$') {
            position = 1;
            if chars.get(1) == Some(&'.') {
                position = 2;
                if chars.len() == 2 {
                    return Err(fail(3, "expected a field after `$.`"));
                }
            }
        }
        let mut segments = Vec::new();
        let mut expect_segment = true;
        while position < chars.len() {
            match chars[position] {
                '[' => {
                    let (segment, next) = parse_bracket(&chars, position)
                        .map_err(|(column, message)| fail(column, &message))?;
                    segments.push(segment);
                    position = next;
                    expect_segment = false;
                }
                '.' if !expect_segment => {
                    position += 1;
                    expect_segment = true;
                    if position == chars.len() {
                        return Err(fail(position, "the path ends with `.`"));
                    }
                }
                '.' => return Err(fail(position + 1, "empty field name")),
                _ if !expect_segment => {
                    return Err(fail(position + 1, "expected `.` or `[` between fields"));
                }
                _ => {
                    let mut name = String::new();
                    while position < chars.len() && !matches!(chars[position], '.' | '[' | ']') {
                        if chars[position] == '\\' && position + 1 < chars.len() {
                            position += 1;
                        }
                        name.push(chars[position]);
                        position += 1;
                    }
                    segments.push(if name == "*" {
                        Segment::Wildcard
                    } else {
                        let index = if name.chars().all(|c| c.is_ascii_digit()) {
                            name.parse().ok()
                        } else {
                            None
                        };
                        Segment::Key { name, index }
                    });
                    expect_segment = false;
                }
            }
        }
        Ok(FieldPath {
            text: text.to_string(),
            segments,
        })
    }

    /// Compiles a path that names exactly one place to write (no wildcard, not the root).
    pub fn parse_target(text: &str) -> Result<FieldPath, PathError> {
        let path = FieldPath::parse(text)?;
        if path.segments.is_empty() {
            return Err(PathError {
                path: text.into(),
                column: 1,
                message: "a field is needed, not the root".into(),
            });
        }
        if path.has_wildcard() {
            return Err(PathError {
                path: text.into(),
                column: 1,
                message: "a wildcard cannot be written to".into(),
            });
        }
        Ok(path)
    }

    /// Splits `key.rest` into the first key and the path of the rest (`None` when there is
    /// no rest); `None` when the path does not start with a key.
    pub fn split_first_key(&self) -> Option<(String, Option<FieldPath>)> {
        let (first, rest) = self.segments.split_first()?;
        let Segment::Key { name, .. } = first else {
            return None;
        };
        let rest = (!rest.is_empty()).then(|| FieldPath {
            text: self
                .text
                .split_once('.')
                .map(|x| x.1)
                .unwrap_or_default()
                .to_string(),
            segments: rest.to_vec(),
        });
        Some((name.clone(), rest))
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the path may match several values.
    pub fn has_wildcard(&self) -> bool {
        self.segments.contains(&Segment::Wildcard)
    }

    /// The last named segment (the output key of `select`).
    pub fn last_key(&self) -> String {
        match self
            .segments
            .iter()
            .rev()
            .find(|s| !matches!(s, Segment::Wildcard))
        {
            Some(Segment::Key { name, .. }) => name.clone(),
            Some(Segment::Index(index)) => index.to_string(),
            _ => self.text.clone(),
        }
    }

    /// The first value the path matches.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut found = None;
        visit(&self.segments, root, &mut |value| {
            if found.is_none() {
                found = Some(value);
            }
        });
        found
    }

    /// Every value the path matches, in document order.
    pub fn get_all<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut found = Vec::new();
        visit(&self.segments, root, &mut |value| found.push(value));
        found
    }

    /// Calls `edit` on every value the path matches.
    pub fn for_each_mut(&self, root: &mut Value, edit: &mut dyn FnMut(&mut Value)) {
        visit_mut(&self.segments, root, edit);
    }

    /// Sets the value at the path, creating missing objects on the way. Fails when a value on
    /// the way is not a container, or an array index is out of range (one past the end appends).
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        let Some((last, parents)) = self.segments.split_last() else {
            *root = value;
            return Ok(());
        };
        let mut current = root;
        for (depth, segment) in parents.iter().enumerate() {
            if current.is_null() {
                *current = Value::Object(Map::new());
            }
            current = match (segment, current) {
                (
                    Segment::Key {
                        index: Some(index), ..
                    },
                    Value::Array(items),
                ) => items
                    .get_mut(*index)
                    .ok_or_else(|| self.describe_missing(depth))?,
                (Segment::Key { name, .. }, Value::Object(object)) => object
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                (Segment::Index(index), Value::Array(items)) => items
                    .get_mut(*index)
                    .ok_or_else(|| self.describe_missing(depth))?,
                (_, other) => return Err(self.describe_not_container(depth, other)),
            };
        }
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        match (last, current) {
            (
                Segment::Key {
                    index: Some(index), ..
                },
                Value::Array(items),
            )
            | (Segment::Index(index), Value::Array(items)) => match (*index).cmp(&items.len()) {
                std::cmp::Ordering::Less => items[*index] = value,
                std::cmp::Ordering::Equal => items.push(value),
                std::cmp::Ordering::Greater => {
                    return Err(format!(
                        "{}: index {index} is past the end of a list of {}",
                        self.text,
                        items.len()
                    ));
                }
            },
            (Segment::Key { name, .. }, Value::Object(object)) => {
                object.insert(name.clone(), value);
            }
            (_, other) => return Err(self.describe_not_container(parents.len(), other)),
        }
        Ok(())
    }

    /// Removes every value the path matches; returns how many were removed.
    pub fn remove(&self, root: &mut Value) -> usize {
        remove_at(&self.segments, root)
    }

    /// Removes the value at the path and returns it (the first match for wildcard paths).
    pub fn take(&self, root: &mut Value) -> Option<Value> {
        self.take_from(root, true)
    }

    /// Like [`FieldPath::take`], but may reorder the keys left in the parent object (faster;
    /// for callers that discard the parent anyway).
    pub fn take_unordered(&self, root: &mut Value) -> Option<Value> {
        self.take_from(root, false)
    }

    fn take_from(&self, root: &mut Value, keep_order: bool) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut parent = root;
        for segment in parents {
            parent = step_mut(segment, parent)?;
        }
        match (last, parent) {
            (
                Segment::Key {
                    index: Some(index), ..
                },
                Value::Array(items),
            )
            | (Segment::Index(index), Value::Array(items)) => {
                (*index < items.len()).then(|| items.remove(*index))
            }
            (Segment::Key { name, .. }, Value::Object(object)) if keep_order => {
                object.shift_remove(name)
            }
            (Segment::Key { name, .. }, Value::Object(object)) => object.swap_remove(name),
            _ => None,
        }
    }

    /// Removes the value at the path, then every parent object it leaves empty.
    pub fn remove_pruning(&self, root: &mut Value) -> bool {
        if self.remove(root) == 0 {
            return false;
        }
        for depth in (1..self.segments.len()).rev() {
            let parent = FieldPath {
                text: String::new(),
                segments: self.segments[..depth].to_vec(),
            };
            let empty = parent
                .get(root)
                .is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
            if !empty {
                break;
            }
            parent.remove(root);
        }
        true
    }

    fn describe_missing(&self, depth: usize) -> String {
        format!("{}: no element at {}", self.text, self.prefix_text(depth))
    }

    fn describe_not_container(&self, depth: usize, value: &Value) -> String {
        let kind = dataflow_core::json_kind(value);
        let at = if depth == 0 {
            "the payload".to_string()
        } else {
            self.prefix_text(depth)
        };
        format!("{}: cannot write inside {at}, which is {kind}", self.text)
    }

    fn prefix_text(&self, depth: usize) -> String {
        self.segments[..depth]
            .iter()
            .map(|segment| match segment {
                Segment::Key { name, .. } => name.clone(),
                Segment::Index(index) => index.to_string(),
                Segment::Wildcard => "*".into(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

fn parse_bracket(chars: &[char], start: usize) -> Result<(Segment, usize), (usize, String)> {
    let mut position = start + 1;
    let close = |position: usize| -> Result<usize, (usize, String)> {
        if chars.get(position) == Some(&']') {
            Ok(position + 1)
        } else {
            Err((position + 1, "expected `]`".into()))
        }
    };
    match chars.get(position) {
        Some('*') => Ok((Segment::Wildcard, close(position + 1)?)),
        Some(quote @ ('\'' | '"')) => {
            let quote = *quote;
            position += 1;
            let mut name = String::new();
            loop {
                match chars.get(position) {
                    None => return Err((start + 1, "unclosed quote in `[...]`".into())),
                    Some('\\') if position + 1 < chars.len() => {
                        name.push(chars[position + 1]);
                        position += 2;
                    }
                    Some(c) if *c == quote => break,
                    Some(c) => {
                        name.push(*c);
                        position += 1;
                    }
                }
            }
            Ok((Segment::Key { name, index: None }, close(position + 1)?))
        }
        Some(c) if c.is_ascii_digit() => {
            let mut digits = String::new();
            while let Some(c) = chars.get(position).filter(|c| c.is_ascii_digit()) {
                digits.push(*c);
                position += 1;
            }
            let index = digits
                .parse()
                .map_err(|_| (start + 2, "index too large".to_string()))?;
            Ok((Segment::Index(index), close(position)?))
        }
        _ => Err((
            start + 2,
            "expected an index, `*` or a quoted key inside `[...]`".into(),
        )),
    }
}

fn step<'a>(segment: &Segment, value: &'a Value) -> Option<&'a Value> {
    match (segment, value) {
        (Segment::Key { name, .. }, Value::Object(object)) => object.get(name),
        (
            Segment::Key {
                index: Some(index), ..
            },
            Value::Array(items),
        )
        | (Segment::Index(index), Value::Array(items)) => items.get(*index),
        _ => None,
    }
}

fn step_mut<'a>(segment: &Segment, value: &'a mut Value) -> Option<&'a mut Value> {
    match (segment, value) {
        (Segment::Key { name, .. }, Value::Object(object)) => object.get_mut(name),
        (
            Segment::Key {
                index: Some(index), ..
            },
            Value::Array(items),
        )
        | (Segment::Index(index), Value::Array(items)) => items.get_mut(*index),
        _ => None,
    }
}

fn visit<'a>(segments: &[Segment], value: &'a Value, found: &mut dyn FnMut(&'a Value)) {
    let Some((first, rest)) = segments.split_first() else {
        found(value);
        return;
    };
    match first {
        Segment::Wildcard => match value {
            Value::Object(object) => object.values().for_each(|child| visit(rest, child, found)),
            Value::Array(items) => items.iter().for_each(|child| visit(rest, child, found)),
            _ => {}
        },
        segment => {
            if let Some(child) = step(segment, value) {
                visit(rest, child, found);
            }
        }
    }
}

fn visit_mut(segments: &[Segment], value: &mut Value, edit: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segments.split_first() else {
        edit(value);
        return;
    };
    match first {
        Segment::Wildcard => match value {
            Value::Object(object) => object
                .values_mut()
                .for_each(|child| visit_mut(rest, child, edit)),
            Value::Array(items) => items
                .iter_mut()
                .for_each(|child| visit_mut(rest, child, edit)),
            _ => {}
        },
        segment => {
            if let Some(child) = step_mut(segment, value) {
                visit_mut(rest, child, edit);
            }
        }
    }
}

fn remove_at(segments: &[Segment], value: &mut Value) -> usize {
    match segments {
        [] => 0,
        [last] => match (last, value) {
            (Segment::Wildcard, Value::Object(object)) => {
                let removed = object.len();
                object.clear();
                removed
            }
            (Segment::Wildcard, Value::Array(items)) => {
                let removed = items.len();
                items.clear();
                removed
            }
            (Segment::Key { name, .. }, Value::Object(object)) => {
                usize::from(object.shift_remove(name).is_some())
            }
            (
                Segment::Key {
                    index: Some(index), ..
                },
                Value::Array(items),
            )
            | (Segment::Index(index), Value::Array(items))
                if *index < items.len() =>
            {
                items.remove(*index);
                1
            }
            _ => 0,
        },
        [first, rest @ ..] => match first {
            Segment::Wildcard => match value {
                Value::Object(object) => object
                    .values_mut()
                    .map(|child| remove_at(rest, child))
                    .sum(),
                Value::Array(items) => items.iter_mut().map(|child| remove_at(rest, child)).sum(),
                _ => 0,
            },
            segment => step_mut(segment, value).map_or(0, |child| remove_at(rest, child)),
        },
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
