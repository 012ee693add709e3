//! `snakeCase` and `camelCase`: rename object keys, at the top level or (with `deep`) all the
//! way down, through arrays too.

use dataflow_core::{Payload, Record};
use dataflow_spec::CaseConfig;
use serde_json::{Map, Value};

use super::{ConfigProblem, Effect, Transformation};

struct Rename {
    deep: bool,
    rename: fn(&str) -> String,
    /// Whether `rename` would change the key (a cheap check, no allocation).
    changes: fn(&str) -> bool,
}

pub(super) fn compile_snake(
    config: &CaseConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    Ok(Box::new(Rename {
        deep: config.deep,
        rename: snake_case,
        changes: |key| key.chars().any(char::is_uppercase),
    }))
}

pub(super) fn compile_camel(
    config: &CaseConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    Ok(Box::new(Rename {
        deep: config.deep,
        rename: camel_case,
        changes: |key| camel_case(key) != key,
    }))
}

impl Transformation for Rename {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload {
            match root {
                // A root array: the objects in it are the records.
                Value::Array(items) => items.iter_mut().for_each(|item| self.rename_keys(item)),
                other => self.rename_keys(other),
            }
        }
        Ok(Effect::Keep)
    }
}

impl Rename {
    fn rename_keys(&self, value: &mut Value) {
        match value {
            Value::Object(object) => {
                if self.deep {
                    object
                        .values_mut()
                        .for_each(|child| self.rename_keys(child));
                }
                if !object.keys().any(|key| (self.changes)(key)) {
                    return; // keep the map as it is
                }
                let old = std::mem::take(object);
                let mut renamed = Map::with_capacity(old.len());
                for (key, child) in old {
                    let key = if (self.changes)(&key) {
                        (self.rename)(&key)
                    } else {
                        key
                    };
                    renamed.insert(key, child);
                }
                *object = renamed;
            }
            Value::Array(items) if self.deep => {
                items.iter_mut().for_each(|item| self.rename_keys(item))
            }
            _ => {}
        }
    }
}

/// `firstName` → `first_name`, `XMLHttpRequest` → `xml_http_request`, `UserID` → `user_id`.
pub fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let after_lower = previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            let ends_run =
                previous.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase());
            if after_lower || ends_run {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `first_name` → `FirstName`, `id` → `Id` (PascalCase, as the original).
pub fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for part in key.split('_').filter(|part| !part.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() { key.to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_rules() {
        for (input, expected) in [
            ("firstName", "first_name"),
            ("FirstName", "first_name"),
            ("UserID", "user_id"),
            ("XMLHttpRequest", "xml_http_request"),
            ("already_snake", "already_snake"),
            ("item2Count", "item2_count"),
            ("my_Field", "my_field"),
            ("", ""),
        ] {
            assert_eq!(snake_case(input), expected, "{input}");
        }
    }

    #[test]
    fn camel_rules() {
        for (input, expected) in [
            ("first_name", "FirstName"),
            ("id", "Id"),
            ("FirstName", "FirstName"),
            ("a__b", "AB"),
            ("___", "___"),
        ] {
            assert_eq!(camel_case(input), expected, "{input}");
        }
    }
}
