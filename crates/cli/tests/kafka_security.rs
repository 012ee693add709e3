//! Kafka over TLS and with authentication, through the binary against real servers started by
//! scripts/test-servers.sh: on 127.0.0.1:19094 socat terminates TLS (a client certificate
//! signed by the test CA is required) in front of a Tansu that advertises that port, so every
//! broker connection is TLS; on 127.0.0.1:19093 a Tansu requires SASL authentication and, with
//! no users stored, refuses every login.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

mod support;
use support::{FAST_JOIN, json_lines, run_within};

/// The TLS port and the test certificates.
const TLS_BROKERS: &str = "127.0.0.1:19094";
/// The broker that requires SASL authentication.
const AUTH_BROKERS: &str = "127.0.0.1:19093";
/// Long enough for any healthy run here, far shorter than librdkafka's five-minute delivery
/// timeout a misconfigured flow used to wait out.
const LIMIT: Duration = Duration::from_secs(60);

fn tls_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("DATAFLOW_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/dataflow-servers"));
    dir.join("kafka-tls").join(name)
}

fn tls_paths(ca: &str) -> String {
    format!(
        "{{caFile: {}, certFile: {}, keyFile: {}}}",
        tls_file(ca).display(),
        tls_file("client.pem").display(),
        tls_file("client.key").display()
    )
}

fn topic() -> String {
    format!("tls-{}", uuid::Uuid::new_v4().simple())
}

#[test]
fn tls_with_a_client_certificate_from_paths_and_from_a_secret() {
    let topic = topic();
    let dir = tempfile::tempdir().unwrap();

    // Sink: certificate, key and CA as file paths.
    std::fs::write(
        dir.path().join("produce.yaml"),
        format!(
            "source: {{type: generate, config: {{count: 40, template: {{n: \"{{{{seq}}}}\"}}}}}}\n\
             sink:\n  type: kafka\n  config:\n    brokers: [\"{TLS_BROKERS}\"]\n    topic: {topic}\n    tls: {}\n",
            tls_paths("ca.pem")
        ),
    )
    .unwrap();
    let (status, stderr) = run_within(dir.path(), &["run", "produce.yaml", "--quiet"], LIMIT);
    assert!(status.success(), "{stderr}");

    // Source: the same material as PEM content in a Secret, handed to librdkafka in memory.
    let pem = |name: &str| std::fs::read_to_string(tls_file(name)).unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kafka-tls-certs"},
        "stringData": {"ca.crt": pem("ca.pem"), "client.crt": pem("client.pem"), "client.key": pem("client.key")}
    });
    let reference = |key: &str| format!("{{name: kafka-tls-certs, key: {key}}}");
    std::fs::write(
        dir.path().join("consume.yaml"),
        format!(
            "{secret}\n---\nsource:\n  type: kafka\n  config:\n    brokers: [\"{TLS_BROKERS}\"]\n    topic: {topic}\n    consumerGroup: g-{topic}\n\
             \x20   tls: {{caSecretRef: {}, certSecretRef: {}, keySecretRef: {}}}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 10}}}}\n",
            reference("ca.crt"),
            reference("client.crt"),
            reference("client.key")
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let mut running = support::spawn(dir.path(), &["run", "consume.yaml", "--quiet"]);
    support::wait_until(LIMIT, || json_lines(&out).len() >= 40);
    assert!(
        support::terminate(&mut running.0, Duration::from_secs(30)).success(),
        "graceful stop"
    );
    let mut numbers: Vec<i64> = json_lines(&out)
        .iter()
        .map(|line| line["n"].as_i64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (0..40).collect::<Vec<_>>());
}

/// Runs a flow that cannot connect; it must stop by itself, fail, and name the cause.
fn fails_naming(flow: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flow.yaml"), flow).unwrap();
    let (status, stderr) = run_within(dir.path(), &["run", "flow.yaml", "--quiet"], LIMIT);
    assert!(!status.success(), "{stderr}");
    let error = stderr
        .lines()
        .rfind(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    for word in expected.iter().chain(&["retrying will not help"]) {
        assert!(error.contains(word), "{word:?} not in {error:?}");
    }
}

#[test]
fn an_unknown_broker_certificate_stops_the_sink() {
    fails_naming(
        &format!(
            "source: {{type: generate, config: {{count: 5, template: {{n: \"{{{{seq}}}}\"}}}}}}\n\
             sink:\n  type: kafka\n  config:\n    brokers: [\"{TLS_BROKERS}\"]\n    topic: {}\n    tls: {}\n",
            topic(),
            tls_paths("other-ca.pem")
        ),
        &["kafka sink", "certificate verify failed"],
    );
}

#[test]
fn a_missing_client_certificate_stops_the_source() {
    fails_naming(
        &format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{TLS_BROKERS}\"]\n    topic: {}\n    tls: {{caFile: {}}}\n\
             sink: {{type: null}}\n",
            topic(),
            tls_file("ca.pem").display()
        ),
        &["kafka source", "certificate required"],
    );
}

#[test]
fn refused_authentication_stops_the_source_and_the_sink() {
    fails_naming(
        &format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{AUTH_BROKERS}\"]\n    topic: {}\n\
             \x20   sasl: {{mechanism: scram-sha-256, username: alice, password: wrong}}\n\
             sink: {{type: null}}\n",
            topic()
        ),
        &["kafka source", "Authentication"],
    );
    fails_naming(
        &format!(
            "source: {{type: generate, config: {{count: 5, template: {{n: \"{{{{seq}}}}\"}}}}}}\n\
             sink:\n  type: kafka\n  config:\n    brokers: [\"{AUTH_BROKERS}\"]\n    topic: {}\n\
             \x20   sasl: {{mechanism: plain, username: alice, password: secret}}\n",
            topic()
        ),
        &["kafka sink", "Authentication", "PLAIN"],
    );
}
