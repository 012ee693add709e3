//! Tests of `path.rs` (kept apart so that the module stays readable).

use super::*;
use serde_json::json;

fn path(text: &str) -> FieldPath {
    FieldPath::parse(text).unwrap()
}

#[test]
fn every_written_form_reaches_the_same_value() {
    let doc = json!({"a": {"b": {"c": 1}}, "items": [{"sku": "x"}, {"sku": "y"}], "odd key": 2});
    for text in ["a.b.c", "$.a.b.c", "$['a']['b'].c", "$.a[\"b\"].c"] {
        assert_eq!(path(text).get(&doc), Some(&json!(1)), "{text}");
    }
    assert_eq!(path("items.1.sku").get(&doc), Some(&json!("y")));
    assert_eq!(path("$.items[0].sku").get(&doc), Some(&json!("x")));
    assert_eq!(path("$['odd key']").get(&doc), Some(&json!(2)));
    assert_eq!(path("$").get(&doc), Some(&doc));
    assert_eq!(
        path("$.items[*].sku").get_all(&doc),
        vec![&json!("x"), &json!("y")]
    );
    assert_eq!(
        path("items.*.sku").get_all(&doc),
        vec![&json!("x"), &json!("y")]
    );
    assert_eq!(path("a.missing").get(&doc), None);
    assert_eq!(path("items.5").get(&doc), None);
}

#[test]
fn numeric_dot_segments_are_keys_on_objects() {
    let doc = json!({"codes": {"0": "zero"}});
    assert_eq!(path("codes.0").get(&doc), Some(&json!("zero")));
}

#[test]
fn set_creates_objects_and_appends() {
    let mut doc = json!({"a": 1});
    path("b.c").set(&mut doc, json!(2)).unwrap();
    path("$.list").set(&mut doc, json!([1])).unwrap();
    path("list[1]").set(&mut doc, json!(9)).unwrap();
    assert_eq!(doc, json!({"a": 1, "b": {"c": 2}, "list": [1, 9]}));
    let error = path("a.x").set(&mut doc, json!(0)).unwrap_err();
    assert!(
        error.contains("cannot write inside a, which is a number"),
        "{error}"
    );
    assert!(path("list[5]").set(&mut doc, json!(0)).is_err());
}

#[test]
fn remove_keeps_the_order_of_the_rest() {
    let mut doc = json!({"a": 1, "b": 2, "c": 3, "items": [{"x": 1, "y": 2}, {"x": 3}]});
    assert_eq!(path("b").remove(&mut doc), 1);
    assert_eq!(path("items[*].x").remove(&mut doc), 2);
    assert_eq!(path("nope").remove(&mut doc), 0);
    assert_eq!(doc.to_string(), r#"{"a":1,"c":3,"items":[{"y":2},{}]}"#);
}

#[test]
fn remove_pruning_drops_emptied_parents() {
    let mut doc = json!({"key": {"sku": 1}, "other": {"x": 1, "y": 2}});
    let taken = path("key.sku").take(&mut doc);
    assert_eq!(taken, Some(json!(1)));
    let mut doc2 = json!({"key": {"sku": 1}, "other": {"x": 1, "y": 2}});
    assert!(path("key.sku").remove_pruning(&mut doc2));
    assert!(path("other.x").remove_pruning(&mut doc2));
    assert_eq!(doc2, json!({"other": {"y": 2}}));
}

#[test]
fn errors_name_the_position() {
    for (bad, column) in [
        ("a..b", 3),
        ("a.", 2),
        ("$.", 3),
        ("a[", 3),
        ("a[x]", 3),
        ("a['x", 2),
        ("a]b", 2),
        ("", 1),
    ] {
        let error = FieldPath::parse(bad).unwrap_err();
        assert_eq!(error.column, column, "{bad}: {error}");
    }
    assert!(FieldPath::parse_target("a[*]").is_err());
    assert!(FieldPath::parse_target("$").is_err());
}

#[test]
fn last_key_names_the_output_field() {
    assert_eq!(path("user.name").last_key(), "name");
    assert_eq!(path("$.items[*].sku").last_key(), "sku");
    assert_eq!(path("items[0]").last_key(), "0");
}
