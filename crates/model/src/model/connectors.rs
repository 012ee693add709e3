//! Configuration of the five server connectors (Kafka, PostgreSQL, Trino, ClickHouse, Nessie),
//! field for field as the seed document and the original implementation define them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    BasicAuthConfig, KeycloakConfig, SaslConfig, SchemaRegistryConfig, SecretRef, TlsConfig,
    string_or_list, string_or_list_schema,
};

fn default_consumer_group() -> String {
    "dataflow-operator".into()
}
fn default_true() -> bool {
    true
}
fn default_poll_safety_lag() -> String {
    "5s".into()
}
/// Seconds between polls of the Nessie source (the seed's 10).
pub const NESSIE_POLL_INTERVAL_SECONDS: u32 = 10;

const fn nessie_poll_interval() -> u32 {
    NESSIE_POLL_INTERVAL_SECONDS
}
/// Seconds before a partial batch is flushed, in every database sink (the seed's 10).
pub const DEFAULT_FLUSH_INTERVAL_SECONDS: u32 = 10;
/// Messages per batch of the PostgreSQL sink (the seed's 1; the original recommends 100).
pub const POSTGRES_BATCH_SIZE: u32 = 1;
/// Messages per batch of the Trino sink (the seed's 1).
pub const TRINO_BATCH_SIZE: u32 = 1;
/// Messages per batch of the ClickHouse sink (the seed's 100).
pub const CLICKHOUSE_BATCH_SIZE: u32 = 100;
/// Messages per append of the Nessie sink (the seed's 100).
pub const NESSIE_BATCH_SIZE: u32 = 100;

const fn batch_size<const SIZE: u32>() -> u32 {
    SIZE
}
const fn flush_interval() -> u32 {
    DEFAULT_FLUSH_INTERVAL_SECONDS
}

/// How a database sink groups messages into writes, flattened into its config; `SIZE` is
/// the connector's default `batchSize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Batch<const SIZE: u32> {
    /// Messages per batch (the connector's default); 0 = flush by timer only.
    #[serde(rename = "batchSize", default = "batch_size::<SIZE>")]
    pub size: u32,
    /// Seconds before a partial batch is flushed (default 10); 0 = by size only.
    #[serde(rename = "batchFlushIntervalSeconds", default = "flush_interval")]
    pub flush_interval_seconds: u32,
}

impl<const SIZE: u32> Default for Batch<SIZE> {
    fn default() -> Self {
        Batch {
            size: SIZE,
            flush_interval_seconds: DEFAULT_FLUSH_INTERVAL_SECONDS,
        }
    }
}

impl<const SIZE: u32> Batch<SIZE> {
    /// The settings the engine batches by.
    pub fn settings(&self) -> super::common::BatchSettings {
        super::common::BatchSettings {
            batch_size: self.size,
            flush_interval_seconds: self.flush_interval_seconds,
        }
    }
}
fn default_id() -> String {
    "id".into()
}
fn default_updated_at() -> String {
    "updated_at".into()
}
fn default_created_at() -> String {
    "created_at".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_query_timeout() -> u32 {
    600
}

/// Payload encoding of Kafka records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaFormat {
    /// JSON values (default).
    #[default]
    Json,
    /// Avro, through a Schema Registry or a static schema.
    Avro,
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    /// The oldest retained record (the original's only behaviour).
    #[default]
    Oldest,
    /// Only records produced after the group first joins.
    Latest,
}

/// Where a Kafka connector connects and how it authenticates (shared by source and sink).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnection {
    /// Bootstrap brokers (`host:port`), a list or one comma-separated string.
    #[serde(default, deserialize_with = "string_or_list")]
    #[schemars(schema_with = "string_or_list_schema")]
    pub brokers: Vec<String>,
    /// Brokers from a secret (comma-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers_secret_ref: Option<SecretRef>,
    /// Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Topic from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_secret_ref: Option<SecretRef>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// SASL credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SaslConfig>,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; inferred from `tls`/`sasl` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<String>,
    /// Extra librdkafka settings (`session.timeout.ms: "6000"`), applied last.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub librdkafka_options: std::collections::BTreeMap<String, String>,
}

/// How Kafka record values are encoded (shared by source and sink).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaEncoding {
    /// `json` (default) or `avro`.
    #[serde(default)]
    pub format: KafkaFormat,
    /// Static Avro schema (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avro_schema: Option<String>,
    /// Path of a static Avro schema file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avro_schema_file: Option<String>,
    /// Static Avro schema from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avro_schema_secret_ref: Option<SecretRef>,
    /// Confluent Schema Registry (the sink registers under `<topic>-value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistryConfig>,
}

/// Kafka source: a consumer group on one topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSourceConfig {
    /// Brokers, topic, TLS, SASL.
    #[serde(flatten)]
    pub connection: KafkaConnection,
    /// JSON or Avro.
    #[serde(flatten)]
    pub encoding: KafkaEncoding,
    /// Consumer group id (default `dataflow-operator`).
    #[serde(default = "default_consumer_group")]
    pub consumer_group: String,
    /// Consumer group from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group_secret_ref: Option<SecretRef>,
    /// Where a new group starts: `oldest` (default) or `latest`.
    #[serde(default)]
    pub start_offset: StartOffset,
    /// Wrap each record as `{"value": …, "_metadata": {offset, partition, timestamp, key, topic}}`.
    #[serde(default)]
    pub raw_mode: bool,
    /// Longest wait of a fetch request (Go duration, e.g. `500ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_max_wait: Option<String>,
    /// Minimum bytes a fetch returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_min_bytes: Option<u32>,
    /// Maximum bytes a fetch returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_max_bytes: Option<u32>,
    /// Maximum bytes per partition a fetch returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_partition_fetch_bytes: Option<u32>,
    /// Network read timeout (Go duration); must exceed `consumerMaxWait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_read_timeout: Option<String>,
    /// Network write timeout (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_write_timeout: Option<String>,
}

/// Producer acknowledgement level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequiredAcks {
    /// All in-sync replicas (default).
    #[default]
    All,
    /// The leader only.
    Local,
    /// No acknowledgement.
    None,
}

/// Producer compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaCompression {
    /// No compression (default).
    #[default]
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
}

/// Kafka sink: an idempotent producer to one topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSinkConfig {
    /// Brokers, topic, TLS, SASL.
    #[serde(flatten)]
    pub connection: KafkaConnection,
    /// JSON or Avro.
    #[serde(flatten)]
    pub encoding: KafkaEncoding,
    /// `all` (default), `local` or `none`.
    #[serde(default)]
    pub required_acks: RequiredAcks,
    /// Idempotent producer (default true; needs `requiredAcks: all`).
    #[serde(default = "default_true")]
    pub idempotent: bool,
    /// Maximum in-flight requests per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_requests: Option<u32>,
    /// `none` (default), `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default)]
    pub compression: KafkaCompression,
    /// Do not wait for each batch's delivery before sending the next (acks still wait).
    #[serde(default, rename = "async")]
    pub async_send: bool,
    /// Messages buffered before a produce request is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_messages: Option<u32>,
    /// Bytes buffered before a produce request is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_bytes: Option<u32>,
    /// Longest wait before a produce request is sent (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_frequency: Option<String>,
}

/// A database table: connection string and table (PostgreSQL and ClickHouse, source and sink).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseConnection {
    /// Connection string (PostgreSQL: libpq URL or key=value; ClickHouse: `clickhouse://…` or
    /// `http://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    /// Connection string from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string_secret_ref: Option<SecretRef>,
    /// Table (`schema.table` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Table from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_secret_ref: Option<SecretRef>,
}

/// In raw mode, metadata keys written to columns of their own (sinks of table stores).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataColumns {
    /// Write each metadata key to its own column (requires `rawMode`).
    #[serde(default)]
    pub flatten_metadata_columns: bool,
    /// Prefix of those columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flatten_metadata_columns_prefix: Option<String>,
}

/// Seconds between polls of the database sources (the seed's 5).
pub const DEFAULT_POLL_INTERVAL_SECONDS: u32 = 5;

const fn poll_interval() -> u32 {
    DEFAULT_POLL_INTERVAL_SECONDS
}

/// How a database source polls, flattened into its config (the change-tracking column stays
/// with each connector: its default differs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Polling {
    /// Seconds between polls (default 5).
    #[serde(rename = "pollInterval", default = "poll_interval")]
    pub interval: u32,
    /// Column giving a stable order within one change time (default `id`).
    #[serde(default = "default_id")]
    pub order_by_column: String,
    /// Rows per query (0 = no LIMIT).
    #[serde(default)]
    pub read_batch_size: u32,
    /// Rows whose change time is newer than `now() - pollSafetyLag` wait for a later poll (Go
    /// duration, default `5s`; `0s` turns it off): a transaction that commits after a later
    /// one is still read if it commits within the lag. Polling cannot see every row of
    /// transactions that stay open longer; use change data capture for that.
    #[serde(rename = "pollSafetyLag", default = "default_poll_safety_lag")]
    pub safety_lag: String,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            interval: DEFAULT_POLL_INTERVAL_SECONDS,
            order_by_column: default_id(),
            read_batch_size: 0,
            safety_lag: default_poll_safety_lag(),
        }
    }
}

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
