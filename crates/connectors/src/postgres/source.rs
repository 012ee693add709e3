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
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use dataflow_core::{Payload, Position, Record, Source, SourceContext, SourceError};
use dataflow_spec::PostgresSourceConfig;
use futures_util::TryStreamExt;
use serde_json::{Map, Number, Value, json};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use super::{TableName, connect, describe, quote};

/// How long the wait between failed polls may grow.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The `postgresql` source.
pub struct PostgresSource {
    config: PostgresSourceConfig,
    connection_string: String,
    table: Option<TableName>,
    once: bool,
    /// `pollSafetyLag` in seconds.
    lag_seconds: f64,
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

/// The statement of one poll and how to read its rows.
struct Plan {
    sql: String,
    /// Whether the rows are filtered by change time / order value (else the query runs as is).
    uses_change_time: bool,
    uses_order_by: bool,
    /// Whether the statement takes the safety lag (seconds) as its last parameter.
    lagged: bool,
    /// For each selected column: its name and how to turn it into JSON.
    columns: Vec<(String, Decode)>,
    /// The change-tracking expression is selected after the columns: as `timestamptz` when it is
    /// a time (kept as RFC3339Nano, the original's checkpoint form), else as text.
    change_is_time: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Decode {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Json,
    Uuid,
    Timestamp,
    Timestamptz,
    Date,
    Bytea,
    /// Selected as text: a number when it fits a JSON number exactly, else a string.
    Numeric,
    /// Selected through `to_jsonb` (arrays, enums, inet, intervals, …).
    ToJson,
}

fn decode_of(ty: &Type) -> Decode {
    match *ty {
        Type::BOOL => Decode::Bool,
        Type::INT2 => Decode::Int2,
        Type::INT4 => Decode::Int4,
        Type::INT8 => Decode::Int8,
        Type::FLOAT4 => Decode::Float4,
        Type::FLOAT8 => Decode::Float8,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Decode::Text,
        Type::JSON | Type::JSONB => Decode::Json,
        Type::UUID => Decode::Uuid,
        Type::TIMESTAMP => Decode::Timestamp,
        Type::TIMESTAMPTZ => Decode::Timestamptz,
        Type::DATE => Decode::Date,
        Type::BYTEA => Decode::Bytea,
        Type::NUMERIC => Decode::Numeric,
        _ => Decode::ToJson,
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
        let lag = dataflow_spec::duration::parse_go_duration(&config.poll_safety_lag)
            .map_err(|e| format!("postgresql source: pollSafetyLag {e}"))?;
        Ok(PostgresSource {
            config,
            connection_string,
            table,
            once,
            lag_seconds: lag.as_secs_f64(),
        })
    }

    fn stream_name(&self) -> String {
        match &self.table {
            Some(table) => format!("{}.{}", table.schema, table.table),
            None => "query".into(),
        }
    }

    /// Prepares the base query to learn its columns, then builds the polling statement.
    async fn plan(&self, client: &Client) -> Result<Plan, tokio_postgres::Error> {
        if let (Some(table), true) = (&self.table, self.config.auto_create_table) {
            client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (id SERIAL PRIMARY KEY, created_at TIMESTAMP DEFAULT now(), updated_at TIMESTAMP DEFAULT now())",
                    table.quoted()
                ))
                .await?;
        }
        let base = match (&self.config.query, &self.table) {
            (Some(query), _) => query.trim().trim_end_matches(';').to_string(),
            (None, Some(table)) => format!("SELECT * FROM {}", table.quoted()),
            (None, None) => unreachable!("checked in new"),
        };
        let probe = client
            .prepare(&format!("SELECT * FROM ({base}) AS __dataflow_src LIMIT 0"))
            .await?;
        let columns: Vec<(String, Type)> = probe
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.type_().clone()))
            .collect();
        let has = |name: &str| columns.iter().any(|(n, _)| n == name);
        let type_of = |name: &str| {
            columns
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.name().to_string())
                .unwrap_or_default()
        };
        let change = self.config.change_tracking_column.clone();
        let order = self.config.order_by_column.clone();
        // A table is filtered by the tracking columns it has; a custom query only when it
        // exposes both (otherwise it runs as written, re-reading everything each poll).
        let (uses_change_time, uses_order_by) = match &self.config.query {
            None => (has(&change), has(&order)),
            Some(_) => {
                let both = has(&change) && has(&order);
                (both, both)
            }
        };
        // With the default `updated_at`, a row never updated counts from its creation.
        let change_expression = if change == "updated_at" && has("created_at") {
            format!(
                "COALESCE(__dataflow_src.{}, __dataflow_src.\"created_at\")",
                quote(&change)
            )
        } else {
            format!("__dataflow_src.{}", quote(&change))
        };
        let select: Vec<String> = columns
            .iter()
            .map(|(name, ty)| match decode_of(ty) {
                Decode::Numeric => format!("__dataflow_src.{q}::text AS {q}", q = quote(name)),
                Decode::ToJson => format!("to_jsonb(__dataflow_src.{q}) AS {q}", q = quote(name)),
                _ => format!("__dataflow_src.{}", quote(name)),
            })
            .collect();
        let change_type = type_of(&change);
        let order_type = type_of(&order);
        let change_is_time = matches!(change_type.as_str(), "timestamp" | "timestamptz" | "date");
        let mut select = select;
        if uses_change_time {
            let as_type = if change_is_time {
                "timestamptz"
            } else {
                "text"
            };
            select.push(format!(
                "({change_expression})::{as_type} AS __dataflow_change_time"
            ));
        }
        let mut sql = format!(
            "SELECT {} FROM ({base}) AS __dataflow_src",
            select.join(", ")
        );
        let order_expression = format!("__dataflow_src.{}", quote(&order));
        // Values are parameters (text cast to the column types); NULL = not known yet.
        let mut count = 0;
        let mut parameter = || {
            count += 1;
            format!("${count}")
        };
        let change_param = uses_change_time.then(&mut parameter);
        let order_param = uses_order_by.then(&mut parameter);
        let lagged = uses_change_time && change_is_time && self.lag_seconds > 0.0;
        let lag_param = lagged.then(&mut parameter);
        let mut conditions = Vec::new();
        match (&change_param, &order_param) {
            (Some(c), Some(o)) => conditions.push(format!(
                "(({c}::text IS NULL AND {o}::text IS NULL) \
                 OR ({o}::text IS NULL AND {change_expression} > {c}::text::{change_type}) \
                 OR ({c}::text IS NULL AND {order_expression} > {o}::text::{order_type}) \
                 OR (({change_expression}, {order_expression}) > ({c}::text::{change_type}, {o}::text::{order_type})))"
            )),
            (Some(c), None) => conditions.push(format!(
                "({c}::text IS NULL OR {change_expression} > {c}::text::{change_type})"
            )),
            (None, Some(o)) => conditions.push(format!(
                "({o}::text IS NULL OR {order_expression} > {o}::text::{order_type})"
            )),
            (None, None) => {}
        }
        if let Some(lag) = &lag_param {
            // Rows changed within the lag wait: a slower transaction may still commit a row
            // with an earlier change time (S2a).
            conditions.push(format!(
                "({change_expression} IS NULL OR {change_expression} <= now() - make_interval(secs => {lag}::float8))"
            ));
        }
        let paged = self.config.read_batch_size > 0 && (uses_change_time || uses_order_by);
        if paged && uses_change_time && !uses_order_by {
            // Paging by change time alone: the page runs to the end of the change time of its
            // last row, or rows sharing that time would be skipped by the next page (S2b).
            let page_end = format!(
                "SELECT {change_expression} FROM ({base}) AS __dataflow_src WHERE {} \
                 ORDER BY 1 OFFSET {} LIMIT 1",
                conditions.join(" AND "),
                self.config.read_batch_size - 1
            );
            conditions.push(format!(
                "COALESCE({change_expression} <= ({page_end}), true)"
            ));
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        match (uses_change_time, uses_order_by) {
            (true, true) => sql.push_str(&format!(
                " ORDER BY {change_expression}, {order_expression}"
            )),
            (true, false) => sql.push_str(&format!(" ORDER BY {change_expression}")),
            (false, true) => sql.push_str(&format!(" ORDER BY {order_expression}")),
            (false, false) => {}
        }
        if paged && uses_order_by {
            sql.push_str(&format!(" LIMIT {}", self.config.read_batch_size));
        }
        Ok(Plan {
            sql,
            uses_change_time,
            uses_order_by,
            lagged,
            columns: columns
                .iter()
                .map(|(name, ty)| (name.clone(), decode_of(ty)))
                .collect(),
            change_is_time,
        })
    }

    /// Whether rows after `cursor` exist that the safety lag still holds back.
    async fn rows_within_lag(
        &self,
        client: &Client,
        plan: &Plan,
        cursor: &Cursor,
    ) -> Result<bool, tokio_postgres::Error> {
        let change = cursor.change_time.clone();
        let order = cursor.order_by.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let no_lag = 0.0f64;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&change];
        if plan.uses_order_by {
            params.push(&order);
        }
        params.push(&no_lag);
        let rows = client.query_raw(&plan.sql, params).await?;
        let mut rows = std::pin::pin!(rows);
        Ok(rows.try_next().await?.is_some())
    }

    fn row_to_json(plan: &Plan, row: &Row) -> Result<Map<String, Value>, tokio_postgres::Error> {
        let mut object = Map::with_capacity(plan.columns.len());
        for (index, (name, decode)) in plan.columns.iter().enumerate() {
            let value = match decode {
                Decode::Bool => row.try_get::<_, Option<bool>>(index)?.map(Value::Bool),
                Decode::Int2 => row.try_get::<_, Option<i16>>(index)?.map(Value::from),
                Decode::Int4 => row.try_get::<_, Option<i32>>(index)?.map(Value::from),
                Decode::Int8 => row.try_get::<_, Option<i64>>(index)?.map(Value::from),
                Decode::Float4 => row
                    .try_get::<_, Option<f32>>(index)?
                    .map(|f| float(f64::from(f))),
                Decode::Float8 => row.try_get::<_, Option<f64>>(index)?.map(float),
                Decode::Text => row.try_get::<_, Option<String>>(index)?.map(Value::String),
                Decode::Json | Decode::ToJson => row.try_get::<_, Option<Value>>(index)?,
                Decode::Uuid => row
                    .try_get::<_, Option<uuid::Uuid>>(index)?
                    .map(|u| Value::String(u.to_string())),
                Decode::Timestamp => row.try_get::<_, Option<NaiveDateTime>>(index)?.map(|t| {
                    Value::String(t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
                }),
                Decode::Timestamptz => row
                    .try_get::<_, Option<DateTime<Utc>>>(index)?
                    .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
                Decode::Date => row
                    .try_get::<_, Option<NaiveDate>>(index)?
                    .map(|d| Value::String(d.to_string())),
                Decode::Bytea => row
                    .try_get::<_, Option<Vec<u8>>>(index)?
                    .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
                Decode::Numeric => row
                    .try_get::<_, Option<String>>(index)?
                    .map(|text| numeric(&text)),
            };
            object.insert(name.clone(), value.unwrap_or(Value::Null));
        }
        Ok(object)
    }

    fn record(&self, mut row: Map<String, Value>) -> Record {
        let mut metadata = Map::new();
        if let Some(table) = &self.table {
            metadata.insert("table".into(), Value::String(table.table.clone()));
        }
        if let Some(id) = row.get(&self.config.order_by_column) {
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

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A numeric as a JSON number when that is exact, else as a string.
fn numeric(text: &str) -> Value {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && exact(text, f) => {
            Number::from_f64(f).map_or(Value::String(text.into()), Value::Number)
        }
        _ => Value::String(text.to_string()),
    }
}

fn exact(text: &str, f: f64) -> bool {
    // The shortest decimal for `f` must be the same number as the text.
    let canonical = |t: &str| {
        let t = t.trim_start_matches('-');
        let (i, frac) = t.split_once('.').unwrap_or((t, ""));
        let i = i.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        (text.starts_with('-'), i.to_string(), frac.to_string())
    };
    let printed = format!("{f}");
    let printed_sign = printed.starts_with('-');
    let (_, a, b) = canonical(text);
    let (_, c, d) = canonical(&printed);
    a == c && b == d && (printed_sign == text.starts_with('-') || f == 0.0)
}

#[async_trait]
impl Source for PostgresSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let stream_name = self.stream_name();
        let stream = context.stream(&stream_name);
        let mut cursor = context
            .stored_position(&stream_name)
            .map(Cursor::from_checkpoint)
            .unwrap_or_default();
        let mut client: Option<Client> = None;
        let mut plan: Option<Plan> = None;
        let mut failures = 0u32;
        let interval = Duration::from_secs(u64::from(self.config.poll_interval.max(1)));
        loop {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            let poll = async {
                if client.as_ref().is_none_or(Client::is_closed) {
                    let connected = connect(&self.connection_string).await?;
                    connected.batch_execute("SET TIME ZONE 'UTC'").await?;
                    plan = Some(self.plan(&connected).await?);
                    client = Some(connected);
                }
                let (client, plan) = (
                    client.as_ref().expect("connected"),
                    plan.as_ref().expect("planned"),
                );
                let mut read = 0;
                loop {
                    let change: Option<String> = if plan.uses_change_time {
                        cursor.change_time.clone()
                    } else {
                        None
                    };
                    let order: Option<String> = if plan.uses_order_by {
                        cursor.order_by.as_ref().map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    } else {
                        None
                    };
                    let lag = self.lag_seconds;
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
                    // Streamed as the server sends them (U2: a whole poll, with the default
                    // `readBatchSize: 0` a whole table, was loaded before the first emit).
                    let rows = client.query_raw(&plan.sql, params).await?;
                    let mut rows = std::pin::pin!(rows);
                    let mut count = 0;
                    while let Some(row) = rows.try_next().await? {
                        count += 1;
                        let object = Self::row_to_json(plan, &row)?;
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
                                cursor.change_time = change;
                            }
                        }
                        if plan.uses_order_by {
                            // A NULL order value would be sent back as the text "null" and fail
                            // every later poll (W3): it leaves the cursor where it was.
                            match object.get(&self.config.order_by_column) {
                                Some(value) if !value.is_null() => {
                                    cursor.order_by = Some(value.clone())
                                }
                                _ => tracing::warn!(stream = %stream_name,
                                    column = %self.config.order_by_column,
                                    "a row has no orderByColumn value; the position keeps the last \
                                     one (make the column NOT NULL)"),
                            }
                        }
                        let token = stream.track(Position::Json(cursor.to_json()));
                        context
                            .emit(self.record(object), token)
                            .await
                            .map_err(|_| PollError::Stopped)?;
                    }
                    read += count;
                    let paged = self.config.read_batch_size > 0
                        && (plan.uses_change_time || plan.uses_order_by);
                    if !paged || count < self.config.read_batch_size as usize {
                        break;
                    }
                }
                Ok(read)
            };
            // A stop request ends a poll in progress, a hanging connect included; what was
            // emitted but not written stays unacknowledged.
            let result: Result<usize, PollError> = tokio::select! {
                result = poll => result,
                _ = context.stopping().cancelled() => return Ok(()),
            };
            let wait = match result {
                Ok(read) => {
                    failures = 0;
                    if read == 0 && self.once {
                        // Rows within the safety lag are not read yet: `--once` waits for them
                        // rather than stopping before them.
                        let waiting = match (&client, &plan) {
                            (Some(client), Some(plan)) if plan.lagged => self
                                .rows_within_lag(client, plan, &cursor)
                                .await
                                .unwrap_or(false),
                            _ => false,
                        };
                        if !waiting {
                            return Ok(());
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = context.stopping().cancelled() => return Ok(()),
                        }
                        continue;
                    }
                    let filtered = plan
                        .as_ref()
                        .is_some_and(|p| p.uses_change_time || p.uses_order_by);
                    if !filtered && self.once {
                        return Ok(()); // an unfiltered query is read once
                    }
                    // Catching up with `--once`: look again at once until a poll finds nothing.
                    if self.once { Duration::ZERO } else { interval }
                }
                Err(PollError::Stopped) => return Ok(()),
                Err(PollError::Settings(text)) => {
                    return Err(SourceError::Fatal(format!("postgresql source: {text}")));
                }
                Err(PollError::TimedOut(reason)) => {
                    failures += 1;
                    let wait = (interval * 2u32.saturating_pow(failures.min(10))).min(MAX_BACKOFF);
                    tracing::warn!(stream = %stream_name, error = %reason, retry_in = ?wait, "poll failed");
                    wait
                }
                Err(PollError::Sql(error)) => {
                    failures += 1;
                    if client.as_ref().is_some_and(Client::is_closed) {
                        client = None;
                    }
                    if error.code().is_some_and(|c| c.code().starts_with("42")) {
                        return Err(SourceError::Fatal(format!(
                            "polling {stream_name}: {}",
                            describe(&error)
                        )));
                    }
                    let wait = (interval * 2u32.saturating_pow(failures.min(10))).min(MAX_BACKOFF);
                    tracing::warn!(stream = %stream_name, error = %describe(&error), retry_in = ?wait, "poll failed");
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = context.stopping().cancelled() => return Ok(()),
            }
        }
    }
}
