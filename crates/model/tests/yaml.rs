//! The YAML loader: positions, core-schema scalars, anchors, and the bounds on hostile input
//! (nesting depth, alias expansion, duplicate keys, unknown tags).

use dataflow_spec::yaml::{MAX_DEPTH, Position, parse_documents};
use serde_json::json;

#[test]
fn parses_several_documents_with_positions() {
    let text = "a: 1\nb:\n  c: [x, 'y']\n---\nkind: Secret\nstringData:\n  k: v\n";
    let docs = parse_documents(text).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].value, json!({"a": 1, "b": {"c": ["x", "y"]}}));
    assert_eq!(
        docs[0].positions.find("b.c[1]"),
        Some(Position {
            line: 3,
            column: 10
        })
    );
    assert_eq!(
        docs[0].positions.find("b.c"),
        Some(Position { line: 3, column: 3 })
    );
    assert_eq!(
        docs[1].positions.find("stringData.k.missing"),
        Some(Position { line: 7, column: 3 })
    );
}

#[test]
fn resolves_core_schema_scalars() {
    let docs =
        parse_documents("a: ~\nb: true\nc: -12\nd: 1.5\ne: '5'\nf: 0x1F\ng: 1e3\nh: 12abc\n")
            .unwrap();
    assert_eq!(
        docs[0].value,
        json!({"a": null, "b": true, "c": -12, "d": 1.5, "e": "5", "f": 31, "g": 1000.0, "h": "12abc"})
    );
}

#[test]
fn block_scalars_and_json_input() {
    let docs = parse_documents("s: |\n  line1\n  line2\n").unwrap();
    assert_eq!(docs[0].value, json!({"s": "line1\nline2\n"}));
    let docs = parse_documents(r#"{"a": [1, {"b": null}]}"#).unwrap();
    assert_eq!(docs[0].value, json!({"a": [1, {"b": null}]}));
}

#[test]
fn anchors_and_aliases() {
    let docs = parse_documents("base: &b {x: 1}\ncopy: *b\n").unwrap();
    assert_eq!(docs[0].value, json!({"base": {"x": 1}, "copy": {"x": 1}}));
}

#[test]
fn an_alias_bomb_is_refused_with_its_position() {
    // A3: nine levels of nine aliases (521 bytes) would expand to 387 million strings.
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let items = vec![format!("*a{}", level - 1); 9].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    let error = parse_documents(&text).unwrap_err();
    assert!(error.message.contains("alias"), "{}", error.message);
    assert!(error.position.is_some_and(|p| p.line > 3));
    // Ordinary sharing is fine.
    let docs = parse_documents("a: &a {x: [1, 2]}\nb: *a\nc: *a\n").unwrap();
    assert_eq!(docs[0].value["c"], json!({"x": [1, 2]}));
}

#[test]
fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
    // A4: 20,000 levels of block sequences (40 KB) aborted the process.
    let text = format!("x:\n  {}1\n", "- ".repeat(20_000));
    let error = parse_documents(&text).unwrap_err();
    assert_eq!(error.message, "nesting deeper than 128 levels");
    assert_eq!(error.position.map(|p| p.line), Some(2));
    let deep_maps: String = (0..300).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    assert!(parse_documents(&deep_maps).is_err());
    // Flow style too, and exactly the limit is fine.
    assert!(parse_documents(&format!("{}{}", "[".repeat(5000), "]".repeat(5000))).is_err());
    let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_documents(&ok).is_ok());
}

#[test]
fn duplicate_keys_are_errors_naming_both_positions() {
    // A7: the last one silently won.
    let error =
        parse_documents("source: {type: stdin}\nsink: {type: file}\nsink: {type: stdout}\n")
            .unwrap_err();
    assert_eq!(
        error.message,
        "duplicate key 'sink' (first at line 2, column 1)"
    );
    assert_eq!(error.position, Some(Position { line: 3, column: 1 }));
    let error = parse_documents("a: {path: x, path: y}\n").unwrap_err();
    assert!(
        error.message.starts_with("duplicate key 'path'"),
        "{}",
        error.message
    );
    // The same key in different mappings is fine.
    assert!(parse_documents("a: {k: 1}\nb: {k: 2}\n").is_ok());
}

#[test]
fn tags_outside_the_core_schema_are_errors() {
    // A21: `!env` was dropped and the literal text used.
    let error = parse_documents("path: !env INPUT_PATH\n").unwrap_err();
    assert_eq!(error.message, "unsupported YAML tag !env");
    assert!(parse_documents("b: !!binary aGk=\n").is_err());
    assert!(parse_documents("m: !custom {a: 1}\n").is_err());
    let docs = parse_documents("a: !!str 12\nb: !!int 3\nc: !!map {x: 1}\n").unwrap();
    assert_eq!(docs[0].value, json!({"a": "12", "b": 3, "c": {"x": 1}}));
}

#[test]
fn syntax_errors_carry_a_position() {
    let error = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(error.position.is_some());
}
