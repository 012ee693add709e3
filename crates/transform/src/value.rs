//! How values read as text and as truth, the way the original's conditions and masks do.

use std::borrow::Cow;

use serde_json::Value;

/// The text form of a value: strings as they are, numbers as written, `true`/`false`, an
/// empty string for null, JSON text for objects and arrays.
pub fn text_of(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        Value::Null => Cow::Borrowed(""),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::Number(number) => Cow::Owned(number.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

/// Truthiness: a boolean is itself; a string is true unless empty or `"false"`; a number
/// unless zero; null is false; objects and arrays are true.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::String(text) => !text.is_empty() && text != "false",
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::Null => false,
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_truth() {
        assert_eq!(text_of(&json!(5)), "5");
        assert_eq!(text_of(&json!(1.5)), "1.5");
        assert_eq!(text_of(&json!(null)), "");
        assert_eq!(text_of(&json!({"a": 1})), r#"{"a":1}"#);
        for truthy in [json!(true), json!("x"), json!(-5), json!([]), json!({})] {
            assert!(is_truthy(&truthy), "{truthy}");
        }
        for falsy in [
            json!(false),
            json!(""),
            json!("false"),
            json!(0),
            json!(0.0),
            json!(null),
        ] {
            assert!(!is_truthy(&falsy), "{falsy}");
        }
    }
}
