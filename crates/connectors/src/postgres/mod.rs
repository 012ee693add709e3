//! The PostgreSQL connector: a polling source and a COPY-speed sink.

mod catalog;
mod encode;
mod sink;
mod source;
mod tls;

pub use sink::PostgresSink;
pub use source::PostgresSource;
pub use tls::{SslMode, TlsSettings};

use dataflow_core::{BuildError, Registry};
use dataflow_spec::{SinkSpec, SourceSpec};
use tokio_postgres::{Client, NoTls};

/// Registers the `postgresql` source and sink.
pub fn register(registry: &mut Registry) {
    registry.register_source("postgresql", |spec, context| match spec {
        SourceSpec::Postgresql(config) => Ok(Box::new(
            PostgresSource::new(config.clone(), context.once).map_err(BuildError)?,
        )),
        other => Err(BuildError(format!(
            "postgresql source given a {} config",
            other.type_name()
        ))),
    });
    registry.register_sink("postgresql", |spec, _| match spec {
        SinkSpec::Postgresql(config) => Ok(Box::new(PostgresSink::new(config.clone())?)),
        other => Err(BuildError(format!(
            "postgresql sink given a {} config",
            other.type_name()
        ))),
    });
}

/// A table name: schema (default `public`) and table, as written and quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
}

impl TableName {
    /// Parses `table` or `schema.table` (each part may be double-quoted).
    pub fn parse(text: &str) -> Result<TableName, String> {
        let parts = split_identifier(text)?;
        match parts.as_slice() {
            [table] => Ok(TableName {
                schema: "public".into(),
                table: table.clone(),
            }),
            [schema, table] => Ok(TableName {
                schema: schema.clone(),
                table: table.clone(),
            }),
            _ => Err(format!("{text:?} is not `table` or `schema.table`")),
        }
    }

    /// `"schema"."table"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }
}

fn split_identifier(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return Err(format!("{text:?} has an unclosed quote"));
    }
    parts.push(current);
    if parts.iter().any(String::is_empty) {
        return Err(format!("{text:?} has an empty name"));
    }
    Ok(parts)
}

/// Quotes an identifier for SQL text.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A connection failure before any SQL ran.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection string asks for something impossible (bad `sslmode`, missing CA file).
    #[error("{0}")]
    Settings(String),
    /// The server could not be reached or refused the connection.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// Connects with the TLS `sslmode` asks for, running the connection on its own task.
pub async fn connect(connection_string: &str) -> Result<Client, ConnectError> {
    let settings = TlsSettings::parse(connection_string).map_err(ConnectError::Settings)?;
    let tls = settings.client_config().map_err(ConnectError::Settings)?;
    let client = match tls {
        None => {
            let (client, connection) =
                tokio_postgres::connect(&settings.connection_string, NoTls).await?;
            spawn_connection(connection);
            client
        }
        Some(config) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
            let (client, connection) =
                tokio_postgres::connect(&settings.connection_string, tls).await?;
            spawn_connection(connection);
            client
        }
    };
    Ok(client)
}

fn spawn_connection<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgresql connection closed");
        }
    });
}

/// Whether an error can succeed when retried (connection lost, serialization failure,
/// deadlock, shutdown, lack of resources) — by SQLSTATE where there is one.
pub fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }
        None => error.is_closed() || error.to_string().contains("connection"),
    }
}

/// The text of an error with its SQLSTATE, as it goes into error records.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(": {detail}"));
            }
            text
        }
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert_eq!(
            TableName::parse("orders").unwrap().quoted(),
            "\"public\".\"orders\""
        );
        assert_eq!(
            TableName::parse("sales.orders").unwrap().quoted(),
            "\"sales\".\"orders\""
        );
        assert_eq!(
            TableName::parse("\"My Schema\".\"a.b\"").unwrap().table,
            "a.b"
        );
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("a.").is_err());
    }
}
