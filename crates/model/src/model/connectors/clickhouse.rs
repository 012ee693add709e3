//! ClickHouse: the polling source and the batch sink.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// Messages per batch of the ClickHouse sink (the seed's 100).
pub const CLICKHOUSE_BATCH_SIZE: u32 = 100;

/// ClickHouse polling source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClickhouseSourceConfig {
    /// Connection string and table.
    #[serde(flatten)]
    pub connection: DatabaseConnection,
    /// Custom SELECT used instead of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `pollInterval`, `orderByColumn`, `readBatchSize`, `pollSafetyLag`.
    #[serde(flatten)]
    pub polling: Polling,
    /// Change-time column (default `created_at`).
    #[serde(default = "default_created_at")]
    pub change_tracking_column: String,
    /// Wrap each row as `{"value", "_metadata": {table, id}}`.
    #[serde(default)]
    pub raw_mode: bool,
}

/// ClickHouse table engine for auto-created tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TableEngine {
    /// MergeTree.
    MergeTree,
    /// ReplacingMergeTree (the default under upsert).
    ReplacingMergeTree,
}

/// ClickHouse sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClickhouseSinkConfig {
    /// Connection string and table.
    #[serde(flatten)]
    pub connection: DatabaseConnection,
    /// `batchSize` (default 100) and `batchFlushIntervalSeconds` (default 10).
    #[serde(flatten)]
    pub batch: Batch<{ CLICKHOUSE_BATCH_SIZE }>,
    /// Create a MergeTree table when missing.
    #[serde(default)]
    pub auto_create_table: bool,
    /// Store the payload as JSON text in `data`.
    #[serde(default)]
    pub raw_mode: bool,
    /// Deduplicate on `conflictKey` through ReplacingMergeTree.
    #[serde(default)]
    pub upsert_mode: bool,
    /// ORDER BY / deduplication key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_key: Option<String>,
    /// `MergeTree` or `ReplacingMergeTree`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_engine: Option<TableEngine>,
    /// Version column of ReplacingMergeTree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacing_version_column: Option<String>,
    /// Metadata keys as columns of their own (raw mode).
    #[serde(flatten)]
    pub metadata_columns: MetadataColumns,
}
