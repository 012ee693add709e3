//! Loading a manifest reports every problem in one round (A22).

use dataflow_spec::load::load_text;

/// The paths of the problems of the one flow of `text`.
fn problem_paths(text: &str) -> Vec<String> {
    let loaded = load_text(text);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.flows[0]
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect()
}

#[test]
fn type_errors_and_semantic_errors_are_reported_together() {
    let problems = problem_paths(
        "apiVersion: dataflow.dataflow.io/v1\n\
         kind: DataFlow\n\
         metadata: {name: Orders_Copy}\n\
         spec:\n\
         \x20 source: {type: file, config: {path: in.jsonl}}\n\
         \x20 sink: {type: file, config: {path: out.jsonl, batchSize: many}}\n\
         \x20 errors: {type: file, config: {path: e.jsonl, batchSize: 0, batchFlushIntervalSeconds: 0}}\n",
    );
    let joined = problems.join("\n");
    assert!(joined.contains("spec.sink.config.batchSize"), "{joined}");
    assert!(joined.contains("metadata.name"), "{joined}");
    assert!(joined.contains("spec.errors.config"), "{joined}");
}

#[test]
fn a_value_in_error_is_reported_once() {
    let problems = problem_paths(
        "source: {type: file, config: {path: in.jsonl}}\n\
         sink: {type: file, config: {path: out.jsonl, batchSize: many}}\n",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
}
