//! Configuration of the built-in connectors that need no server: `file`, `stdin`, `generate`
//! sources and `file`, `stdout`, `null` sinks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn default_file_batch() -> u32 {
    1000
}
fn default_file_flush() -> u32 {
    1
}

/// How a file holds its records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One JSON value per line (default).
    #[default]
    Jsonl,
    /// One JSON array of records.
    Json,
}

/// `file` source: reads JSON lines (or one JSON array) from a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileSourceConfig {
    /// Path of the file.
    #[serde(default)]
    pub path: String,
    /// `jsonl` (default) or `json`.
    #[serde(default)]
    pub format: FileFormat,
    /// Keep reading lines appended to the file (default false: stop at the end).
    #[serde(default)]
    pub follow: bool,
    /// Longest line read whole, in bytes (default 64 MiB); a longer line goes to the error
    /// sink with its first bytes instead of growing memory without bound.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
}

fn default_max_line_bytes() -> u64 {
    64 * 1024 * 1024
}

/// `stdin` source: JSON lines from standard input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StdinSourceConfig {}

/// `generate` source: synthetic messages from a template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateSourceConfig {
    /// How many messages; absent = unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Messages per second; absent = as fast as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    /// A JSON value whose strings may hold `{{seq}}`, `{{uuid}}`, `{{now}}`, `{{randInt A B}}`,
    /// `{{randString N}}` and `{{pick a|b|c}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
}

/// `file` sink: appends JSON lines, fsync'ed before a batch is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileSinkConfig {
    /// Path of the file (created when missing).
    #[serde(default)]
    pub path: String,
    /// Lines per write + fsync (default 1000); 0 = timer only.
    #[serde(default = "default_file_batch")]
    pub batch_size: u32,
    /// Seconds before a partial batch is written (default 1); 0 = size only.
    #[serde(default = "default_file_flush")]
    pub batch_flush_interval_seconds: u32,
}

/// `stdout` sink: prints each payload as one JSON line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StdoutSinkConfig {
    /// Indent the JSON (one record spans several lines).
    #[serde(default)]
    pub pretty: bool,
}

/// `null` sink: counts and acknowledges every message (for benchmarks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NullSinkConfig {}
