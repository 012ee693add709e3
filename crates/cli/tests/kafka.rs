//! Kafka → file through the binary against a real Kafka-protocol broker (Tansu on
//! 127.0.0.1:19092, started by scripts/test-servers.sh).

use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

mod support;
use support::{FAST_JOIN, dataflow, json_lines, spawn, terminate, text, wait_until};

const BROKERS: &str = "127.0.0.1:19092";

fn create_topic(partitions: i32) -> String {
    let name = format!("src-{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", BROKERS)
            .create()
            .unwrap();
        for result in admin
            .create_topics(
                &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap()
        {
            result.unwrap();
        }
    });
    name
}

fn produce<P: AsRef<[u8]>>(topic: &str, records: &[(String, P)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .create()
        .unwrap();
    for (key, payload) in records {
        producer
            .send(BaseRecord::to(topic).key(key).payload(payload.as_ref()))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Records `{"n": n}` keyed `k<n>`, for every n of `range`.
fn numbered(range: std::ops::Range<i64>) -> Vec<(String, String)> {
    range
        .map(|n| (format!("k{n}"), format!(r#"{{"n":{n}}}"#)))
        .collect()
}

/// Two members `a` and `b` of consumer group `group` on `topic` (round-robin assignment, a
/// fast join), each writing `<dir>/<member>/out.jsonl` one record per batch.
fn two_members(topic: &str, group: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(
            dir.path().join(name).join("flow.yaml"),
            format!(
                "source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: {group}\n\
                 \x20   librdkafkaOptions: {{session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\", partition.assignment.strategy: roundrobin}}\n\
                 sink: {{type: file, config: {{path: out.jsonl, batchSize: 1}}}}\n"
            ),
        )
        .unwrap();
    }
    dir
}

fn stop(running: &mut support::Running) {
    assert!(
        terminate(&mut running.0, Duration::from_secs(30)).success(),
        "graceful stop"
    );
}

fn numbers(path: &Path) -> Vec<i64> {
    let mut numbers: Vec<i64> = json_lines(path)
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect();
    numbers.sort();
    numbers
}

/// The distinct `n` of every line in `paths`, sorted.
fn distinct_numbers(paths: &[&Path]) -> Vec<i64> {
    let mut all: Vec<i64> = paths.iter().flat_map(|p| numbers(p)).collect();
    all.sort();
    all.dedup();
    all
}

#[test]
fn consumer_group_to_file_with_metadata_poison_message_and_resume() {
    let topic = create_topic(3);
    let mut records: Vec<(String, String)> = (0..60)
        .map(|n| (format!("k{}", n % 6), format!(r#"{{"n":{n}}}"#)))
        .collect();
    records.insert(30, ("k0".into(), "not json".into()));
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: kafka\n  kafka:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: g-{topic}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             transformations:\n  - type: insertField\n    config:\n      fields:\n        topic: \"${{metadata.topic}}\"\n        partition: \"${{metadata.partition}}\"\n        offset: \"${{metadata.offset}}\"\n        key: \"${{metadata.key}}\"\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 10}}}}\n\
             errors: {{type: file, config: {{path: errors.jsonl}}}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");

    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(90), || {
        json_lines(&out).len() >= 60 && json_lines(&errors).len() == 1
    });
    stop(&mut running);
    assert_eq!(
        numbers(&out),
        (0..60).collect::<Vec<_>>(),
        "every record once"
    );
    let mut partition_of_key = std::collections::HashMap::new();
    for line in json_lines(&out) {
        let n = line["n"].as_i64().unwrap();
        assert_eq!(line["topic"], Value::String(topic.clone()));
        assert_eq!(line["key"], Value::String(format!("k{}", n % 6)));
        assert!(line["offset"].as_str().unwrap().parse::<i64>().is_ok());
        let partition = line["partition"].as_str().unwrap().to_string();
        assert_eq!(
            partition_of_key
                .entry(line["key"].to_string())
                .or_insert(partition.clone()),
            &partition
        );
    }
    let poison = &json_lines(&errors)[0];
    assert_eq!(poison["error"]["error_type"], "invalid_data");
    assert_eq!(poison["error"]["stage"], "source");
    assert_eq!(poison["original_message"]["original_data"], "not json");
    assert!(
        poison["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{topic}/"))
    );

    // A restart resumes from the committed offsets: nothing again, then only the new records.
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        json_lines(&out).len(),
        60,
        "nothing read twice after a clean stop"
    );
    produce(&topic, &numbered(60..65));
    wait_until(Duration::from_secs(60), || json_lines(&out).len() >= 65);
    stop(&mut running);
    assert_eq!(numbers(&out), (0..65).collect::<Vec<_>>());
}

#[test]
fn two_processes_split_the_partitions_and_one_takes_over_when_the_other_dies() {
    let topic = create_topic(4);
    produce(&topic, &numbered(0..200));
    let dir = two_members(&topic, &format!("shared-{topic}"));
    let out_a = dir.path().join("a/out.jsonl");
    let out_b = dir.path().join("b/out.jsonl");
    let mut a = spawn(&dir.path().join("a"), &["run", "flow.yaml", "--quiet"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut b = spawn(&dir.path().join("b"), &["run", "flow.yaml", "--quiet"]);
    // Both members get partitions: records keep arriving at both once the group settled.
    produce(&topic, &numbered(200..400));
    wait_until(Duration::from_secs(90), || {
        distinct_numbers(&[&out_a, &out_b]).len() == 400
    });
    assert!(
        !json_lines(&out_a).is_empty() && !json_lines(&out_b).is_empty(),
        "the partitions were split between the two"
    );

    // A dies without warning; B takes its partitions over and nothing is lost.
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    produce(&topic, &numbered(400..500));
    wait_until(Duration::from_secs(90), || {
        distinct_numbers(&[&out_a, &out_b]).len() == 500
    });
    stop(&mut b);
    let b_numbers = numbers(&out_b);
    assert!(
        (400..500).all(|n| b_numbers.contains(&n)),
        "B received every record produced after A died"
    );
}

#[test]
fn sigkill_mid_stream_loses_nothing() {
    let topic = create_topic(3);
    produce(
        &topic,
        &(0..20_000)
            .map(|n| (format!("k{}", n % 50), format!(r#"{{"n":{n}}}"#)))
            .collect::<Vec<_>>(),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: kill-{topic}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 100}}}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    // Kill it three times once records are flowing, restarting each time.
    for _ in 0..3 {
        let before = json_lines(&out).len();
        let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
        wait_until(Duration::from_secs(90), || {
            json_lines(&out).len() > before + 500 || json_lines(&out).len() >= 20_000
        });
        running.0.kill().unwrap(); // SIGKILL
        running.0.wait().unwrap();
    }
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(120), || {
        let mut seen = numbers(&out);
        seen.dedup();
        seen.len() == 20_000
    });
    stop(&mut running);
    let all = numbers(&out);
    let mut distinct = all.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (0..20_000).collect::<Vec<_>>(),
        "every record at least once"
    );
    eprintln!(
        "{} lines for 20000 records ({} read again after kills)",
        all.len(),
        all.len() - 20_000
    );
}

const ORDER_SCHEMA: &str = r#"{"type":"record","name":"Order","fields":[{"name":"n","type":"long"},{"name":"customer","type":["null","string"]},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

/// Avro bodies of orders `range`; every other one in Confluent framing (byte 0, schema id 1).
fn avro_orders(range: std::ops::Range<i64>) -> Vec<(String, Vec<u8>)> {
    use apache_avro::types::{Record, Value as Avro};
    let schema = apache_avro::Schema::parse_str(ORDER_SCHEMA).unwrap();
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap();
    range
        .map(|n| {
            let mut record = Record::new(&schema).unwrap();
            record.put("n", n);
            record.put(
                "customer",
                Avro::Union(1, Box::new(Avro::String(format!("c{n}")))),
            );
            record.put("at", Avro::TimestampMillis(1_700_000_000_000 + n));
            let body = writer.write_value_to_vec(record).unwrap();
            let value = if n % 2 == 0 {
                body
            } else {
                [vec![0, 0, 0, 0, 1], body].concat()
            };
            (format!("k{n}"), value)
        })
        .collect()
}

#[test]
fn avro_with_a_static_schema_from_a_file_and_from_a_secret() {
    let topic = create_topic(2);
    let mut records = avro_orders(0..20);
    records.insert(7, ("bad".into(), b"\x02not avro at all".to_vec()));
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("order.avsc"), ORDER_SCHEMA).unwrap();
    let source = |group: &str, schema: &str| {
        format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: {group}-{topic}\n\
             \x20   format: avro\n    {schema}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink: {{type: file, config: {{path: {group}.jsonl, batchSize: 1}}}}\n\
             errors: {{type: file, config: {{path: {group}-errors.jsonl}}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("file.yaml"),
        source("file", "avroSchemaFile: order.avsc"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: schemas}}\nstringData:\n  order: '{ORDER_SCHEMA}'\n---\n{}",
            source("secret", "avroSchemaSecretRef: {name: schemas, key: order}")
        ),
    )
    .unwrap();

    for group in ["file", "secret"] {
        let out = dir.path().join(format!("{group}.jsonl"));
        let errors = dir.path().join(format!("{group}-errors.jsonl"));
        let mut running = spawn(dir.path(), &["run", &format!("{group}.yaml"), "--quiet"]);
        wait_until(Duration::from_secs(90), || {
            json_lines(&out).len() >= 20 && !json_lines(&errors).is_empty()
        });
        stop(&mut running);
        let lines = json_lines(&out);
        assert_eq!(numbers(&out), (0..20).collect::<Vec<_>>(), "{group}");
        let first = lines.iter().find(|l| l["n"] == 3).unwrap();
        assert_eq!(first["customer"], "c3");
        assert_eq!(first["at"], "2023-11-14T22:13:20.003Z");
        let errors = json_lines(&errors);
        assert_eq!(errors.len(), 1, "{group}: the one bad record");
        assert_eq!(errors[0]["error"]["error_type"], "invalid_data");
        assert!(
            errors[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Avro"),
            "{}",
            errors[0]
        );
    }
}

#[test]
fn avro_through_the_schema_registry_with_basic_auth() {
    let registry =
        dataflow_testservers::schema_registry::SchemaRegistryServer::start(Some(("reader", "pw")));
    let id = registry.register("orders-value", ORDER_SCHEMA);
    assert_eq!(id, 1, "avro_orders frames with schema id 1");
    let topic = create_topic(2);
    let mut records: Vec<(String, Vec<u8>)> = avro_orders(0..20)
        .into_iter()
        .enumerate()
        .map(|(n, (key, value))| match n % 2 {
            1 => (key, value), // already framed
            _ => (key, [vec![0, 0, 0, 0, 1], value].concat()),
        })
        .collect();
    let mut unknown = vec![0, 0, 0, 0, 9];
    unknown.extend_from_slice(&records[0].1[5..]);
    records.insert(5, ("unknown".into(), unknown));
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: registry}}\nstringData: {{password: pw}}\n---\n\
             source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: g-{topic}\n\
             \x20   format: avro\n    schemaRegistry:\n      url: {}\n      basicAuth:\n        username: reader\n        passwordSecretRef: {{name: registry, key: password}}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 1}}}}\n\
             errors: {{type: file, config: {{path: errors.jsonl}}}}\n",
            registry.url
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let errors = dir.path().join("errors.jsonl");
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(90), || {
        json_lines(&out).len() >= 20 && !json_lines(&errors).is_empty()
    });
    stop(&mut running);
    assert_eq!(numbers(&out), (0..20).collect::<Vec<_>>());
    let line = json_lines(&out).into_iter().find(|l| l["n"] == 4).unwrap();
    assert_eq!(line["customer"], "c4");
    assert_eq!(line["at"], "2023-11-14T22:13:20.004Z");
    let errors = json_lines(&errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["error"]["error_type"], "invalid_data");
    let message = errors[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("40403") && message.contains("Schema 9 not found"),
        "{message}"
    );
    let requests = registry.state.lock().unwrap().requests.clone();
    assert_eq!(
        requests
            .iter()
            .filter(|r| *r == "GET /schemas/ids/1")
            .count(),
        1,
        "schema cached by id: {requests:?}"
    );
}

#[test]
fn avro_sink_registers_the_schema_and_round_trips_through_the_source() {
    let registry = dataflow_testservers::schema_registry::SchemaRegistryServer::start(None);
    let topic = create_topic(2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("order.avsc"), ORDER_SCHEMA).unwrap();
    let mut lines: Vec<String> = (0..10)
        .map(|n| {
            format!(
                r#"{{"n":{n},"customer":"c{n}","at":{}}}"#,
                1_700_000_000_000i64 + n
            )
        })
        .collect();
    lines.insert(4, r#"{"n":"four","customer":null,"at":0}"#.into());
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.path().join("produce.yaml"),
        format!(
            "source: {{type: file, config: {{path: in.jsonl}}}}\n\
             sink:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n\
             \x20   format: avro\n    avroSchemaFile: order.avsc\n    schemaRegistry: {{url: \"{}\"}}\n\
             errors: {{type: file, config: {{path: produce-errors.jsonl}}}}\n",
            registry.url
        ),
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "produce.yaml", "--quiet"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let errors = json_lines(&dir.path().join("produce-errors.jsonl"));
    assert_eq!(errors.len(), 1, "the record that does not fit");
    assert!(
        errors[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not fit the Avro schema"),
        "{}",
        errors[0]
    );
    let id = registry.state.lock().unwrap().subjects[&format!("{topic}-value")][0];

    // Read back with the registry: every record decodes with the registered schema.
    std::fs::write(
        dir.path().join("consume.yaml"),
        format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {topic}\n    consumerGroup: g-{topic}\n\
             \x20   format: avro\n    schemaRegistry: {{url: \"{}\"}}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 1}}}}\n",
            registry.url
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let mut running = spawn(dir.path(), &["run", "consume.yaml", "--quiet"]);
    wait_until(Duration::from_secs(90), || json_lines(&out).len() >= 10);
    stop(&mut running);
    assert_eq!(numbers(&out), (0..10).collect::<Vec<_>>());
    let line = json_lines(&out).into_iter().find(|l| l["n"] == 2).unwrap();
    assert_eq!(line["customer"], "c2");
    assert_eq!(
        line["at"],
        "2023-11-14T22:13:20.002Z",
        "{:?}",
        registry.state.lock().unwrap().schemas
    );
    let requests = registry.state.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&format!("GET /schemas/ids/{id}")),
        "{requests:?}"
    );
}

#[test]
fn kafka_to_kafka_keeps_keys_headers_and_the_exact_payload_bytes() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

    let (from, to) = (create_topic(3), create_topic(1));
    // Spacing a parser would drop: the text is passed on unparsed.
    let payload = |n: i64| format!(r#"{{ "n" : {n},  "note": "caf\u00e9 {n}" }}"#);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .create()
        .unwrap();
    for n in 0..30 {
        let (key, body, trace) = (format!("k{}", n % 3), payload(n), format!("t-{n}"));
        let headers = OwnedHeaders::new().insert(Header {
            key: "trace",
            value: Some(&trace),
        });
        producer
            .send(
                BaseRecord::to(&from)
                    .key(&key)
                    .payload(&body)
                    .headers(headers),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {from}\n    consumerGroup: g-{from}\n\
             \x20   librdkafkaOptions: {FAST_JOIN}\n\
             sink:\n  type: kafka\n  config:\n    brokers: [\"{BROKERS}\"]\n    topic: {to}\n"
        ),
    )
    .unwrap();
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("group.id", format!("check-{to}"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    consumer.subscribe(&[&to]).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let started = std::time::Instant::now();
    while seen.len() < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} of 30 mirrored",
            seen.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        let body = text(message.payload().unwrap());
        let n: i64 = serde_json::from_str::<Value>(&body).unwrap()["n"]
            .as_i64()
            .unwrap();
        let key = text(message.key().unwrap());
        let trace = message
            .headers()
            .and_then(|headers| headers.iter().find(|h| h.key == "trace"))
            .map(|h| text(h.value.unwrap()));
        seen.insert(n, (key, trace, body));
    }
    stop(&mut running);
    for (n, (key, trace, body)) in seen {
        assert_eq!(key, format!("k{}", n % 3));
        assert_eq!(trace.as_deref(), Some(format!("t-{n}").as_str()));
        assert_eq!(body, payload(n), "the payload's bytes are unchanged");
    }
}

#[test]
fn a_tombstone_becomes_a_delete_through_debezium_unwrap() {
    // S4: a null value was rejected at the source as invalid JSON, so
    // inferDeleteFromTombstone never saw a real tombstone.
    let topic = create_topic(1);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .create()
        .unwrap();
    for id in 1..=3 {
        let event = format!(r#"{{"op":"c","before":null,"after":{{"id":{id},"name":"n{id}"}}}}"#);
        let key = format!(r#"{{"id":{id}}}"#);
        producer
            .send(BaseRecord::to(&topic).key(&key).payload(&event))
            .unwrap();
    }
    // A tombstone (no value at all) for row 3, as Debezium writes after a delete.
    producer
        .send(BaseRecord::<str, str>::to(&topic).key(r#"{"id":3}"#))
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: kafka\n  config: {{brokers: [\"{BROKERS}\"], topic: {topic}, consumerGroup: g-{topic}, librdkafkaOptions: {FAST_JOIN}}}\n\
             transformations:\n  - type: debeziumUnwrap\n    config: {{inferDeleteFromTombstone: true}}\n  - type: insertField\n    config: {{fields: {{op: \"${{metadata.operation}}\"}}}}\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 1}}}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(90), || json_lines(&out).len() >= 4);
    stop(&mut running);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines[3],
        serde_json::json!({"id": 3, "op": "delete"}),
        "{lines:?}"
    );
    assert!(
        lines[..3].iter().all(|line| line["op"] == "insert"),
        "{lines:?}"
    );
}

#[test]
fn a_revoke_with_messages_in_flight_loses_nothing() {
    // Audit §6: A is in the middle of a backlog (records read, not yet written) when B joins
    // and the rebalance takes partitions from A; their records must all arrive, on A or on B.
    let topic = create_topic(4);
    let total = 20_000;
    produce(&topic, &numbered(0..total));
    let dir = two_members(&topic, &format!("revoke-{topic}"));
    let out_a = dir.path().join("a/out.jsonl");
    let out_b = dir.path().join("b/out.jsonl");
    let mut a = spawn(&dir.path().join("a"), &["run", "flow.yaml", "--quiet"]);
    // One fsync per record keeps A busy with the backlog when B arrives.
    wait_until(Duration::from_secs(90), || json_lines(&out_a).len() >= 500);
    assert!(
        json_lines(&out_a).len() < total as usize,
        "A is still mid-backlog"
    );
    let mut b = spawn(&dir.path().join("b"), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(180), || {
        distinct_numbers(&[&out_a, &out_b]).len() == total as usize
    });
    stop(&mut a);
    stop(&mut b);
    assert!(
        !json_lines(&out_b).is_empty(),
        "B took partitions over from A"
    );
    assert_eq!(
        distinct_numbers(&[&out_a, &out_b]),
        (0..total).collect::<Vec<_>>()
    );
}

#[test]
fn the_consumer_lag_of_each_partition_is_a_metric() {
    use support::scrape::{Samples, free_port};
    let topic = create_topic(2);
    produce(&topic, &numbered(0..50));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: kafka\n  config: {{brokers: [\"{BROKERS}\"], topic: {topic}, consumerGroup: g-{topic}, \
             librdkafkaOptions: {{statistics.interval.ms: \"300\", session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}}}}\n\
             sink: {{type: file, config: {{path: out.jsonl}}}}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut running = spawn(
        dir.path(),
        &["run", "flow.yaml", "--quiet", "--metrics-address", &address],
    );
    let out = dir.path().join("out.jsonl");
    wait_until(Duration::from_secs(90), || json_lines(&out).len() == 50);
    // Everything read: librdkafka's next statistics say so for both partitions.
    wait_until(Duration::from_secs(30), || {
        let samples = Samples::scrape(port);
        (0..2).all(|partition| {
            let stream = format!("{topic}/{partition}");
            samples.find(
                "dataflow_connector_consumer_lag",
                &[("stream", stream.as_str())],
            ) == Some(0.0)
        })
    });
    stop(&mut running);
}
