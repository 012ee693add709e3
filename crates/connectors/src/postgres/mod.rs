//! The PostgreSQL connector: a polling source and a COPY-speed sink.
//!
//! Layout: `source.rs` is the polling source (on the shared `polling` driver) and `query.rs`
//! its polling statement and how rows become JSON. `sink.rs` is the sink; `rows.rs` turns
//! messages into changes, `schema.rs` fits the table to them, `catalog.rs` reads the table's
//! columns and writes its DDL, `copy.rs` builds the COPY blocks and statements, and `encode.rs`
//! encodes rows in COPY's binary and CSV formats (tested in `encode_tests.rs`). `tls.rs` maps
//! `sslmode` onto rustls. This module holds what both sides share: registration,
//! [`TableName`] and quoting, connecting, and reading errors ([`is_transient`], [`describe`]).

mod catalog;
mod copy;
mod encode;
mod query;
mod rows;
mod schema;
mod sink;
mod source;
mod tls;

pub use sink::PostgresSink;
pub use source::PostgresSource;
pub use tls::{SslMode, TlsSettings};

use dataflow_core::{BuildError, Registry};
use dataflow_spec::{SinkSpec, SourceSpec};
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};

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
    /// The server did not complete the connection (TCP, TLS, start-up) in time: worth a retry.
    #[error("no answer from the server within {0:?} (connect_timeout)")]
    TimedOut(Duration),
}

/// How long one connection attempt may take when the connection string sets no
/// `connect_timeout` (libpq waits for ever; a server that accepts TCP and never answers hung
/// the flow without a word).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses a connection string (TLS settings apart), refusing a malformed one at once with the
/// reason (never the string itself, which may hold a password).
pub fn parse_connection_string(
    connection_string: &str,
) -> Result<(TlsSettings, Config), ConnectError> {
    let settings = TlsSettings::parse(connection_string).map_err(ConnectError::Settings)?;
    let mut config: Config =
        settings
            .connection_string
            .parse()
            .map_err(|e: tokio_postgres::Error| {
                ConnectError::Settings(format!("invalid connection string: {}", error_chain(&e)))
            })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok((settings, config))
}

/// Connects with the TLS `sslmode` asks for, running the connection on its own task.
pub async fn connect(connection_string: &str) -> Result<Client, ConnectError> {
    let (settings, config) = parse_connection_string(connection_string)?;
    let tls = settings.client_config().map_err(ConnectError::Settings)?;
    // tokio-postgres bounds only the TCP connect by `connect_timeout`; a server that accepts
    // and then says nothing would hold the start-up for ever, so the whole connect is bounded.
    let limit = *config
        .get_connect_timeout()
        .unwrap_or(&DEFAULT_CONNECT_TIMEOUT);
    tokio::time::timeout(limit, connect_with(config, tls))
        .await
        .map_err(|_| ConnectError::TimedOut(limit))?
}

async fn connect_with(
    config: Config,
    tls: Option<rustls::ClientConfig>,
) -> Result<Client, ConnectError> {
    let client = match tls {
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            spawn_connection(connection);
            client
        }
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let (client, connection) = config.connect(tls).await?;
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
        // No SQLSTATE: the client's own failure. Lost or refused connections and timeouts
        // come with an `io::Error` underneath; anything else (a protocol or parse error) will
        // not pass on a retry.
        None => {
            error.is_closed()
                || io_error_of(error).is_some()
                || error.to_string().to_lowercase().contains("connection")
        }
    }
}

/// The `io::Error` under a client error, if any.
fn io_error_of(error: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

/// An error and its causes, `error: cause: cause` (`error connecting to server: Connection
/// refused (os error 111)`), so the reason a connect failed is not lost.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
        None => error_chain(error),
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

    #[test]
    fn a_malformed_connection_string_is_a_settings_error_without_the_password() {
        // A11: these were retried for ever as "invalid connection string".
        for text in [
            "postgres://app:s3cret@127.0.0.1:notaport/test",
            "host=127.0.0.1 password=s3cret connect_timeout=abc",
        ] {
            match parse_connection_string(text) {
                Err(ConnectError::Settings(reason)) => {
                    assert!(
                        reason.starts_with("invalid connection string: "),
                        "{reason}"
                    );
                    assert!(
                        reason.len() > "invalid connection string: ".len() + 5,
                        "{reason}"
                    );
                    assert!(!reason.contains("s3cret"), "{reason}");
                }
                other => panic!("{text}: {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn a_connect_timeout_is_set_unless_the_string_sets_one() {
        let (_, config) = parse_connection_string("postgres://a@127.0.0.1/test").unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        let (_, config) =
            parse_connection_string("postgres://a@127.0.0.1/test?connect_timeout=3").unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }
}
