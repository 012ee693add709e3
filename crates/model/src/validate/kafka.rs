//! The rules of the Kafka source and sink: timeouts, fetch sizes, delivery settings that
//! `librdkafkaOptions` may not weaken, TLS and SASL, Avro encoding.

use super::*;

impl Rules {
    /// The rules of a KafkaSource config at `path`.
    pub(super) fn kafka_source(&mut self, c: &KafkaSourceConfig, path: &str) {
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

    /// The rules of a KafkaSink config at `path`.
    pub(super) fn kafka_sink(&mut self, c: &KafkaSinkConfig, path: &str) {
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

    /// Refuses `librdkafkaOptions` keys the delivery guarantee depends on: `(key, what)` pairs,
    /// where `what` is the setting to use instead or the only value allowed.
    pub(super) fn delivery_options(
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

    pub(super) fn kafka_connection(&mut self, path: &str, c: &KafkaConnection) {
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

    pub(super) fn kafka_encoding(&mut self, path: &str, c: &KafkaEncoding) {
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
}
