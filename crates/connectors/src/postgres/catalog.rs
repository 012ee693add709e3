//! What the sink knows about its table: the columns and their types, read from the catalog,
//! and the DDL for auto-created tables and added columns.

use serde_json::{Map, Value};
use tokio_postgres::Client;

use super::{TableName, quote};

/// How a column's values are encoded for binary COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `boolean`
    Bool,
    /// `smallint`
    Int2,
    /// `integer`
    Int4,
    /// `bigint`
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `numeric`
    Numeric,
    /// `text`, `varchar`, `char`, `name`, enums (their binary form is the label).
    Text,
    /// `json`
    Json,
    /// `jsonb`
    Jsonb,
    /// `uuid`
    Uuid,
    /// `timestamp`
    Timestamp,
    /// `timestamptz`
    Timestamptz,
    /// `date`
    Date,
    /// `bytea`
    Bytea,
    /// Anything else: the batch goes through text COPY and PostgreSQL parses the values.
    Other,
}

impl ColumnKind {
    /// The kind of type `oid`; `typtype` is the catalog's `typtype` (`e` for an enum).
    pub fn from_type(oid: u32, typtype: i8) -> ColumnKind {
        match oid {
            16 => ColumnKind::Bool,
            21 => ColumnKind::Int2,
            23 => ColumnKind::Int4,
            20 => ColumnKind::Int8,
            700 => ColumnKind::Float4,
            701 => ColumnKind::Float8,
            1700 => ColumnKind::Numeric,
            25 | 1043 | 1042 | 19 => ColumnKind::Text,
            114 => ColumnKind::Json,
            3802 => ColumnKind::Jsonb,
            2950 => ColumnKind::Uuid,
            1114 => ColumnKind::Timestamp,
            1184 => ColumnKind::Timestamptz,
            1082 => ColumnKind::Date,
            17 => ColumnKind::Bytea,
            _ if typtype == b'e' as i8 => ColumnKind::Text,
            _ => ColumnKind::Other,
        }
    }
}

/// One column of the target table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name.
    pub name: String,
    /// The SQL type as PostgreSQL prints it (`character varying(10)`).
    pub type_name: String,
    /// How it is encoded.
    pub kind: ColumnKind,
}

/// The columns of `table` in order; empty when the table does not exist.
pub async fn load_columns(
    client: &Client,
    table: &TableName,
) -> Result<Vec<Column>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid::oid, format_type(a.atttypid, a.atttypmod), t.typtype \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table.schema, &table.table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let oid: u32 = row.get(1);
            let typtype: i8 = row.get(3);
            Column {
                name: row.get(0),
                type_name: row.get(2),
                kind: ColumnKind::from_type(oid, typtype),
            }
        })
        .collect())
}

/// The column type auto-create gives a JSON value (original-behaviour §1.4).
pub fn inferred_type(value: &Value) -> &'static str {
    match value {
        Value::Null | Value::String(_) => "TEXT",
        Value::Bool(_) => "BOOLEAN",
        Value::Number(n) if n.is_i64() => "BIGINT",
        // Above i64::MAX a bigint cannot hold it (A28).
        Value::Number(n) if n.is_u64() => "NUMERIC",
        Value::Number(_) => "NUMERIC",
        Value::Object(_) | Value::Array(_) => "JSONB",
    }
}

/// `CREATE TABLE` for a table whose columns come from the first message.
pub fn create_table_sql(
    table: &TableName,
    first: &Map<String, Value>,
    primary_key: Option<&str>,
    soft_delete: Option<&str>,
) -> String {
    let mut columns: Vec<String> = first
        .iter()
        .map(|(name, value)| {
            let key = if Some(name.as_str()) == primary_key {
                " PRIMARY KEY"
            } else {
                ""
            };
            format!("{} {}{key}", quote(name), inferred_type(value))
        })
        .collect();
    for default in ["created_at", "updated_at"] {
        if !first.contains_key(default) {
            columns.push(format!("{} TIMESTAMP DEFAULT now()", quote(default)));
        }
    }
    if let Some(column) = soft_delete.filter(|c| !first.contains_key(*c)) {
        columns.push(format!("{} TIMESTAMP", quote(column)));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        table.quoted(),
        columns.join(", ")
    )
}

/// The raw-mode table (`data` JSONB with a GIN index, `_metadata`).
pub fn raw_table_sql(table: &TableName) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id SERIAL PRIMARY KEY, data JSONB NOT NULL, _metadata JSONB, \
             created_at TIMESTAMP DEFAULT now(), updated_at TIMESTAMP DEFAULT now(), deleted_at TIMESTAMP)",
            table.quoted()
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} USING GIN (data)",
            quote(&format!("{}_data_gin", table.table)),
            table.quoted()
        ),
    ]
}

/// `ALTER TABLE … ADD COLUMN` for a field that appeared later.
pub fn add_column_sql(table: &TableName, name: &str, value: &Value) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
        table.quoted(),
        quote(name),
        inferred_type(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_integer_above_i64_gets_numeric() {
        // A28: BIGINT was inferred, and the very row that created the column was rejected.
        assert_eq!(inferred_type(&json!(18446744073709551615u64)), "NUMERIC");
        assert_eq!(inferred_type(&json!(-5)), "BIGINT");
        assert_eq!(inferred_type(&json!(9223372036854775807i64)), "BIGINT");
        assert_eq!(inferred_type(&json!(1.5)), "NUMERIC");
    }
}
