//! Trino: the polling source and the INSERT/MERGE sink, with Keycloak OAuth2.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// Messages per batch of the Trino sink (the seed's 1).
pub const TRINO_BATCH_SIZE: u32 = 1;

fn default_query_timeout() -> u32 {
    600
}

/// Where a Trino connector connects (shared by source and sink).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrinoConnection {
    /// Trino server URL.
    #[serde(default, rename = "serverURL", skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// Server URL from a secret.
    #[serde(
        default,
        rename = "serverURLSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_url_secret_ref: Option<SecretRef>,
    /// Catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Catalog from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_secret_ref: Option<SecretRef>,
    /// Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Schema from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_secret_ref: Option<SecretRef>,
    /// Table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Table from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_secret_ref: Option<SecretRef>,
    /// Keycloak / OIDC authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<KeycloakConfig>,
}

/// Trino polling source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrinoSourceConfig {
    /// Server, catalog, schema, table and authentication.
    #[serde(flatten)]
    pub connection: TrinoConnection,
    /// Custom SELECT used instead of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `pollInterval`, `orderByColumn`, `readBatchSize`, `pollSafetyLag`.
    #[serde(flatten)]
    pub polling: Polling,
    /// Change-time column (default `updated_at`).
    #[serde(default = "default_updated_at")]
    pub change_tracking_column: String,
    /// Wrap each row as `{"value", "_metadata": {catalog, schema, table, id}}`.
    #[serde(default)]
    pub raw_mode: bool,
}

/// Trino sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrinoSinkConfig {
    /// Server, catalog, schema, table and authentication.
    #[serde(flatten)]
    pub connection: TrinoConnection,
    /// `batchSize` (default 1) and `batchFlushIntervalSeconds` (default 10).
    #[serde(flatten)]
    pub batch: Batch<{ TRINO_BATCH_SIZE }>,
    /// Limit for one statement including all `nextUri` polls (default 600).
    #[serde(default = "default_query_timeout")]
    pub query_timeout_seconds: u32,
    /// Create the table when missing.
    #[serde(default)]
    pub auto_create_table: bool,
    /// Store the payload as one JSON `data` column.
    #[serde(default)]
    pub raw_mode: bool,
    /// MERGE on `conflictKey` (Iceberg catalogs only).
    #[serde(default)]
    pub upsert_mode: bool,
    /// Merge key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_key: Option<String>,
    /// Metadata keys as columns of their own (raw mode).
    #[serde(flatten)]
    pub metadata_columns: MetadataColumns,
}
