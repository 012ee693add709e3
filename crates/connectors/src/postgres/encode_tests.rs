//! The binary and CSV encoders of the PostgreSQL sink.

use super::*;
use serde_json::json;

fn numeric(text: &str) -> Vec<i16> {
    let mut buffer = BytesMut::new();
    encode_numeric(&mut buffer, text).unwrap();
    buffer
        .chunks(2)
        .map(|c| i16::from_be_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn numeric_encoding() {
    // ndigits, weight, sign, dscale, digits…
    assert_eq!(numeric("12345.678"), vec![3, 1, 0, 3, 1, 2345, 6780]);
    assert_eq!(numeric("-0.5"), vec![1, -1, 0x4000, 1, 5000]);
    assert_eq!(numeric("0"), vec![0, 0, 0, 0]);
    assert_eq!(numeric("1e4"), vec![1, 1, 0, 0, 1]);
    assert_eq!(numeric("10000"), vec![1, 1, 0, 0, 1]);
    assert_eq!(numeric("0.0001"), vec![1, -1, 0, 4, 1]);
    assert!(encode_numeric(&mut BytesMut::new(), "abc").is_none());
}

#[test]
fn huge_exponents_are_refused_without_building_the_digits() {
    // P2: an i32 overflow (a panic), and a 1 GB string for one value.
    for text in [
        "1e2147483647",
        "1e1000000000",
        "-1e-2147483648",
        "1e99999999999999999999",
    ] {
        assert!(
            encode_numeric(&mut BytesMut::new(), text).is_none(),
            "{text}"
        );
    }
    assert!(encode_numeric(&mut BytesMut::new(), "1e131072").is_none());
    assert!(encode_numeric(&mut BytesMut::new(), "1e131071").is_some());
    assert!(encode_numeric(&mut BytesMut::new(), "1e-16384").is_none());
    assert!(encode_numeric(&mut BytesMut::new(), "1e-16383").is_some());
    assert_eq!(numeric("0e999999999999"), vec![0, 0, 0, 0]);
}

#[test]
fn a_real_out_of_range_is_refused() {
    // A8: 1e39 was stored as Infinity.
    let column = Column {
        name: "r".into(),
        type_name: "real".into(),
        kind: ColumnKind::Float4,
    };
    let mut buffer = BytesMut::new();
    assert!(binary_row(&mut buffer, &[&column], &[Some(&json!(1e39))]).is_err());
    assert!(binary_row(&mut buffer, &[&column], &[Some(&json!(3e38))]).is_ok());
}

#[test]
fn rejects_name_the_column() {
    let column = Column {
        name: "age".into(),
        type_name: "integer".into(),
        kind: ColumnKind::Int4,
    };
    let mut buffer = BytesMut::new();
    let error = binary_row(&mut buffer, &[&column], &[Some(&json!("abc"))]).unwrap_err();
    assert_eq!(error, "column \"age\" (integer): \"abc\" is not an integer");
    assert!(buffer.is_empty(), "nothing appended");
    assert!(binary_row(&mut buffer, &[&column], &[Some(&json!(9_000_000_000i64))]).is_err());
}

#[test]
fn csv_quoting() {
    let text = Column {
        name: "t".into(),
        type_name: "text".into(),
        kind: ColumnKind::Text,
    };
    let json = Column {
        name: "j".into(),
        type_name: "jsonb".into(),
        kind: ColumnKind::Jsonb,
    };
    let bytes = Column {
        name: "b".into(),
        type_name: "bytea".into(),
        kind: ColumnKind::Bytea,
    };
    let mut buffer = BytesMut::new();
    csv_row(
        &mut buffer,
        &[&text, &text, &text, &json, &text, &bytes],
        &[
            Some(&json!("a\"b")),
            None,
            Some(&json!(1.5)),
            Some(&json!({"x": [1]})),
            Some(&json!("")),
            Some(&json!("aGk=")),
        ],
    )
    .unwrap();
    assert_eq!(
        &buffer[..],
        b"\"a\"\"b\",,\"1.5\",\"{\"\"x\"\":[1]}\",\"\",\"\\x6869\"\n"
    );
}
