//! The PostgreSQL polling source: reads rows changed after the last position, ordered by
//! `(changeTrackingColumn, orderByColumn)`, with values bound as parameters. The position of a
//! row is that pair (original-behaviour §4.6), committed through the checkpoint store.
//!
//! What polling can and cannot see: rows are streamed as the server sends them (never a whole
//! poll in memory); rows whose change time is within `pollSafetyLag` of now wait for a later
//! poll, so a transaction committing after a later one is still read if it commits within the
//! lag; paging by change time alone ends each page at the end of its last change time, so rows
//! sharing a time are never split across pages; a NULL order-by value does not move the cursor.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use dataflow_core::{
    ErrorReason, ErrorType, Payload, Position, Record, Source, SourceContext, SourceError,
    StreamHandle,
};
use dataflow_spec::PostgresSourceConfig;
use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, RowStream};

use super::query::{Plan, row_to_json};
use super::{TableName, connect, describe};
use crate::polling::{self, Poll, PollFailure, Polled, Schedule};

/// The `postgresql` source.
pub struct PostgresSource {
    pub(super) config: PostgresSourceConfig,
    connection_string: String,
    pub(super) table: Option<TableName>,
    once: bool,
    /// `pollSafetyLag` in seconds.
    pub(super) lag_seconds: f64,
    /// Where the last row read is (from the checkpoint at the first poll).
    cursor: Cursor,
    /// The stream of the positions, once the first poll ran.
    stream: Option<StreamHandle>,
    /// The connection, while it lasts.
    client: Option<Client>,
    /// The statement of the connection's polls.
    plan: Option<Plan>,
    /// The server's `TimeZone` before the session is set to UTC.
    pub(super) server_time_zone: String,
}

/// The read position: the last change time and order-by value seen.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cursor {
    change_time: Option<String>,
    order_by: Option<Value>,
}

impl Cursor {
    fn from_checkpoint(value: &Value) -> Cursor {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        Cursor {
            change_time: text("lastReadChangeTime").or_else(|| text("lastReadTime")),
            order_by: value
                .get("lastReadOrderByValue")
                .or_else(|| value.get("lastReadID"))
                .filter(|v| !v.is_null())
                .cloned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"lastReadChangeTime": self.change_time, "lastReadOrderByValue": self.order_by})
    }
}

/// Why a poll ended early.
enum PollError {
    Sql(tokio_postgres::Error),
    /// The connection string asks for something impossible.
    Settings(String),
    /// The pipeline stopped while rows were being emitted.
    Stopped,
    /// The server did not answer in time (retried).
    TimedOut(String),
}

impl From<tokio_postgres::Error> for PollError {
    fn from(error: tokio_postgres::Error) -> Self {
        PollError::Sql(error)
    }
}

impl From<super::ConnectError> for PollError {
    fn from(error: super::ConnectError) -> Self {
        match error {
            super::ConnectError::Settings(text) => PollError::Settings(text),
            super::ConnectError::Postgres(error) => PollError::Sql(error),
            timed_out @ super::ConnectError::TimedOut(_) => {
                PollError::TimedOut(timed_out.to_string())
            }
        }
    }
}

impl PostgresSource {
    /// A source for `config` (secrets resolved); `once` stops after the first empty poll.
    pub fn new(config: PostgresSourceConfig, once: bool) -> Result<Self, String> {
        let connection_string = config
            .connection
            .connection_string
            .clone()
            .ok_or("postgresql source: connectionString is required")?;
        let table = match &config.connection.table {
            Some(table) => {
                Some(TableName::parse(table).map_err(|e| format!("postgresql source: table {e}"))?)
            }
            None => None,
        };
        if table.is_none() && config.query.is_none() {
            return Err("postgresql source: table or query is required".into());
        }
        let lag = dataflow_spec::duration::parse_go_duration(&config.polling.safety_lag)
            .map_err(|e| format!("postgresql source: pollSafetyLag {e}"))?;
        Ok(PostgresSource {
            config,
            connection_string,
            table,
            once,
            lag_seconds: lag.as_secs_f64(),
            cursor: Cursor::default(),
            stream: None,
            client: None,
            plan: None,
            server_time_zone: "UTC".into(),
        })
    }

    fn stream_name(&self) -> String {
        match &self.table {
            Some(table) => format!("{}.{}", table.schema, table.table),
            None => "query".into(),
        }
    }
}

/// Whether rows after `cursor` exist that the safety lag still holds back.
async fn rows_within_lag(
    client: &Client,
    plan: &Plan,
    cursor: &Cursor,
) -> Result<bool, tokio_postgres::Error> {
    let rows = rows_after(client, plan, cursor, 0.0).await?;
    let mut rows = std::pin::pin!(rows);
    Ok(rows.try_next().await?.is_some())
}

/// Runs the poll statement for the rows after `cursor`, holding back those changed within
/// `lag` seconds; the rows come as the server sends them.
async fn rows_after(
    client: &Client,
    plan: &Plan,
    cursor: &Cursor,
    lag: f64,
) -> Result<RowStream, tokio_postgres::Error> {
    let change = plan
        .uses_change_time
        .then(|| cursor.change_time.clone())
        .flatten();
    let order = plan
        .uses_order_by
        .then(|| cursor.order_by.as_ref().map(parameter_text))
        .flatten();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(3);
    if plan.uses_change_time {
        params.push(&change);
    }
    if plan.uses_order_by {
        params.push(&order);
    }
    if plan.lagged {
        params.push(&lag);
    }
    client.query_raw(&plan.sql, params).await
}

impl PostgresSource {
    /// The pipeline record of a row: its metadata (`table`, `id`, `operation`), wrapped in
    /// rawMode.
    fn record(&self, mut row: Map<String, Value>) -> Record {
        let mut metadata = Map::new();
        if let Some(table) = &self.table {
            metadata.insert("table".into(), Value::String(table.table.clone()));
        }
        if let Some(id) = row.get(&self.config.polling.order_by_column) {
            metadata.insert("id".into(), id.clone());
        }
        let updated = match (
            row.get("updated_at").and_then(Value::as_str),
            row.get("created_at").and_then(Value::as_str),
        ) {
            (Some(updated), Some(created)) => updated > created,
            _ => false,
        };
        metadata.insert(
            "operation".into(),
            Value::String(if updated { "update" } else { "insert" }.into()),
        );
        let payload = if self.config.raw_mode {
            let mut wrapper = Map::new();
            let meta = json!({"table": metadata.get("table"), "id": metadata.get("id")});
            wrapper.insert("value".into(), Value::Object(std::mem::take(&mut row)));
            wrapper.insert("_metadata".into(), meta);
            Value::Object(wrapper)
        } else {
            Value::Object(row)
        };
        Record::new(Payload::Json(payload), metadata, Utc::now())
    }
}

#[async_trait]
impl Source for PostgresSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let schedule = Schedule {
            interval: Duration::from_secs(u64::from(self.config.polling.interval.max(1))),
            once: self.once,
        };
        polling::run(self, context, schedule).await
    }
}

#[async_trait]
impl Poll for PostgresSource {
    fn name(&self) -> String {
        self.stream_name()
    }

    async fn poll(&mut self, context: &SourceContext) -> Result<Polled, PollFailure> {
        let outcome = self.read_changes(context).await;
        outcome.map_err(|error| match error {
            PollError::Stopped => PollFailure::Stopped,
            PollError::Settings(text) => PollFailure::Fatal(ErrorReason::new(
                ErrorType::Unknown,
                format!("postgresql source: {text}"),
            )),
            PollError::TimedOut(reason) => {
                PollFailure::Retry(ErrorReason::new(ErrorType::Timeout, reason))
            }
            PollError::Sql(error) => {
                if self.client.as_ref().is_some_and(Client::is_closed) {
                    self.client = None;
                }
                // A missing column or table, a syntax error: polling again will not help.
                let kind = super::sink::error_kind(&error);
                if error.code().is_some_and(|c| c.code().starts_with("42")) {
                    let text = format!("polling {}: {}", self.stream_name(), describe(&error));
                    PollFailure::Fatal(ErrorReason::new(kind, text).caused_by(error))
                } else {
                    PollFailure::Retry(ErrorReason::new(kind, describe(&error)).caused_by(error))
                }
            }
        })
    }

    async fn rows_held_back(&mut self) -> bool {
        match (&self.client, &self.plan) {
            (Some(client), Some(plan)) if plan.lagged => {
                rows_within_lag(client, plan, &self.cursor)
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        }
    }
}

impl PostgresSource {
    /// One poll: connects and plans when needed, then reads pages until one is not full.
    async fn read_changes(&mut self, context: &SourceContext) -> Result<Polled, PollError> {
        let stream_name = self.stream_name();
        if self.stream.is_none() {
            self.cursor = context
                .stored_position(&stream_name)
                .map(Cursor::from_checkpoint)
                .unwrap_or_default();
            self.stream = Some(context.stream(&stream_name));
        }
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let connected = connect(&self.connection_string).await?;
            // Writers' `timestamp` (without time zone) values are wall time in the server's
            // zone; the safety lag compares them with now() in that zone.
            self.server_time_zone = connected.query_one("SHOW TimeZone", &[]).await?.get(0);
            connected.batch_execute("SET TIME ZONE 'UTC'").await?;
            self.plan = Some(self.plan(&connected).await?);
            self.client = Some(connected);
        }
        let (Some(client), Some(plan), Some(stream)) = (&self.client, &self.plan, &self.stream)
        else {
            unreachable!("connected, planned and tracked above");
        };
        let filtered = plan.uses_change_time || plan.uses_order_by;
        let paged = self.config.polling.read_batch_size > 0 && filtered;
        let mut read = 0;
        loop {
            // Streamed as the server sends them (U2: a whole poll, with the default
            // `readBatchSize: 0` a whole table, was loaded before the first emit).
            let rows = rows_after(client, plan, &self.cursor, self.lag_seconds).await?;
            let mut rows = std::pin::pin!(rows);
            let mut count = 0;
            while let Some(row) = rows.try_next().await? {
                count += 1;
                let object = row_to_json(plan, &row)?;
                if plan.uses_change_time {
                    let at = plan.columns.len();
                    let change = if plan.change_is_time {
                        row.try_get::<_, Option<DateTime<Utc>>>(at)?
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
                    } else {
                        row.try_get::<_, Option<String>>(at)?
                    };
                    // A row without a change time keeps the last one (order-only progress).
                    if change.is_some() {
                        self.cursor.change_time = change;
                    }
                }
                if plan.uses_order_by {
                    // A NULL order value would be sent back as the text "null" and fail every
                    // later poll (W3): it leaves the cursor where it was.
                    match object.get(&self.config.polling.order_by_column) {
                        Some(value) if !value.is_null() => {
                            self.cursor.order_by = Some(value.clone())
                        }
                        _ => tracing::warn!(stream = %stream_name,
                            column = %self.config.polling.order_by_column,
                            "a row has no orderByColumn value; the position keeps the last one \
                             (make the column NOT NULL)"),
                    }
                }
                let token = stream.track(Position::Json(self.cursor.to_json()));
                context
                    .emit(self.record(object), token)
                    .await
                    .map_err(|_| PollError::Stopped)?;
            }
            read += count;
            if !paged || count < self.config.polling.read_batch_size as usize {
                return Ok(Polled {
                    rows: read,
                    filtered,
                });
            }
        }
    }
}

/// A cursor value as the text parameter the statement casts to the column's type.
fn parameter_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
