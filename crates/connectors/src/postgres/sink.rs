//! The PostgreSQL sink: one transaction per batch, rows streamed with COPY (binary where every
//! column type has an encoder, CSV otherwise), upserts through a staging table, and batches
//! with bad rows split until exactly the bad rows are left for the error sink.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dataflow_core::{
    BuildError, ErrorType, Message, Payload, Rejection, Sink, SinkError, classify,
};
use dataflow_spec::{PostgresSinkConfig, UpsertStrategy};
use futures_util::SinkExt;
use serde_json::{Map, Value};
use tokio_postgres::Client;

use super::catalog::{self, Column, ColumnKind};
use super::encode;
use super::{ConnectError, TableName, connect, describe, is_transient, quote};

/// Name of the batch-ordinal column of the upsert staging table.
const ORDINAL: &str = "__dataflow_ordinal";

/// The `postgresql` sink.
pub struct PostgresSink {
    config: PostgresSinkConfig,
    connection_string: String,
    table: TableName,
    client: Option<Client>,
    columns: Vec<Column>,
    ordinal: Column,
}

/// What one message becomes.
enum Unit<'a> {
    /// A row to insert or upsert.
    Row {
        index: usize,
        fields: Cow<'a, Map<String, Value>>,
    },
    /// A soft delete of the row with this key.
    Delete { index: usize, key: Value },
}

impl Unit<'_> {
    fn index(&self) -> usize {
        match self {
            Unit::Row { index, .. } | Unit::Delete { index, .. } => *index,
        }
    }
}

/// Rows sharing one column list, encoded once; `rows[i]` is the byte range of one row.
struct Group {
    columns: Vec<String>,
    /// The catalog entry of each column (plus the ordinal column for upserts).
    resolved: Vec<Column>,
    binary: bool,
    /// Encoded rows while encoding; moved into `frozen` when done.
    data: BytesMut,
    /// The encoded rows, shared without copying.
    frozen: Bytes,
    rows: Vec<(usize, Range<usize>)>,
}

impl Group {
    /// Whether a row has exactly these columns in this order (no hashing).
    fn same_order(&self, fields: &Map<String, Value>) -> bool {
        fields.len() == self.columns.len() && fields.keys().zip(&self.columns).all(|(a, b)| a == b)
    }

    /// Whether a row has exactly these columns in any order.
    fn same_set(&self, fields: &Map<String, Value>) -> bool {
        fields.len() == self.columns.len() && self.columns.iter().all(|c| fields.contains_key(c))
    }
}

/// A piece of work: a row of a group, or a delete.
#[derive(Clone)]
enum Part {
    Row {
        group: usize,
        row: usize,
        index: usize,
    },
    Delete {
        index: usize,
        key: Value,
    },
}

impl Part {
    fn index(&self) -> usize {
        match self {
            Part::Row { index, .. } | Part::Delete { index, .. } => *index,
        }
    }
}

impl PostgresSink {
    /// A sink for `config` (secrets already resolved).
    pub fn new(config: PostgresSinkConfig) -> Result<Self, BuildError> {
        let connection_string =
            config.connection.connection_string.clone().ok_or_else(|| {
                BuildError("postgresql sink: connectionString is required".into())
            })?;
        let table = config
            .connection
            .table
            .as_deref()
            .ok_or_else(|| BuildError("postgresql sink: table is required".into()))?;
        let table = TableName::parse(table)
            .map_err(|e| BuildError(format!("postgresql sink: table {e}")))?;
        Ok(PostgresSink {
            config,
            connection_string,
            table,
            client: None,
            columns: Vec::new(),
            ordinal: Column {
                name: ORDINAL.into(),
                type_name: "bigint".into(),
                kind: ColumnKind::Int8,
            },
        })
    }

    async fn client(&mut self) -> Result<&mut Client, SinkError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = connect(&self.connection_string)
                .await
                .map_err(|error| match error {
                    ConnectError::Settings(text) => {
                        SinkError::Fatal(format!("postgresql sink: {text}"))
                    }
                    ConnectError::TimedOut(_) => {
                        SinkError::Transient(format!("connecting to PostgreSQL: {error}"))
                    }
                    ConnectError::Postgres(e) => {
                        let text = format!("connecting to PostgreSQL: {}", describe(&e));
                        if is_transient(&e) {
                            SinkError::Transient(text)
                        } else {
                            SinkError::Fatal(text)
                        }
                    }
                })?;
            self.client = Some(client);
            self.refresh_columns().await?;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    async fn refresh_columns(&mut self) -> Result<(), SinkError> {
        let client = self.client.as_ref().expect("connected");
        self.columns = catalog::load_columns(client, &self.table)
            .await
            .map_err(|e| sql_error("reading the table's columns", &e))?;
        Ok(())
    }

    async fn run_ddl(&mut self, statements: &[String]) -> Result<(), SinkError> {
        let client = self.client().await?;
        for statement in statements {
            tracing::info!(%statement, "postgresql sink: changing the table");
            client
                .batch_execute(statement)
                .await
                .map_err(|e| sql_error("changing the table", &e))?;
        }
        self.refresh_columns().await
    }

    /// What each message becomes; messages that cannot become a row are rejected.
    fn prepare<'a>(&self, batch: &'a [Message], rejections: &mut Vec<Rejection>) -> Vec<Unit<'a>> {
        let mut units = Vec::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            let record = &message.record;
            if self.config.soft_delete_column.is_some()
                && record.metadata.get("operation").and_then(Value::as_str) == Some("delete")
            {
                let key = record
                    .metadata
                    .get("id")
                    .cloned()
                    .or_else(|| match &record.payload {
                        Payload::Json(Value::Object(o)) => {
                            o.get(&self.config.conflict_key).cloned()
                        }
                        _ => None,
                    });
                match key {
                    Some(key) => units.push(Unit::Delete { index, key }),
                    None => rejections.push(Rejection::new(
                        index,
                        format!(
                            "a delete needs metadata.id or the field {:?}",
                            self.config.conflict_key
                        ),
                    )),
                }
                continue;
            }
            if self.config.raw_mode {
                units.push(Unit::Row {
                    index,
                    fields: Cow::Owned(self.raw_row(record)),
                });
                continue;
            }
            // The engine parses JSON text before `write`; an unparsed payload still works.
            match record.payload.value() {
                Some(Cow::Borrowed(Value::Object(object))) => units.push(Unit::Row {
                    index,
                    fields: Cow::Borrowed(object),
                }),
                Some(Cow::Owned(Value::Object(object))) => units.push(Unit::Row {
                    index,
                    fields: Cow::Owned(object),
                }),
                Some(other) => rejections.push(Rejection::new(
                    index,
                    format!(
                        "payload is not a JSON object (found {}); use rawMode to store any JSON",
                        kind_of(&other)
                    ),
                )),
                None => rejections.push(Rejection::new(index, "payload is not JSON")),
            }
        }
        units
    }

    /// The raw-mode row: `data`, `_metadata`, and with `flattenMetadataColumns` a column per key.
    fn raw_row(&self, record: &dataflow_core::Record) -> Map<String, Value> {
        let payload = match record.payload.value() {
            Some(value) => value.into_owned(),
            None => Value::String(record.payload.to_json_text()),
        };
        // A payload already shaped {"value", "_metadata"} is unwrapped.
        let (data, metadata) = match payload {
            Value::Object(mut object)
                if object.contains_key("value")
                    && object.contains_key("_metadata")
                    && object.len() == 2 =>
            {
                let metadata = object.remove("_metadata").unwrap_or(Value::Null);
                (object.remove("value").unwrap_or(Value::Null), metadata)
            }
            other => (other, Value::Object(Map::clone(&record.metadata))),
        };
        let mut row = Map::new();
        if self.config.metadata_columns.flatten_metadata_columns {
            let prefix = self
                .config
                .metadata_columns
                .flatten_metadata_columns_prefix
                .as_deref()
                .unwrap_or("");
            if let Value::Object(fields) = &metadata {
                for (key, value) in fields {
                    row.insert(format!("{prefix}{key}"), value.clone());
                }
            }
        }
        row.insert("data".into(), data);
        row.insert("_metadata".into(), metadata);
        row
    }

    /// Creates the table or adds columns when `autoCreateTable` allows; otherwise rejects rows
    /// with fields the table does not have. Returns the rows that can be written.
    async fn fit_schema<'a>(
        &mut self,
        units: Vec<Unit<'a>>,
        rejections: &mut Vec<Rejection>,
    ) -> Result<Vec<Unit<'a>>, SinkError> {
        let units = if self.config.auto_create_table {
            self.reject_unusable_names(units, rejections)
        } else {
            units
        };
        let first_row = units.iter().find_map(|u| match u {
            Unit::Row { fields, .. } => Some(fields.clone().into_owned()),
            Unit::Delete { .. } => None,
        });
        if self.columns.is_empty() {
            let Some(first) = first_row else {
                return Ok(units);
            };
            if !self.config.auto_create_table {
                return Err(SinkError::Fatal(format!(
                    "table {} does not exist; create it or set autoCreateTable: true",
                    self.table.quoted()
                )));
            }
            let key = if self.config.upsert_mode {
                self.config.conflict_key.as_str()
            } else {
                "id"
            };
            let key = first.contains_key(key).then_some(key);
            let statement = catalog::create_table_sql(
                &self.table,
                &first,
                key,
                self.config.soft_delete_column.as_deref(),
            );
            self.run_ddl(&[statement]).await?;
        }
        let known: HashMap<&str, ()> = self.columns.iter().map(|c| (c.name.as_str(), ())).collect();
        let mut missing: Vec<(String, Value)> = Vec::new();
        let mut previous: Option<&Map<String, Value>> = None;
        for unit in &units {
            if let Unit::Row { fields, .. } = unit {
                // Rows usually share their keys: check a key list once.
                let same_keys = previous.is_some_and(|p| {
                    p.len() == fields.len() && p.keys().zip(fields.keys()).all(|(a, b)| a == b)
                });
                previous = Some(fields);
                if same_keys {
                    continue;
                }
                for (name, value) in fields.iter() {
                    if !known.contains_key(name.as_str()) {
                        match missing.iter_mut().find(|(n, _)| n == name) {
                            Some((_, seen)) if seen.is_null() => *seen = value.clone(),
                            Some(_) => {}
                            None => missing.push((name.clone(), value.clone())),
                        }
                    }
                }
            }
        }
        drop(known);
        if missing.is_empty() {
            return Ok(units);
        }
        if self.config.auto_create_table {
            return self.add_columns(units, missing, rejections).await;
        }
        let mut kept = Vec::with_capacity(units.len());
        for unit in units {
            let unknown: Vec<&str> = match &unit {
                Unit::Row { fields, .. } => fields
                    .keys()
                    .filter(|k| missing.iter().any(|(n, _)| n == *k))
                    .map(String::as_str)
                    .collect(),
                Unit::Delete { .. } => Vec::new(),
            };
            if unknown.is_empty() {
                kept.push(unit);
            } else {
                rejections.push(Rejection {
                    index: unit.index(),
                    reason: format!(
                        "table {} has no column {} (set autoCreateTable: true to add columns)",
                        self.table.quoted(),
                        unknown
                            .iter()
                            .map(|c| format!("{c:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    error_type: ErrorType::InvalidData,
                });
            }
        }
        Ok(kept)
    }

    /// With `autoCreateTable`, rejects the messages whose new fields cannot be columns, before
    /// any DDL: one such message used to fail the whole batch, again after every restart.
    fn reject_unusable_names<'a>(
        &self,
        units: Vec<Unit<'a>>,
        rejections: &mut Vec<Rejection>,
    ) -> Vec<Unit<'a>> {
        let known: std::collections::HashSet<&str> =
            self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut kept = Vec::with_capacity(units.len());
        for unit in units {
            let problem = match &unit {
                Unit::Row { fields, .. } => fields
                    .keys()
                    .filter(|name| !known.contains(name.as_str()))
                    .find_map(|name| column_name_problem(name).map(|p| (name.clone(), p))),
                Unit::Delete { .. } => None,
            };
            match problem {
                Some((name, problem)) => rejections.push(Rejection::new(
                    unit.index(),
                    format!(
                        "field {name:?} cannot be a column of {}: {problem}",
                        self.table.quoted()
                    ),
                )),
                None => kept.push(unit),
            }
        }
        kept
    }

    /// Adds the missing columns one by one. A column PostgreSQL refuses (or one past the
    /// table's column limit) rejects the messages that carry it; the others go on.
    async fn add_columns<'a>(
        &mut self,
        units: Vec<Unit<'a>>,
        missing: Vec<(String, Value)>,
        rejections: &mut Vec<Rejection>,
    ) -> Result<Vec<Unit<'a>>, SinkError> {
        let mut refused: Vec<(String, String)> = Vec::new();
        let mut count = self.columns.len();
        for (name, value) in &missing {
            if count >= MAX_COLUMNS {
                refused.push((
                    name.clone(),
                    format!("the table has {MAX_COLUMNS} columns, PostgreSQL's limit"),
                ));
                continue;
            }
            let statement = catalog::add_column_sql(&self.table, name, value);
            tracing::info!(%statement, "postgresql sink: changing the table");
            let client = self.client().await?;
            match client.batch_execute(&statement).await {
                Ok(()) => count += 1,
                Err(error) if is_transient(&error) || error.code().is_none() => {
                    return Err(sql_error("changing the table", &error));
                }
                Err(error) => refused.push((name.clone(), describe(&error))),
            }
        }
        self.refresh_columns().await?;
        if refused.is_empty() {
            return Ok(units);
        }
        let mut kept = Vec::with_capacity(units.len());
        for unit in units {
            let reason = match &unit {
                Unit::Row { fields, .. } => refused
                    .iter()
                    .find(|(name, _)| fields.contains_key(name))
                    .map(|(name, reason)| format!("adding the column {name:?}: {reason}")),
                Unit::Delete { .. } => None,
            };
            match reason {
                Some(reason) => rejections.push(Rejection::new(unit.index(), reason)),
                None => kept.push(unit),
            }
        }
        Ok(kept)
    }

    /// Groups rows by column list and encodes each once; rows that cannot be encoded are
    /// rejected.
    fn encode(
        &self,
        units: Vec<Unit<'_>>,
        rejections: &mut Vec<Rejection>,
    ) -> (Vec<Group>, Vec<Part>) {
        let by_name: HashMap<&str, &Column> =
            self.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        let mut groups: Vec<Group> = Vec::new();
        let mut parts = Vec::with_capacity(units.len());
        for unit in units {
            let (index, fields) = match unit {
                Unit::Delete { index, key } => {
                    parts.push(Part::Delete { index, key });
                    continue;
                }
                Unit::Row { index, fields } => (index, fields),
            };
            if self.config.upsert_mode
                && fields
                    .get(&self.config.conflict_key)
                    .is_none_or(Value::is_null)
            {
                rejections.push(Rejection::new(
                    index,
                    format!(
                        "upsert needs the conflict key field {:?}",
                        self.config.conflict_key
                    ),
                ));
                continue;
            }
            let group_index = match groups.last().filter(|g| g.same_order(&fields)) {
                Some(_) => groups.len() - 1,
                None => match groups.iter().position(|g| g.same_set(&fields)) {
                    Some(found) => found,
                    None => {
                        let columns: Vec<String> = fields.keys().cloned().collect();
                        let Some(mut resolved) = resolve_columns(&by_name, &columns) else {
                            rejections.push(Rejection::new(
                                index,
                                format!(
                                    "table {} lacks a column of this message",
                                    self.table.quoted()
                                ),
                            ));
                            continue;
                        };
                        let binary = resolved.iter().all(|col| col.kind != ColumnKind::Other);
                        if self.config.upsert_mode {
                            resolved.push(self.ordinal.clone());
                        }
                        groups.push(Group {
                            columns,
                            resolved,
                            binary,
                            data: BytesMut::new(),
                            frozen: Bytes::new(),
                            rows: Vec::new(),
                        });
                        groups.len() - 1
                    }
                },
            };
            let group = &mut groups[group_index];
            let mut data = std::mem::take(&mut group.data);
            let start = data.len();
            let encoded = encode_row(group, &fields, index, self.config.upsert_mode, &mut data);
            group.data = data;
            match encoded {
                Ok(()) => {
                    group.rows.push((index, start..group.data.len()));
                    parts.push(Part::Row {
                        group: group_index,
                        row: group.rows.len() - 1,
                        index,
                    });
                }
                Err(reason) => rejections.push(Rejection::new(index, reason)),
            }
        }
        for group in &mut groups {
            group.frozen = std::mem::take(&mut group.data).freeze();
        }
        (groups, parts)
    }

    /// The common batch — rows that all share one key order, no deletes — written in one pass:
    /// rows are encoded into chunks that go to the server as soon as they are full, so the
    /// server ingests while the rest is encoded. `Ok(None)` when the batch is not that shape.
    async fn stream(
        &mut self,
        units: &[Unit<'_>],
    ) -> Result<Option<Vec<Rejection>>, tokio_postgres::Error> {
        const CHUNK: usize = 256 * 1024;
        let rows: Vec<(usize, &Map<String, Value>)> = units
            .iter()
            .filter_map(|unit| match unit {
                Unit::Row { index, fields } => Some((*index, fields.as_ref())),
                Unit::Delete { .. } => None,
            })
            .collect();
        let Some((_, first)) = rows.first() else {
            return Ok(None);
        };
        if rows.len() != units.len()
            || !rows.iter().all(|(_, f)| {
                f.len() == first.len() && f.keys().zip(first.keys()).all(|(a, b)| a == b)
            })
        {
            return Ok(None);
        }
        let by_name: HashMap<&str, &Column> =
            self.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        let columns: Vec<String> = first.keys().cloned().collect();
        // A column the catalog lacks: the row-by-row path rejects that message.
        let Some(mut resolved) = resolve_columns(&by_name, &columns) else {
            return Ok(None);
        };
        let binary = resolved.iter().all(|col| col.kind != ColumnKind::Other);
        if self.config.upsert_mode {
            resolved.push(self.ordinal.clone());
        }
        let group = Group {
            columns,
            resolved,
            binary,
            data: BytesMut::new(),
            frozen: Bytes::new(),
            rows: Vec::new(),
        };
        let (copy, merge) = self.copy_statements(&group, false);
        let mut rejections = Vec::new();
        let table = self.table.quoted();
        let upsert = self.config.upsert_mode;
        let conflict_key = self.config.conflict_key.clone();
        let mut buffer = BytesMut::with_capacity(CHUNK + 4096);
        if binary {
            encode::binary_header(&mut buffer);
        }
        let client = self.client.as_mut().expect("connected before writing");
        let transaction = client.transaction().await?;
        if upsert {
            let quoted = group
                .columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ");
            transaction
                .batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS \"__dataflow_stage\" ON COMMIT DROP AS SELECT {quoted}, 0::bigint AS {ORDINAL} FROM {table} WITH NO DATA"
                ))
                .await?;
        }
        let sink = transaction.copy_in::<_, Bytes>(&copy).await?;
        let mut sink = std::pin::pin!(sink);
        for (index, fields) in rows {
            if upsert && fields.get(&conflict_key).is_none_or(Value::is_null) {
                rejections.push(Rejection::new(
                    index,
                    format!("upsert needs the conflict key field {conflict_key:?}"),
                ));
                continue;
            }
            let encoded = encode_row(&group, fields, index, upsert, &mut buffer);
            if let Err(reason) = encoded {
                rejections.push(Rejection::new(index, reason));
            }
            if buffer.len() >= CHUNK {
                sink.send(buffer.split().freeze()).await?;
            }
        }
        if binary {
            encode::binary_trailer(&mut buffer);
        }
        sink.send(buffer.freeze()).await?;
        sink.as_mut().finish().await?;
        if let Some(merge) = merge {
            transaction.batch_execute(&merge).await?;
            transaction
                .batch_execute("DROP TABLE \"__dataflow_stage\"")
                .await?;
        }
        transaction.commit().await?;
        Ok(Some(rejections))
    }

    /// Writes `parts` in one transaction.
    async fn execute(
        &mut self,
        groups: &[Group],
        parts: &[Part],
        skip_existing: bool,
    ) -> Result<(), tokio_postgres::Error> {
        let staged = self.config.upsert_mode || skip_existing;
        let statements: Vec<(String, Option<String>)> = groups
            .iter()
            .map(|group| self.copy_statements(group, skip_existing))
            .collect();
        let soft_delete = self.config.soft_delete_column.clone();
        let conflict_key = self.config.conflict_key.clone();
        let table = self.table.quoted();
        let client = self.client.as_mut().expect("connected before executing");
        let transaction = client.transaction().await?;
        for (group_index, group) in groups.iter().enumerate() {
            let mut rows = parts.iter().filter_map(|p| match p {
                Part::Row { group: g, row, .. } if *g == group_index => Some(&group.rows[*row].1),
                _ => None,
            });
            let Some(first) = rows.next() else { continue };
            let (copy, merge) = statements[group_index].clone();
            if staged {
                let columns = group
                    .columns
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                transaction
                    .batch_execute(&format!(
                        "CREATE TEMP TABLE IF NOT EXISTS \"__dataflow_stage\" ON COMMIT DROP AS SELECT {columns}, 0::bigint AS {ORDINAL} FROM {table} WITH NO DATA"
                    ))
                    .await?;
            }
            let count = parts
                .iter()
                .filter(|p| matches!(p, Part::Row { group: g, .. } if *g == group_index))
                .count();
            let mut chunks: Vec<Bytes> = Vec::with_capacity(3);
            if group.binary {
                let mut header = BytesMut::with_capacity(19);
                encode::binary_header(&mut header);
                chunks.push(header.freeze());
            }
            if count == group.rows.len() {
                // The whole group: its encoded rows as they are.
                chunks.push(group.frozen.clone());
            } else {
                let mut data = BytesMut::with_capacity(group.frozen.len());
                for range in std::iter::once(first).chain(rows) {
                    data.extend_from_slice(&group.frozen[range.clone()]);
                }
                chunks.push(data.freeze());
            }
            if group.binary {
                let mut trailer = BytesMut::with_capacity(2);
                encode::binary_trailer(&mut trailer);
                chunks.push(trailer.freeze());
            }
            let sink = transaction.copy_in::<_, Bytes>(&copy).await?;
            let mut sink = std::pin::pin!(sink);
            for chunk in chunks {
                sink.feed(chunk).await?;
            }
            sink.as_mut().finish().await?;
            if let Some(merge) = merge {
                let inserted = transaction.execute(&merge, &[]).await?;
                if skip_existing && (inserted as usize) < count {
                    tracing::warn!(table = %table, skipped = count - inserted as usize,
                        "rows whose key is already in the table were skipped (written before a \
                         restart, or a repeated key; upsertMode overwrites instead)");
                }
                transaction
                    .batch_execute("DROP TABLE \"__dataflow_stage\"")
                    .await?;
            }
        }
        if let Some(column) = soft_delete {
            let statement = format!(
                "UPDATE {table} SET {} = now() WHERE {}::text = $1",
                quote(&column),
                quote(&conflict_key)
            );
            for part in parts {
                if let Part::Delete { key, .. } = part {
                    let key = match key {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    transaction.execute(&statement, &[&key]).await?;
                }
            }
        }
        transaction.commit().await
    }

    /// The COPY statement of a group and, for upserts (and plain writes that skip rows already
    /// present), the statement that moves the rows from the staging table.
    fn copy_statements(&self, group: &Group, skip_existing: bool) -> (String, Option<String>) {
        let columns: Vec<String> = group.columns.iter().map(|c| quote(c)).collect();
        let format = if group.binary { "binary" } else { "csv" };
        if !self.config.upsert_mode && !skip_existing {
            let copy = format!(
                "COPY {} ({}) FROM STDIN (FORMAT {format})",
                self.table.quoted(),
                columns.join(", ")
            );
            return (copy, None);
        }
        if !self.config.upsert_mode {
            // A replayed batch in plain mode: rows whose key is present were written before
            // (at-least-once), so they are skipped, as the original's ON CONFLICT DO NOTHING.
            let copy = format!(
                "COPY \"__dataflow_stage\" ({}) FROM STDIN (FORMAT {format})",
                columns.join(", ")
            );
            let insert = format!(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM \"__dataflow_stage\" ON CONFLICT DO NOTHING",
                table = self.table.quoted(),
                cols = columns.join(", "),
            );
            return (copy, Some(insert));
        }
        let copy = format!(
            "COPY \"__dataflow_stage\" ({}, {ORDINAL}) FROM STDIN (FORMAT {format})",
            columns.join(", ")
        );
        let key = quote(&self.config.conflict_key);
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| **c != key)
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        let action = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            let mut action = format!("DO UPDATE SET {}", updates.join(", "));
            if self.config.upsert_strategy == UpsertStrategy::IfNewer
                && let Some(version) = &self.config.upsert_version_column
            {
                let version = quote(version);
                action.push_str(&format!(
                    " WHERE {table}.{version} IS NULL OR EXCLUDED.{version} > {table}.{version}",
                    table = self.table.quoted()
                ));
            }
            action
        };
        let merge = format!(
            "INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM \"__dataflow_stage\" ORDER BY {key}, {ORDINAL} DESC ON CONFLICT ({key}) {action}",
            table = self.table.quoted(),
            cols = columns.join(", "),
        );
        (copy, Some(merge))
    }
}

/// Encodes one row of `group` into `buffer` (with its batch ordinal for upserts).
fn encode_row(
    group: &Group,
    fields: &Map<String, Value>,
    index: usize,
    upsert: bool,
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let columns: Vec<&Column> = group.resolved.iter().collect();
    let ordinal_value = Value::from(index as u64);
    let mut values: Vec<Option<&Value>> = if group.same_order(fields) {
        fields.values().map(Some).collect()
    } else {
        group.columns.iter().map(|c| fields.get(c)).collect()
    };
    if upsert {
        values.push(Some(&ordinal_value));
    }
    if group.binary {
        encode::binary_row(buffer, &columns, &values)
    } else {
        encode::csv_row(buffer, &columns, &values)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The catalog's column of each field name, or `None` when one is missing.
fn resolve_columns(by_name: &HashMap<&str, &Column>, names: &[String]) -> Option<Vec<Column>> {
    names
        .iter()
        .map(|name| by_name.get(name.as_str()).map(|column| (*column).clone()))
        .collect()
}

/// Column names PostgreSQL reserves for system columns.
const SYSTEM_COLUMNS: [&str; 6] = ["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// Most columns a PostgreSQL table may have.
const MAX_COLUMNS: usize = 1600;

/// Why a field name cannot become a column (PostgreSQL would refuse it or, past 63 bytes,
/// silently truncate it), if it cannot.
fn column_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty name")
    } else if name.contains('\0') {
        Some("a name with a NUL character")
    } else if name.len() > 63 {
        Some("a name longer than 63 bytes, which PostgreSQL truncates")
    } else if SYSTEM_COLUMNS.contains(&name) {
        Some("the name of a system column")
    } else {
        None
    }
}

fn sql_error(what: &str, error: &tokio_postgres::Error) -> SinkError {
    let text = format!("{what}: {}", describe(error));
    if is_transient(error) {
        SinkError::Transient(text)
    } else {
        SinkError::Fatal(text)
    }
}

/// Whether a failed statement is about the data of some row (and splitting the batch finds it).
fn is_data_error(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        let code = code.code();
        code.starts_with("22") || code.starts_with("23")
    })
}

impl PostgresSink {
    /// Whether a plain-mode write failed on a key that is already in the table (SQLSTATE
    /// 23505): rows written before, not bad data.
    fn is_replayed_key(&self, error: &tokio_postgres::Error) -> bool {
        !self.config.upsert_mode && error.code().is_some_and(|code| code.code() == "23505")
    }

    /// What a batch failing for other than data reasons becomes; the connection is dropped so
    /// the retry starts on a fresh one (a broken connection may not know yet).
    async fn failed_batch(&mut self, error: &tokio_postgres::Error) -> SinkError {
        if matches!(error.code().map(|c| c.code()), Some("42703" | "42804")) {
            // The table changed under us: read its columns again before the retry.
            let _ = self.refresh_columns().await;
            return SinkError::Transient(describe(error));
        }
        self.client = None;
        sql_error("writing the batch", error)
    }
}

#[async_trait]
impl Sink for PostgresSink {
    async fn connect(&mut self) -> Result<(), SinkError> {
        self.client().await?;
        if self.config.raw_mode {
            let statements = catalog::raw_table_sql(&self.table);
            self.run_ddl(&statements).await?;
        }
        if self.columns.is_empty() && !self.config.auto_create_table {
            return Err(SinkError::Fatal(format!(
                "table {} does not exist; create it or set autoCreateTable: true",
                self.table.quoted()
            )));
        }
        Ok(())
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        self.client().await?;
        let mut rejections = Vec::new();
        let units = self.prepare(batch, &mut rejections);
        let units = self.fit_schema(units, &mut rejections).await?;
        // Plain mode writes by COPY straight into the table; a key already present (a replay
        // after a crash or a lost COMMIT reply) moves the batch to a staged insert that skips
        // such rows. Only then: the fast path stays one COPY.
        let mut skip_existing = false;
        match self.stream(&units).await {
            Ok(Some(streamed)) => {
                rejections.extend(streamed);
                return Ok(rejections);
            }
            Ok(None) => {}
            Err(error) if self.is_replayed_key(&error) => skip_existing = true,
            // Some row is bad: find it below by splitting the batch.
            Err(error) if is_data_error(&error) => {}
            Err(error) => return Err(self.failed_batch(&error).await),
        }
        let (groups, parts) = self.encode(units, &mut rejections);
        // Split until every failing part is a single row: the rest is written.
        let mut pending = vec![parts];
        while let Some(parts) = pending.pop() {
            if parts.is_empty() {
                continue;
            }
            match self.execute(&groups, &parts, skip_existing).await {
                Ok(()) => {}
                Err(error) if !skip_existing && self.is_replayed_key(&error) => {
                    skip_existing = true;
                    pending.push(parts);
                }
                Err(error) if is_data_error(&error) => {
                    if parts.len() == 1 {
                        let reason = describe(&error);
                        let error_type = match classify(&reason, error.code().map(|c| c.code())) {
                            ErrorType::Unknown => ErrorType::InvalidData,
                            other => other,
                        };
                        rejections.push(Rejection {
                            index: parts[0].index(),
                            reason,
                            error_type,
                        });
                    } else {
                        let middle = parts.len() / 2;
                        pending.push(parts[middle..].to_vec());
                        pending.push(parts[..middle].to_vec());
                    }
                }
                Err(error) => return Err(self.failed_batch(&error).await),
            }
        }
        Ok(rejections)
    }
}
