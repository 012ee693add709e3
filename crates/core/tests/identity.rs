//! The metrics' labels name connectors by what the manifest writes, never by a secret's value.

use dataflow_core::telemetry::FlowIdentity;

#[test]
fn a_topic_from_a_secret_is_not_a_label() {
    let loaded = dataflow_spec::load_text(
        "source:\n  type: kafka\n  config:\n    brokers: [\"b:9092\"]\n    consumerGroup: g\n    \
         topicSecretRef: {name: kafka, key: topic}\n\
         sink: {type: file, config: {path: out.jsonl}}\n",
    );
    let flow = loaded.flows[0].flow.as_ref().expect("a valid flow");
    let identity = FlowIdentity::of(flow);
    assert_eq!(identity.source.connector_type, "kafka");
    assert_eq!(
        identity.source.connector_name, "kafka",
        "the type, not the secret"
    );
    assert_eq!(identity.sink.connector_name, "out.jsonl");
}
