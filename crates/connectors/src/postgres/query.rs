//! The polling statement of the PostgreSQL source and how its rows become JSON.
//!
//! Layout: [`Plan`] is one prepared poll: the SQL (tracking columns compared as parameters,
//! the safety lag, pages), the columns and how each decodes; `row_to_json` turns a row into a
//! JSON object faithful to the column types (exact numerics, RFC 3339 times, base64 bytes).

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};

use super::catalog::ColumnKind;
use super::quote;
use super::source::PostgresSource;

/// The statement of one poll and how to read its rows.
pub(super) struct Plan {
    pub(super) sql: String,
    /// Whether the rows are filtered by change time / order value (else the query runs as is).
    pub(super) uses_change_time: bool,
    pub(super) uses_order_by: bool,
    /// Whether the statement takes the safety lag (seconds) as its last parameter.
    pub(super) lagged: bool,
    /// For each selected column: its name and how to turn it into JSON.
    pub(super) columns: Vec<(String, ColumnKind)>,
    /// The change-tracking expression is selected after the columns: as `timestamptz` when it is
    /// a time (kept as RFC3339Nano, the original's checkpoint form), else as text.
    pub(super) change_is_time: bool,
}

/// How the source reads a column: by its type's kind, the sink's [`ColumnKind`]; enums and
/// every type without a binary decoder here (`Other`) are selected through `to_jsonb`.
fn decode_of(ty: &Type) -> ColumnKind {
    ColumnKind::from_type(ty.oid(), 0)
}

impl PostgresSource {
    /// Prepares the base query to learn its columns, then builds the polling statement.
    pub(super) async fn plan(&self, client: &Client) -> Result<Plan, tokio_postgres::Error> {
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
        let order = self.config.polling.order_by_column.clone();
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
                ColumnKind::Numeric => format!("__dataflow_src.{q}::text AS {q}", q = quote(name)),
                ColumnKind::Other => {
                    format!("to_jsonb(__dataflow_src.{q}) AS {q}", q = quote(name))
                }
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
            // with an earlier change time (S2a). A `timestamp` without time zone holds wall
            // time in the server's zone, so now() is taken in that zone for it.
            let now = if change_type == "timestamp" {
                format!(
                    "(now() AT TIME ZONE '{}')",
                    self.server_time_zone.replace('\'', "''")
                )
            } else {
                "now()".to_string()
            };
            conditions.push(format!(
                "({change_expression} IS NULL OR {change_expression} <= {now} - make_interval(secs => {lag}::float8))"
            ));
        }
        let paged = self.config.polling.read_batch_size > 0 && (uses_change_time || uses_order_by);
        if paged && uses_change_time && !uses_order_by {
            // Paging by change time alone: the page runs to the end of the change time of its
            // last row, or rows sharing that time would be skipped by the next page (S2b).
            let page_end = format!(
                "SELECT {change_expression} FROM ({base}) AS __dataflow_src WHERE {} \
                 ORDER BY 1 OFFSET {} LIMIT 1",
                conditions.join(" AND "),
                self.config.polling.read_batch_size - 1
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
            sql.push_str(&format!(" LIMIT {}", self.config.polling.read_batch_size));
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
}

/// The JSON object of one row.
pub(super) fn row_to_json(
    plan: &Plan,
    row: &Row,
) -> Result<Map<String, Value>, tokio_postgres::Error> {
    let mut object = Map::with_capacity(plan.columns.len());
    for (index, (name, decode)) in plan.columns.iter().enumerate() {
        let value = match decode {
            ColumnKind::Bool => row.try_get::<_, Option<bool>>(index)?.map(Value::Bool),
            ColumnKind::Int2 => row.try_get::<_, Option<i16>>(index)?.map(Value::from),
            ColumnKind::Int4 => row.try_get::<_, Option<i32>>(index)?.map(Value::from),
            ColumnKind::Int8 => row.try_get::<_, Option<i64>>(index)?.map(Value::from),
            ColumnKind::Float4 => row
                .try_get::<_, Option<f32>>(index)?
                .map(|f| float(f64::from(f))),
            ColumnKind::Float8 => row.try_get::<_, Option<f64>>(index)?.map(float),
            ColumnKind::Text => row.try_get::<_, Option<String>>(index)?.map(Value::String),
            ColumnKind::Json | ColumnKind::Jsonb | ColumnKind::Other => {
                row.try_get::<_, Option<Value>>(index)?
            }
            ColumnKind::Uuid => row
                .try_get::<_, Option<uuid::Uuid>>(index)?
                .map(|u| Value::String(u.to_string())),
            ColumnKind::Timestamp => row
                .try_get::<_, Option<NaiveDateTime>>(index)?
                .map(|t| Value::String(t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))),
            ColumnKind::Timestamptz => row
                .try_get::<_, Option<DateTime<Utc>>>(index)?
                .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
            ColumnKind::Date => row
                .try_get::<_, Option<NaiveDate>>(index)?
                .map(|d| Value::String(d.to_string())),
            ColumnKind::Bytea => row
                .try_get::<_, Option<Vec<u8>>>(index)?
                .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
            ColumnKind::Numeric => row
                .try_get::<_, Option<String>>(index)?
                .map(|text| numeric(&text)),
        };
        object.insert(name.clone(), value.unwrap_or(Value::Null));
    }
    Ok(object)
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
