//! Property tests of JSON text payloads: any serialised value is kept and gives back the same
//! value; the quick check never vouches for text the parser refuses.

use bytes::Bytes;
use dataflow_core::Payload;
use dataflow_core::json_text::is_certainly_valid;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn serialised_values_come_back_unchanged(value in json_value(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        let payload = Payload::json_text(Bytes::from(text)).unwrap();
        prop_assert_eq!(payload.value().unwrap().into_owned(), value);
    }

    #[test]
    fn never_vouches_for_refused_text(value in json_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut text = serde_json::to_vec(&value).unwrap();
        let at = at.index(text.len());
        text[at] = byte;
        if is_certainly_valid(&text) {
            prop_assert!(serde_json::from_slice::<Value>(&text).is_ok(), "{:?}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn never_vouches_for_refused_bytes(text in prop::collection::vec(prop_oneof![
        Just(b'"'), Just(b'\\'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b','),
        Just(b':'), Just(b'0'), Just(b'1'), Just(b'.'), Just(b'-'), Just(b'e'), Just(b'u'),
        Just(b' '), Just(b'a'), any::<u8>()], 0..40)) {
        if is_certainly_valid(&text) {
            prop_assert!(serde_json::from_slice::<Value>(&text).is_ok(), "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
