//! The table's shape: its columns from the catalog, creating it and adding columns with
//! `autoCreateTable`, and rejecting the messages whose fields cannot be columns (an empty or
//! over-long name, NUL, a system column, past the column limit) before any DDL, so one such
//! message never fails the batch.

use std::collections::HashMap;

use dataflow_core::{ErrorType, Rejection, SinkError};
use serde_json::{Map, Value};

use super::catalog;
use super::rows::Change;
use super::sink::{PostgresSink, sql_error};
use super::{describe, is_transient};

impl PostgresSink {
    pub(super) async fn refresh_columns(&mut self) -> Result<(), SinkError> {
        let client = self.client.as_ref().expect("connected");
        self.columns = catalog::load_columns(client, &self.table)
            .await
            .map_err(|e| sql_error("reading the table's columns", &e))?;
        Ok(())
    }

    pub(super) async fn run_ddl(&mut self, statements: &[String]) -> Result<(), SinkError> {
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

    /// Creates the table or adds columns when `autoCreateTable` allows; otherwise rejects rows
    /// with fields the table does not have. Returns the rows that can be written.
    pub(super) async fn fit_schema<'a>(
        &mut self,
        changes: Vec<Change<'a>>,
        rejections: &mut Vec<Rejection>,
    ) -> Result<Vec<Change<'a>>, SinkError> {
        let changes = if self.config.auto_create_table {
            self.reject_unusable_names(changes, rejections)
        } else {
            changes
        };
        let first_row = changes.iter().find_map(|u| match u {
            Change::Row { fields, .. } => Some(fields.clone().into_owned()),
            Change::Delete { .. } => None,
        });
        if self.columns.is_empty() {
            let Some(first) = first_row else {
                return Ok(changes);
            };
            if !self.config.auto_create_table {
                return Err(SinkError::fatal(
                    ErrorType::Unknown,
                    format!(
                        "table {} does not exist; create it or set autoCreateTable: true",
                        self.table.quoted()
                    ),
                ));
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
        for change in &changes {
            if let Change::Row { fields, .. } = change {
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
            return Ok(changes);
        }
        if self.config.auto_create_table {
            return self.add_columns(changes, missing, rejections).await;
        }
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            let unknown: Vec<&str> = match &change {
                Change::Row { fields, .. } => fields
                    .keys()
                    .filter(|k| missing.iter().any(|(n, _)| n == *k))
                    .map(String::as_str)
                    .collect(),
                Change::Delete { .. } => Vec::new(),
            };
            if unknown.is_empty() {
                kept.push(change);
            } else {
                rejections.push(Rejection {
                    index: change.index(),
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
        changes: Vec<Change<'a>>,
        rejections: &mut Vec<Rejection>,
    ) -> Vec<Change<'a>> {
        let known: std::collections::HashSet<&str> =
            self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            let problem = match &change {
                Change::Row { fields, .. } => fields
                    .keys()
                    .filter(|name| !known.contains(name.as_str()))
                    .find_map(|name| column_name_problem(name).map(|p| (name.clone(), p))),
                Change::Delete { .. } => None,
            };
            match problem {
                Some((name, problem)) => rejections.push(Rejection::of_kind(
                    change.index(),
                    ErrorType::InvalidData,
                    format!(
                        "field {name:?} cannot be a column of {}: {problem}",
                        self.table.quoted()
                    ),
                )),
                None => kept.push(change),
            }
        }
        kept
    }

    /// Adds the missing columns one by one. A column PostgreSQL refuses (or one past the
    /// table's column limit) rejects the messages that carry it; the others go on.
    async fn add_columns<'a>(
        &mut self,
        changes: Vec<Change<'a>>,
        missing: Vec<(String, Value)>,
        rejections: &mut Vec<Rejection>,
    ) -> Result<Vec<Change<'a>>, SinkError> {
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
            return Ok(changes);
        }
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            let reason = match &change {
                Change::Row { fields, .. } => refused
                    .iter()
                    .find(|(name, _)| fields.contains_key(name))
                    .map(|(name, reason)| format!("adding the column {name:?}: {reason}")),
                Change::Delete { .. } => None,
            };
            match reason {
                Some(reason) => rejections.push(Rejection::of_kind(
                    change.index(),
                    ErrorType::InvalidData,
                    reason,
                )),
                None => kept.push(change),
            }
        }
        Ok(kept)
    }
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
