//! librdkafka settings from a `KafkaConnection`: brokers, the security protocol (inferred when
//! absent), TLS material given as a path or as PEM content, SASL.

use dataflow_spec::{KafkaConnection, SaslMechanism};
use rdkafka::ClientConfig;

/// Whether a TLS value is PEM content rather than a path (the seed's rule: `-----BEGIN`, or
/// not an existing file).
pub(super) fn is_pem_content(value: &str) -> bool {
    value.trim_start().starts_with("-----BEGIN") || !std::path::Path::new(value).exists()
}

/// The client settings shared by producers and consumers.
pub fn client_config(connection: &KafkaConnection) -> Result<ClientConfig, String> {
    if connection.brokers.is_empty() {
        return Err("kafka: brokers are required".into());
    }
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", connection.brokers.join(","));
    config.set("client.id", "dataflow-operator");
    let protocol = match &connection.security_protocol {
        Some(protocol) => protocol.trim().to_uppercase().replace('-', "_"),
        None => match (connection.tls.is_some(), connection.sasl.is_some()) {
            (true, true) => "SASL_SSL".into(),
            (false, true) => "SASL_PLAINTEXT".into(),
            (true, false) => "SSL".into(),
            (false, false) => "PLAINTEXT".into(),
        },
    };
    config.set("security.protocol", &protocol);
    if let Some(tls) = &connection.tls {
        for (value, location, pem) in [
            (&tls.ca_file, "ssl.ca.location", "ssl.ca.pem"),
            (
                &tls.cert_file,
                "ssl.certificate.location",
                "ssl.certificate.pem",
            ),
            (&tls.key_file, "ssl.key.location", "ssl.key.pem"),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                if is_pem_content(value) {
                    config.set(pem, value); // handed over in memory, never written to disk
                } else {
                    config.set(location, value);
                }
            }
        }
        if tls.insecure_skip_verify && tls.ca_file.is_none() {
            config.set("enable.ssl.certificate.verification", "false");
        }
    }
    if let Some(sasl) = &connection.sasl {
        let mechanism = match sasl.mechanism {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        };
        config.set("sasl.mechanism", mechanism);
        let username = sasl
            .username
            .as_deref()
            .ok_or("kafka: sasl.username is required")?;
        let password = sasl
            .password
            .as_deref()
            .ok_or("kafka: sasl.password is required")?;
        config.set("sasl.username", username);
        config.set("sasl.password", password);
    }
    for (key, value) in &connection.librdkafka_options {
        config.set(key, value);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataflow_spec::{SaslConfig, TlsConfig};

    fn connection() -> KafkaConnection {
        KafkaConnection {
            brokers: vec!["a:9092".into(), "b:9092".into()],
            topic: Some("t".into()),
            ..Default::default()
        }
    }

    fn get(config: &ClientConfig, key: &str) -> Option<String> {
        config.get(key).map(str::to_string)
    }

    #[test]
    fn protocol_is_inferred_from_tls_and_sasl() {
        let sasl = SaslConfig {
            username: Some("u".into()),
            password: Some("p".into()),
            ..Default::default()
        };
        let cases = [
            (None, None, "PLAINTEXT"),
            (Some(TlsConfig::default()), None, "SSL"),
            (None, Some(sasl.clone()), "SASL_PLAINTEXT"),
            (Some(TlsConfig::default()), Some(sasl), "SASL_SSL"),
        ];
        for (tls, sasl, expected) in cases {
            let config = client_config(&KafkaConnection {
                tls,
                sasl,
                ..connection()
            })
            .unwrap();
            assert_eq!(get(&config, "security.protocol").as_deref(), Some(expected));
        }
        let explicit = client_config(&KafkaConnection {
            security_protocol: Some("sasl-ssl".into()),
            ..connection()
        })
        .unwrap();
        assert_eq!(
            get(&explicit, "security.protocol").as_deref(),
            Some("SASL_SSL")
        );
        assert_eq!(
            get(&explicit, "bootstrap.servers").as_deref(),
            Some("a:9092,b:9092")
        );
    }

    #[test]
    fn tls_values_are_paths_or_pem_content() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let tls = TlsConfig {
            ca_file: Some(ca.display().to_string()),
            cert_file: Some(
                "-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n".into(),
            ),
            key_file: Some("/no/such/key".into()),
            ..Default::default()
        };
        let config = client_config(&KafkaConnection {
            tls: Some(tls),
            ..connection()
        })
        .unwrap();
        assert_eq!(
            get(&config, "ssl.ca.location"),
            Some(ca.display().to_string())
        );
        assert!(
            get(&config, "ssl.certificate.pem")
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(
            get(&config, "ssl.key.pem").as_deref(),
            Some("/no/such/key"),
            "not an existing file: content"
        );
        let skip = client_config(&KafkaConnection {
            tls: Some(TlsConfig {
                insecure_skip_verify: true,
                ..Default::default()
            }),
            ..connection()
        })
        .unwrap();
        assert_eq!(
            get(&skip, "enable.ssl.certificate.verification").as_deref(),
            Some("false")
        );
    }

    #[test]
    fn sasl_mechanisms_and_credentials() {
        for (mechanism, expected) in [
            (SaslMechanism::Plain, "PLAIN"),
            (SaslMechanism::ScramSha256, "SCRAM-SHA-256"),
            (SaslMechanism::ScramSha512, "SCRAM-SHA-512"),
        ] {
            let sasl = SaslConfig {
                mechanism,
                username: Some("u".into()),
                password: Some("p".into()),
                ..Default::default()
            };
            let config = client_config(&KafkaConnection {
                sasl: Some(sasl),
                ..connection()
            })
            .unwrap();
            assert_eq!(get(&config, "sasl.mechanism").as_deref(), Some(expected));
            assert_eq!(get(&config, "sasl.username").as_deref(), Some("u"));
        }
        let missing = client_config(&KafkaConnection {
            sasl: Some(SaslConfig::default()),
            ..connection()
        })
        .unwrap_err();
        assert!(missing.contains("sasl.username"), "{missing}");
    }
}
