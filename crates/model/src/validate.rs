//! Semantic rules of a typed DataFlow: required fields, identifiers, consistency between
//! fields, and the original's admission rules (original-behaviour §1.9).

use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::model::*;
use crate::problem::Problem;
use crate::template::Template;
use crate::yaml::{join_index, join_key};

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

    /// Refuses `librdkafkaOptions` keys the delivery guarantee depends on: `(key, what)` pairs,
    /// where `what` is the setting to use instead or the only value allowed.
    fn delivery_options(
        &mut self,
        path: &str,
        options: &std::collections::BTreeMap<String, String>,
        guarded: &[(&str, &str)],
        why: &str,
    ) {
        for (key, instead) in guarded {
            let Some(value) = options.get(*key) else {
                continue;
            };
            let options_path = field(path, "librdkafkaOptions");
            if *instead == "false" {
                if value != "false" {
                    self.error(
                        field(&options_path, key),
                        format!("{key} must stay false: {why} (at-least-once)"),
                    );
                }
            } else {
                self.error(
                    field(&options_path, key),
                    format!("set {instead} instead of {key} in librdkafkaOptions: {why}"),
                );
            }
        }
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
            SourceSpec::Kafka(c) => {
                self.kafka_connection(path, &c.connection);
                self.kafka_encoding(path, &c.encoding);
                let max_wait = self.duration(path, "consumerMaxWait", &c.consumer_max_wait);
                let read_timeout = self.duration(path, "netReadTimeout", &c.net_read_timeout);
                self.duration(path, "netWriteTimeout", &c.net_write_timeout);
                for (name, value) in [
                    ("consumerMaxWait", max_wait),
                    ("netReadTimeout", read_timeout),
                ] {
                    if value.is_some_and(|d| d.is_zero()) {
                        self.error(
                            field(path, name),
                            format!("{name} must be greater than zero"),
                        );
                    }
                }
                if let (Some(wait), Some(read)) = (max_wait, read_timeout)
                    && read <= wait
                {
                    self.error(
                        field(path, "netReadTimeout"),
                        "netReadTimeout must exceed consumerMaxWait",
                    );
                }
                for (name, value) in [
                    ("fetchMinBytes", c.fetch_min_bytes),
                    ("fetchMaxBytes", c.fetch_max_bytes),
                    ("maxPartitionFetchBytes", c.max_partition_fetch_bytes),
                ] {
                    if value == Some(0) {
                        self.error(
                            field(path, name),
                            format!("{name} must be greater than zero"),
                        );
                    }
                }
                self.delivery_options(
                    path,
                    &c.connection.librdkafka_options,
                    &[("enable.auto.offset.store", "false")],
                    "the source stores an offset only once every message read before it is written",
                );
                if c.connection
                    .librdkafka_options
                    .get("enable.auto.commit")
                    .map(String::as_str)
                    == Some("false")
                {
                    self.warning(
                        field(path, "librdkafkaOptions"),
                        "enable.auto.commit: false commits offsets only when the flow stops (and on \
                         rebalance): a crash re-reads everything since the start",
                    );
                }
                if c.consumer_group.trim().is_empty() && c.consumer_group_secret_ref.is_none() {
                    self.error(
                        field(path, "consumerGroup"),
                        "consumerGroup must not be empty",
                    );
                }
            }
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
            SourceSpec::Nessie(c) => {
                self.nessie_connection(path, &c.connection);
                if let Some(id) = &c.start_snapshot_id
                    && id.parse::<u64>().is_err()
                {
                    self.error(
                        field(path, "startSnapshotID"),
                        format!("{id:?} is not an unsigned integer snapshot id"),
                    );
                }
                if c.incremental_by_snapshot && is_set(&c.query) {
                    self.error(
                        field(path, "query"),
                        "query cannot be combined with incrementalBySnapshot",
                    );
                }
                if c.poll_interval == 0 {
                    self.error(
                        field(path, "pollInterval"),
                        "pollInterval must be at least 1 second",
                    );
                }
            }
            SourceSpec::File(c) => self.required_plain(path, "path", &c.path),
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
            SinkSpec::Kafka(c) => {
                self.kafka_connection(path, &c.connection);
                self.kafka_encoding(path, &c.encoding);
                self.delivery_options(
                    path,
                    &c.connection.librdkafka_options,
                    &[
                        ("acks", "requiredAcks"),
                        ("request.required.acks", "requiredAcks"),
                        ("enable.idempotence", "idempotent"),
                    ],
                    "they decide when a message counts as written",
                );
                if c.required_acks != RequiredAcks::All {
                    self.warning(
                        field(path, "requiredAcks"),
                        "requiredAcks below all acknowledges a message before every in-sync \
                         replica has it: a broker failure can lose acknowledged messages",
                    );
                }
                if c.idempotent && c.required_acks != RequiredAcks::All {
                    self.error(
                        field(path, "requiredAcks"),
                        "an idempotent producer needs requiredAcks: all (or set idempotent: false)",
                    );
                }
                if c.max_open_requests == Some(0) {
                    self.error(
                        field(path, "maxOpenRequests"),
                        "maxOpenRequests must be at least 1",
                    );
                }
                self.duration(path, "flushFrequency", &c.flush_frequency);
            }
            SinkSpec::Postgresql(c) => {
                self.database_connection(path, &c.connection, Table::Required);
                if c.upsert_mode {
                    self.identifier(path, "conflictKey", &c.conflict_key);
                }
                if c.upsert_strategy == UpsertStrategy::IfNewer && !is_set(&c.upsert_version_column)
                {
                    self.error(
                        field(path, "upsertVersionColumn"),
                        "upsertStrategy: ifNewer requires upsertVersionColumn",
                    );
                }
                self.optional_identifier(path, "upsertVersionColumn", &c.upsert_version_column);
                self.optional_identifier(path, "softDeleteColumn", &c.soft_delete_column);
                self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
                self.batch_warning(path, "postgresql", c.batch.size, 100);
            }
            SinkSpec::Trino(c) => {
                self.trino_connection(path, &c.connection, Table::Required);
                if c.upsert_mode {
                    self.conflict_key(path, &c.conflict_key);
                    let catalog = c.connection.catalog.as_deref().unwrap_or_default();
                    if c.connection.catalog_secret_ref.is_none()
                        && !catalog.to_lowercase().contains("iceberg")
                    {
                        self.error(
                            field(path, "upsertMode"),
                            format!(
                                "upsertMode uses MERGE, which needs an Iceberg catalog (a catalog whose name \
                                 contains \"iceberg\"); catalog is {catalog:?}"
                            ),
                        );
                    }
                    self.warning(
                        field(path, "upsertMode"),
                        "Trino upserts run one MERGE per batch; expect lower throughput than inserts",
                    );
                }
                if c.query_timeout_seconds == 0 {
                    self.error(
                        field(path, "queryTimeoutSeconds"),
                        "queryTimeoutSeconds must be at least 1",
                    );
                }
                self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
                self.batch_warning(path, "trino", c.batch.size, 10);
            }
            SinkSpec::Clickhouse(c) => {
                self.database_connection(path, &c.connection, Table::Required);
                if c.upsert_mode {
                    self.conflict_key(path, &c.conflict_key);
                    if c.table_engine == Some(TableEngine::MergeTree) {
                        self.error(
                            field(path, "tableEngine"),
                            "upsertMode needs tableEngine ReplacingMergeTree (MergeTree keeps duplicates)",
                        );
                    }
                }
                self.optional_identifier(
                    path,
                    "replacingVersionColumn",
                    &c.replacing_version_column,
                );
                self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
                self.batch_warning(path, "clickhouse", c.batch.size, 100);
            }
            SinkSpec::Nessie(c) => {
                self.nessie_connection(path, &c.connection);
                if c.access_key_secret_ref.is_some() != c.secret_access_key_secret_ref.is_some() {
                    self.error(
                        field(path, "accessKeySecretRef"),
                        "accessKeySecretRef and secretAccessKeySecretRef must be set together",
                    );
                }
                self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
                self.batch_warning(path, "nessie", c.batch.size, 100);
            }
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

    fn trino_connection(&mut self, path: &str, c: &TrinoConnection, table: Table) {
        self.required(path, "serverURL", &c.server_url, &c.server_url_secret_ref);
        self.required(path, "catalog", &c.catalog, &c.catalog_secret_ref);
        self.required(path, "schema", &c.schema, &c.schema_secret_ref);
        self.table(path, &c.table, &c.table_secret_ref, table);
        self.keycloak(path, &c.keycloak);
    }

    fn kafka_connection(&mut self, path: &str, c: &KafkaConnection) {
        if c.brokers.is_empty() && c.brokers_secret_ref.is_none() {
            self.error(
                field(path, "brokers"),
                "brokers or brokersSecretRef is required",
            );
        }
        for (index, broker) in c.brokers.iter().enumerate() {
            let valid = broker
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                self.error(
                    join_index(&field(path, "brokers"), index),
                    format!("{broker:?} is not host:port"),
                );
            }
        }
        self.required(path, "topic", &c.topic, &c.topic_secret_ref);
        if let Some(sasl) = &c.sasl {
            let sasl_path = field(path, "sasl");
            self.required(
                &sasl_path,
                "username",
                &sasl.username,
                &sasl.username_secret_ref,
            );
            self.required(
                &sasl_path,
                "password",
                &sasl.password,
                &sasl.password_secret_ref,
            );
        }
        let Some(protocol) = &c.security_protocol else {
            return;
        };
        let normalised = protocol.trim().to_uppercase().replace('-', "_");
        let (needs_tls, needs_sasl) = match normalised.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            _ => {
                self.error(
                    field(path, "securityProtocol"),
                    format!("{protocol:?} is not allowed (expected one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"),
                );
                return;
            }
        };
        if needs_sasl != c.sasl.is_some() {
            self.error(
                field(path, "securityProtocol"),
                if needs_sasl {
                    format!("securityProtocol {normalised} needs a sasl block")
                } else {
                    format!(
                        "securityProtocol {normalised} does not use SASL, but a sasl block is set"
                    )
                },
            );
        }
        if !needs_tls && c.tls.is_some() {
            self.error(
                field(path, "securityProtocol"),
                format!("securityProtocol {normalised} does not use TLS, but a tls block is set"),
            );
        }
    }

    fn kafka_encoding(&mut self, path: &str, c: &KafkaEncoding) {
        if let Some(registry) = &c.schema_registry {
            self.required(
                &field(path, "schemaRegistry"),
                "url",
                &registry.url,
                &registry.url_secret_ref,
            );
        }
        if let Some(text) = &c.avro_schema
            && serde_json::from_str::<Value>(text).is_err()
        {
            self.error(field(path, "avroSchema"), "avroSchema is not valid JSON");
        }
        let static_schema = is_set(&c.avro_schema)
            || is_set(&c.avro_schema_file)
            || c.avro_schema_secret_ref.is_some();
        if c.format == KafkaFormat::Avro && !static_schema && c.schema_registry.is_none() {
            self.error(
                field(path, "format"),
                "format: avro needs schemaRegistry or a static schema (avroSchema, avroSchemaFile or avroSchemaSecretRef)",
            );
        }
    }

    fn keycloak(&mut self, path: &str, keycloak: &Option<KeycloakConfig>) {
        let Some(k) = keycloak else { return };
        let path = field(path, "keycloak");
        if is_set(&k.token) || k.token_secret_ref.is_some() {
            return;
        }
        if !is_set(&k.token_url) {
            self.required(&path, "serverURL", &k.server_url, &k.server_url_secret_ref);
            self.required(&path, "realm", &k.realm, &k.realm_secret_ref);
        }
        self.required(&path, "clientID", &k.client_id, &k.client_id_secret_ref);
        let has_user = is_set(&k.username) || k.username_secret_ref.is_some();
        let has_password = is_set(&k.password) || k.password_secret_ref.is_some();
        if has_user != has_password {
            self.error(
                field(&path, if has_user { "password" } else { "username" }),
                "the password grant needs both username and password",
            );
        }
        if !has_user && !is_set(&k.client_secret) && k.client_secret_secret_ref.is_none() {
            self.error(
                field(&path, "clientSecret"),
                "without token or username/password, the client-credentials grant needs clientSecret",
            );
        }
    }

    fn nessie_connection(&mut self, path: &str, c: &NessieConnection) {
        self.required(path, "baseURL", &c.base_url, &c.base_url_secret_ref);
        self.required(path, "namespace", &c.namespace, &c.namespace_secret_ref);
        self.required(path, "table", &c.table, &c.table_secret_ref);
        self.required_plain(path, "branch", &c.branch);
        let has_token = is_set(&c.bearer_token) || c.token_secret_ref.is_some();
        match c.authentication_type {
            NessieAuthenticationType::Bearer if !has_token => self.error(
                field(path, "bearerToken"),
                "authenticationType BEARER needs bearerToken or tokenSecretRef",
            ),
            NessieAuthenticationType::Basic => match &c.basic_auth {
                Some(b) => {
                    let basic_path = field(path, "basicAuth");
                    self.required(&basic_path, "username", &b.username, &b.username_secret_ref);
                    self.required(&basic_path, "password", &b.password, &b.password_secret_ref);
                }
                None => self.error(
                    field(path, "basicAuth"),
                    "authenticationType BASIC needs basicAuth",
                ),
            },
            _ => {}
        }
    }

    /// Checks the router routes' sinks (the rules of each step — paths, conditions, formats,
    /// exclusive fields — are the transform crate's, which compiles them); returns the route
    /// sinks with their paths.
    fn transformations(&mut self, steps: &[TransformationSpec]) -> Vec<(String, SinkSpec)> {
        let mut route_sinks = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let path = field(&join_index("spec.transformations", index), "config");
            if let Step::Router(router) = &step.step {
                if router.routes.is_empty() {
                    self.error(field(&path, "routes"), "router needs at least one route");
                }
                for (route_index, route) in router.routes.iter().enumerate() {
                    let route_path = join_index(&field(&path, "routes"), route_index);
                    let sink_path = field(&route_path, "sink");
                    self.sink(&route.sink, &field(&sink_path, "config"));
                    route_sinks.push((sink_path, route.sink.clone()));
                }
            }
        }
        route_sinks
    }

    /// Names as Kubernetes accepts them (DNS-1123): besides being valid in a cluster, this
    /// keeps `<namespace>_<name>` checkpoint file names apart (`team/a_b` and `team_a/b` were
    /// the same file, and the second flow silently skipped its input).
    fn names(&mut self, flow: &DataFlow) {
        if let Some(name) = &flow.metadata.name
            && !is_dns_subdomain(name)
        {
            self.error(
                "metadata.name",
                format!(
                    "{name:?} is not a valid name: lowercase letters, digits, '-' and '.', \
                         starting and ending with a letter or digit, at most 253 characters"
                ),
            );
        }
        if let Some(namespace) = &flow.metadata.namespace
            && !(is_dns_label(namespace))
        {
            self.error(
                "metadata.namespace",
                format!(
                    "{namespace:?} is not a valid namespace: lowercase letters, digits and \
                         '-', starting and ending with a letter or digit, at most 63 characters"
                ),
            );
        }
    }

    /// A file sink writing the file the source reads would feed itself for ever (A14).
    fn file_loops(&mut self, spec: &DataFlowSpec, route_sinks: &[(String, SinkSpec)]) {
        let SourceSpec::File(source) = &spec.source else {
            return;
        };
        let read = normal_path(&source.path);
        let mut sinks = vec![("spec.sink.config".to_string(), &spec.sink)];
        if let Some(errors) = &spec.errors {
            sinks.push(("spec.errors.config".to_string(), &errors.sink));
        }
        for (path, sink) in route_sinks {
            sinks.push((field(path, "config"), sink));
        }
        for (path, sink) in sinks {
            if let SinkSpec::File(file) = sink
                && normal_path(&file.path) == read
            {
                self.error(
                    field(&path, "path"),
                    format!(
                        "{:?} is also the source's file: the flow would read its own output",
                        file.path
                    ),
                );
            }
        }
    }

    fn top_level(&mut self, spec: &DataFlowSpec) {
        if spec.replicas > 1 && !matches!(spec.source, SourceSpec::Kafka(_)) {
            self.error(
                "spec.replicas",
                format!(
                    "replicas: {} is only allowed with a kafka source (a {} source keeps one \
                     checkpoint and must run as a single replica)",
                    spec.replicas,
                    spec.source.type_name()
                ),
            );
        }
        if !(1..=64).contains(&spec.transform_workers) {
            self.error(
                "spec.transformWorkers",
                "transformWorkers must be between 1 and 64",
            );
        }
        if spec.channel_buffer_size == 0 {
            self.error(
                "spec.channelBufferSize",
                "channelBufferSize must be at least 1",
            );
        }
        if let Err(message) = parse_go_duration(&spec.checkpoint_save_interval) {
            self.error("spec.checkpointSaveInterval", message);
        }
        for (index, secret) in spec.image_pull_secrets.iter().enumerate() {
            if secret.name.is_empty() {
                self.error(
                    format!("spec.imagePullSecrets[{index}].name"),
                    "name is required",
                );
            }
        }
        if let Some(resources) = &spec.resources {
            for (kind, map) in [
                ("limits", &resources.limits),
                ("requests", &resources.requests),
            ] {
                for (name, quantity) in map {
                    let negative = match quantity {
                        Quantity::Number(n) => *n < 0.0,
                        Quantity::Text(t) => t.trim_start().starts_with('-'),
                    };
                    if negative {
                        self.error(
                            format!("spec.resources.{kind}.{name}"),
                            "resources must not be negative",
                        );
                    }
                }
            }
        }
        if let Some(maintenance) = &spec.maintenance {
            self.maintenance(maintenance);
        }
    }

    fn maintenance(&mut self, m: &Maintenance) {
        let path = "spec.maintenance";
        match (&m.start_time, &m.duration) {
            (Some(_), None) => self.error(
                field(path, "duration"),
                "duration is required with startTime",
            ),
            (None, Some(_)) => self.error(
                field(path, "startTime"),
                "startTime is required with duration",
            ),
            _ => {}
        }
        if let Some(start) = &m.start_time
            && chrono::DateTime::parse_from_rfc3339(start).is_err()
        {
            self.error(
                field(path, "startTime"),
                format!("{start:?} is not an RFC3339 time such as 2026-01-31T02:00:00Z"),
            );
        }
        if let Some(duration) = self.duration(path, "duration", &m.duration)
            && duration.is_zero()
        {
            self.error(
                field(path, "duration"),
                "duration must be greater than zero",
            );
        }
        if let Some(zone) = &m.timezone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            self.error(
                field(path, "timezone"),
                format!("{zone:?} is not an IANA time zone such as Europe/Berlin or UTC"),
            );
        }
    }

    fn idempotency(&mut self, spec: &DataFlowSpec, route_sinks: &[(String, SinkSpec)]) {
        if !spec.source.is_polling() {
            return;
        }
        let mut outputs: Vec<(String, &SinkSpec)> = vec![("spec.sink".into(), &spec.sink)];
        if let Some(errors) = &spec.errors {
            outputs.push(("spec.errors".into(), &errors.sink));
        }
        outputs.extend(route_sinks.iter().map(|(path, sink)| (path.clone(), sink)));
        for (path, sink) in outputs {
            if sink.is_idempotent() {
                continue;
            }
            let message = format!(
                "a {} source may re-read rows after a restart, and this {} sink is not idempotent \
                 (use a postgresql, clickhouse or trino sink with upsertMode and conflictKey), so \
                 duplicates are possible",
                spec.source.type_name(),
                sink.type_name()
            );
            if spec.strict_idempotency {
                self.error(path, format!("{message} (strictIdempotency is on)"));
            } else {
                self.warning(path, message);
            }
        }
    }

    /// Every `*SecretRef` object needs `name` and `key`.
    fn secret_refs(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    let child_path = join_key(path, key);
                    if key.ends_with("SecretRef") {
                        if let Some(reference) = child.as_object() {
                            for required in ["name", "key"] {
                                let missing = reference
                                    .get(required)
                                    .and_then(Value::as_str)
                                    .is_none_or(|v| v.trim().is_empty());
                                if missing {
                                    self.error(
                                        join_key(&child_path, required),
                                        format!("{required} is required in a secret reference"),
                                    );
                                }
                            }
                        }
                    } else {
                        self.secret_refs(child, &child_path);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.secret_refs(item, &join_index(path, index));
                }
            }
            _ => {}
        }
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
