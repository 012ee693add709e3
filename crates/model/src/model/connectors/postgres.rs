//! PostgreSQL: the polling source and the COPY sink.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// Messages per batch of the PostgreSQL sink (the seed's 1; the original recommends 100).
pub const POSTGRES_BATCH_SIZE: u32 = 1;

/// PostgreSQL polling source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSourceConfig {
    /// Connection string and table.
    #[serde(flatten)]
    pub connection: DatabaseConnection,
    /// Custom SELECT used instead of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `pollInterval`, `orderByColumn`, `readBatchSize`, `pollSafetyLag`.
    #[serde(flatten)]
    pub polling: Polling,
    /// Column holding the change time (default `updated_at`).
    #[serde(default = "default_updated_at")]
    pub change_tracking_column: String,
    /// Create the table (`id SERIAL PK, created_at, updated_at`) when missing.
    #[serde(default)]
    pub auto_create_table: bool,
    /// Wrap each row as `{"value": <row>, "_metadata": {table, id}}`.
    #[serde(default)]
    pub raw_mode: bool,
}

/// How a PostgreSQL upsert decides to overwrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum UpsertStrategy {
    /// Always overwrite on conflict (default).
    #[default]
    Always,
    /// Overwrite only when `upsertVersionColumn` grows.
    IfNewer,
}

/// PostgreSQL sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSinkConfig {
    /// Connection string and table.
    #[serde(flatten)]
    pub connection: DatabaseConnection,
    /// `batchSize` (default 1) and `batchFlushIntervalSeconds` (default 10).
    #[serde(flatten)]
    pub batch: Batch<{ POSTGRES_BATCH_SIZE }>,
    /// Create the table when missing (types inferred from the first message).
    #[serde(default)]
    pub auto_create_table: bool,
    /// Update existing rows on conflict.
    #[serde(default)]
    pub upsert_mode: bool,
    /// Conflict column for upserts (default `id`).
    #[serde(default = "default_id")]
    pub conflict_key: String,
    /// `always` (default) or `ifNewer`.
    #[serde(default)]
    pub upsert_strategy: UpsertStrategy,
    /// Version column compared by `ifNewer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_version_column: Option<String>,
    /// Column set to now() when `metadata.operation` is `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_column: Option<String>,
    /// Store payload and metadata as JSONB (`data`, `_metadata`).
    #[serde(default)]
    pub raw_mode: bool,
    /// Metadata keys as columns of their own (raw mode).
    #[serde(flatten)]
    pub metadata_columns: MetadataColumns,
}
