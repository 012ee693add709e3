//! Every example validates; broken variants are rejected with the bad field named.

use std::path::PathBuf;

use dataflow_spec::{
    LoadedFile, SecretDocuments, SinkSpec, SourceSpec, load_text, resolve_secrets,
};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn example_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [examples_dir(), examples_dir().join("seed")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn errors_of(loaded: &LoadedFile) -> Vec<String> {
    loaded
        .problems
        .iter()
        .chain(loaded.flows.iter().flat_map(|f| f.problems.iter()))
        .filter(|p| p.is_error())
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn every_example_validates() {
    let files = example_files();
    assert!(
        files.len() >= 20,
        "expected the seed examples, found {}",
        files.len()
    );
    for file in files {
        let loaded = load_text(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(
            loaded.flows.len(),
            1,
            "{}: one DataFlow expected",
            file.display()
        );
        let errors = errors_of(&loaded);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        assert!(loaded.flows[0].flow.is_some());
    }
}

#[test]
fn both_shapes_decode_to_the_same_model() {
    let typed = load_text(
        "spec:\n  source:\n    type: postgresql\n    postgresql:\n      connectionString: postgres://x\n      table: t\n  sink:\n    type: file\n    file: {path: out.jsonl}\n",
    );
    let current = load_text(
        "source:\n  type: postgresql\n  config:\n    connectionString: postgres://x\n    table: t\nsink:\n  type: file\n  config: {path: out.jsonl}\n",
    );
    let typed = typed.flows[0].flow.clone().unwrap();
    let current = current.flows[0].flow.clone().unwrap();
    assert_eq!(typed.spec, current.spec);
    match &typed.spec.source {
        SourceSpec::Postgresql(c) => {
            assert_eq!(c.polling.interval, 5);
            assert_eq!(c.change_tracking_column, "updated_at");
            assert_eq!(c.polling.order_by_column, "id");
        }
        other => panic!("unexpected source {other:?}"),
    }
    assert_eq!(typed.spec.channel_buffer_size, 100);
    assert!(typed.spec.checkpoint_persistence);
    assert_eq!(typed.spec.checkpoint_save_interval, "30s");
}

const VALID_SINK: &str = r#"
apiVersion: dataflow.dataflow.io/v1
kind: DataFlow
metadata: {name: broken}
spec:
  source:
    type: postgresql
    config:
      connectionString: postgres://localhost/test
      table: src
  sink:
    type: postgresql
    config:
      connectionString: postgres://localhost/test
      table: dst
      upsertMode: true
      conflictKey: id
      batchSize: 100
  errors:
    type: file
    config: {path: errors.jsonl}
    ackPolicy: afterWrite
"#;

fn broken(from: &str, to: &str) -> Vec<String> {
    assert!(VALID_SINK.contains(from), "{from} not in the template");
    errors_of(&load_text(&VALID_SINK.replacen(from, to, 1)))
}

#[test]
fn the_valid_template_is_valid() {
    let loaded = load_text(VALID_SINK);
    assert!(errors_of(&loaded).is_empty(), "{:?}", errors_of(&loaded));
}

#[test]
fn missing_table_is_named() {
    let errors = broken("      table: dst\n", "");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("spec.sink.config.table: table or tableSecretRef is required"),
        "{errors:?}"
    );
    assert!(
        errors[0].starts_with("13:5:"),
        "position of the config block expected: {errors:?}"
    );
}

#[test]
fn misspelt_key_gets_a_suggestion_and_a_position() {
    let errors = broken("      table: dst", "      tabel: dst");
    assert!(
        errors.iter().any(|e| e.starts_with(
            "15:7: spec.sink.config.tabel: unknown field `tabel`; did you mean `table`?"
        )),
        "{errors:?}"
    );
}

#[test]
fn unknown_ack_policy_lists_the_choices() {
    let errors = broken("ackPolicy: afterWrite", "ackPolicy: sometimes");
    assert!(
        errors.iter().any(|e| e.contains("spec.errors.ackPolicy")
            && e.contains("afterWrite, never, afterMainSinkSuccess")),
        "{errors:?}"
    );
}

#[test]
fn replicas_need_a_kafka_source() {
    let errors = broken("  errors:", "  replicas: 3\n  errors:");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.replicas: replicas: 3 is only allowed with a kafka source")),
        "{errors:?}"
    );
}

#[test]
fn secret_ref_without_key() {
    let errors = broken(
        "      table: dst\n",
        "      tableSecretRef:\n        name: creds\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.sink.config.tableSecretRef.key: key is required")),
        "{errors:?}"
    );
}

#[test]
fn every_problem_is_collected_at_once() {
    let text = VALID_SINK
        .replacen("      table: dst\n", "      tabel: dst\n", 1)
        .replacen("ackPolicy: afterWrite", "ackPolicy: sometimes", 1)
        .replacen("upsertMode: true", "upsertMode: yes-please", 1);
    let errors = errors_of(&load_text(&text));
    assert!(errors.len() >= 3, "{errors:#?}");
}

#[test]
fn legacy_shape_errors_use_the_written_path() {
    let errors = errors_of(&load_text(
        "spec:\n  source:\n    type: file\n    file:\n      pth: in.jsonl\n  sink:\n    type: stdout\n",
    ));
    assert!(
        errors
            .iter()
            .any(|e| e == "5:7: spec.source.file.pth: unknown field `pth`; did you mean `path`?"),
        "{errors:?}"
    );
}

#[test]
fn unknown_connector_type_is_suggested() {
    let errors = errors_of(&load_text(
        "source:\n  type: postgres\nsink:\n  type: stdout\n",
    ));
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("spec.source.type: unknown type `postgres`; did you mean `postgresql`?")),
        "{errors:?}"
    );
}

#[test]
fn secrets_from_documents_win_over_plain_values() {
    let loaded = load_text(
        "kind: Secret\nmetadata: {name: creds}\ndata:\n  table: ZnJvbV9zZWNyZXQ=\nstringData:\n  brokers: 'a:1, b:2'\n---\nspec:\n  source:\n    type: kafka\n    config:\n      brokersSecretRef: {name: creds, key: brokers}\n      topic: t\n  sink:\n    type: postgresql\n    config:\n      connectionString: postgres://x\n      table: plain\n      tableSecretRef: {name: creds, key: table}\n",
    );
    let flow = loaded.flows[0].flow.clone().unwrap();
    let resolved = resolve_secrets(&flow, &loaded.secrets).unwrap();
    match (&resolved.spec.source, &resolved.spec.sink) {
        (SourceSpec::Kafka(source), SinkSpec::Postgresql(sink)) => {
            assert_eq!(
                source.connection.brokers,
                vec!["a:1".to_string(), "b:2".to_string()]
            );
            assert!(source.connection.brokers_secret_ref.is_none());
            assert_eq!(sink.connection.table.as_deref(), Some("from_secret"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_secret_and_key_are_named() {
    let loaded = load_text(
        "kind: Secret\nmetadata: {name: creds}\nstringData: {a: '1', b: '2'}\n---\nspec:\n  source:\n    type: kafka\n    config:\n      brokersSecretRef: {name: nope, key: brokers}\n      topicSecretRef: {name: creds, key: topic}\n  sink: {type: stdout}\n",
    );
    let flow = loaded.flows[0].flow.clone().unwrap();
    let errors = resolve_secrets(&flow, &loaded.secrets).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0].contains("spec.source.config.brokersSecretRef: secret default/nope key \"brokers\": secret not found"), "{text:?}");
    assert!(
        text[1].contains("topicSecretRef") && text[1].contains("(it has: a, b)"),
        "{text:?}"
    );
}

#[test]
fn secrets_dir_layout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pg")).unwrap();
    std::fs::write(dir.path().join("pg/url"), "postgres://from-dir").unwrap();
    let loaded = load_text(
        "source: {type: generate}\nsink:\n  type: postgresql\n  config:\n    connectionStringSecretRef: {name: pg, key: url}\n    table: t\n",
    );
    let flow = loaded.flows[0].flow.clone().unwrap();
    let resolved = resolve_secrets(&flow, &dataflow_spec::SecretsDir::new(dir.path())).unwrap();
    let SinkSpec::Postgresql(sink) = &resolved.spec.sink else {
        panic!()
    };
    assert_eq!(
        sink.connection.connection_string.as_deref(),
        Some("postgres://from-dir")
    );
    let _ = SecretDocuments::default();
}

#[test]
fn route_sinks_resolve_secrets_like_any_sink() {
    let loaded = load_text(
        "kind: Secret\nmetadata: {name: pg}\nstringData: {url: 'postgres://routed', table: errors_by_level}\n---\nsource: {type: stdin}\nsink: {type: stdout}\ntransformations:\n  - type: router\n    router:\n      routes:\n        - condition: \"$.level == 'error'\"\n          sink:\n            type: postgresql\n            postgresql:\n              connectionStringSecretRef: {name: pg, key: url}\n              tableSecretRef: {name: pg, key: table}\n",
    );
    assert!(
        !loaded.flows[0].has_errors(),
        "{:?}",
        loaded.flows[0].problems
    );
    let flow = loaded.flows[0].flow.clone().unwrap();
    let resolved = resolve_secrets(&flow, &loaded.secrets).unwrap();
    let routes = resolved.spec.routes();
    let SinkSpec::Postgresql(sink) = &routes[0].sink else {
        panic!()
    };
    assert_eq!(
        sink.connection.connection_string.as_deref(),
        Some("postgres://routed")
    );
    assert_eq!(sink.connection.table.as_deref(), Some("errors_by_level"));
}

fn problems_of(text: &str) -> Vec<String> {
    let loaded = load_text(text);
    loaded
        .problems
        .iter()
        .chain(loaded.flows.iter().flat_map(|f| f.problems.iter()))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn librdkafka_options_cannot_weaken_delivery() {
    // D2: enable.auto.offset.store turned the source at-most-once; acks and enable.idempotence
    // could override the sink's guarantee.
    let source = "source:\n  type: kafka\n  config: {brokers: [b:9092], topic: t, consumerGroup: g, librdkafkaOptions: {enable.auto.offset.store: \"true\"}}\nsink: {type: stdout}\n";
    let errors = errors_of(&load_text(source));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("librdkafkaOptions.enable.auto.offset.store")
                && e.contains("must stay false")),
        "{errors:?}"
    );
    let sink = "source: {type: stdin}\nsink:\n  type: kafka\n  config: {brokers: [b:9092], topic: t, librdkafkaOptions: {acks: \"0\", enable.idempotence: \"false\"}}\n";
    let errors = errors_of(&load_text(sink));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("librdkafkaOptions.acks") && e.contains("set requiredAcks instead")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("librdkafkaOptions.enable.idempotence")
                && e.contains("set idempotent instead")),
        "{errors:?}"
    );
    // Other options pass through.
    let fine = "source:\n  type: kafka\n  config: {brokers: [b:9092], topic: t, consumerGroup: g, librdkafkaOptions: {session.timeout.ms: \"6000\", enable.auto.offset.store: \"false\"}}\nsink: {type: stdout}\n";
    assert!(errors_of(&load_text(fine)).is_empty());
}

#[test]
fn required_acks_below_all_is_a_warning() {
    let text = "source: {type: stdin}\nsink:\n  type: kafka\n  config: {brokers: [b:9092], topic: t, requiredAcks: local, idempotent: false}\n";
    assert!(errors_of(&load_text(text)).is_empty());
    let problems = problems_of(text);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("spec.sink.config.requiredAcks") && p.contains("can lose")),
        "{problems:?}"
    );
}

#[test]
fn names_follow_kubernetes_so_checkpoint_files_cannot_collide() {
    // A12: `team/a_b` and `team_a/b` shared the checkpoint file `team_a_b.json`.
    let text = "apiVersion: dataflow.dataflow.io/v1\nkind: DataFlow\nmetadata: {name: a_b, namespace: team_a}\nspec:\n  source: {type: stdin}\n  sink: {type: stdout}\n";
    let errors = errors_of(&load_text(text));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("metadata.name") && e.contains("not a valid name")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("metadata.namespace") && e.contains("not a valid namespace")),
        "{errors:?}"
    );
}

#[test]
fn a_batch_with_neither_size_nor_timer_is_refused() {
    // U5: batchSize 0 with batchFlushIntervalSeconds 0 held up to 10,000 messages.
    let text = "source: {type: stdin}\nsink: {type: file, config: {path: o.jsonl, batchSize: 0, batchFlushIntervalSeconds: 0}}\n";
    let errors = errors_of(&load_text(text));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.sink.config.batchSize")
                && e.contains("batchFlushIntervalSeconds")),
        "{errors:?}"
    );
    let timer_only = "source: {type: stdin}\nsink: {type: file, config: {path: o.jsonl, batchSize: 0, batchFlushIntervalSeconds: 2}}\n";
    assert!(errors_of(&load_text(timer_only)).is_empty());
}

#[test]
fn a_missing_secrets_dir_is_named_instead_of_secret_not_found() {
    // A17: a missing or unreadable --secrets-dir read as "secret not found".
    let loaded = load_text(
        "source: {type: generate}\nsink:\n  type: postgresql\n  config:\n    connectionStringSecretRef: {name: pg, key: url}\n    table: t\n",
    );
    let flow = loaded.flows[0].flow.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let errors = resolve_secrets(&flow, &dataflow_spec::SecretsDir::new(&missing)).unwrap_err();
    let text = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("nowhere"), "{text}");
}

#[test]
fn a_kind_that_looks_like_ours_is_an_error_with_a_hint() {
    // A20: `kind: Dataflow` was skipped silently, then "no DataFlow found".
    let loaded = load_text(
        "apiVersion: dataflow.dataflow.io/v1\nkind: Dataflow\nmetadata: {name: x}\nspec: {source: {type: stdin}, sink: {type: stdout}}\n",
    );
    let errors = errors_of(&loaded);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown kind \"Dataflow\"; did you mean \"DataFlow\"?")),
        "{errors:?}"
    );
    // Other kinds beside a DataFlow are still fine.
    let loaded = load_text(
        "kind: ConfigMap\nmetadata: {name: c}\n---\nsource: {type: stdin}\nsink: {type: stdout}\n",
    );
    assert!(errors_of(&loaded).is_empty());
}

#[test]
fn a_file_sink_on_the_source_file_is_refused() {
    // A14: the flow read its own output without end.
    let text = "source: {type: file, config: {path: data/in.jsonl}}\nsink: {type: file, config: {path: ./data//in.jsonl}}\n";
    let errors = errors_of(&load_text(text));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.sink.config.path") && e.contains("read its own output")),
        "{errors:?}"
    );
}
