//! Tests of `condition.rs` (kept apart so that the module stays readable).

use super::*;
use dataflow_core::Payload;
use serde_json::json;

fn record(payload: Value) -> Record {
    let mut record = Record::json(payload);
    record.metadata.insert("topic".into(), json!("orders"));
    record.metadata.insert("partition".into(), json!(2));
    record
        .metadata
        .insert("headers".into(), json!({"X-Tenant": "acme"}));
    record
}

fn holds(condition: &str, payload: Value) -> bool {
    Condition::parse(condition)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
        .matches(&record(payload))
}

#[test]
fn truthiness_and_missing_fields() {
    assert!(holds("$.active", json!({"active": true})));
    assert!(!holds("$.active", json!({"active": false})));
    assert!(!holds("$.active", json!({})));
    assert!(holds("level", json!({"level": "info"})));
    assert!(!holds("$.amount", json!({"amount": 0})));
}

#[test]
fn equality_is_on_text() {
    assert!(holds("$.count == 5", json!({"count": 5})));
    assert!(holds("$.count == 5", json!({"count": "5"})));
    assert!(holds("$.status == 'active'", json!({"status": "active"})));
    assert!(holds("$.status==\"active\"", json!({"status": "active"})));
    assert!(holds("$.status != 'deleted'", json!({"status": "active"})));
    assert!(
        !holds("$.status != 'deleted'", json!({})),
        "missing fields fail != too"
    );
    assert!(holds("$.flag == true", json!({"flag": true})));
    assert!(holds("$.name == 'it\\'s'", json!({"name": "it's"})));
}

#[test]
fn ordering_and_regex() {
    assert!(
        holds("$.n > 9", json!({"n": 10})),
        "numeric, not text order"
    );
    assert!(holds("$.n<=10", json!({"n": "10"})));
    assert!(!holds("$.n < 2", json!({"n": 10})));
    assert!(holds("$.name < 'b'", json!({"name": "alice"})));
    assert!(holds("$.level =~ '^err'", json!({"level": "error"})));
    assert!(!holds("$.level =~ '^err'", json!({"level": "warning"})));
    assert!(!holds("$.n > 1", json!({})));
}

#[test]
fn boolean_logic_and_precedence() {
    let payload = json!({"a": true, "b": false, "c": true});
    assert!(holds("$.a && !$.b", payload.clone()));
    assert!(holds("$.b || $.c", payload.clone()));
    assert!(
        holds("$.b && $.a || $.c", payload.clone()),
        "&& binds tighter"
    );
    assert!(!holds("$.b && ($.a || $.c)", payload.clone()));
    assert!(holds("!($.b)", payload));
}

#[test]
fn metadata_fields() {
    assert!(holds("metadata.topic == 'orders'", json!({})));
    assert!(holds("metadata.partition >= 2", json!({})));
    assert!(holds("metadata.headers.X-Tenant == acme", json!({})));
    assert!(!holds("metadata.missing", json!({})));
    assert!(!holds("metadata.missing != x", json!({})));
}

#[test]
fn paths_with_brackets_and_odd_keys() {
    assert!(holds(
        "$.items[0].sku == 'A'",
        json!({"items": [{"sku": "A"}]})
    ));
    assert!(holds("$['odd key'] == 1", json!({"odd key": 1})));
}

#[test]
fn non_json_payloads_never_match() {
    let mut record = Record::json(json!(null));
    record.payload = Payload::Bytes(bytes::Bytes::from_static(b"raw"));
    assert!(!Condition::parse("$.a").unwrap().matches(&record));
    assert!(Condition::parse("!$.a").unwrap().matches(&record));
}

#[test]
fn syntax_errors_show_the_column() {
    for (bad, column) in [
        ("", 1),
        ("$.a ==", 7),
        ("($.a", 5),
        ("$.a)", 4),
        ("$.a & $.b", 5),
        ("$.a == 'x", 8),
        ("$.a =~ '('", 8),
        ("&& $.a", 1),
        ("$.a..b", 1),
    ] {
        let error = Condition::parse(bad).unwrap_err();
        assert_eq!(error.column, column, "{bad:?}: {error}");
    }
}
