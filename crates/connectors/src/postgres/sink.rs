//! The PostgreSQL sink: one transaction per batch, rows streamed with COPY (binary where every
//! column type has an encoder, CSV otherwise), upserts through a staging table, and batches
//! with bad rows split until exactly the bad rows are left for the error sink.
//!
//! Layout (one role per file): `rows.rs` turns messages into changes (rows or deletes),
//! `schema.rs` fits the table to them, `copy.rs` encodes them into blocks and writes the
//! statements, and this file is the `Sink`: connect, stream the common batch in one pass, or
//! bisect a batch with bad rows.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dataflow_core::{
    BuildError, ErrorReason, ErrorType, Message, Rejection, Sink, SinkError, classify,
};
use dataflow_spec::PostgresSinkConfig;
use futures_util::SinkExt;
use serde_json::{Map, Value};
use tokio_postgres::Client;

use super::catalog::{self, Column, ColumnKind};
use super::copy::{Block, ORDINAL, Piece, encode_row};
use super::encode;
use super::rows::Change;
use super::{ConnectError, TableName, connect, describe, is_transient, quote};
use crate::bisect::{BisectWrite, Failure, bisect};

/// The `postgresql` sink.
pub struct PostgresSink {
    pub(super) config: PostgresSinkConfig,
    connection_string: String,
    pub(super) table: TableName,
    pub(super) client: Option<Client>,
    /// The table's columns, as the catalog last said.
    pub(super) columns: Vec<Column>,
    /// The batch-ordinal column of the staging table.
    pub(super) ordinal: Column,
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

    pub(super) async fn client(&mut self) -> Result<&mut Client, SinkError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = connect(&self.connection_string)
                .await
                .map_err(|error| match error {
                    ConnectError::Settings(text) => {
                        SinkError::fatal(ErrorType::Unknown, format!("postgresql sink: {text}"))
                    }
                    ConnectError::TimedOut(_) => SinkError::transient(
                        ErrorType::Timeout,
                        format!("connecting to PostgreSQL: {error}"),
                    ),
                    ConnectError::Postgres(e) => {
                        let text = format!("connecting to PostgreSQL: {}", describe(&e));
                        let transient = is_transient(&e);
                        let reason = ErrorReason::new(error_kind(&e), text).caused_by(e);
                        if transient {
                            SinkError::Transient(reason)
                        } else {
                            SinkError::Fatal(reason)
                        }
                    }
                })?;
            self.client = Some(client);
            self.refresh_columns().await?;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// The common batch — rows that all share one key order, no deletes — written in one pass:
    /// rows are encoded into chunks that go to the server as soon as they are full, so the
    /// server ingests while the rest is encoded. `Ok(None)` when the batch is not that shape.
    async fn stream(
        &mut self,
        changes: &[Change<'_>],
    ) -> Result<Option<Vec<Rejection>>, tokio_postgres::Error> {
        const CHUNK: usize = 256 * 1024;
        let rows: Vec<(usize, &Map<String, Value>)> = changes
            .iter()
            .filter_map(|change| match change {
                Change::Row { index, fields } => Some((*index, fields.as_ref())),
                Change::Delete { .. } => None,
            })
            .collect();
        let Some((_, first)) = rows.first() else {
            return Ok(None);
        };
        if rows.len() != changes.len()
            || !rows.iter().all(|(_, f)| {
                f.len() == first.len() && f.keys().zip(first.keys()).all(|(a, b)| a == b)
            })
        {
            return Ok(None);
        }
        let by_name: HashMap<&str, &Column> =
            self.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        // A column the catalog lacks: the row-by-row path rejects that message.
        let Some(block) = self.block_for(&by_name, first.keys().cloned().collect()) else {
            return Ok(None);
        };
        let binary = block.binary;
        let (copy, merge) = self.copy_statements(&block, false);
        let mut rejections = Vec::new();
        let upsert = self.config.upsert_mode;
        let conflict_key = self.config.conflict_key.clone();
        let mut buffer = BytesMut::with_capacity(CHUNK + 4096);
        if binary {
            encode::binary_header(&mut buffer);
        }
        let staging = upsert.then(|| self.staging_table_sql(&block));
        let client = self.client.as_mut().expect("connected before writing");
        let transaction = client.transaction().await?;
        if let Some(staging) = staging {
            transaction.batch_execute(&staging).await?;
        }
        let sink = transaction.copy_in::<_, Bytes>(&copy).await?;
        let mut sink = std::pin::pin!(sink);
        for (index, fields) in rows {
            if upsert && fields.get(&conflict_key).is_none_or(Value::is_null) {
                rejections.push(Rejection::of_kind(
                    index,
                    ErrorType::InvalidData,
                    format!("upsert needs the conflict key field {conflict_key:?}"),
                ));
                continue;
            }
            let encoded = encode_row(&block, fields, index, upsert, &mut buffer);
            if let Err(reason) = encoded {
                rejections.push(Rejection::of_kind(index, ErrorType::InvalidData, reason));
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

    /// Writes `pieces` in one transaction.
    async fn execute(
        &mut self,
        blocks: &[Block],
        pieces: &[Piece],
        skip_existing: bool,
    ) -> Result<(), tokio_postgres::Error> {
        let staged = self.config.upsert_mode || skip_existing;
        let statements: Vec<(String, Option<String>)> = blocks
            .iter()
            .map(|block| self.copy_statements(block, skip_existing))
            .collect();
        let staging: Vec<String> = blocks
            .iter()
            .map(|block| self.staging_table_sql(block))
            .collect();
        let soft_delete = self.config.soft_delete_column.clone();
        let conflict_key = self.config.conflict_key.clone();
        let table = self.table.quoted();
        let client = self.client.as_mut().expect("connected before executing");
        let transaction = client.transaction().await?;
        for (block_index, block) in blocks.iter().enumerate() {
            let mut rows = pieces.iter().filter_map(|p| match p {
                Piece::Row { block: g, row, .. } if *g == block_index => Some(&block.rows[*row].1),
                _ => None,
            });
            let Some(first) = rows.next() else { continue };
            let (copy, merge) = statements[block_index].clone();
            if staged {
                transaction.batch_execute(&staging[block_index]).await?;
            }
            let count = pieces
                .iter()
                .filter(|p| matches!(p, Piece::Row { block: g, .. } if *g == block_index))
                .count();
            let mut chunks: Vec<Bytes> = Vec::with_capacity(3);
            if block.binary {
                let mut header = BytesMut::with_capacity(19);
                encode::binary_header(&mut header);
                chunks.push(header.freeze());
            }
            if count == block.rows.len() {
                // The whole block: its encoded rows as they are.
                chunks.push(block.frozen.clone());
            } else {
                let mut data = BytesMut::with_capacity(block.frozen.len());
                for range in std::iter::once(first).chain(rows) {
                    data.extend_from_slice(&block.frozen[range.clone()]);
                }
                chunks.push(data.freeze());
            }
            if block.binary {
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
            for piece in pieces {
                if let Piece::Delete { key, .. } = piece {
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
}

pub(super) fn sql_error(what: &str, error: &tokio_postgres::Error) -> SinkError {
    let reason = ErrorReason::new(error_kind(error), format!("{what}: {}", describe(error)));
    if is_transient(error) {
        SinkError::Transient(reason)
    } else {
        SinkError::Fatal(reason)
    }
}

/// The kind of a PostgreSQL error: by SQLSTATE when the server sent one (class 28 a refused
/// login, 23 a constraint, 08 and 57P a lost connection, …), by the I/O error underneath
/// otherwise.
pub(super) fn error_kind(error: &tokio_postgres::Error) -> ErrorType {
    match error.code() {
        Some(code) => match classify(&describe(error), Some(code.code())) {
            ErrorType::Unknown if code.code().starts_with("28") => ErrorType::AuthError,
            kind => kind,
        },
        None if error.is_closed() || is_transient(error) => ErrorType::ConnectionError,
        None => ErrorType::Unknown,
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
            return SinkError::transient(error_kind(error), describe(error));
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
            return Err(SinkError::fatal(
                ErrorType::Unknown,
                format!(
                    "table {} does not exist; create it or set autoCreateTable: true",
                    self.table.quoted()
                ),
            ));
        }
        Ok(())
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        self.client().await?;
        let mut rejections = Vec::new();
        let changes = self.prepare(batch, &mut rejections);
        let changes = self.fit_schema(changes, &mut rejections).await?;
        // Plain mode writes by COPY straight into the table; a key already present (a replay
        // after a crash or a lost COMMIT reply) moves the batch to a staged insert that skips
        // such rows. Only then: the fast path stays one COPY.
        let mut skip_existing = false;
        match self.stream(&changes).await {
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
        let (blocks, pieces) = self.encode(changes, &mut rejections);
        // Split until every failing piece is a single row: the rest is written.
        let mut bisecting = Bisecting {
            sink: self,
            blocks: &blocks,
            skip_existing,
        };
        match bisect(&mut bisecting, pieces).await {
            Ok(rejected) => rejections.extend(rejected),
            Err(error) => return Err(self.failed_batch(&error).await),
        }
        Ok(rejections)
    }
}

/// The PostgreSQL side of the shared bisection: pieces written in one transaction (staged to
/// skip rows already present once a replay showed itself).
struct Bisecting<'a> {
    sink: &'a mut PostgresSink,
    blocks: &'a [Block],
    skip_existing: bool,
}

#[async_trait]
impl BisectWrite for Bisecting<'_> {
    type Piece = Piece;
    type Error = tokio_postgres::Error;

    async fn write_pieces(&mut self, pieces: &[Piece]) -> Result<(), tokio_postgres::Error> {
        self.sink
            .execute(self.blocks, pieces, self.skip_existing)
            .await
    }

    fn judge(&mut self, error: tokio_postgres::Error) -> Failure<tokio_postgres::Error> {
        if !self.skip_existing && self.sink.is_replayed_key(&error) {
            self.skip_existing = true;
            Failure::Again
        } else if is_data_error(&error) {
            Failure::Data(error)
        } else {
            Failure::Batch(error)
        }
    }

    fn reject(&self, piece: &Piece, error: tokio_postgres::Error) -> Rejection {
        let reason = describe(&error);
        let error_type = match classify(&reason, error.code().map(|c| c.code())) {
            ErrorType::Unknown => ErrorType::InvalidData,
            other => other,
        };
        Rejection {
            index: piece.index(),
            reason,
            error_type,
        }
    }
}
