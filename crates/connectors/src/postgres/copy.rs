//! Rows encoded for COPY, built once and shared by both write paths (the streaming one and
//! the bisecting one): rows sharing a column list form a [`Block`], encoded once; a [`Piece`]
//! is one row of a block or a delete; and the statements that load a block (straight into the
//! table, or through the staging table for upserts and replays).

use std::collections::HashMap;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use dataflow_core::{ErrorType, Rejection};
use dataflow_spec::UpsertStrategy;
use serde_json::{Map, Value};

use super::catalog::{Column, ColumnKind};
use super::encode;
use super::quote;
use super::rows::Change;
use super::sink::PostgresSink;

/// Name of the batch-ordinal column of the upsert staging table.
pub(super) const ORDINAL: &str = "__dataflow_ordinal";

/// Rows sharing one column list, encoded once; `rows[i]` is the byte range of one row.
pub(super) struct Block {
    /// The field names, in the rows' order.
    pub(super) columns: Vec<String>,
    /// The catalog entry of each column (plus the ordinal column for upserts).
    pub(super) resolved: Vec<Column>,
    /// Every column has a binary encoder (else the block is CSV).
    pub(super) binary: bool,
    /// Encoded rows while encoding; moved into `frozen` when done.
    pub(super) data: BytesMut,
    /// The encoded rows, shared without copying.
    pub(super) frozen: Bytes,
    /// Each row: its message's index in the batch and its bytes in `frozen`.
    pub(super) rows: Vec<(usize, Range<usize>)>,
}

impl Block {
    /// Whether a row has exactly these columns in this order (no hashing).
    fn same_order(&self, fields: &Map<String, Value>) -> bool {
        fields.len() == self.columns.len() && fields.keys().zip(&self.columns).all(|(a, b)| a == b)
    }

    /// Whether a row has exactly these columns in any order.
    fn same_set(&self, fields: &Map<String, Value>) -> bool {
        fields.len() == self.columns.len() && self.columns.iter().all(|c| fields.contains_key(c))
    }
}

/// A piece of work: a row of a block, or a delete.
#[derive(Clone)]
pub(super) enum Piece {
    Row {
        block: usize,
        row: usize,
        index: usize,
    },
    Delete {
        index: usize,
        key: Value,
    },
}

impl Piece {
    pub(super) fn index(&self) -> usize {
        match self {
            Piece::Row { index, .. } | Piece::Delete { index, .. } => *index,
        }
    }
}

impl PostgresSink {
    /// Groups rows by column list and encodes each once; rows that cannot be encoded are
    /// rejected.
    pub(super) fn encode(
        &self,
        changes: Vec<Change<'_>>,
        rejections: &mut Vec<Rejection>,
    ) -> (Vec<Block>, Vec<Piece>) {
        let by_name: HashMap<&str, &Column> =
            self.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        let mut blocks: Vec<Block> = Vec::new();
        let mut pieces = Vec::with_capacity(changes.len());
        for change in changes {
            let (index, fields) = match change {
                Change::Delete { index, key } => {
                    pieces.push(Piece::Delete { index, key });
                    continue;
                }
                Change::Row { index, fields } => (index, fields),
            };
            if self.config.upsert_mode
                && fields
                    .get(&self.config.conflict_key)
                    .is_none_or(Value::is_null)
            {
                rejections.push(Rejection::of_kind(
                    index,
                    ErrorType::InvalidData,
                    format!(
                        "upsert needs the conflict key field {:?}",
                        self.config.conflict_key
                    ),
                ));
                continue;
            }
            let block_index = match blocks.last().filter(|g| g.same_order(&fields)) {
                Some(_) => blocks.len() - 1,
                None => match blocks.iter().position(|g| g.same_set(&fields)) {
                    Some(found) => found,
                    None => {
                        let Some(block) =
                            self.block_for(&by_name, fields.keys().cloned().collect())
                        else {
                            rejections.push(Rejection::of_kind(
                                index,
                                ErrorType::InvalidData,
                                format!(
                                    "table {} lacks a column of this message",
                                    self.table.quoted()
                                ),
                            ));
                            continue;
                        };
                        blocks.push(block);
                        blocks.len() - 1
                    }
                },
            };
            let block = &mut blocks[block_index];
            let mut data = std::mem::take(&mut block.data);
            let start = data.len();
            let encoded = encode_row(block, &fields, index, self.config.upsert_mode, &mut data);
            block.data = data;
            match encoded {
                Ok(()) => {
                    block.rows.push((index, start..block.data.len()));
                    pieces.push(Piece::Row {
                        block: block_index,
                        row: block.rows.len() - 1,
                        index,
                    });
                }
                Err(reason) => {
                    rejections.push(Rejection::of_kind(index, ErrorType::InvalidData, reason))
                }
            }
        }
        for block in &mut blocks {
            block.frozen = std::mem::take(&mut block.data).freeze();
        }
        (blocks, pieces)
    }

    /// The COPY statement of a block and, for upserts (and plain writes that skip rows already
    /// present), the statement that moves the rows from the staging table.
    pub(super) fn copy_statements(
        &self,
        block: &Block,
        skip_existing: bool,
    ) -> (String, Option<String>) {
        let columns: Vec<String> = block.columns.iter().map(|c| quote(c)).collect();
        let format = if block.binary { "binary" } else { "csv" };
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

    /// An empty block for rows with these field names, in this order; `None` when the table
    /// lacks one of them. Both write paths build their blocks here.
    pub(super) fn block_for(
        &self,
        by_name: &HashMap<&str, &Column>,
        columns: Vec<String>,
    ) -> Option<Block> {
        let mut resolved = resolve_columns(by_name, &columns)?;
        let binary = resolved.iter().all(|col| col.kind != ColumnKind::Other);
        if self.config.upsert_mode {
            resolved.push(self.ordinal.clone());
        }
        Some(Block {
            columns,
            resolved,
            binary,
            data: BytesMut::new(),
            frozen: Bytes::new(),
            rows: Vec::new(),
        })
    }

    /// The staging table a block is copied into before it moves to the table (upserts, and
    /// replays in plain mode); dropped at commit.
    pub(super) fn staging_table_sql(&self, block: &Block) -> String {
        let columns = block
            .columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "CREATE TEMP TABLE IF NOT EXISTS \"__dataflow_stage\" ON COMMIT DROP AS SELECT {columns}, 0::bigint AS {ORDINAL} FROM {} WITH NO DATA",
            self.table.quoted()
        )
    }
}

/// Encodes one row of `block` into `buffer` (with its batch ordinal for upserts).
pub(super) fn encode_row(
    block: &Block,
    fields: &Map<String, Value>,
    index: usize,
    upsert: bool,
    buffer: &mut BytesMut,
) -> Result<(), String> {
    let columns: Vec<&Column> = block.resolved.iter().collect();
    let ordinal_value = Value::from(index as u64);
    let mut values: Vec<Option<&Value>> = if block.same_order(fields) {
        fields.values().map(Some).collect()
    } else {
        block.columns.iter().map(|c| fields.get(c)).collect()
    };
    if upsert {
        values.push(Some(&ordinal_value));
    }
    if block.binary {
        encode::binary_row(buffer, &columns, &values)
    } else {
        encode::csv_row(buffer, &columns, &values)
    }
}

/// The catalog's column of each field name, or `None` when one is missing.
fn resolve_columns(by_name: &HashMap<&str, &Column>, names: &[String]) -> Option<Vec<Column>> {
    names
        .iter()
        .map(|name| by_name.get(name.as_str()).map(|column| (*column).clone()))
        .collect()
}
