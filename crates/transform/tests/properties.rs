//! Property tests: paths and the field-editing steps never panic on arbitrary JSON, and the
//! condition parser never panics on arbitrary text.

use dataflow_core::Record;
use dataflow_spec::load_text_with;
use dataflow_transform::{Chain, Condition, FieldPath};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9 _.\\[\\]$*'-]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c0-9_.*]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn path_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c0-9]{1,2}(\\.[a-c0-9*]{1,2}){0,3}",
        "\\$(\\.[a-c]{1,2}|\\[[0-9*]\\]|\\['[a-c .]{0,3}'\\]){1,4}",
        "[a-c.\\[\\]$*'0-9]{0,10}",
    ]
}

fn chain_of(steps: &str) -> Chain {
    let text =
        format!("source: {{type: stdin}}\nsink: {{type: stdout}}\ntransformations:\n{steps}");
    let loaded = load_text_with(&text, &dataflow_transform::check);
    Chain::compile(
        &loaded.flows[0]
            .flow
            .as_ref()
            .expect("valid")
            .spec
            .transformations,
    )
    .expect("compiles")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn paths_never_panic(text in path_text(), mut doc in json_value(), value in json_value()) {
        if let Ok(path) = FieldPath::parse(&text) {
            let _ = path.get(&doc);
            let _ = path.get_all(&doc);
            path.for_each_mut(&mut doc, &mut |v| *v = Value::Null);
            let _ = path.set(&mut doc, value);
            let _ = path.take(&mut doc);
            let _ = path.remove_pruning(&mut doc);
            let _ = path.remove(&mut doc);
            let _ = path.last_key();
        }
    }

    #[test]
    fn set_then_get_round_trips(key in "[a-z]{1,5}", inner in "[a-z]{1,5}", mut doc in json_value(), value in json_value()) {
        let path = FieldPath::parse(&format!("{key}.{inner}")).unwrap();
        if path.set(&mut doc, value.clone()).is_ok() {
            prop_assert_eq!(path.get(&doc), Some(&value));
        }
    }

    #[test]
    fn field_steps_never_panic(doc in json_value(), a in path_text(), b in path_text()) {
        let quoted = |p: &str| serde_json::to_string(p).unwrap();
        // Only paths that compile make a valid step; the rest is covered by `paths_never_panic`.
        if FieldPath::parse(&a).is_err() || FieldPath::parse(&b).is_err() {
            return Ok(());
        }
        let steps = format!(
            "  - type: mask\n    config: {{fields: [{a}, {b}], keepLength: true}}\n  - type: remove\n    config: {{fields: [{a}]}}\n  - type: select\n    config: {{fields: [{b}, {a}]}}\n  - type: structFlatten\n    config: {{}}\n  - type: snakeCase\n    config: {{deep: true}}\n",
            a = quoted(&a),
            b = quoted(&b)
        );
        let chain = chain_of(&steps);
        let mut fates = Vec::new();
        chain.run(Record::json(doc), &mut fates);
        prop_assert_eq!(fates.len(), 1);
    }

    #[test]
    fn condition_parser_never_panics(text in "\\PC{0,40}") {
        if let Ok(condition) = Condition::parse(&text) {
            let _ = condition.matches(&Record::json(serde_json::json!({"a": 1, "b": "x"})));
        }
    }

    #[test]
    fn condition_parser_never_panics_on_operator_soup(text in "[$.a-c0-9 ()!=<>&|~'\"\\[\\]*]{0,30}") {
        if let Ok(condition) = Condition::parse(&text) {
            let _ = condition.matches(&Record::json(serde_json::json!({"a": [1, {"b": true}], "c": "x"})));
        }
    }
}
