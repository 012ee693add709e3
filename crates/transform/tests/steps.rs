//! Every transformation on the examples of the original's documentation (YAML as written there,
//! in both block shapes) and on the edge cases of the behaviour note.

use dataflow_core::{Payload, Record};
use dataflow_spec::load_text_with;
use dataflow_transform::{Chain, Fate};
use serde_json::{Value, json};

/// Compiles `steps` (YAML list items) in a DataFlow exactly as a user would write it.
fn chain(steps: &str) -> Chain {
    let text =
        format!("source: {{type: stdin}}\nsink: {{type: stdout}}\ntransformations:\n{steps}");
    let loaded = load_text_with(&text, &dataflow_transform::check);
    let flow = &loaded.flows[0];
    let errors: Vec<String> = flow
        .problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
    Chain::compile(&flow.flow.as_ref().unwrap().spec.transformations).unwrap()
}

/// What comes out for one record: payloads; drops are absent; failures are "FAILED: …".
fn run_record(chain: &Chain, record: Record) -> Vec<Value> {
    let mut fates = Vec::new();
    chain.run(record, &mut fates);
    fates
        .into_iter()
        .filter_map(|fate| match fate {
            Fate::Out(record) => Some(match record.payload {
                Payload::Json(value) => value,
                Payload::JsonText(text) => json!({"text": String::from_utf8_lossy(&text)}),
                Payload::Bytes(bytes) => json!({"bytes": String::from_utf8_lossy(&bytes)}),
            }),
            Fate::Dropped { .. } => None,
            Fate::Failed(failure) => Some(json!(format!(
                "FAILED at {}: {}",
                failure.stage, failure.reason
            ))),
        })
        .collect()
}

fn run(steps: &str, input: Value) -> Vec<Value> {
    run_record(&chain(steps), Record::json(input))
}

fn one(steps: &str, input: Value) -> Value {
    let mut out = run(steps, input);
    assert_eq!(out.len(), 1, "{out:?}");
    out.pop().unwrap()
}

fn problems(steps: &str) -> Vec<String> {
    let text =
        format!("source: {{type: stdin}}\nsink: {{type: stdout}}\ntransformations:\n{steps}");
    load_text_with(&text, &dataflow_transform::check).flows[0]
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

// ---------------------------------------------------------------- timestamp

#[test]
fn timestamp_docs_examples() {
    let out = one(
        "  - type: timestamp\n    timestamp:\n      fieldName: processed_at\n",
        json!({"id": 1, "name": "Test"}),
    );
    assert_eq!(out["id"], 1);
    let stamp = out["processed_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    assert!(
        stamp.ends_with('Z') && !stamp.contains('.'),
        "RFC3339 without fraction: {stamp}"
    );
    assert_eq!(
        out.as_object().unwrap().keys().next_back().unwrap(),
        "processed_at",
        "appended, order kept"
    );

    let out = one(
        "  - type: timestamp\n    config:\n      fieldName: timestamp\n      format: \"2006-01-02 15:04:05\"\n",
        json!({"id": 1}),
    );
    let text = out["timestamp"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{text}"
    );

    let out = one(
        "  - type: timestamp\n    config: {fieldName: unix_time, format: Unix}\n",
        json!({"id": 1}),
    );
    let unix: i64 = out["unix_time"].as_str().unwrap().parse().unwrap();
    assert!((unix - chrono::Utc::now().timestamp()).abs() < 5);
}

#[test]
fn timestamp_defaults_nested_fields_and_named_formats() {
    let out = one("  - type: timestamp\n    config: {}\n", json!({}));
    assert!(out["created_at"].is_string());
    let out = one(
        "  - type: timestamp\n    config: {fieldName: meta.at, format: UnixMilli}\n",
        json!({"meta": {"x": 1}}),
    );
    assert!(out["meta"]["at"].as_str().unwrap().len() >= 13);
    assert_eq!(out["meta"]["x"], 1);
    let out = one(
        "  - type: timestamp\n    config: {format: RFC3339Nano}\n",
        json!({}),
    );
    assert!(chrono::DateTime::parse_from_rfc3339(out["created_at"].as_str().unwrap()).is_ok());
    // Non-object roots and non-JSON payloads pass unchanged.
    assert_eq!(
        one("  - type: timestamp\n    config: {}\n", json!([1, 2])),
        json!([1, 2])
    );
    assert!(
        problems("  - type: timestamp\n    config: {format: yyyy-MM-dd}\n")[0]
            .contains("spec.transformations[0].config.format")
    );
}

// ---------------------------------------------------------------- flatten

#[test]
fn flatten_docs_examples() {
    let out = run(
        "  - type: flatten\n    flatten:\n      field: items\n",
        json!({"order_id": 12345, "customer": "John Doe", "items": [{"product": "Apple", "quantity": 5}, {"product": "Banana", "quantity": 3}]}),
    );
    assert_eq!(
        out,
        vec![
            json!({"order_id": 12345, "customer": "John Doe", "product": "Apple", "quantity": 5}),
            json!({"order_id": 12345, "customer": "John Doe", "product": "Banana", "quantity": 3}),
        ]
    );
    // Nested path: the array leaves its parent, as the docs show (a deliberate difference).
    let out = run(
        "  - type: flatten\n    config:\n      field: orders.items\n",
        json!({"customer_id": 100, "orders": {"items": [{"sku": "SKU001", "price": 10.99}, {"sku": "SKU002", "price": 5.99}]}}),
    );
    assert_eq!(
        out[0],
        json!({"customer_id": 100, "orders": {}, "sku": "SKU001", "price": 10.99})
    );
    assert_eq!(
        out[1],
        json!({"customer_id": 100, "orders": {}, "sku": "SKU002", "price": 5.99})
    );
}

#[test]
fn flatten_edge_cases() {
    let steps = "  - type: flatten\n    config: {field: $.items}\n";
    assert_eq!(
        run(steps, json!({"a": 1, "items": []})),
        vec![json!({"a": 1})],
        "empty array: the field goes"
    );
    assert_eq!(
        run(steps, json!({"a": 1})),
        vec![json!({"a": 1})],
        "missing: unchanged"
    );
    assert_eq!(
        run(steps, json!({"items": "x"})),
        vec![json!({"items": "x"})],
        "not an array: unchanged"
    );
    assert_eq!(
        run(steps, json!([1, 2])),
        vec![json!([1, 2])],
        "non-object root: unchanged"
    );
    assert_eq!(
        run(steps, json!({"items": {"array": [{"v": 1}]}})),
        vec![json!({"v": 1})],
        "Avro-style wrapper"
    );
    assert_eq!(
        run(steps, json!({"id": 7, "items": ["a", "b"]})),
        vec![
            json!({"id": 7, "items": "a"}),
            json!({"id": 7, "items": "b"})
        ]
    );
    // Each derived message goes through the following steps.
    let chained = run(
        "  - type: flatten\n    config: {field: rowsStock}\n  - type: filter\n    config: {condition: $.qty}\n",
        json!({"rowsStock": [{"qty": 0}, {"qty": 2}]}),
    );
    assert_eq!(chained, vec![json!({"qty": 2})]);
}

// ---------------------------------------------------------------- filter

#[test]
fn filter_docs_examples() {
    let steps = "  - type: filter\n    filter:\n      condition: \"$.active\"\n";
    assert_eq!(run(steps, json!({"id": 1, "active": true})).len(), 1);
    assert!(run(steps, json!({"id": 2, "active": false})).is_empty());
    assert!(run(steps, json!({"id": 3})).is_empty());
    let level = "  - type: filter\n    config: {condition: \"$.level\"}\n";
    for (input, kept) in [
        (json!({"level": "error"}), true),
        (json!({"level": "warning"}), true),
        (json!({"level": ""}), false),
        (json!({"level": null}), false),
    ] {
        assert_eq!(
            run(level, input.clone()).len(),
            usize::from(kept),
            "{input}"
        );
    }
    let amount = "  - type: filter\n    config: {condition: \"$.amount\"}\n";
    for (input, kept) in [
        (json!({"amount": 100}), true),
        (json!({"amount": 0}), false),
        (json!({"amount": -5}), true),
    ] {
        assert_eq!(
            run(amount, input.clone()).len(),
            usize::from(kept),
            "{input}"
        );
    }
    let equal = "  - type: filter\n    config:\n      condition: \"$.status == 'active'\"\n";
    for (input, kept) in [
        (json!({"status": "active"}), true),
        (json!({"status": "inactive"}), false),
        (json!({"status": ""}), false),
        (json!({}), false),
    ] {
        assert_eq!(
            run(equal, input.clone()).len(),
            usize::from(kept),
            "{input}"
        );
    }
    let not_equal = "  - type: filter\n    config:\n      condition: \"$.status != 'deleted'\"\n";
    for (input, kept) in [
        (json!({"status": "active"}), true),
        (json!({"status": "deleted"}), false),
        (json!({}), false),
    ] {
        assert_eq!(
            run(not_equal, input.clone()).len(),
            usize::from(kept),
            "{input}"
        );
    }
    assert_eq!(
        run(
            "  - type: filter\n    config: {condition: \"$.user.status == 'active'\"}\n",
            json!({"user": {"status": "active"}})
        )
        .len(),
        1
    );
}

#[test]
fn filter_condition_errors_are_validation_errors_with_position() {
    let found = problems("  - type: filter\n    config:\n      condition: \"$.a == 'x' && (\"\n");
    assert!(
        found.iter().any(
            |p| p.starts_with("6:18: spec.transformations[0].config.condition:")
                && p.contains("ends too early (at column 16 of the condition)")
        ),
        "{found:?}"
    );
    let found = problems(
        "  - type: mask\n    config: {fields: [\"a..b\"]}\n  - type: timezone\n    config: {timezone: Mars/Olympus, fields: [t]}\n",
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("spec.transformations[0].config.fields[0]")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("spec.transformations[1].config.timezone") && p.contains("IANA")),
        "{found:?}"
    );
}

// ---------------------------------------------------------------- mask

#[test]
fn mask_docs_examples() {
    let out = one(
        "  - type: mask\n    mask:\n      fields:\n        - password\n        - email\n      keepLength: true\n",
        json!({"id": 1, "username": "john", "password": "secret123", "email": "john@example.com"}),
    );
    assert_eq!(
        out,
        json!({"id": 1, "username": "john", "password": "*********", "email": "****************"})
    );
    let out = one(
        "  - type: mask\n    config:\n      fields: [password]\n      keepLength: false\n      maskChar: \"X\"\n",
        json!({"password": "verylongpassword123"}),
    );
    assert_eq!(out, json!({"password": "XXX"}));
    let out = one(
        "  - type: mask\n    config:\n      fields: [user.password, payment.cardNumber]\n      keepLength: true\n",
        json!({"user": {"password": "secret"}, "payment": {"cardNumber": "1234567890123456"}}),
    );
    assert_eq!(
        out,
        json!({"user": {"password": "******"}, "payment": {"cardNumber": "****************"}})
    );
}

#[test]
fn mask_accepts_dollar_paths_wildcards_and_non_strings() {
    let out = one(
        "  - type: mask\n    config: {fields: [\"$.ssn\", \"$.cards[*].number\", pin, missing]}\n",
        json!({"ssn": "123", "cards": [{"number": "1111"}, {"number": "2222"}], "pin": 1234}),
    );
    assert_eq!(
        out,
        json!({"ssn": "***", "cards": [{"number": "***"}, {"number": "***"}], "pin": "***"})
    );
}

// ---------------------------------------------------------------- router

#[test]
fn router_first_matching_route_wins() {
    let steps = "  - type: router\n    config:\n      routes:\n        - condition: \"$.level == 'error'\"\n          sink: {type: stdout}\n        - condition: \"$.level == 'warning'\"\n          sink: {type: file, config: {path: w.jsonl}}\n";
    let chain = chain(steps);
    let route_of = |input: Value| {
        let mut fates = Vec::new();
        chain.run(Record::json(input), &mut fates);
        match fates.pop() {
            Some(Fate::Out(record)) => (
                record.route,
                record.metadata.get("routed_condition").cloned(),
            ),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        route_of(json!({"level": "error"})),
        (Some(0), Some(json!("$.level == 'error'")))
    );
    assert_eq!(route_of(json!({"level": "warning"})).0, Some(1));
    assert_eq!(route_of(json!({"level": "info"})), (None, None));
}

#[test]
fn router_docs_yaml_validates_with_route_sinks_in_both_shapes() {
    let steps = "  - type: router\n    router:\n      routes:\n        - condition: \"$.level\"\n          sink:\n            type: kafka\n            kafka:\n              brokers: [\"localhost:9092\"]\n              topic: error-logs\n        - condition: \"$.priority\"\n          sink:\n            type: postgresql\n            config:\n              connectionString: \"postgres://...\"\n              table: high_priority_events\n";
    chain(steps);
    let found = problems(
        "  - type: router\n    config:\n      routes:\n        - condition: $.x\n          sink:\n            type: postgresql\n            postgresql: {tabel: t}\n",
    );
    assert!(found.iter().any(|p| p.contains("spec.transformations[0].config.routes[0].sink.postgresql.tabel: unknown field `tabel`; did you mean `table`?")), "{found:?}");
    // The rules of the route's sink run once its structure is right.
    let found = problems(
        "  - type: router\n    config:\n      routes:\n        - condition: $.x\n          sink:\n            type: postgresql\n            postgresql: {table: t}\n",
    );
    assert!(found.iter().any(|p| p.contains("routes[0].sink.postgresql.connectionString: connectionString or connectionStringSecretRef is required")), "{found:?}");
}

#[test]
fn routes_with_the_same_condition_do_not_collide() {
    let steps = "  - type: router\n    config:\n      routes:\n        - {condition: $.a, sink: {type: stdout}}\n  - type: router\n    config:\n      routes:\n        - {condition: $.a, sink: {type: null}}\n        - {condition: $.b, sink: {type: null}}\n";
    let chain = chain(steps);
    let mut fates = Vec::new();
    chain.run(Record::json(json!({"b": 1})), &mut fates);
    let Some(Fate::Out(record)) = fates.pop() else {
        panic!()
    };
    assert_eq!(record.route, Some(2), "global route index across routers");
}

// ---------------------------------------------------------------- select / remove

#[test]
fn select_docs_examples() {
    let out = one(
        "  - type: select\n    select:\n      fields:\n        - id\n        - name\n        - email\n",
        json!({"id": 1, "name": "John Doe", "email": "john@example.com", "password": "secret", "internal_id": 999}),
    );
    assert_eq!(
        out,
        json!({"id": 1, "name": "John Doe", "email": "john@example.com"})
    );
    let out = one(
        "  - type: select\n    config:\n      fields: [user.id, user.name, metadata.timestamp]\n",
        json!({"user": {"id": 1, "name": "John", "email": "john@example.com"}, "metadata": {"timestamp": "2024-01-15T10:30:00Z", "source": "api"}}),
    );
    assert_eq!(
        out,
        json!({"id": 1, "name": "John", "timestamp": "2024-01-15T10:30:00Z"})
    );
}

#[test]
fn select_edge_cases() {
    assert_eq!(
        one(
            "  - type: select\n    config: {fields: [\"$.id\"]}\n",
            json!({"id": 1, "x": 2})
        ),
        json!({"id": 1}),
        "$. works"
    );
    assert_eq!(
        one(
            "  - type: select\n    config: {fields: [nope]}\n",
            json!({"id": 1})
        ),
        json!({"id": 1}),
        "none found: unchanged"
    );
    assert_eq!(
        one(
            "  - type: select\n    config: {fields: [\"$.items[*].sku\", id]}\n",
            json!({"id": 1, "items": [{"sku": "a"}, {"sku": "b"}]})
        ),
        json!({"sku": ["a", "b"], "id": 1})
    );
}

#[test]
fn remove_docs_examples() {
    let out = one(
        "  - type: remove\n    remove:\n      fields:\n        - password\n        - creditCard\n        - ssn\n",
        json!({"id": 1, "name": "John Doe", "password": "secret", "creditCard": "1234-5678-9012-3456", "ssn": "123-45-6789"}),
    );
    assert_eq!(out, json!({"id": 1, "name": "John Doe"}));
    let out = one(
        "  - type: remove\n    config: {fields: [user.password, metadata.internal, missing.path]}\n",
        json!({"user": {"id": 1, "name": "John", "password": "secret"}, "metadata": {"timestamp": "2024-01-15", "internal": "secret"}}),
    );
    assert_eq!(
        out,
        json!({"user": {"id": 1, "name": "John"}, "metadata": {"timestamp": "2024-01-15"}})
    );
    assert_eq!(
        one(
            "  - type: remove\n    config: {fields: [\"$.items[*].price\"]}\n",
            json!({"items": [{"price": 1, "k": 1}]})
        ),
        json!({"items": [{"k": 1}]})
    );
}

// ---------------------------------------------------------------- snakeCase / camelCase

#[test]
fn snake_case_docs_examples() {
    assert_eq!(
        one(
            "  - type: snakeCase\n    snakeCase:\n      deep: false\n",
            json!({"firstName": "John", "lastName": "Doe", "userName": "johndoe", "isActive": true, "itemCount": 42})
        ),
        json!({"first_name": "John", "last_name": "Doe", "user_name": "johndoe", "is_active": true, "item_count": 42})
    );
    assert_eq!(
        one(
            "  - type: snakeCase\n    config:\n      deep: true\n",
            json!({"firstName": "John", "address": {"streetName": "Main St", "houseNumber": 123, "zipCode": "12345"}, "items": [{"itemName": "Product", "itemPrice": 99.99}]})
        ),
        json!({"first_name": "John", "address": {"street_name": "Main St", "house_number": 123, "zip_code": "12345"}, "items": [{"item_name": "Product", "item_price": 99.99}]})
    );
    assert_eq!(
        one(
            "  - type: snakeCase\n    config: {deep: false}\n",
            json!({"FirstName": "John", "LastName": "Doe", "UserID": 123})
        ),
        json!({"first_name": "John", "last_name": "Doe", "user_id": 123})
    );
    // Shallow leaves nested keys; root arrays are handled; the docs' untyped step works too.
    assert_eq!(
        one("  - type: snakeCase\n", json!({"aB": {"cD": 1}})),
        json!({"a_b": {"cD": 1}})
    );
    assert_eq!(
        one("  - type: snakeCase\n    config: {}\n", json!([{"aB": 1}])),
        json!([{"a_b": 1}])
    );
}

#[test]
fn camel_case_docs_examples() {
    assert_eq!(
        one(
            "  - type: camelCase\n    camelCase:\n      deep: false\n",
            json!({"first_name": "John", "last_name": "Doe", "user_name": "johndoe", "is_active": true, "item_count": 42})
        ),
        json!({"FirstName": "John", "LastName": "Doe", "UserName": "johndoe", "IsActive": true, "ItemCount": 42})
    );
    assert_eq!(
        one(
            "  - type: camelCase\n    config: {deep: true}\n",
            json!({"first_name": "John", "address": {"street_name": "Main St", "house_number": 123, "zip_code": "12345"}, "items": [{"item_name": "Product", "item_price": 99.99}]})
        ),
        json!({"FirstName": "John", "Address": {"StreetName": "Main St", "HouseNumber": 123, "ZipCode": "12345"}, "Items": [{"ItemName": "Product", "ItemPrice": 99.99}]})
    );
    assert_eq!(
        one(
            "  - type: camelCase\n    config: {deep: false}\n",
            json!({"name": "John", "id": 123})
        ),
        json!({"Name": "John", "Id": 123})
    );
}

#[test]
fn docs_combined_select_then_snake_case() {
    let out = one(
        "  - type: select\n    config:\n      fields: [firstName, lastName, email, address]\n  - type: snakeCase\n    config:\n      deep: true\n",
        json!({"firstName": "John", "lastName": "Doe", "email": "john@example.com", "address": {"streetName": "Main St", "zipCode": "12345"}, "x": 1}),
    );
    assert_eq!(
        out,
        json!({"first_name": "John", "last_name": "Doe", "email": "john@example.com", "address": {"street_name": "Main St", "zip_code": "12345"}})
    );
}

// ---------------------------------------------------------------- debeziumUnwrap

fn debezium(op: &str, before: Value, after: Value) -> Value {
    json!({"schema": {}, "payload": {"op": op, "before": before, "after": after, "source": {"table": "orders", "lsn": 42, "ts_ms": 1700}}})
}

#[test]
fn debezium_unwrap_operations() {
    let chain = chain(
        "  - type: debeziumUnwrap\n    config:\n      inferDeleteFromTombstone: true\n      includeSourceInMetadata: true\n      snapshotOperation: insert\n",
    );
    let unwrap = |input: Value| {
        let mut fates = Vec::new();
        chain.run(Record::json(input), &mut fates);
        match fates.pop() {
            Some(Fate::Out(record)) => (record.payload, record.metadata),
            other => panic!("{other:?}"),
        }
    };
    for (op, operation) in [("c", "insert"), ("u", "update"), ("r", "insert")] {
        let (payload, metadata) = unwrap(debezium(op, json!(null), json!({"id": 7, "name": "x"})));
        assert_eq!(payload, Payload::Json(json!({"id": 7, "name": "x"})));
        assert_eq!(metadata["operation"], operation);
        assert_eq!(metadata["id"], 7);
        assert_eq!(metadata["source_table"], "orders");
    }
    let (payload, metadata) = unwrap(debezium("d", json!({"id": 7}), json!(null)));
    assert_eq!(payload, Payload::Json(json!({"id": 7})));
    assert_eq!(metadata["operation"], "delete");
    // Without a schema envelope (schemas.enable=false) the fields sit at the root.
    let (payload, _) = unwrap(json!({"op": "c", "after": {"id": 1}}));
    assert_eq!(payload, Payload::Json(json!({"id": 1})));
    // No envelope: unchanged.
    let (payload, _) = unwrap(json!({"id": 1}));
    assert_eq!(payload, Payload::Json(json!({"id": 1})));
}

#[test]
fn debezium_tombstones_snapshots_and_fields() {
    let update = chain(
        "  - type: debeziumUnwrap\n    config: {snapshotOperation: update, addOperationFields: true, addSourceFields: [table, lsn]}\n",
    );
    let mut fates = Vec::new();
    update.run(
        Record::json(debezium("r", json!(null), json!({"id": 1}))),
        &mut fates,
    );
    let Some(Fate::Out(record)) = fates.pop() else {
        panic!()
    };
    assert_eq!(record.metadata["operation"], "update");
    assert_eq!(
        record.payload,
        Payload::Json(
            json!({"id": 1, "__table": "orders", "__lsn": 42, "__op": "r", "__deleted": "false"})
        )
    );

    // A tombstone is dropped by default…
    let plain = chain("  - type: debeziumUnwrap\n");
    // (The Kafka source emits a null value as a null JSON payload.)
    assert!(run_record(&plain, Record::json(json!(null))).is_empty());
    // …or becomes a delete of the key's row.
    let infer = chain("  - type: debeziumUnwrap\n    config: {inferDeleteFromTombstone: true}\n");
    let mut tombstone = Record::json(json!(null));
    tombstone.metadata.insert(
        "key".into(),
        json!(r#"{"schema": {}, "payload": {"id": 9}}"#),
    );
    let mut fates = Vec::new();
    infer.run(tombstone, &mut fates);
    let Some(Fate::Out(record)) = fates.pop() else {
        panic!()
    };
    assert_eq!(record.payload, Payload::Json(json!({"id": 9})));
    assert_eq!(record.metadata["operation"], "delete");
    assert_eq!(record.metadata["id"], 9);
    // A tombstone without a usable key is a failure, not a silent drop (S6).
    let failed = run_record(&infer, Record::json(json!(null)));
    assert!(
        failed[0]
            .as_str()
            .unwrap()
            .contains("a tombstone needs a JSON object key"),
        "{failed:?}"
    );
    let mut keyed_by_text = Record::json(json!(null));
    keyed_by_text
        .metadata
        .insert("key".into(), json!("plain-text-key"));
    assert!(
        run_record(&infer, keyed_by_text)[0]
            .as_str()
            .unwrap()
            .starts_with("FAILED")
    );

    let bad = run(
        "  - type: debeziumUnwrap\n",
        debezium("x", json!(null), json!({})),
    );
    assert!(
        bad[0]
            .as_str()
            .unwrap()
            .contains("unknown Debezium op \"x\""),
        "{bad:?}"
    );
    let bad = run(
        "  - type: debeziumUnwrap\n",
        debezium("c", json!(null), json!("text")),
    );
    assert!(
        bad[0]
            .as_str()
            .unwrap()
            .contains("needs an object in `after`"),
        "{bad:?}"
    );
    let bad = run("  - type: debeziumUnwrap\n", json!([1]));
    assert!(
        bad[0]
            .as_str()
            .unwrap()
            .starts_with("FAILED at transform:0:debeziumUnwrap"),
        "{bad:?}"
    );
}

// ---------------------------------------------------------------- replaceField

#[test]
fn replace_field_docs_examples() {
    assert_eq!(
        one(
            "  - type: replaceField\n    config:\n      renames:\n        - oldName:newName\n        - key.sku:sku\n",
            json!({"oldName": "value", "key": {"sku": "12345"}, "other": "keep"})
        ),
        json!({"other": "keep", "newName": "value", "sku": "12345"})
    );
    assert_eq!(
        one(
            "  - type: replaceField\n    replaceField:\n      renames:\n        - key.sku:sku\n        - body.lc:lc\n",
            json!({"key": {"sku": "12345"}, "body": {"lc": "en"}})
        ),
        json!({"sku": "12345", "lc": "en"})
    );
    assert_eq!(
        one(
            "  - type: replaceField\n    config:\n      include: [user.id, user.name, status]\n",
            json!({"user": {"id": 1, "name": "John", "email": "john@example.com"}, "status": "active", "extra": "drop-me"})
        ),
        json!({"user": {"id": 1, "name": "John"}, "status": "active"})
    );
    assert_eq!(
        one(
            "  - type: replaceField\n    config: {exclude: [secret.key, password], renames: [\"$.a:b.c\"]}\n",
            json!({"secret": {"key": 1}, "password": "x", "a": 5, "keep": true})
        ),
        json!({"keep": true, "b": {"c": 5}})
    );
    let found = problems(
        "  - type: replaceField\n    config: {include: [a], exclude: [b]}\n  - type: replaceField\n    config: {renames: [nocolon]}\n  - type: replaceField\n    config: {}\n",
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("[0].config.exclude: include and exclude cannot be set together")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("[1].config.renames[0]") && p.contains("old.path:new.path")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("[2].config: replaceField needs renames, include or exclude")),
        "{found:?}"
    );
}

// ---------------------------------------------------------------- headersToPayload

#[test]
fn headers_to_payload_docs_example() {
    let steps = "  - type: headersToPayload\n    config:\n      mappings:\n        - X-Request-Id:requestId\n        - X-Language:metadata.language\n        - X-Missing:missing\n";
    let mut record = Record::json(json!({"data": "value"}));
    record.metadata.insert(
        "headers".into(),
        json!({"X-Request-Id": "req-123", "x-language": "en"}),
    );
    assert_eq!(
        run_record(&chain(steps), record),
        vec![json!({"data": "value", "requestId": "req-123", "metadata": {"language": "en"}})]
    );
    // No headers: unchanged. The older name `headerFrom` works.
    assert_eq!(one(steps, json!({"data": 1})), json!({"data": 1}));
    let old = "  - type: headerFrom\n    headerFrom:\n      mappings:\n        - X-Request-Id:requestId\n";
    let mut record = Record::json(json!({}));
    record
        .metadata
        .insert("headers".into(), json!({"X-Request-Id": "r"}));
    assert_eq!(
        run_record(&chain(old), record),
        vec![json!({"requestId": "r"})]
    );
    assert!(
        problems("  - type: headersToPayload\n    config: {mappings: [\"nocolon\"]}\n")[0]
            .contains("config.mappings[0]")
    );
}

// ---------------------------------------------------------------- structFlatten / extractField / hoistField

#[test]
fn struct_flatten_docs_examples() {
    let input = json!({"content": {"id": 42, "name": {"first": "David", "middle": null, "last": "Wong"}, "tags": ["a", "b"]}, "active": true});
    assert_eq!(
        one(
            "  - type: structFlatten\n    config:\n      delimiter: \".\"\n",
            input.clone()
        ),
        json!({"content.id": 42, "content.name.first": "David", "content.name.middle": null, "content.name.last": "Wong", "content.tags": ["a", "b"], "active": true})
    );
    let out = one(
        "  - type: structFlatten\n    config:\n      delimiter: \"_\"\n",
        input,
    );
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "content_id",
            "content_name_first",
            "content_name_middle",
            "content_name_last",
            "content_tags",
            "active"
        ]
    );
    assert_eq!(
        one(
            "  - type: structFlatten\n    config: {}\n",
            json!({"a": {}, "b": 1})
        ),
        json!({"b": 1}),
        "empty objects vanish"
    );
    assert_eq!(
        one(
            "  - type: structFlatten\n    config: {}\n",
            json!([{"a": {"b": 1}}])
        ),
        json!([{"a": {"b": 1}}]),
        "non-object root"
    );
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!({"x": deep});
    }
    assert!(
        one("  - type: structFlatten\n    config: {}\n", deep)
            .as_str()
            .unwrap()
            .contains("deeper than 64")
    );
    assert!(
        problems("  - type: structFlatten\n    config: {delimiter: \"\"}\n")[0]
            .contains("delimiter must not be empty")
    );
}

#[test]
fn extract_and_hoist_docs_examples() {
    assert_eq!(
        one(
            "  - type: extractField\n    config:\n      field: payload.after\n",
            json!({"payload": {"after": {"id": 1}}})
        ),
        json!({"id": 1})
    );
    assert_eq!(
        one(
            "  - type: extractField\n    config: {field: $.payload.after}\n",
            json!({"payload": {"after": {"id": 1}}})
        ),
        json!({"id": 1})
    );
    assert_eq!(
        one(
            "  - type: extractField\n    config: {field: items}\n",
            json!({"items": [1, 2, 3]})
        ),
        json!([1, 2, 3])
    );
    assert_eq!(
        one(
            "  - type: extractField\n    config: {field: nope}\n",
            json!({"a": 1})
        ),
        json!({"a": 1}),
        "missing: unchanged"
    );
    assert_eq!(
        one(
            "  - type: hoistField\n    config:\n      field: record\n",
            json!({"id": 1})
        ),
        json!({"record": {"id": 1}})
    );
    assert_eq!(
        one(
            "  - type: hoistField\n    config: {field: record}\n  - type: extractField\n    config: {field: record}\n",
            json!({"id": 1})
        ),
        json!({"id": 1}),
        "round trip"
    );
    assert!(
        problems("  - type: hoistField\n    config: {field: a.b}\n")[0].contains("without dots")
    );
}

// ---------------------------------------------------------------- cast / timezone / insertField

#[test]
fn cast_docs_example() {
    assert_eq!(
        one(
            "  - type: debeziumUnwrap\n  - type: cast\n    config:\n      spec:\n        id: int64\n        amount: float64\n        active: bool\n",
            json!({"id": "1", "amount": "9.99", "active": "true"})
        ),
        json!({"id": 1, "amount": 9.99, "active": true})
    );
    assert_eq!(
        one(
            "  - type: cast\n    config:\n      spec:\n        note: string\n        deleted_at: null\n        missing: int64\n",
            json!({"note": 5, "deleted_at": "2024"})
        ),
        json!({"note": "5", "deleted_at": null})
    );
    let failed = run(
        "  - type: cast\n    config: {spec: {id: int64, ok: string}}\n",
        json!({"id": "7.5", "ok": 1}),
    );
    assert!(
        failed[0]
            .as_str()
            .unwrap()
            .contains("transform:0:cast: id: cannot cast \"7.5\" to int64"),
        "{failed:?}"
    );
    assert!(
        problems("  - type: cast\n    config: {spec: {id: integer}}\n")[0]
            .contains("spec.transformations[0].config.spec.id")
    );
}

#[test]
fn timezone_docs_example_and_inputs() {
    let steps = "  - type: timezone\n    config:\n      timezone: Europe/Moscow\n      fields: [created_at, updated_at]\n      format: RFC3339\n";
    assert_eq!(
        one(
            steps,
            json!({"id": 1, "created_at": "2024-01-15T12:00:00Z"})
        ),
        json!({"id": 1, "created_at": "2024-01-15T15:00:00+03:00"})
    );
    let nano = "  - type: timezone\n    config: {timezone: \"+05:30\", fields: [t], sourceTimezone: Europe/Berlin}\n";
    assert_eq!(
        one(nano, json!({"t": "2024-07-01T12:00:00.5"})),
        json!({"t": "2024-07-01T15:30:00.5+05:30"}),
        "offsetless = source zone (CEST)"
    );
    assert_eq!(
        one(nano, json!({"t": 1705320000})),
        json!({"t": "2024-01-15T17:30:00+05:30"}),
        "epoch seconds"
    );
    assert_eq!(
        one(nano, json!({"t": "1705320000000"})),
        json!({"t": "2024-01-15T17:30:00+05:30"}),
        "epoch millis as text"
    );
    assert_eq!(
        one(nano, json!({"t": null, "u": 1})),
        json!({"t": null, "u": 1}),
        "null skipped"
    );
    let millis =
        "  - type: timezone\n    config: {timezone: UTC, fields: [t], format: UnixMilli}\n";
    assert_eq!(
        one(millis, json!({"t": "2024-01-15T12:00:00Z"})),
        json!({"t": 1705320000000i64})
    );
    let failed = run(nano, json!({"t": "yesterday"}));
    assert!(
        failed[0]
            .as_str()
            .unwrap()
            .contains("\"yesterday\" is neither an RFC3339 time nor an epoch number"),
        "{failed:?}"
    );
    let found =
        problems("  - type: timezone\n    config: {timezone: UTC, fields: [t], format: Kitchen}\n");
    assert!(found[0].contains("config.format"), "{found:?}");
}

#[test]
fn insert_field_forms() {
    let steps = "  - type: insertField\n    config:\n      fields:\n        source: dataflow\n        at: \"${now}\"\n        topic: \"${metadata.topic}\"\n        absent: \"${metadata.nope}\"\n        tags: 'json:[\"a\", 1]'\n        meta.version: 2\n";
    let mut record = Record::json(json!({"id": 1}));
    record.metadata.insert("topic".into(), json!("orders"));
    let out = run_record(&chain(steps), record).pop().unwrap();
    assert_eq!(out["source"], "dataflow");
    assert!(chrono::DateTime::parse_from_rfc3339(out["at"].as_str().unwrap()).is_ok());
    assert_eq!(out["topic"], "orders");
    assert_eq!(out["absent"], "");
    assert_eq!(out["tags"], json!(["a", 1]));
    assert_eq!(out["meta"], json!({"version": 2}));
    assert_eq!(
        one(steps, json!("text")),
        json!("text"),
        "non-object payloads unchanged"
    );
    assert!(
        problems("  - type: insertField\n    config: {fields: {a: 'json:{bad'}}\n")[0]
            .contains("config.fields.a")
    );
}

// ---------------------------------------------------------------- when, non-JSON payloads

#[test]
fn when_skips_a_step_without_dropping() {
    let steps = "  - type: mask\n    when: \"$.country == 'DE'\"\n    config: {fields: [name]}\n  - type: filter\n    when: metadata.strict\n    config: {condition: $.ok}\n";
    assert_eq!(
        one(steps, json!({"country": "DE", "name": "Ada"})),
        json!({"country": "DE", "name": "***"})
    );
    assert_eq!(
        one(steps, json!({"country": "FR", "name": "Ada"})),
        json!({"country": "FR", "name": "Ada"})
    );
    let found = problems("  - type: mask\n    when: \"$.a ==\"\n    config: {fields: [a]}\n");
    assert!(
        found[0].contains("spec.transformations[0].when"),
        "{found:?}"
    );
}

#[test]
fn non_json_payloads_pass_unchanged() {
    let steps = "  - type: timestamp\n    config: {}\n  - type: mask\n    config: {fields: [a]}\n  - type: select\n    config: {fields: [a]}\n  - type: remove\n    config: {fields: [a]}\n  - type: snakeCase\n    config: {deep: true}\n  - type: structFlatten\n    config: {}\n  - type: hoistField\n    config: {field: x}\n  - type: cast\n    config: {spec: {a: int64}}\n  - type: insertField\n    config: {fields: {a: 1}}\n";
    let mut record = Record::json(json!(null));
    record.payload = Payload::Bytes(bytes::Bytes::from_static(b"not json"));
    assert_eq!(
        run_record(&chain(steps), record),
        vec![json!({"bytes": "not json"})]
    );
}

#[test]
fn each_problem_is_reported_once() {
    let found = problems(
        "  - type: replaceField\n    config: {include: [a], exclude: [b]}\n  - type: mask\n    config: {fields: [a], maskChar: \"\"}\n",
    );
    assert_eq!(found.len(), 2, "{found:#?}");
}
