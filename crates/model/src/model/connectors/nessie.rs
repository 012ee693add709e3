//! Nessie and Iceberg REST: snapshot reads and branch-aware appends.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// Messages per append of the Nessie sink (the seed's 100).
pub const NESSIE_BATCH_SIZE: u32 = 100;

/// Seconds between polls of the Nessie source (the seed's 10).
pub const NESSIE_POLL_INTERVAL_SECONDS: u32 = 10;

const fn nessie_poll_interval() -> u32 {
    NESSIE_POLL_INTERVAL_SECONDS
}

fn default_branch() -> String {
    "main".into()
}

/// Authentication against Nessie / Iceberg REST.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum NessieAuthenticationType {
    /// Bearer when a token is set, else basic when credentials are set (default).
    #[default]
    Auto,
    /// Bearer token.
    Bearer,
    /// Basic authentication.
    Basic,
    /// No authentication.
    None,
}

/// Where a Nessie connector connects (shared by source and sink).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NessieConnection {
    /// Nessie base URL, e.g. `http://nessie:19120`.
    #[serde(default, rename = "baseURL", skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Base URL from a secret.
    #[serde(
        default,
        rename = "baseURLSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_url_secret_ref: Option<SecretRef>,
    /// Branch (default `main`).
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Warehouse name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Namespace (schema) of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Namespace from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_secret_ref: Option<SecretRef>,
    /// Table name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Table from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_secret_ref: Option<SecretRef>,
    /// `AUTO` (default), `BEARER`, `BASIC` or `NONE`.
    #[serde(default)]
    pub authentication_type: NessieAuthenticationType,
    /// Bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Bearer token from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretRef>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
}

impl Default for NessieConnection {
    fn default() -> Self {
        NessieConnection {
            base_url: None,
            base_url_secret_ref: None,
            branch: default_branch(),
            warehouse: None,
            namespace: None,
            namespace_secret_ref: None,
            table: None,
            table_secret_ref: None,
            authentication_type: NessieAuthenticationType::default(),
            bearer_token: None,
            token_secret_ref: None,
            basic_auth: None,
        }
    }
}

/// Nessie source: an Iceberg table on a Nessie branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NessieSourceConfig {
    /// Server, branch, table and authentication.
    #[serde(flatten)]
    pub connection: NessieConnection,
    /// Row filter (not with `incrementalBySnapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Seconds between polls (default 10).
    #[serde(default = "nessie_poll_interval")]
    pub poll_interval: u32,
    /// Read only snapshots added after the last acknowledged one.
    #[serde(default)]
    pub incremental_by_snapshot: bool,
    /// First snapshot id (unsigned integer as a string).
    #[serde(
        default,
        rename = "startSnapshotID",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_snapshot_id: Option<String>,
    /// Persist the last acknowledged snapshot (default true).
    #[serde(default = "default_true")]
    pub snapshot_checkpoints: bool,
    /// Wrap each row as `{"value", "_metadata": {namespace, table}}`.
    #[serde(default)]
    pub raw_mode: bool,
}

/// Nessie sink: appends to an Iceberg table on a Nessie branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NessieSinkConfig {
    /// Server, branch, table and authentication.
    #[serde(flatten)]
    pub connection: NessieConnection,
    /// `batchSize` (default 100) and `batchFlushIntervalSeconds` (default 10).
    #[serde(flatten)]
    pub batch: Batch<{ NESSIE_BATCH_SIZE }>,
    /// Create the table (one string column `data`) when missing.
    #[serde(default)]
    pub auto_create_table: bool,
    /// Store `data` and `_metadata` as strings.
    #[serde(default)]
    pub raw_mode: bool,
    /// Metadata keys as columns of their own (raw mode).
    #[serde(flatten)]
    pub metadata_columns: MetadataColumns,
    /// S3 endpoint of the warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_region: Option<String>,
    /// S3 access key id from a secret (passed to the processor as environment, not inlined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret_ref: Option<SecretRef>,
    /// S3 secret access key from a secret (both or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_secret_ref: Option<SecretRef>,
}
