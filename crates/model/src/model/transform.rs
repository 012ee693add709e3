//! Configuration of the eighteen transformation types (original-behaviour §2.4).

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::SinkSpec;

fn default_created_at() -> String {
    "created_at".into()
}
fn default_mask_char() -> String {
    "*".into()
}

/// One transformation step: its type and settings, plus an optional `when` condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransformationSpec {
    /// What the step does.
    #[serde(flatten)]
    pub step: Step,
    /// Optional condition; when false the step is skipped and the message passes unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

impl TransformationSpec {
    /// The step's `type` string.
    pub fn type_name(&self) -> &'static str {
        self.step.type_name()
    }
}

/// The transformation types with their settings (`{type, config}` after normalisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "config", rename_all = "camelCase")]
pub enum Step {
    /// Sets a field to the current time.
    Timestamp(TimestampConfig),
    /// Expands an array into one message per element.
    Flatten(FlattenConfig),
    /// Keeps messages matching a condition.
    Filter(FilterConfig),
    /// Masks field values.
    Mask(MaskConfig),
    /// Sends matching messages to another sink.
    Router(RouterConfig),
    /// Keeps only some fields, flattened to their last key.
    Select(FieldsConfig),
    /// Removes fields.
    Remove(FieldsConfig),
    /// Renames keys to snake_case.
    SnakeCase(CaseConfig),
    /// Renames keys to CamelCase (PascalCase).
    CamelCase(CaseConfig),
    /// Unwraps a Debezium change event into its row.
    DebeziumUnwrap(DebeziumUnwrapConfig),
    /// Renames, includes or excludes fields keeping their nesting.
    ReplaceField(ReplaceFieldConfig),
    /// Copies message headers into the payload (`headerFrom` is the older name).
    #[serde(alias = "headerFrom")]
    HeadersToPayload(HeadersToPayloadConfig),
    /// Flattens nested objects into one level.
    StructFlatten(StructFlattenConfig),
    /// Replaces the payload with one of its fields.
    ExtractField(FieldConfig),
    /// Wraps the payload under one key.
    HoistField(FieldConfig),
    /// Converts field values to other types.
    Cast(CastConfig),
    /// Converts time fields to another time zone.
    Timezone(TimezoneConfig),
    /// Sets fields to literals, the time, metadata or JSON values.
    InsertField(InsertFieldConfig),
}

impl Step {
    /// The `type` string of this step.
    pub fn type_name(&self) -> &'static str {
        match self {
            Step::Timestamp(_) => "timestamp",
            Step::Flatten(_) => "flatten",
            Step::Filter(_) => "filter",
            Step::Mask(_) => "mask",
            Step::Router(_) => "router",
            Step::Select(_) => "select",
            Step::Remove(_) => "remove",
            Step::SnakeCase(_) => "snakeCase",
            Step::CamelCase(_) => "camelCase",
            Step::DebeziumUnwrap(_) => "debeziumUnwrap",
            Step::ReplaceField(_) => "replaceField",
            Step::HeadersToPayload(_) => "headersToPayload",
            Step::StructFlatten(_) => "structFlatten",
            Step::ExtractField(_) => "extractField",
            Step::HoistField(_) => "hoistField",
            Step::Cast(_) => "cast",
            Step::Timezone(_) => "timezone",
            Step::InsertField(_) => "insertField",
        }
    }
}

/// `timestamp` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimestampConfig {
    /// Field to set (a path; dots nest). Default `created_at`.
    #[serde(default = "default_created_at")]
    pub field_name: String,
    /// `RFC3339` (default), `RFC3339Nano`, `Unix`, `UnixMilli`, or a Go layout such as
    /// `2006-01-02 15:04:05`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl Default for TimestampConfig {
    fn default() -> Self {
        TimestampConfig {
            field_name: default_created_at(),
            format: None,
        }
    }
}

/// `flatten` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlattenConfig {
    /// Path of the array to expand.
    #[serde(default)]
    pub field: String,
}

/// `filter` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterConfig {
    /// Condition a message must meet to be kept.
    #[serde(default)]
    pub condition: String,
}

/// `mask` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskConfig {
    /// Paths of the fields to mask (wildcards allowed).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Mask character (default `*`).
    #[serde(default = "default_mask_char")]
    pub mask_char: String,
    /// Keep the value's length (default: three mask characters).
    #[serde(default)]
    pub keep_length: bool,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            fields: Vec::new(),
            mask_char: default_mask_char(),
            keep_length: false,
        }
    }
}

/// `router` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterConfig {
    /// Routes in order; the first whose condition holds takes the message.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
}

/// One route: a condition and the sink that receives matching messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// Condition a message must meet.
    #[serde(default)]
    pub condition: String,
    /// Where matching messages go instead of the main sink.
    pub sink: SinkSpec,
}

/// Settings of steps that take a list of field paths (`select`, `remove`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldsConfig {
    /// Field paths.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// `snakeCase` / `camelCase` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseConfig {
    /// Also rename keys of nested objects and arrays.
    #[serde(default)]
    pub deep: bool,
}

/// What a Debezium snapshot read (`op: r`) becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotOperation {
    /// `insert` (default).
    #[default]
    Insert,
    /// `update`.
    Update,
}

/// `debeziumUnwrap` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebeziumUnwrapConfig {
    /// Turn a tombstone (empty value) into a delete of the row in the Kafka key.
    #[serde(default)]
    pub infer_delete_from_tombstone: bool,
    /// Copy `payload.source.*` into metadata as `source_<field>`.
    #[serde(default)]
    pub include_source_in_metadata: bool,
    /// What `op: r` becomes: `insert` (default) or `update`.
    #[serde(default)]
    pub snapshot_operation: SnapshotOperation,
    /// Add `__op` and `__deleted` fields to the row.
    #[serde(default)]
    pub add_operation_fields: bool,
    /// Source fields added to the row as `__<field>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_source_fields: Vec<String>,
}

/// `replaceField` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceFieldConfig {
    /// `old.path:new.path` renames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renames: Vec<String>,
    /// Keep only these paths, with their nesting (not with `exclude`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Remove these paths (not with `include`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// `headersToPayload` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadersToPayloadConfig {
    /// `Header-Name:field.path` mappings.
    #[serde(default)]
    pub mappings: Vec<String>,
}

/// `structFlatten` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StructFlattenConfig {
    /// Joins key segments (default `.`; an explicitly empty delimiter is rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
}

/// Settings of steps that take one field (`extractField`, `hoistField`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldConfig {
    /// The field (a path for `extractField`, a plain key for `hoistField`).
    #[serde(default)]
    pub field: String,
}

/// Target type of a `cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    /// Text.
    String,
    /// 64-bit integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// JSON null (YAML `null` or the string `"null"`).
    Null,
}

impl CastType {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            CastType::String => "string",
            CastType::Int64 => "int64",
            CastType::Float64 => "float64",
            CastType::Bool => "bool",
            CastType::Null => "null",
        }
    }
}

impl Serialize for CastType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CastType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // YAML reads `deleted_at: null` as a null value: that is the `null` type.
        let value = Option::<String>::deserialize(deserializer)?;
        match value.as_deref() {
            None | Some("null") => Ok(CastType::Null),
            Some("string") => Ok(CastType::String),
            Some("int64") => Ok(CastType::Int64),
            Some("float64") => Ok(CastType::Float64),
            Some("bool") => Ok(CastType::Bool),
            Some(other) => Err(serde::de::Error::custom(format!(
                "unknown cast type {other:?} (expected string, int64, float64, bool or null)"
            ))),
        }
    }
}

impl JsonSchema for CastType {
    fn schema_name() -> Cow<'static, str> {
        "CastType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Target type: string, int64, float64, bool or null.",
            "enum": ["string", "int64", "float64", "bool", "null", null]
        })
    }
}

/// `cast` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CastConfig {
    /// Path → target type.
    #[serde(default)]
    pub spec: BTreeMap<String, CastType>,
}

/// `timezone` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimezoneConfig {
    /// Target zone: IANA name or `±HH:MM`.
    #[serde(default)]
    pub timezone: String,
    /// Paths of the time fields.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Zone of values without an offset (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_timezone: Option<String>,
    /// `RFC3339Nano` (default), `RFC3339` or `UnixMilli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `insertField` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsertFieldConfig {
    /// Path → value: a literal, `${now}`, `${metadata.<key>}` or `json:<raw JSON>`.
    #[serde(default)]
    pub fields: Map<String, Value>,
}
