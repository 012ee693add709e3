//! Configuration of the five server connectors (Kafka, PostgreSQL, Trino, ClickHouse, Nessie),
//! field for field as the seed document and the original implementation define them.
//!
//! Layout: one file per connector holds its config types and its named defaults; this module
//! holds what they share: the database connection, the metadata columns, and the [`Batch`] and
//! [`Polling`] blocks flattened into the database sinks and sources. Adding a connector adds its
//! file here and a line in the source and sink enums.

mod clickhouse;
mod kafka;
mod nessie;
mod postgres;
mod trino;

pub use clickhouse::*;
pub use kafka::*;
pub use nessie::*;
pub use postgres::*;
pub use trino::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    BasicAuthConfig, KeycloakConfig, SaslConfig, SchemaRegistryConfig, SecretRef, TlsConfig,
    string_or_list, string_or_list_schema,
};

fn default_true() -> bool {
    true
}
fn default_poll_safety_lag() -> String {
    "5s".into()
}

/// Seconds before a partial batch is flushed, in every database sink (the seed's 10).
pub const DEFAULT_FLUSH_INTERVAL_SECONDS: u32 = 10;

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
