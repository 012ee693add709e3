//! Semantic rules of a typed DataFlow: required fields, identifiers, consistency between
//! fields, and the original's admission rules (original-behaviour §1.9).
//!
//! Layout: this module holds [`validate`], the rule helpers every connector uses (required
//! fields, identifiers, durations, tables, the polling block) and the dispatch by connector
//! type; each server connector's rules are in a file of its own (`kafka.rs`, `postgres.rs`,
//! `trino.rs`, `clickhouse.rs`, `nessie.rs`), the rules of the flow as a whole in `flow.rs`.

use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::model::*;
use crate::problem::Problem;
use crate::template::Template;
use crate::yaml::{join_index, join_key};

mod clickhouse;
mod flow;
mod kafka;
mod nessie;
mod postgres;
mod trino;

/// Checks every rule and returns all problems (errors and warnings), with normalised paths.
pub fn validate(flow: &DataFlow) -> Vec<Problem> {
    let mut rules = Rules::default();
    let spec = &flow.spec;
    if flow.api_version != API_VERSION {
        rules.error(
            "apiVersion",
            format!("expected {API_VERSION:?}, found {:?}", flow.api_version),
        );
    }
    rules.names(flow);
    rules.source(&spec.source, "spec.source.config");
    rules.sink(&spec.sink, "spec.sink.config");
    if let Some(errors) = &spec.errors {
        rules.sink(&errors.sink, "spec.errors.config");
    }
    let route_sinks = rules.transformations(&spec.transformations);
    rules.file_loops(spec, &route_sinks);
    rules.top_level(spec);
    rules.idempotency(spec, &route_sinks);
    let value = serde_json::to_value(spec).unwrap_or_default();
    rules.secret_refs(&value, "spec");
    rules.problems
}

/// What a connector needs besides its connection: a table, or a table or a query.
#[derive(Clone, Copy)]
enum Table<'a> {
    Required,
    OrQuery(&'a Option<String>),
}

#[derive(Default)]
struct Rules {
    problems: Vec<Problem>,
}

fn field(path: &str, name: &str) -> String {
    join_key(path, name)
}

fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// A path with `.` parts and repeated separators removed, for comparing paths as written.
fn normal_path(text: &str) -> std::path::PathBuf {
    std::path::Path::new(text)
        .components()
        .filter(|part| !matches!(part, std::path::Component::CurDir))
        .collect()
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !text.is_empty()
        && text.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: labels joined by dots, at most 253 characters.
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// `[A-Za-z_][A-Za-z0-9_]*`, the SQL identifiers the original accepts.
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Rules {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::error(path, message));
    }

    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::warning(path, message));
    }

    /// "X or XSecretRef is required".
    fn required(
        &mut self,
        path: &str,
        name: &str,
        plain: &Option<String>,
        secret: &Option<SecretRef>,
    ) {
        if !is_set(plain) && secret.is_none() {
            self.error(
                field(path, name),
                format!("{name} or {name}SecretRef is required"),
            );
        }
    }

    fn required_plain(&mut self, path: &str, name: &str, plain: &str) {
        if plain.trim().is_empty() {
            self.error(field(path, name), format!("{name} is required"));
        }
    }

    fn identifier(&mut self, path: &str, name: &str, value: &str) {
        if !is_identifier(value) {
            self.error(
                field(path, name),
                format!(
                    "{value:?} is not a valid column name (letters, digits and underscores, \
                     not starting with a digit)"
                ),
            );
        }
    }

    fn optional_identifier(&mut self, path: &str, name: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.identifier(path, name, value);
        }
    }

    fn duration(
        &mut self,
        path: &str,
        name: &str,
        value: &Option<String>,
    ) -> Option<std::time::Duration> {
        let text = value.as_ref()?;
        match parse_go_duration(text) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.error(field(path, name), message);
                None
            }
        }
    }

    fn metadata_columns(&mut self, path: &str, raw_mode: bool, columns: &MetadataColumns) {
        if columns.flatten_metadata_columns && !raw_mode {
            self.error(
                field(path, "flattenMetadataColumns"),
                "flattenMetadataColumns requires rawMode: true",
            );
        }
        if let Some(prefix) = &columns.flatten_metadata_columns_prefix
            && !prefix.is_empty()
            && !is_identifier(prefix)
        {
            self.error(
                field(path, "flattenMetadataColumnsPrefix"),
                format!("{prefix:?} is not a valid prefix (letters, digits and underscores, not starting with a digit)"),
            );
        }
    }

    fn source(&mut self, source: &SourceSpec, path: &str) {
        match source {
            SourceSpec::Kafka(c) => self.kafka_source(c, path),
            SourceSpec::Postgresql(c) => {
                self.database_connection(path, &c.connection, Table::OrQuery(&c.query));
                self.polling(path, &c.polling, &c.change_tracking_column);
            }
            SourceSpec::Trino(c) => {
                self.trino_connection(path, &c.connection, Table::OrQuery(&c.query));
                self.polling(path, &c.polling, &c.change_tracking_column);
            }
            SourceSpec::Clickhouse(c) => {
                self.database_connection(path, &c.connection, Table::OrQuery(&c.query));
                self.polling(path, &c.polling, &c.change_tracking_column);
            }
            SourceSpec::Nessie(c) => self.nessie_source(c, path),
            SourceSpec::File(c) => {
                self.required_plain(path, "path", &c.path);
                if c.max_line_bytes < 4096 {
                    self.error(
                        field(path, "maxLineBytes"),
                        "maxLineBytes must be at least 4096",
                    );
                }
            }
            SourceSpec::Stdin(_) => {}
            SourceSpec::Generate(c) => {
                if let Some(rate) = c.rate_per_second
                    && !(rate > 0.0 && rate.is_finite())
                {
                    self.error(
                        field(path, "ratePerSecond"),
                        "ratePerSecond must be greater than zero",
                    );
                }
                if let Some(template) = &c.template
                    && let Err(message) = Template::compile(template)
                {
                    let (inner, text) = message.split_once(": ").unwrap_or(("template", &message));
                    self.error(field(path, inner), text.to_string());
                }
            }
        }
    }

    fn sink(&mut self, sink: &SinkSpec, path: &str) {
        if let Some(batch) = sink.batch_settings()
            && batch.batch_size == 0
            && batch.flush_interval_seconds == 0
        {
            self.error(
                field(path, "batchSize"),
                "batchSize: 0 (flush by timer only) needs batchFlushIntervalSeconds above 0; \
                 with neither, messages would wait until 10,000 arrive",
            );
        }
        match sink {
            SinkSpec::Kafka(c) => self.kafka_sink(c, path),
            SinkSpec::Postgresql(c) => self.postgres_sink(c, path),
            SinkSpec::Trino(c) => self.trino_sink(c, path),
            SinkSpec::Clickhouse(c) => self.clickhouse_sink(c, path),
            SinkSpec::Nessie(c) => self.nessie_sink(c, path),
            SinkSpec::File(c) => self.required_plain(path, "path", &c.path),
            SinkSpec::Stdout(_) | SinkSpec::Null(_) => {}
        }
    }

    fn conflict_key(&mut self, path: &str, key: &Option<String>) {
        match key {
            Some(key) if !key.is_empty() => self.identifier(path, "conflictKey", key),
            _ => self.error(
                field(path, "conflictKey"),
                "upsertMode requires conflictKey",
            ),
        }
    }

    fn batch_warning(&mut self, path: &str, sink: &str, batch_size: u32, recommended: u32) {
        if batch_size != 0 && batch_size < recommended {
            self.warning(
                field(path, "batchSize"),
                format!("batchSize {batch_size} is below the {recommended} recommended for {sink}: every batch is one round trip"),
            );
        }
    }

    /// The settings every polling source shares.
    /// The polling block of a database source, and its change-tracking column.
    fn polling(&mut self, path: &str, polling: &Polling, change_tracking_column: &str) {
        if polling.interval == 0 {
            self.error(
                field(path, "pollInterval"),
                "pollInterval must be at least 1 second",
            );
        }
        self.duration(path, "pollSafetyLag", &Some(polling.safety_lag.clone()));
        self.identifier(path, "changeTrackingColumn", change_tracking_column);
        self.identifier(path, "orderByColumn", &polling.order_by_column);
    }

    fn table(
        &mut self,
        path: &str,
        table: &Option<String>,
        secret: &Option<SecretRef>,
        rule: Table,
    ) {
        match rule {
            Table::Required => self.required(path, "table", table, secret),
            Table::OrQuery(query) => {
                if !is_set(table) && secret.is_none() && !is_set(query) {
                    self.error(
                        field(path, "table"),
                        "table, tableSecretRef or query is required",
                    );
                }
            }
        }
    }

    fn database_connection(&mut self, path: &str, c: &DatabaseConnection, table: Table) {
        self.required(
            path,
            "connectionString",
            &c.connection_string,
            &c.connection_string_secret_ref,
        );
        self.table(path, &c.table, &c.table_secret_ref, table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names() {
        assert!(is_dns_subdomain("orders-copy.v2"));
        assert!(is_dns_label("team-a"));
        for bad in ["a_b", "Orders", "-a", "a-", "", "a..b"] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("updated_at"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("id; drop table x"));
    }
}
