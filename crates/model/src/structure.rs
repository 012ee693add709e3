//! Structural check of a document against the JSON Schema generated from the typed model.
//!
//! Serde stops at the first problem; this walk collects every unknown key (with a did-you-mean
//! hint), wrong JSON type, value outside an enum and out-of-range integer in one pass. It
//! understands the subset of JSON Schema that `schemars` emits for the model: `$ref`, `type`,
//! `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`, `anyOf`,
//! `oneOf`, `allOf`, `minimum`, `maximum`.

use serde_json::{Map, Value};

use crate::problem::{Problem, did_you_mean};
use crate::yaml::{join_index, join_key};

/// Checks `value` (found at `path`) against `schema`, a node of the `root` schema document.
pub fn check(root: &Value, schema: &Value, value: &Value, path: &str, problems: &mut Vec<Problem>) {
    Walker { root }.check(schema, value, path, problems);
}

struct Walker<'a> {
    root: &'a Value,
}

impl<'a> Walker<'a> {
    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let pointer = reference.trim_start_matches('#');
            match self.root.pointer(pointer) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn check(&self, schema: &'a Value, value: &Value, path: &str, problems: &mut Vec<Problem>) {
        let schema = self.resolve(schema);
        if schema == &Value::Bool(true) {
            return;
        }
        if let Some(expected) = schema.get("type")
            && !type_matches(expected, value)
        {
            problems.push(Problem::error(
                path,
                format!(
                    "expected {}, found {}",
                    describe_type(expected),
                    describe_value(value)
                ),
            ));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            problems.push(Problem::error(path, enum_message(value, allowed)));
            return;
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            problems.push(Problem::error(
                path,
                format!("expected {constant}, found {}", describe_value(value)),
            ));
            return;
        }
        if let Some(number) = value.as_f64() {
            if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
                && number < minimum
            {
                problems.push(Problem::error(path, format!("must be at least {minimum}")));
            }
            if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
                && number > maximum
            {
                problems.push(Problem::error(path, format!("must be at most {maximum}")));
            }
        }
        if let Some(items) = value.as_array()
            && let Some(item_schema) = schema.get("items")
        {
            for (index, item) in items.iter().enumerate() {
                self.check(item_schema, item, &join_index(path, index), problems);
            }
        }
        if let Some(object) = value.as_object() {
            self.check_object(schema, object, path, problems);
        } else if let Some(branches) = alternatives(schema) {
            self.check_best_branch(branches, value, path, problems);
        }
    }

    /// Chooses the alternative that fits `value` best and reports its problems.
    fn check_best_branch(
        &self,
        branches: &'a [Value],
        value: &Value,
        path: &str,
        problems: &mut Vec<Problem>,
    ) {
        let constants: Option<Vec<Value>> = branches
            .iter()
            .map(|branch| {
                let branch = self.resolve(branch);
                match (
                    branch.get("const"),
                    branch.get("enum").and_then(Value::as_array),
                ) {
                    (Some(constant), _) => Some(vec![constant.clone()]),
                    (None, Some(values)) => Some(values.clone()),
                    (None, None) => None,
                }
            })
            .collect::<Option<Vec<_>>>()
            .map(|lists| lists.concat());
        if let Some(allowed) = constants {
            if !allowed.contains(value) {
                problems.push(Problem::error(path, enum_message(value, &allowed)));
            }
            return;
        }
        let mut best: Option<Vec<Problem>> = None;
        for branch in branches {
            let mut found = Vec::new();
            self.check(branch, value, path, &mut found);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        problems.extend(best.unwrap_or_default());
    }

    fn check_object(
        &self,
        schema: &'a Value,
        object: &Map<String, Value>,
        path: &str,
        problems: &mut Vec<Problem>,
    ) {
        // Collect the properties of this schema and of the branches that apply to this object.
        let mut shape = Shape::default();
        if let Err(problem) = self.collect(schema, object, path, &mut shape) {
            problems.push(problem);
            return;
        }
        for required in &shape.required {
            if !object.contains_key(required) {
                problems.push(Problem::error(
                    join_key(path, required),
                    format!("{required} is required"),
                ));
            }
        }
        for (key, field_value) in object {
            let field_path = join_key(path, key);
            match shape.properties.iter().find(|(name, _)| name == key) {
                Some((_, field_schema)) => {
                    self.check(field_schema, field_value, &field_path, problems)
                }
                None => match shape.additional {
                    Additional::Any => {}
                    Additional::Schema(extra) => {
                        self.check(extra, field_value, &field_path, problems)
                    }
                    Additional::Closed => {
                        let names = shape.properties.iter().map(|(name, _)| name.as_str());
                        let message = match did_you_mean(key, names) {
                            Some(suggestion) => {
                                format!("unknown field `{key}`; did you mean `{suggestion}`?")
                            }
                            None => format!(
                                "unknown field `{key}`; expected one of: {}",
                                shape
                                    .properties
                                    .iter()
                                    .map(|(name, _)| format!("`{name}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        problems.push(Problem::unknown_key(field_path, message));
                    }
                },
            }
        }
    }

    /// Merges the properties of `schema` and of the alternatives that match `object`.
    fn collect(
        &self,
        schema: &'a Value,
        object: &Map<String, Value>,
        path: &str,
        shape: &mut Shape<'a>,
    ) -> Result<(), Problem> {
        let schema = self.resolve(schema);
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                shape.properties.push((name.clone(), property));
            }
            if matches!(shape.additional, Additional::Any) {
                shape.additional = Additional::Closed;
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            shape.required.extend(
                required
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
        }
        match schema.get("additionalProperties") {
            Some(Value::Bool(true)) => shape.open = true,
            Some(Value::Bool(false)) | None => {}
            Some(extra) => shape.additional = Additional::Schema(extra),
        }
        if shape.open {
            shape.additional = Additional::Any;
        }
        for member in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.collect(member, object, path, shape)?;
        }
        if let Some(branches) = alternatives(schema) {
            let branch = self.select_branch(branches, object, path)?;
            if let Some(branch) = branch {
                self.collect(branch, object, path, shape)?;
            }
        }
        Ok(())
    }

    /// Picks the alternative for an object: by its `type` discriminator when the alternatives
    /// carry one, else the first object alternative.
    fn select_branch(
        &self,
        branches: &'a [Value],
        object: &Map<String, Value>,
        path: &str,
    ) -> Result<Option<&'a Value>, Problem> {
        let discriminated: Vec<(&str, &'a Value)> = branches
            .iter()
            .filter_map(|branch| {
                let resolved = self.resolve(branch);
                let tag = resolved.pointer("/properties/type")?;
                let name = tag
                    .get("const")
                    .or_else(|| tag.get("enum").and_then(|e| e.get(0)))?
                    .as_str()?;
                Some((name, branch))
            })
            .collect();
        if !discriminated.is_empty() {
            let names = discriminated.iter().map(|(name, _)| *name);
            return match object.get("type") {
                Some(Value::String(given)) => {
                    match discriminated.iter().find(|(name, _)| name == given) {
                        Some((_, branch)) => Ok(Some(branch)),
                        None => {
                            let hint = did_you_mean(given, names.clone())
                                .map(|s| format!("; did you mean `{s}`?"))
                                .unwrap_or_default();
                            Err(Problem::error(
                                join_key(path, "type"),
                                format!(
                                    "unknown type `{given}`{hint} (expected one of: {})",
                                    names.collect::<Vec<_>>().join(", ")
                                ),
                            ))
                        }
                    }
                }
                Some(other) => Err(Problem::error(
                    join_key(path, "type"),
                    format!("expected a string, found {}", describe_value(other)),
                )),
                None => Err(Problem::error(join_key(path, "type"), "type is required")),
            };
        }
        Ok(branches.iter().find(|branch| {
            let resolved = self.resolve(branch);
            resolved.get("properties").is_some()
                || resolved.get("type").and_then(Value::as_str) == Some("object")
        }))
    }
}

#[derive(Default)]
struct Shape<'a> {
    properties: Vec<(String, &'a Value)>,
    required: Vec<String>,
    additional: Additional<'a>,
    open: bool,
}

#[derive(Default)]
enum Additional<'a> {
    #[default]
    Any,
    Closed,
    Schema(&'a Value),
}

fn alternatives(schema: &Value) -> Option<&[Value]> {
    schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
}

fn type_matches(expected: &Value, value: &Value) -> bool {
    match expected {
        Value::String(name) => single_type_matches(name, value),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .any(|name| single_type_matches(name, value)),
        _ => true,
    }
}

fn single_type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn describe_type(expected: &Value) -> String {
    let names: Vec<&str> = match expected {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| *name != "null")
            .collect(),
        _ => vec![],
    };
    names
        .iter()
        .map(|name| match *name {
            "boolean" => "a boolean (true or false)",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "array" => "a list",
            "object" => "a mapping",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A short description of a value for messages: its kind and, for scalars, the value.
pub fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn enum_message(value: &Value, allowed: &[Value]) -> String {
    let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
    let hint = value
        .as_str()
        .and_then(|given| did_you_mean(given, names.iter().copied()))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    format!(
        "{} is not allowed{hint} (expected one of: {})",
        describe_value(value),
        names.join(", ")
    )
}
