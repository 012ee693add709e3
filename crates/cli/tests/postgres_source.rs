//! The PostgreSQL polling source end to end against the real server (127.0.0.1:5432).

use std::process::Command;

use serde_json::{Value, json};

mod support;
use support::{POSTGRES as CONNECTION, dataflow as run, json_lines as lines, psql};

struct Schema(String);

impl Schema {
    fn new(tag: &str) -> Schema {
        let name = format!("src_{tag}_{}", std::process::id());
        psql(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ));
        Schema(name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                CONNECTION,
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
            ])
            .output();
    }
}

#[test]
fn column_values_become_faithful_json() {
    let schema = Schema::new("types");
    let s = &schema.0;
    psql(&format!(
        "CREATE TYPE {s}.mood AS ENUM ('ok', 'sad');
         CREATE TABLE {s}.things (id bigint PRIMARY KEY, small smallint, flag boolean, price numeric(8,2), huge numeric, ratio real,
           label varchar(10), doc jsonb, tags text[], nums int[], at timestamptz, local timestamp, day date, blob bytea, ref uuid,
           addr inet, mood {s}.mood, span interval, nothing text);
         INSERT INTO {s}.things VALUES (1, 2, true, 12.50, 123456789012345678901234567890.123456789, 0.5, 'x', '{{\"a\": [1, {{\"b\": null}}]}}',
           ARRAY['a', 'b'], ARRAY[1, NULL, 3], '2024-01-15 12:00:00+03', '2024-01-15 09:00:00', '2024-02-29', 'hi', '6f1c8d4e-2d4b-4c3a-9f0e-0d2a4b6c8e10',
           '10.0.0.1', 'sad', '1 day 2 hours', NULL)"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!("source:\n  type: postgresql\n  config: {{connectionString: \"{CONNECTION}\", table: {s}.things}}\nsink: {{type: file, config: {{path: out.jsonl}}}}\n"),
    )
    .unwrap();
    let output = run(dir.path(), &["run", "flow.yaml", "--once"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = lines(&dir.path().join("out.jsonl"));
    assert_eq!(
        rows,
        vec![json!({
            "id": 1, "small": 2, "flag": true, "price": 12.5, "huge": "123456789012345678901234567890.123456789", "ratio": 0.5,
            "label": "x", "doc": {"a": [1, {"b": null}]}, "tags": ["a", "b"], "nums": [1, null, 3],
            "at": "2024-01-15T09:00:00Z", "local": "2024-01-15T09:00:00Z", "day": "2024-02-29", "blob": "aGk=",
            "ref": "6f1c8d4e-2d4b-4c3a-9f0e-0d2a4b6c8e10", "addr": "10.0.0.1", "mood": "sad", "span": "1 day 02:00:00", "nothing": null
        })]
    );
}

#[test]
fn postgresql_to_postgresql_resumes_from_its_checkpoint() {
    let schema = Schema::new("resume");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.orders (id bigint PRIMARY KEY, name text, created_at timestamp DEFAULT now(), updated_at timestamp);
         CREATE TABLE {s}.copy (id bigint, name text, created_at timestamp, updated_at timestamp);
         INSERT INTO {s}.orders (id, name, created_at) SELECT g, 'v1-' || g, timestamp '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 5) g"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: postgresql\n  postgresql:\n    connectionString: \"{CONNECTION}\"\n    table: {s}.orders\n    readBatchSize: 2\n\
             sink:\n  type: postgresql\n  postgresql:\n    connectionString: \"{CONNECTION}\"\n    table: {s}.copy\n    batchSize: 100\n"
        ),
    )
    .unwrap();
    let copied = || {
        psql(&format!(
            "SELECT string_agg(id || ':' || name, ',' ORDER BY id, name) FROM {s}.copy"
        ))
    };
    assert!(
        run(dir.path(), &["run", "flow.yaml", "--once"])
            .status
            .success()
    );
    assert_eq!(copied(), "1:v1-1,2:v1-2,3:v1-3,4:v1-4,5:v1-5");

    // Stopped: new rows and an update arrive meanwhile.
    psql(&format!(
        "INSERT INTO {s}.orders (id, name, created_at) VALUES (6, 'v1-6', timestamp '2026-01-02'), (7, 'v1-7', timestamp '2026-01-02');
         UPDATE {s}.orders SET name = 'v2-2', updated_at = timestamp '2026-01-03' WHERE id = 2"
    ));
    let output = run(dir.path(), &["run", "flow.yaml", "--once"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        copied(),
        "1:v1-1,2:v1-2,2:v2-2,3:v1-3,4:v1-4,5:v1-5,6:v1-6,7:v1-7",
        "every change, none twice"
    );

    // Nothing new: nothing copied again.
    assert!(
        run(dir.path(), &["run", "flow.yaml", "--once"])
            .status
            .success()
    );
    assert_eq!(psql(&format!("SELECT count(*) FROM {s}.copy")), "8");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".dataflow/state/default_dataflow.json")).unwrap(),
    )
    .unwrap();
    let position = &state["postgresql"]["streams"][format!("{s}.orders")];
    assert_eq!(
        position["lastReadChangeTime"], "2026-01-03T00:00:00.000000000Z",
        "{state}"
    );
    assert_eq!(position["lastReadOrderByValue"], 2);
}

#[test]
fn raw_mode_and_operation_metadata() {
    let schema = Schema::new("raw");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.t (id int PRIMARY KEY, v text, created_at timestamp, updated_at timestamp);
         INSERT INTO {s}.t VALUES (1, 'new', '2026-01-01', '2026-01-01'), (2, 'changed', '2026-01-01', '2026-01-05')"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: postgresql\n  config: {{connectionString: \"{CONNECTION}\", table: {s}.t, rawMode: true}}\n\
             sink: {{type: file, config: {{path: out.jsonl}}}}\n\
             transformations:\n  - type: insertField\n    config: {{fields: {{op: \"${{metadata.operation}}\"}}}}\n"
        ),
    )
    .unwrap();
    assert!(
        run(dir.path(), &["run", "flow.yaml", "--once"])
            .status
            .success()
    );
    let rows = lines(&dir.path().join("out.jsonl"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["value"]["v"], "new");
    assert_eq!(rows[0]["_metadata"], json!({"table": "t", "id": 1}));
    assert_eq!(rows[0]["op"], "insert");
    assert_eq!(rows[1]["op"], "update");
}

#[test]
fn auto_create_table_creates_the_source_table() {
    let schema = Schema::new("auto");
    let s = &schema.0;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!("source:\n  type: postgresql\n  config: {{connectionString: \"{CONNECTION}\", table: {s}.inbox, autoCreateTable: true}}\nsink: {{type: null}}\n"),
    )
    .unwrap();
    let output = run(dir.path(), &["run", "flow.yaml", "--once"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '{s}' AND table_name = 'inbox'"
        )),
        "id,created_at,updated_at"
    );
}

#[test]
fn a_custom_query_with_its_own_columns_is_polled_until_stopped() {
    use std::time::{Duration, Instant};
    let schema = Schema::new("query");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.events (seq bigint PRIMARY KEY, modified timestamptz NOT NULL, body text);
         INSERT INTO {s}.events VALUES (1, '2026-01-01T00:00:00Z', 'a'), (2, '2026-01-01T00:00:00Z', 'skip'), (3, '2026-01-01T00:01:00Z', 'b')"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source:\n  type: postgresql\n  config:\n    connectionString: \"{CONNECTION}\"\n    query: \"SELECT seq, modified, body FROM {s}.events WHERE body <> 'skip'\"\n\
             \x20   changeTrackingColumn: modified\n    orderByColumn: seq\n    pollInterval: 1\n\
             sink: {{type: file, config: {{path: out.jsonl, batchSize: 1}}}}\n"
        ),
    )
    .unwrap();
    let bodies = || {
        lines(&dir.path().join("out.jsonl"))
            .iter()
            .map(|v| v["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let wait_for = |expected: &[&str]| {
        let started = Instant::now();
        while bodies() != expected {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "expected {expected:?}, have {:?}",
                bodies()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // No --once: an empty poll is not the end; new rows keep arriving until the stop signal.
    let mut running = support::spawn(dir.path(), &["run", "flow.yaml", "--quiet"]);
    wait_for(&["a", "b"]);
    psql(&format!(
        "INSERT INTO {s}.events VALUES (4, '2026-01-02T00:00:00Z', 'c'); UPDATE {s}.events SET body = 'a2', modified = '2026-01-03T00:00:00Z' WHERE seq = 1"
    ));
    wait_for(&["a", "b", "c", "a2"]);
    assert!(running.0.try_wait().unwrap().is_none(), "still polling");
    assert!(support::terminate(&mut running.0, Duration::from_secs(20)).success());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".dataflow/state/default_dataflow.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["postgresql"]["streams"]["query"]["lastReadOrderByValue"], 1,
        "{state}"
    );
}

fn once_to_file(dir: &std::path::Path, source_config: &str) -> Vec<Value> {
    std::fs::write(
        dir.join("flow.yaml"),
        format!("source:\n  type: postgresql\n  config: {{connectionString: \"{CONNECTION}\", {source_config}}}\nsink: {{type: file, config: {{path: out.jsonl}}}}\n"),
    )
    .unwrap();
    let output = run(dir, &["run", "flow.yaml", "--once"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    lines(&dir.join("out.jsonl"))
}

#[test]
fn pages_by_change_time_alone_keep_rows_sharing_a_time() {
    // S2b: 150 rows of one statement share their change time; pages of 100 by change time
    // alone read 100 and skipped the other 50 for good.
    let schema = Schema::new("pages");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.events (code int, updated_at timestamptz NOT NULL DEFAULT now() - interval '1 minute');
         INSERT INTO {s}.events (code) SELECT g FROM generate_series(1, 150) g;
         INSERT INTO {s}.events (code, updated_at) SELECT g, now() - interval '30 seconds' FROM generate_series(151, 160) g"
    ));
    let dir = tempfile::tempdir().unwrap();
    let rows = once_to_file(
        dir.path(),
        &format!("table: {s}.events, readBatchSize: 100"),
    );
    let mut codes: Vec<i64> = rows.iter().map(|r| r["code"].as_i64().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, (1..=160).collect::<Vec<_>>());
    // A second run reads nothing again.
    assert_eq!(
        once_to_file(
            dir.path(),
            &format!("table: {s}.events, readBatchSize: 100")
        )
        .len(),
        160
    );
}

#[test]
fn a_row_committed_after_a_later_row_is_read_within_the_safety_lag() {
    // S2a: writer A starts first and commits last; a poll between the two commits moved the
    // position past A's row, which was then never read.
    let schema = Schema::new("lag");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.orders (id serial PRIMARY KEY, v text, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())"
    ));
    let mut slow = std::process::Command::new("psql")
        .args([
            CONNECTION,
            "-X",
            "-q",
            "-c",
            &format!(
                "BEGIN; INSERT INTO {s}.orders (v) VALUES ('slow'); SELECT pg_sleep(1.5); COMMIT;"
            ),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    psql(&format!("INSERT INTO {s}.orders (v) VALUES ('fast')"));
    let dir = tempfile::tempdir().unwrap();
    let rows = once_to_file(dir.path(), &format!("table: {s}.orders, pollSafetyLag: 3s"));
    slow.wait().unwrap();
    let mut values: Vec<&str> = rows.iter().map(|r| r["v"].as_str().unwrap()).collect();
    values.sort();
    assert_eq!(values, vec!["fast", "slow"]);
}

#[test]
fn a_null_order_by_value_does_not_wedge_the_poll() {
    // W3: the NULL went back as the text "null" and every later poll failed with 22P02.
    let schema = Schema::new("nullorder");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.t (id int, updated_at timestamp);
         INSERT INTO {s}.t VALUES (1, '2026-01-01'), (NULL, '2026-01-02'), (3, '2026-01-03')"
    ));
    let dir = tempfile::tempdir().unwrap();
    let rows = once_to_file(dir.path(), &format!("table: {s}.t"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    psql(&format!("INSERT INTO {s}.t VALUES (4, '2026-01-04')"));
    let rows = once_to_file(dir.path(), &format!("table: {s}.t"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[3]["id"], 4);
}

#[test]
fn the_safety_lag_reads_timestamps_in_the_servers_time_zone() {
    // A `timestamp` (without time zone) holds the writers' wall time in the server's zone; in
    // a UTC session the lag compared it with UTC, holding rows back an hour east of UTC.
    let schema = Schema::new("tzlag");
    let s = &schema.0;
    psql(&format!(
        "CREATE TABLE {s}.t (id int PRIMARY KEY, updated_at timestamp NOT NULL)"
    ));
    let berlin = format!("{CONNECTION} options='-c TimeZone=Europe/Berlin'");
    let inserted = std::process::Command::new("psql")
        .args([
            berlin.as_str(),
            "-X",
            "-q",
            "-c",
            &format!("INSERT INTO {s}.t VALUES (1, now()::timestamp - interval '3 seconds')"),
        ])
        .status()
        .unwrap();
    assert!(inserted.success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!("source:\n  type: postgresql\n  config: {{connectionString: \"{berlin}\", table: {s}.t, pollSafetyLag: 1s}}\nsink: {{type: file, config: {{path: out.jsonl}}}}\n"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (status, stderr) = support::run_within(
        dir.path(),
        &["run", "flow.yaml", "--once"],
        std::time::Duration::from_secs(30),
    );
    assert!(status.success(), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(lines(&dir.path().join("out.jsonl")).len(), 1);
}
