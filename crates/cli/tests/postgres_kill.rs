//! SIGKILL a file → PostgreSQL flow at random moments, five times, restarting it each time: the
//! final table equals the input exactly, in upsert mode and in plain mode (where every replayed
//! row's key is already in the table). Needs PostgreSQL on 127.0.0.1:5432
//! (scripts/test-servers.sh starts it).

use std::io::Write;
use std::time::{Duration, Instant};

mod support;
use support::{POSTGRES, kill_repeatedly, psql, spawn};

const ROWS: u64 = 200_000;
const KILLS: usize = 5;

#[test]
fn sigkill_file_to_postgresql_upsert_ends_with_the_exact_input() {
    let schema = format!("kill_{}", std::process::id());
    // Later lines update earlier ids, so replays must not leave stale values behind.
    let dir = prepare(
        &schema,
        |id| {
            let key = id % (ROWS / 2);
            format!(
                r#"{{"id":{key},"version":{id},"name":"row-{id}","amount":{}.25}}"#,
                id % 1000
            )
        },
        "    upsertMode: true\n    conflictKey: id\n",
    );

    kill_then_finish(dir.path(), &schema);
    // Exactly the input: one row per key, holding the last line written for it.
    let expected: u64 = ROWS / 2;
    assert_eq!(
        psql(&format!("SELECT count(*) FROM {schema}.items")),
        expected.to_string()
    );
    let mismatches = psql(&format!(
        "SELECT count(*) FROM {schema}.items WHERE version <> id + {half} OR name <> 'row-' || (id + {half}) OR amount <> ((id + {half}) % 1000) + 0.25",
        half = ROWS / 2
    ));
    assert_eq!(mismatches, "0");
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// Kills the flow of `dir` five times at random moments, then runs it to its end.
fn kill_then_finish(dir: &std::path::Path, schema: &str) {
    let mut max_delay_ms = 600;
    while !kill_repeatedly(dir, KILLS, max_delay_ms) {
        // The flow finished before five kills landed: start over with shorter delays.
        assert!(
            max_delay_ms > 40,
            "the flow always finished before {KILLS} kills"
        );
        max_delay_ms /= 2;
        psql(&format!("DROP TABLE IF EXISTS {schema}.items"));
        let _ = std::fs::remove_dir_all(dir.join(".dataflow"));
    }
    let mut running = spawn(dir, &["run", "flow.yaml", "--quiet"]);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the final run did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "final run failed");
}

#[test]
fn sigkill_file_to_postgresql_plain_mode_ends_with_the_exact_input() {
    // W1: in plain mode a replayed row is a key already in the table; without an error sink
    // the flow used to stop on it after every restart.
    let schema = format!("kill_plain_{}", std::process::id());
    let dir = prepare(
        &schema,
        |id| format!(r#"{{"id":{id},"name":"row-{id}"}}"#),
        "",
    );
    kill_then_finish(dir.path(), &schema);
    assert_eq!(
        psql(&format!("SELECT count(*) FROM {schema}.items")),
        ROWS.to_string()
    );
    let mismatches = psql(&format!(
        "SELECT count(*) FROM {schema}.items WHERE name <> 'row-' || id"
    ));
    assert_eq!(mismatches, "0");
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// A fresh schema, `ROWS` input lines made by `line_of`, and a file → PostgreSQL flow into
/// `<schema>.items` (auto-created, batches of 200, checkpoints every 100 ms) with
/// `sink_options` added to the sink's config.
fn prepare(schema: &str, line_of: impl Fn(u64) -> String, sink_options: &str) -> tempfile::TempDir {
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut input =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("in.jsonl")).unwrap());
    for id in 0..ROWS {
        writeln!(input, "{}", line_of(id)).unwrap();
    }
    input.flush().unwrap();
    drop(input);
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source: {{type: file, config: {{path: in.jsonl}}}}\n\
             sink:\n  type: postgresql\n  config:\n    connectionString: \"{POSTGRES}\"\n    table: {schema}.items\n    autoCreateTable: true\n    batchSize: 200\n{sink_options}\
             checkpointSaveInterval: 100ms\n"
        ),
    )
    .unwrap();
    dir
}
