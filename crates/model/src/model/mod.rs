//! The typed DataFlow resource: spec, connector blocks, transformations, error sink and the
//! pod-level fields, with the original's defaults.

pub mod builtin;
pub mod common;
pub mod connectors;
pub mod transform;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use builtin::*;
pub use common::*;
pub use connectors::*;
pub use transform::*;

/// API group/version of the resource.
pub const API_VERSION: &str = "dataflow.dataflow.io/v1";
/// Kind of the resource.
pub const KIND: &str = "DataFlow";

/// A DataFlow manifest: metadata plus spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataFlow {
    /// `dataflow.dataflow.io/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `DataFlow`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Name, namespace, labels, annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to move and how.
    pub spec: DataFlowSpec,
}

fn default_api_version() -> String {
    API_VERSION.into()
}
fn default_kind() -> String {
    KIND.into()
}

/// The parts of Kubernetes object metadata DataFlow reads; other keys are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Resource name (default `dataflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace (default `default`); secrets without a namespace are looked up here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Other metadata (uid, resourceVersion, …), kept as written.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl DataFlow {
    /// The resource name, `dataflow` when none is given.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("dataflow")
    }

    /// The namespace, `default` when none is given.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }
}

fn default_true() -> bool {
    true
}
fn default_save_interval() -> String {
    "30s".into()
}
fn default_channel_buffer() -> u32 {
    100
}
fn default_one() -> u32 {
    1
}

/// The DataFlow spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataFlowSpec {
    /// Where messages come from.
    pub source: SourceSpec,
    /// Where messages go.
    pub sink: SinkSpec,
    /// Steps applied in order to every message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transformations: Vec<TransformationSpec>,
    /// Where messages that cannot be written go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorSinkSpec>,
    /// Processor container resources (default requests 100m/128Mi, limits 500m/512Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node selector of the processor pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Affinity of the processor pod (Kubernetes `Affinity`, copied as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Map<String, Value>>,
    /// Tolerations of the processor pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Image pull secrets of the processor pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Full processor image reference; wins over `processorVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_image: Option<String>,
    /// Tag appended to the default processor repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_version: Option<String>,
    /// Persist source positions (default true).
    #[serde(default = "default_true")]
    pub checkpoint_persistence: bool,
    /// Save the checkpoint right after each acknowledged batch (coalesced).
    #[serde(default)]
    pub checkpoint_sync_on_ack: bool,
    /// Debounce period of checkpoint writes (Go duration, default `30s`).
    #[serde(default = "default_save_interval")]
    pub checkpoint_save_interval: String,
    /// One-shot: clear the stored checkpoint at start.
    #[serde(default)]
    pub checkpoint_reset: bool,
    /// When positions are committed: `batch` (default) or `message`.
    #[serde(default)]
    pub ack_granularity: AckGranularity,
    /// With `ackGranularity: message`, force sink batches of one (default true).
    #[serde(default = "default_true")]
    pub collapse_batch_on_message_ack: bool,
    /// Reject (instead of warn about) a polling source feeding a non-idempotent sink.
    #[serde(default)]
    pub strict_idempotency: bool,
    /// Capacity of every internal channel (default 100).
    #[serde(default = "default_channel_buffer")]
    pub channel_buffer_size: u32,
    /// What a transformation failure does when no error sink is configured: `stop` (default)
    /// stops the flow naming the message, as a sink failure does; `skip` counts, logs and
    /// acknowledges it (the original's behaviour). With an error sink it goes there either way.
    #[serde(default)]
    pub on_transform_error: TransformErrorPolicy,
    /// Parallel transformation workers, 1..64 (default 1); order is restored.
    #[serde(default = "default_one")]
    pub transform_workers: u32,
    /// Processor replicas (default 1); more than one only for a kafka source.
    #[serde(default = "default_one")]
    pub replicas: u32,
    /// Maintenance windows and manual suspension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
}

impl DataFlowSpec {
    /// Every router route of the chain, in order: route `i` of this list is the route index a
    /// `router` step assigns.
    pub fn routes(&self) -> Vec<&RouteSpec> {
        self.transformations
            .iter()
            .filter_map(|step| match &step.step {
                Step::Router(router) => Some(router.routes.iter()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// A source block, `{type, config}` after normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "config", rename_all = "lowercase")]
// Built once per flow; boxing the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum SourceSpec {
    /// Kafka consumer group.
    Kafka(KafkaSourceConfig),
    /// PostgreSQL polling.
    Postgresql(PostgresSourceConfig),
    /// Trino polling.
    Trino(TrinoSourceConfig),
    /// ClickHouse polling.
    Clickhouse(ClickhouseSourceConfig),
    /// Nessie / Iceberg table.
    Nessie(NessieSourceConfig),
    /// Local file.
    File(FileSourceConfig),
    /// Standard input.
    Stdin(StdinSourceConfig),
    /// Synthetic messages.
    Generate(GenerateSourceConfig),
}

impl SourceSpec {
    /// The `type` string of this source.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceSpec::Kafka(_) => "kafka",
            SourceSpec::Postgresql(_) => "postgresql",
            SourceSpec::Trino(_) => "trino",
            SourceSpec::Clickhouse(_) => "clickhouse",
            SourceSpec::Nessie(_) => "nessie",
            SourceSpec::File(_) => "file",
            SourceSpec::Stdin(_) => "stdin",
            SourceSpec::Generate(_) => "generate",
        }
    }

    /// Whether this source polls and keeps a checkpoint (every source but Kafka and the
    /// transient ones); polling sources need idempotent sinks to avoid duplicates.
    pub fn is_polling(&self) -> bool {
        matches!(
            self,
            SourceSpec::Postgresql(_)
                | SourceSpec::Trino(_)
                | SourceSpec::Clickhouse(_)
                | SourceSpec::Nessie(_)
        )
    }
}

/// A sink block, `{type, config}` after normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "config", rename_all = "lowercase")]
// Built once per flow; boxing the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum SinkSpec {
    /// Kafka producer.
    Kafka(KafkaSinkConfig),
    /// PostgreSQL table.
    Postgresql(PostgresSinkConfig),
    /// Trino table.
    Trino(TrinoSinkConfig),
    /// ClickHouse table.
    Clickhouse(ClickhouseSinkConfig),
    /// Nessie / Iceberg table.
    Nessie(NessieSinkConfig),
    /// Local file.
    File(FileSinkConfig),
    /// Standard output.
    Stdout(StdoutSinkConfig),
    /// Discards (counts) messages.
    Null(NullSinkConfig),
}

impl SinkSpec {
    /// The `type` string of this sink.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkSpec::Kafka(_) => "kafka",
            SinkSpec::Postgresql(_) => "postgresql",
            SinkSpec::Trino(_) => "trino",
            SinkSpec::Clickhouse(_) => "clickhouse",
            SinkSpec::Nessie(_) => "nessie",
            SinkSpec::File(_) => "file",
            SinkSpec::Stdout(_) => "stdout",
            SinkSpec::Null(_) => "null",
        }
    }

    /// The batching of this sink, `None` for sinks that write message by message.
    pub fn batch_settings(&self) -> Option<BatchSettings> {
        let (batch_size, flush_interval_seconds) = match self {
            SinkSpec::Postgresql(c) => return Some(c.batch.settings()),
            SinkSpec::Trino(c) => return Some(c.batch.settings()),
            SinkSpec::Clickhouse(c) => return Some(c.batch.settings()),
            SinkSpec::Nessie(c) => return Some(c.batch.settings()),
            SinkSpec::File(c) => (c.batch_size, c.batch_flush_interval_seconds),
            SinkSpec::Kafka(_) | SinkSpec::Stdout(_) | SinkSpec::Null(_) => return None,
        };
        Some(BatchSettings {
            batch_size,
            flush_interval_seconds,
        })
    }

    /// Whether writing the same message twice leaves the same result (an upsert on a key).
    pub fn is_idempotent(&self) -> bool {
        match self {
            SinkSpec::Postgresql(c) => c.upsert_mode && !c.conflict_key.is_empty(),
            SinkSpec::Trino(c) => {
                c.upsert_mode && c.conflict_key.as_deref().is_some_and(|k| !k.is_empty())
            }
            SinkSpec::Clickhouse(c) => {
                c.upsert_mode && c.conflict_key.as_deref().is_some_and(|k| !k.is_empty())
            }
            SinkSpec::Null(_) | SinkSpec::Stdout(_) => true,
            _ => false,
        }
    }
}

/// What happens to the source position of a message sent to the error sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AckPolicy {
    /// Acknowledge once the error record is durable (default).
    #[default]
    AfterWrite,
    /// Never acknowledge: the position is held and the message is read again after a restart.
    Never,
    /// Acknowledge only if the main sink succeeds, i.e. never for a failed message.
    AfterMainSinkSuccess,
}

/// The error sink: any sink plus an acknowledgement policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSinkSpec {
    /// The sink the error records go to.
    #[serde(flatten)]
    pub sink: SinkSpec,
    /// `afterWrite` (default), `never` or `afterMainSinkSuccess`.
    #[serde(default)]
    pub ack_policy: AckPolicy,
}

/// What a transformation failure does without an error sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransformErrorPolicy {
    /// Stop the flow naming the message; nothing after it is acknowledged (default).
    #[default]
    Stop,
    /// Count, log and acknowledge the message: it is skipped.
    Skip,
}

/// When source positions are committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AckGranularity {
    /// After each sink batch (default).
    #[default]
    Batch,
    /// After each message.
    Message,
}

/// Compute resources of the processor container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// Upper limits, e.g. `cpu: 500m`, `memory: 512Mi`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    /// Requests, e.g. `cpu: 100m`, `memory: 128Mi`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

/// A Kubernetes quantity (`500m`, `1Gi`, `2`), written as a string or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Quantity {
    /// Written as text.
    Text(String),
    /// Written as a number.
    Number(f64),
}

/// A Kubernetes toleration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// Taint key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Exists` or `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// How long a NoExecute taint is tolerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// A reference to an object in the same namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// Object name.
    #[serde(default)]
    pub name: String,
}

/// How a maintenance window repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Repeat {
    /// Every day at the same wall-clock time.
    Daily,
    /// Every seven days.
    Weekly,
    /// The same day of every month (clamped to the month's length).
    Monthly,
}

/// Maintenance windows (the processor is scaled to zero inside one) and manual suspension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    /// Window start (RFC3339); set together with `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Window length (Go duration, > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `daily`, `weekly` or `monthly`; absent = one time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    /// IANA zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Manual stop.
    #[serde(default)]
    pub suspended: bool,
}
