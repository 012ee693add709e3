//! Secret references: the resolver trait, the runner's resolvers (Secret documents and a
//! directory laid out as Kubernetes mounts secrets), and the substitution of every
//! `*SecretRef` field into the plain field beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::model::{DataFlow, SecretRef};
use crate::yaml::join_key;

/// A secret reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: secret {namespace}/{name} key {key:?}: {reason}")]
pub struct SecretError {
    /// Field path of the reference (`spec.sink.config.connectionStringSecretRef`).
    pub path: String,
    /// Namespace searched.
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// Key inside the secret.
    pub key: String,
    /// Why it failed.
    pub reason: String,
}

/// Why a lookup failed, before the path is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No secret of that name in that namespace.
    SecretNotFound,
    /// The secret exists but has no such key.
    KeyNotFound {
        /// Keys the secret does have.
        available: Vec<String>,
    },
    /// Anything else (I/O, decoding).
    Failed(String),
}

/// Finds the value of one key of one secret.
pub trait SecretResolver {
    /// Returns the value of `key` in secret `name` of `namespace`.
    fn lookup(&self, namespace: &str, name: &str, key: &str) -> Result<String, Lookup>;
}

/// Secrets held in memory, filled from `kind: Secret` documents.
#[derive(Debug, Clone, Default)]
pub struct SecretDocuments {
    secrets: HashMap<(String, String), HashMap<String, String>>,
}

impl SecretDocuments {
    /// Adds a `kind: Secret` document (`data` is base64, `stringData` plain and wins).
    /// Returns an error naming the key whose `data` value is not valid base64 or UTF-8.
    pub fn add_document(&mut self, document: &Value) -> Result<(), String> {
        let metadata = document.get("metadata");
        let name = metadata
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .ok_or("a Secret document needs metadata.name")?
            .to_string();
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let mut values = HashMap::new();
        if let Some(data) = document.get("data").and_then(Value::as_object) {
            for (key, encoded) in data {
                let text = encoded.as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| format!("secret {name}: data.{key} is not valid base64: {e}"))?;
                let decoded = String::from_utf8(bytes)
                    .map_err(|_| format!("secret {name}: data.{key} is not UTF-8 text"))?;
                values.insert(key.clone(), decoded);
            }
        }
        if let Some(data) = document.get("stringData").and_then(Value::as_object) {
            for (key, value) in data {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                values.insert(key.clone(), text);
            }
        }
        self.secrets
            .entry((namespace, name))
            .or_default()
            .extend(values);
        Ok(())
    }

    /// Whether no secret was added.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

impl SecretResolver for SecretDocuments {
    fn lookup(&self, namespace: &str, name: &str, key: &str) -> Result<String, Lookup> {
        let secret = self
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .ok_or(Lookup::SecretNotFound)?;
        secret.get(key).cloned().ok_or_else(|| {
            let mut available: Vec<String> = secret.keys().cloned().collect();
            available.sort();
            Lookup::KeyNotFound { available }
        })
    }
}

/// Secrets mounted as files: `DIR/<secret-name>/<key>` (namespaces are not part of the path).
#[derive(Debug, Clone)]
pub struct SecretsDir {
    root: PathBuf,
}

impl SecretsDir {
    /// Reads secrets below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SecretsDir { root: root.into() }
    }
}

impl SecretResolver for SecretsDir {
    fn lookup(&self, _namespace: &str, name: &str, key: &str) -> Result<String, Lookup> {
        // Say why a directory cannot be used instead of "not found" for every cause.
        match std::fs::metadata(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Lookup::Failed(format!(
                    "--secrets-dir {} does not exist",
                    self.root.display()
                )));
            }
            Err(e) => {
                return Err(Lookup::Failed(format!(
                    "cannot read {}: {e}",
                    self.root.display()
                )));
            }
            Ok(metadata) if !metadata.is_dir() => {
                return Err(Lookup::Failed(format!(
                    "--secrets-dir {} is not a directory",
                    self.root.display()
                )));
            }
            Ok(_) => {}
        }
        let dir = self.root.join(name);
        match std::fs::metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Lookup::SecretNotFound);
            }
            Err(e) => {
                return Err(Lookup::Failed(format!(
                    "cannot read {}: {e}",
                    dir.display()
                )));
            }
            Ok(metadata) if !metadata.is_dir() => return Err(Lookup::SecretNotFound),
            Ok(_) => {}
        }
        let file: &Path = &dir.join(key);
        match std::fs::read(file) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| Lookup::Failed(format!("{} is not UTF-8 text", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut available: Vec<String> = std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .filter_map(|entry| entry.ok())
                            .map(|entry| entry.file_name().to_string_lossy().into_owned())
                            .filter(|name| !name.starts_with('.'))
                            .collect()
                    })
                    .unwrap_or_default();
                available.sort();
                Err(Lookup::KeyNotFound { available })
            }
            Err(e) => Err(Lookup::Failed(format!("{}: {e}", file.display()))),
        }
    }
}

/// Tries several resolvers in order; the first that knows the secret answers.
pub struct ChainResolver<'a>(pub Vec<&'a dyn SecretResolver>);

impl SecretResolver for ChainResolver<'_> {
    fn lookup(&self, namespace: &str, name: &str, key: &str) -> Result<String, Lookup> {
        let mut last = Lookup::SecretNotFound;
        for resolver in &self.0 {
            match resolver.lookup(namespace, name, key) {
                Ok(value) => return Ok(value),
                Err(Lookup::SecretNotFound) => {}
                Err(other) => last = other,
            }
        }
        Err(last)
    }
}

/// Reference fields that are not inlined: they become environment of the processor.
const NOT_INLINED: &[&str] = &["accessKeySecretRef", "secretAccessKeySecretRef"];

/// The plain field a `*SecretRef` field fills, given the object it sits in.
fn target_field(reference_field: &str, parent_path: &str) -> String {
    match reference_field {
        "caSecretRef" => "caFile".into(),
        "certSecretRef" => "certFile".into(),
        "keySecretRef" => "keyFile".into(),
        "tokenSecretRef" if !parent_path.ends_with("keycloak") => "bearerToken".into(),
        other => other.trim_end_matches("SecretRef").to_string(),
    }
}

/// Returns the DataFlow with every secret reference replaced by its value (the secret wins
/// over a plain value). All unresolvable references are reported together.
pub fn resolve_secrets(
    flow: &DataFlow,
    resolver: &dyn SecretResolver,
) -> Result<DataFlow, Vec<SecretError>> {
    let mut value = serde_json::to_value(flow).expect("a DataFlow always serialises");
    let namespace = flow.namespace().to_string();
    let mut errors = Vec::new();
    if let Some(spec) = value.get_mut("spec") {
        substitute(spec, "spec", &namespace, resolver, &mut errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(value).map_err(|e| {
        vec![SecretError {
            path: "spec".into(),
            namespace,
            name: String::new(),
            key: String::new(),
            reason: format!("resolved spec no longer fits the model: {e}"),
        }]
    })
}

fn substitute(
    value: &mut Value,
    path: &str,
    namespace: &str,
    resolver: &dyn SecretResolver,
    errors: &mut Vec<SecretError>,
) {
    match value {
        Value::Object(object) => {
            let references: Vec<String> = object
                .keys()
                .filter(|key| key.ends_with("SecretRef") && !NOT_INLINED.contains(&key.as_str()))
                .cloned()
                .collect();
            for field in references {
                let field_path = join_key(path, &field);
                let Some(raw) = object.remove(&field) else {
                    continue;
                };
                let reference: SecretRef = match serde_json::from_value(raw) {
                    Ok(reference) => reference,
                    Err(e) => {
                        errors.push(SecretError {
                            path: field_path,
                            namespace: namespace.into(),
                            name: String::new(),
                            key: String::new(),
                            reason: format!("not a secret reference: {e}"),
                        });
                        continue;
                    }
                };
                let secret_namespace = reference.namespace.as_deref().unwrap_or(namespace);
                match resolver.lookup(secret_namespace, &reference.name, &reference.key) {
                    Ok(secret) => {
                        object.insert(target_field(&field, path), Value::String(secret));
                    }
                    Err(lookup) => errors.push(SecretError {
                        path: field_path,
                        namespace: secret_namespace.into(),
                        name: reference.name.clone(),
                        key: reference.key.clone(),
                        reason: match lookup {
                            Lookup::SecretNotFound => "secret not found".into(),
                            Lookup::KeyNotFound { available } => format!(
                                "key not found in the secret (it has: {})",
                                available.join(", ")
                            ),
                            Lookup::Failed(reason) => reason,
                        },
                    }),
                }
            }
            for (key, child) in object.iter_mut() {
                substitute(child, &join_key(path, key), namespace, resolver, errors);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                substitute(
                    item,
                    &format!("{path}[{index}]"),
                    namespace,
                    resolver,
                    errors,
                );
            }
        }
        _ => {}
    }
}
