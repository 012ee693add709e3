//! The Kafka sink against a real Kafka-protocol broker (Tansu on 127.0.0.1:19092, started by
//! scripts/test-servers.sh).

#![cfg(feature = "kafka")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dataflow_connectors::kafka::KafkaSink;
use dataflow_core::{AckToken, Message, Record, Sink};
use dataflow_spec::{KafkaConnection, KafkaSinkConfig};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use serde_json::{Value, json};

const BROKERS: &str = "127.0.0.1:19092";

async fn create_topic(partitions: i32) -> String {
    let name = format!("sink-{}", uuid::Uuid::new_v4().simple());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("Tansu on 127.0.0.1:19092");
    for result in results {
        result.expect("topic created");
    }
    name
}

/// One record read back: partition, key, payload, headers.
type Received = (i32, Option<String>, Value, HashMap<String, String>);

/// Everything on the topic.
fn read_all(topic: &str, expected: usize) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set(
            "group.id",
            format!("reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let started = Instant::now();
    while seen.len() < expected && started.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let payload: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
            let key = message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned());
            let mut headers = HashMap::new();
            if let Some(list) = message.headers() {
                for header in list.iter() {
                    headers.insert(
                        header.key.to_string(),
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            seen.push((message.partition(), key, payload, headers));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn keyed_messages_with_headers_are_delivered_before_they_are_acknowledged() {
    let topic = create_topic(3).await;
    let config = KafkaSinkConfig {
        connection: KafkaConnection {
            brokers: vec![BROKERS.into()],
            topic: Some(topic.clone()),
            ..Default::default()
        },
        idempotent: true,
        ..Default::default()
    };
    let mut sink = KafkaSink::new(&config, std::path::Path::new(".")).unwrap();
    let batch: Vec<Message> = (0..30)
        .map(|i| {
            let mut record = Record::json(json!({"n": i}));
            record
                .metadata
                .insert("key".into(), json!(format!("customer-{}", i % 5)));
            record
                .metadata
                .insert("headers".into(), json!({"X-Trace": format!("t-{i}")}));
            Message::new(record, AckToken::none())
        })
        .collect();
    let rejections = sink.write(&batch).await.unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    sink.close().await.unwrap();

    let seen = tokio::task::spawn_blocking(move || read_all(&topic, 30))
        .await
        .unwrap();
    assert_eq!(seen.len(), 30, "every acknowledged message is on the topic");
    let mut partition_of_key: HashMap<String, i32> = HashMap::new();
    for (partition, key, payload, headers) in &seen {
        let n = payload["n"].as_i64().unwrap();
        assert_eq!(key.as_deref(), Some(format!("customer-{}", n % 5).as_str()));
        assert_eq!(headers.get("X-Trace"), Some(&format!("t-{n}")));
        let key = key.clone().unwrap();
        assert_eq!(
            *partition_of_key.entry(key).or_insert(*partition),
            *partition,
            "one key, one partition"
        );
    }
}
