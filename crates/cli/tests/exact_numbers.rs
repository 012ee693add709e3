//! A8: numbers are never altered on the way. Text passes on as written; where a value is
//! needed (a transformation, a PostgreSQL row), a number a JSON value cannot hold exactly sends
//! the message to the error sink instead of being rounded.

use std::path::Path;

use serde_json::Value;

mod support;
use support::{POSTGRES, dataflow, json_lines, psql, text};

/// Lines with numbers a 64-bit value would round, and lines it holds exactly.
const INPUT: &str = "{\"id\":1,\"n\":1180591620717411303425}\n\
                     {\"id\":2,\"n\":18446744073709551616}\n\
                     {\"id\":3,\"n\":1e-400}\n\
                     {\"id\":4,\"n\":1E2}\n\
                     {\"id\":5,\"n\":0.1234567890123456789}\n\
                     {\"id\":6,\"n\":12.25}\n";

fn write_flow(dir: &Path, middle: &str, sink: &str) {
    std::fs::write(dir.join("in.jsonl"), INPUT).unwrap();
    std::fs::write(
        dir.join("flow.yaml"),
        format!(
            "source: {{type: file, config: {{path: in.jsonl}}}}\n{middle}sink:\n{sink}\
             errors: {{type: file, file: {{path: errors.jsonl}}}}\n"
        ),
    )
    .unwrap();
}

/// The ids of the error records and the reason of each.
fn rejected(dir: &Path) -> Vec<(i64, String)> {
    json_lines(&dir.join("errors.jsonl"))
        .iter()
        .map(|error| {
            let original: Value = serde_json::from_str(
                error["original_message"]["original_data"]
                    .as_str()
                    .unwrap_or_default(),
            )
            .unwrap_or_else(|_| error["original_message"]["original_data"].clone());
            let id = original["id"].as_i64().unwrap_or(-1);
            (id, error["error"]["message"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn file_to_file_writes_every_number_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        dir.path(),
        "",
        "  type: file\n  config: {path: out.jsonl}\n",
    );
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(written, INPUT);
    assert_eq!(rejected(dir.path()), vec![]);
}

#[test]
fn a_transformation_refuses_numbers_it_would_round() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        dir.path(),
        "transformations:\n  - type: snakeCase\n",
        "  type: file\n  config: {path: out.jsonl}\n",
    );
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(
        written, "{\"id\":4,\"n\":100.0}\n{\"id\":6,\"n\":12.25}\n",
        "exact numbers keep their value"
    );
    let rejected = rejected(dir.path());
    let ids: Vec<i64> = rejected.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 2, 3, 5]);
    assert!(
        rejected[0]
            .1
            .contains("the number 1180591620717411303425 cannot be held exactly"),
        "{}",
        rejected[0].1
    );
    // The error record keeps the original text exactly.
    let errors = json_lines(&dir.path().join("errors.jsonl"));
    assert_eq!(
        errors[0]["original_message"]["original_data"],
        "{\"id\":1,\"n\":1180591620717411303425}"
    );
}

#[test]
fn a_numeric_column_never_receives_a_rounded_number() {
    let schema = format!("exact_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.numbers (id bigint primary key, n numeric)"
    ));
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        dir.path(),
        "",
        &format!(
            "  type: postgresql\n  config:\n    connectionString: \"{POSTGRES}\"\n    \
             table: {schema}.numbers\n"
        ),
    );
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stored = psql(&format!(
        "SELECT string_agg(id || '=' || n, ',' ORDER BY id) FROM {schema}.numbers"
    ));
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
    assert_eq!(stored, "4=100.0,6=12.25", "1E2 is 100.0, the same number");
    let rejected = rejected(dir.path());
    let ids: Vec<i64> = rejected.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 2, 3, 5]);
    assert!(
        rejected[1].1.contains("18446744073709551616"),
        "{}",
        rejected[1].1
    );
}
