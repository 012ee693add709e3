//! The `dataflow` binary end to end: validate, run, error sink, secrets, resume, signals.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod support;
use support::{dataflow, json_lines, psql, spawn, terminate, text, wait_until};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn validate_accepts_every_example() {
    let mut args = vec!["validate".to_string()];
    for dir in ["examples", "examples/seed"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                args.push(path.display().to_string());
            }
        }
    }
    assert!(args.len() > 20);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = dataflow(&repo(), &refs);
    assert!(output.status.success(), "{}", text(&output.stdout));
}

#[test]
fn validate_rejects_broken_variants_naming_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo().join("examples/seed/postgresql-sink.yaml")).unwrap();
    let variants = [
        (
            "missing-table.yaml",
            base.replace("      table: target_table\n", ""),
            "spec.sink.postgresql.table: table or tableSecretRef is required",
        ),
        (
            "misspelt.yaml",
            base.replace("table: target_table", "tabel: target_table"),
            "spec.sink.postgresql.tabel: unknown field `tabel`; did you mean `table`?",
        ),
        (
            "ack-policy.yaml",
            format!("{base}  errors:\n    type: stdout\n    ackPolicy: whenever\n"),
            "spec.errors.ackPolicy: string \"whenever\" is not allowed",
        ),
        (
            "replicas.yaml",
            std::fs::read_to_string(repo().join("examples/seed/postgresql-source.yaml")).unwrap()
                + "  replicas: 3\n",
            "spec.replicas: replicas: 3 is only allowed with a kafka source",
        ),
        (
            "secret-ref.yaml",
            base.replace(
                "      table: target_table\n",
                "      tableSecretRef:\n        name: creds\n",
            ),
            "spec.sink.postgresql.tableSecretRef.key: key is required in a secret reference",
        ),
    ];
    for (name, content, expected) in variants {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let output = dataflow(dir.path(), &["validate", name]);
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{name}: {stdout}");
        let line = stdout
            .lines()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("{name}: {expected:?} not in {stdout}"));
        // file:line:col: path: message
        let mut parts = line.splitn(4, ':');
        assert_eq!(parts.next(), Some(name), "{line}");
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "{line}");
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "{line}");
    }
}

#[test]
fn quickstart_prints_transformed_records() {
    let dir = tempfile::tempdir().unwrap();
    let output = dataflow(
        dir.path(),
        &[
            "run",
            repo().join("examples/quickstart.yaml").to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let records: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!records.is_empty() && records.len() <= 10, "{records:?}");
    for record in &records {
        assert_ne!(record["status"], "cancelled", "filtered out");
        assert_eq!(
            record["order_id"].as_str().unwrap().len(),
            36,
            "snake_case keys: {record}"
        );
        assert!(
            record["customer"]["email"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c == '*'),
            "masked: {record}"
        );
        assert!(record["processed_at"].is_string());
        assert!(record.get("orderId").is_none());
    }
    assert!(
        text(&output.stderr).contains("done in"),
        "summary expected: {}",
        text(&output.stderr)
    );
}

#[test]
fn worker_threads_come_from_the_flag_and_a_bad_setting_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = repo().join("examples/quickstart.yaml");
    let quickstart = quickstart.to_str().unwrap();
    let output = dataflow(dir.path(), &["run", "--worker-threads", "1", quickstart]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("read 10,"),
        "{}",
        text(&output.stderr)
    );

    let output = dataflow(dir.path(), &["run", "--worker-threads", "0", quickstart]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("invalid value '0' for '--worker-threads"),
        "{}",
        text(&output.stderr)
    );

    // tokio reads this variable itself and panics on a bad value; the CLI names it instead.
    let output = Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args(["run", quickstart])
        .current_dir(dir.path())
        .env("TOKIO_WORKER_THREADS", "two")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "TOKIO_WORKER_THREADS must be a whole number of worker threads, at least 1; it is \"two\""
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn copy_router_example(dir: &Path) {
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    for file in ["router.yaml", "orders-with-lines.jsonl"] {
        std::fs::copy(
            repo().join("examples").join(file),
            dir.join("examples").join(file),
        )
        .unwrap();
    }
}

#[test]
fn test_command_shows_routes_drops_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    copy_router_example(dir.path());
    let output = dataflow(
        dir.path(),
        &[
            "test",
            "examples/router.yaml",
            "--input",
            "examples/orders-with-lines.jsonl",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("#1 → main (file): {\"order\":1"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("#1 → route 0 ($.qty >= 10 || $.price > 100 → file): "),
        "{stdout}"
    );
    assert!(lines[2].starts_with("#2 → route 0"), "{stdout}");
    assert!(
        lines[3].starts_with("#3 ✗ transform:1:cast failed: qty: cannot cast \"many\" to int64"),
        "{stdout}"
    );

    std::fs::write(dir.path().join("filter.yaml"), "source: {type: stdin}\nsink: {type: stdout}\ntransformations:\n  - type: filter\n    config: {condition: $.keep}\n").unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "{\"keep\": false}\nnot json\n").unwrap();
    let output = dataflow(dir.path(), &["test", "filter.yaml", "--input", "in.jsonl"]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("#1 ✗ dropped by step 0 (filter)"),
        "{stdout}"
    );
    assert!(stdout.contains("#2 ✗ not a sample message"), "{stdout}");
    assert!(!output.status.success());
}

#[test]
fn router_example_writes_each_sink() {
    let dir = tempfile::tempdir().unwrap();
    copy_router_example(dir.path());
    let output = dataflow(dir.path(), &["run", "examples/router.yaml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = |name: &str| json_lines(&dir.path().join(".dataflow/out").join(name));
    let skus = |values: Vec<Value>| {
        values
            .iter()
            .map(|v| v["sku"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(skus(out("lines.jsonl")), ["A-1"]);
    assert_eq!(skus(out("big-lines.jsonl")), ["B-7", "C-3"]);
    let errors = out("errors.jsonl");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["error"]["stage"], "transform:1:cast");
    assert_eq!(errors[0]["original_message"]["sku"], "D-4");
    // Every line was acknowledged: the checkpoint is at the end of the input.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join(".dataflow/state/default_router-example.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["file"]["streams"]["examples/orders-with-lines.jsonl"]["line"],
        3
    );
}

const BAD_INPUT: &str = "{\"n\":1}\n{\"n\":2}\nnot json at all\n{\"n\":4}\n{\"n\":5\n{\"n\":6}\n";

#[test]
fn invalid_lines_go_to_the_error_sink_and_the_flow_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), BAD_INPUT).unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: file, config: {path: out.jsonl}}\nerrors:\n  type: file\n  file: {path: errors.jsonl}\n",
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written: Vec<i64> = json_lines(&dir.path().join("out.jsonl"))
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect();
    assert_eq!(written, vec![1, 2, 4, 6]);
    let errors = json_lines(&dir.path().join("errors.jsonl"));
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0]["original_message"]["original_data"],
        "not json at all"
    );
    assert!(
        errors[0]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 3 of in.jsonl is not valid JSON")
    );
    assert_eq!(errors[0]["error"]["stage"], "source");
    assert_eq!(errors[0]["error"]["error_type"], "invalid_data");
    assert_eq!(errors[0]["error"]["metadata"]["line"], 3);
    assert_eq!(errors[1]["original_message"]["original_data"], "{\"n\":5");
    // Everything was acknowledged (afterWrite): a second run finds nothing new.
    let again = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(again.status.success());
    assert_eq!(json_lines(&dir.path().join("out.jsonl")).len(), 4);
}

#[test]
fn without_an_error_sink_the_run_fails_naming_the_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), BAD_INPUT).unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: file, config: {path: out.jsonl, batchSize: 1}}\ncheckpointSyncOnAck: true\n",
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("source failed on message in.jsonl:3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3 of in.jsonl is not valid JSON"),
        "{stderr}"
    );
    // The checkpoint never passes the bad line (there may be none at all if the flow stopped
    // before the first lines were written): it is read again next time.
    if let Ok(state) =
        std::fs::read_to_string(dir.path().join(".dataflow/state/default_dataflow.json"))
    {
        let state: Value = serde_json::from_str(&state).unwrap();
        assert!(
            state["file"]["streams"]["in.jsonl"]["line"]
                .as_u64()
                .unwrap()
                <= 2,
            "{state}"
        );
    }
    let written = json_lines(&dir.path().join("out.jsonl")).len();
    assert!(
        written <= 2,
        "nothing after the bad line is written: {written}"
    );
}

#[test]
fn a_second_run_resumes_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..1000).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(dir.path().join("in.jsonl"), &input).unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: file, config: {path: out.jsonl}}\n",
    )
    .unwrap();
    assert!(dataflow(dir.path(), &["run", "flow.yaml"]).status.success());
    assert_eq!(json_lines(&dir.path().join("out.jsonl")).len(), 1000);
    // Append new lines: only they are copied.
    let more: String = (1000..1010).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(dir.path().join("in.jsonl"), input + &more).unwrap();
    assert!(dataflow(dir.path(), &["run", "flow.yaml"]).status.success());
    let numbers: Vec<i64> = json_lines(&dir.path().join("out.jsonl"))
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (0..1010).collect::<Vec<_>>());
    // checkpointReset starts over.
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: file, config: {path: out.jsonl}}\ncheckpointReset: true\n",
    )
    .unwrap();
    assert!(dataflow(dir.path(), &["run", "flow.yaml"]).status.success());
    assert_eq!(json_lines(&dir.path().join("out.jsonl")).len(), 2020);
}

#[test]
fn secrets_come_from_documents_and_from_a_secrets_dir() {
    // The connection string from a mounted secret, the table from a Secret document: the row
    // arrives in PostgreSQL (127.0.0.1:5432), so both references resolved.
    let schema = format!("secrets_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mounted/pg")).unwrap();
    std::fs::write(
        dir.path().join("mounted/pg/url"),
        "host=127.0.0.1 port=5432 user=root dbname=test",
    )
    .unwrap();
    let flow = |secret: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: tables}}\nstringData:\n  t: {schema}.orders\n---\n\
             source: {{type: generate, config: {{count: 3, template: {{id: \"{{{{seq}}}}\"}}}}}}\n\
             sink:\n  type: postgresql\n  config:\n    connectionStringSecretRef: {{name: {secret}, key: url}}\n\
             \x20   tableSecretRef: {{name: tables, key: t}}\n    autoCreateTable: true\n    batchSize: 10\n"
        )
    };
    std::fs::write(dir.path().join("ok.yaml"), flow("pg")).unwrap();
    let output = dataflow(dir.path(), &["run", "ok.yaml", "--secrets-dir", "mounted"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM {schema}.orders"
        )),
        "0,1,2"
    );

    // A missing secret is named with its reference path, and nothing runs.
    std::fs::write(dir.path().join("missing.yaml"), flow("nope")).unwrap();
    let output = dataflow(
        dir.path(),
        &["run", "missing.yaml", "--secrets-dir", "mounted"],
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("spec.sink.config.connectionStringSecretRef: secret default/nope key \"url\": secret not found"),
        "{stderr}"
    );
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn sigterm_stops_gracefully_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: generate, config: {ratePerSecond: 200}}\nsink: {type: file, config: {path: out.jsonl, batchSize: 10}}\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args(["run", "flow.yaml", "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let status = terminate(&mut child, Duration::from_secs(20));
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let written = json_lines(&dir.path().join("out.jsonl")).len() as u64;
    assert!(written > 0);
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".dataflow/state/default_dataflow.json")).unwrap(),
    )
    .unwrap();
    // Everything written was committed at shutdown (the position is the count generated).
    assert_eq!(
        state["generate"]["streams"]["generate"].as_u64(),
        Some(written),
        "{state}"
    );
}

#[test]
fn follow_waits_for_the_file_and_tails_new_lines() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl, follow: true}}\nsink: {type: file, config: {path: out.jsonl, batchSize: 1}}\n",
    )
    .unwrap();
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    let child = &mut running.0;
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "follow keeps running while the file is missing"
    );
    std::fs::write(dir.path().join("in.jsonl"), "{\"n\":1}\n").unwrap();
    wait_until(Duration::from_secs(10), || {
        json_lines(&dir.path().join("out.jsonl")).len() == 1
    });
    // A line written in two parts is emitted once complete.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("in.jsonl"))
        .unwrap();
    file.write_all(b"{\"n\":").unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(json_lines(&dir.path().join("out.jsonl")).len(), 1);
    file.write_all(b"2}\n{\"n\":3}\n").unwrap();
    wait_until(Duration::from_secs(10), || {
        json_lines(&dir.path().join("out.jsonl")).len() == 3
    });
    assert!(terminate(child, Duration::from_secs(20)).success());
    let numbers: Vec<i64> = json_lines(&dir.path().join("out.jsonl"))
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3]);
}

#[test]
fn json_array_files_resume_by_index() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.json"),
        "[{\"n\":0},{\"n\":1},{\"n\":2}]",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.json, format: json}}\nsink: {type: file, config: {path: out.jsonl}}\n",
    )
    .unwrap();
    assert!(dataflow(dir.path(), &["run", "flow.yaml"]).status.success());
    std::fs::write(
        dir.path().join("in.json"),
        "[{\"n\":0},{\"n\":1},{\"n\":2},{\"n\":3}]",
    )
    .unwrap();
    assert!(dataflow(dir.path(), &["run", "flow.yaml"]).status.success());
    let numbers: Vec<i64> = json_lines(&dir.path().join("out.jsonl"))
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![0, 1, 2, 3]);
    // Not an array: a clear error.
    std::fs::write(dir.path().join("in.json"), "{\"n\":0}").unwrap();
    let output = dataflow(dir.path(), &["run", "flow.yaml"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("format json expects one JSON array"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn stdin_to_pretty_stdout() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: stdin}\nsink: {type: stdout, config: {pretty: true}}\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args(["run", "flow.yaml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"a\":1,\"b\":[true]}\n\n{\"a\":2}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}\n{\n  \"a\": 2\n}\n"
    );
}

#[test]
fn schema_describes_the_manifest() {
    let output = dataflow(&repo(), &["schema"]);
    assert!(output.status.success());
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "DataFlow");
    assert!(
        schema["$defs"]["PostgresSinkConfig"]["properties"]["upsertStrategy"].is_object(),
        "{schema}"
    );
    assert!(schema["$defs"]["KeycloakConfig"]["properties"]["clientIDSecretRef"].is_object());
}

#[test]
fn json_logs_are_structured() {
    let output = Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args([
            "--log-format",
            "json",
            "run",
            repo().join("examples/quickstart.yaml").to_str().unwrap(),
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success());
    let finished = text(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["fields"]["message"] == "flow finished")
        .expect("a JSON log line for the end of the flow");
    assert_eq!(finished["fields"]["read"], 10);
    assert_eq!(finished["level"], "INFO");
}

#[test]
fn message_ack_granularity_writes_one_message_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..20).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    // Batches of 1000 with a one-hour timer: with `follow` (no end of input) nothing would be
    // written before shutdown, unless every message is its own batch.
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl, follow: true}}\n\
         sink: {type: file, config: {path: out.jsonl, batchSize: 1000, batchFlushIntervalSeconds: 3600}}\n\
         ackGranularity: message\n",
    )
    .unwrap();
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    let child = &mut running.0;
    let state_file = dir.path().join(".dataflow/state/default_dataflow.json");
    wait_until(Duration::from_secs(10), || {
        json_lines(&dir.path().join("out.jsonl")).len() == 20
            && std::fs::read_to_string(&state_file).is_ok_and(|s| s.contains("\"line\": 20"))
    });
    assert!(terminate(child, Duration::from_secs(20)).success());
}

fn out_numbers(dir: &Path) -> Vec<i64> {
    json_lines(&dir.join("out.jsonl"))
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .collect()
}

#[test]
fn follow_reads_a_rotated_file_and_a_truncated_one_from_their_start() {
    // S7: after a rename-and-create the old inode was read for ever; after copytruncate the
    // lines written below the old offset were skipped.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl, follow: true}}\nsink: {type: file, config: {path: out.jsonl, batchSize: 1}}\n",
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"n\":1,\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}\n{\"n\":2}\n",
    )
    .unwrap();
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(10), || {
        out_numbers(dir.path()).len() == 2
    });
    // Rotation: the old file renamed (its last line written just before), a new one created.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"n\":3}\n"))
        .unwrap();
    std::fs::rename(&input, dir.path().join("in.jsonl.1")).unwrap();
    std::fs::write(&input, "{\"n\":4,\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}\n").unwrap();
    wait_until(Duration::from_secs(10), || {
        out_numbers(dir.path()).len() == 4
    });
    // Truncation: the file cut to nothing and written again, shorter than what was read.
    std::fs::write(&input, "{\"n\":5}\n").unwrap();
    wait_until(Duration::from_secs(10), || {
        out_numbers(dir.path()).len() == 5
    });
    // Cut and written again to the same length: told apart by its first line.
    std::fs::write(&input, "{\"n\":6}\n").unwrap();
    wait_until(Duration::from_secs(10), || {
        out_numbers(dir.path()).len() == 6
    });
    assert!(terminate(&mut running.0, Duration::from_secs(20)).success());
    assert_eq!(out_numbers(dir.path()), vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_file_replaced_between_runs_is_read_from_its_start() {
    // S7: a longer file under the same name was resumed at the old offset, mid-line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: file, config: {path: out.jsonl}}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "{\"n\":1}\n{\"n\":2}\n").unwrap();
    assert!(
        dataflow(dir.path(), &["run", "flow.yaml", "--quiet"])
            .status
            .success()
    );
    std::fs::write(
        dir.path().join("in.jsonl"),
        "{\"n\":10,\"name\":\"another file\"}\n{\"n\":11}\n{\"n\":12}\n",
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "flow.yaml", "--quiet"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(out_numbers(dir.path()), vec![1, 2, 10, 11, 12]);
    // The same file grown is resumed where it stopped.
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("in.jsonl"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"n\":13}\n"))
        .unwrap();
    assert!(
        dataflow(dir.path(), &["run", "flow.yaml", "--quiet"])
            .status
            .success()
    );
    assert_eq!(out_numbers(dir.path()), vec![1, 2, 10, 11, 12, 13]);
}

#[test]
fn logs_to_a_file_have_no_colour_codes() {
    // A24: the writer lost the terminal check, so redirected logs were full of ANSI codes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: generate, config: {count: 5}}\nsink: {type: null}\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args(["run", "flow.yaml", "--quiet"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("flow finished"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn two_signals_at_once_are_one_graceful_stop() {
    // A25: `timeout` signals the process and its group: two signals, "exiting at once".
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: generate, config: {ratePerSecond: 100}}\nsink: {type: file, config: {path: out.jsonl, batchSize: 1}}\n",
    )
    .unwrap();
    let mut running = spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_until(Duration::from_secs(10), || {
        !json_lines(&dir.path().join("out.jsonl")).is_empty()
    });
    for _ in 0..2 {
        Command::new("kill")
            .args(["-TERM", &running.0.id().to_string()])
            .status()
            .unwrap();
    }
    let status = support::wait_for_exit(&mut running.0, Duration::from_secs(20));
    assert!(status.success(), "a graceful stop, not exit 130: {status}");
}

#[test]
fn run_names_the_flows_when_it_finds_several() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("two.yaml"),
        "kind: DataFlow\napiVersion: dataflow.dataflow.io/v1\nmetadata: {name: first}\nspec: {source: {type: stdin}, sink: {type: stdout}}\n---\nkind: DataFlow\napiVersion: dataflow.dataflow.io/v1\nmetadata: {name: second}\nspec: {source: {type: stdin}, sink: {type: stdout}}\n",
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "two.yaml"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("default/first in two.yaml")
            && stderr.contains("default/second in two.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_line_longer_than_max_line_bytes_goes_to_the_error_sink() {
    // A15: a file without newlines (or /dev/zero) grew the line buffer until the OOM killer.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "source: {type: file, config: {path: in.jsonl, maxLineBytes: 4096}}\nsink: {type: file, config: {path: out.jsonl}}\nerrors: {type: file, config: {path: errors.jsonl}}\n",
    )
    .unwrap();
    let long = format!("{{\"pad\":\"{}\"}}", "x".repeat(9000));
    std::fs::write(
        dir.path().join("in.jsonl"),
        format!("{{\"n\":1}}\n{long}\n{{\"n\":2}}\n{long}"),
    )
    .unwrap();
    let output = dataflow(dir.path(), &["run", "flow.yaml", "--quiet"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(out_numbers(dir.path()), vec![1, 2]);
    let errors = json_lines(&dir.path().join("errors.jsonl"));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2 of in.jsonl is longer than maxLineBytes (4096 bytes)")
    );
    assert_eq!(
        errors[0]["original_message"]["original_data"]
            .as_str()
            .unwrap()
            .len(),
        4096
    );
}
