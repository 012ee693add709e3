//! Kafka: a consumer group on one topic (source) and an idempotent producer (sink).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

fn default_consumer_group() -> String {
    "dataflow-operator".into()
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
