//! `--metrics-address`: a known flow (a router, an error sink, a failing transformation, a
//! rejected row, a line that is not JSON) scraped through `/metrics` with a Prometheus text
//! parser: every count equals what the run did, with the original's names and labels; and
//! `/readyz` and `/livez` through their transitions.

use std::path::Path;
use std::time::Duration;

mod support;
use support::scrape::{Samples, free_port, get};
use support::{POSTGRES, psql, spawn, terminate, wait_until};

const INPUT: &str = "{\"id\":1,\"n\":1,\"kind\":\"order\"}\n\
                     {\"id\":2,\"n\":200,\"kind\":\"audit\"}\n\
                     {\"id\":3,\"n\":-1,\"kind\":\"order\"}\n\
                     {\"id\":4,\"n\":18446744073709551616,\"kind\":\"order\"}\n\
                     {\"id\":5,\"n\":5,\"kind\":\"order\"}\n\
                     not json\n";

fn write_flow(dir: &Path, schema: &str) {
    std::fs::write(dir.join("in.jsonl"), INPUT).unwrap();
    std::fs::write(
        dir.join("flow.yaml"),
        format!(
            "apiVersion: dataflow.dataflow.io/v1\nkind: DataFlow\nmetadata: {{name: orders, namespace: shop}}\nspec:\n\
             \x20 source: {{type: file, config: {{path: in.jsonl, follow: true}}}}\n\
             \x20 transformations:\n\
             \x20   - type: router\n\
             \x20     config:\n\
             \x20       routes:\n\
             \x20         - condition: \"$.n > 100\"\n\
             \x20           sink: {{type: file, config: {{path: audit.jsonl}}}}\n\
             \x20 sink:\n\
             \x20   type: postgresql\n\
             \x20   config: {{connectionString: \"{POSTGRES}\", table: {schema}.items, batchSize: 10}}\n\
             \x20 errors: {{type: file, config: {{path: errors.jsonl}}}}\n\
             \x20 checkpointSaveInterval: 100ms\n"
        ),
    )
    .unwrap();
}

#[test]
fn the_counts_of_a_known_run_are_scraped_with_the_original_names() {
    let schema = format!("metrics_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.items (id bigint primary key, n bigint CHECK (n >= 0), kind text)"
    ));
    let dir = tempfile::tempdir().unwrap();
    write_flow(dir.path(), &schema);
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut running = spawn(
        dir.path(),
        &["run", "flow.yaml", "--metrics-address", &address],
    );
    let errors = dir.path().join("errors.jsonl");
    wait_until(Duration::from_secs(60), || {
        std::fs::read_to_string(&errors).is_ok_and(|text| text.lines().count() == 3)
            && get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    // The last batch is settled before its error records are written; the counters follow.
    wait_until(Duration::from_secs(10), || {
        Samples::scrape(port).value(
            "dataflow_messages_sent_total",
            &[("sink_type", "postgresql")],
        ) == 2.0
    });
    let samples = Samples::scrape(port);
    fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut labels = vec![("namespace", "shop"), ("name", "orders")];
        labels.extend_from_slice(extra);
        labels
    }
    assert_eq!(
        samples.value(
            "dataflow_messages_received_total",
            &with(&[("source_type", "file")])
        ),
        6.0
    );
    assert_eq!(
        samples.value(
            "dataflow_connector_messages_read_total",
            &with(&[
                ("connector_type", "file"),
                ("connector_name", "in.jsonl"),
                ("role", "source")
            ])
        ),
        6.0
    );
    for (sink_type, route, count) in [
        ("postgresql", "default", 2.0),
        ("file", "$.n > 100", 1.0),
        ("file", "error", 3.0),
    ] {
        assert_eq!(
            samples.value(
                "dataflow_messages_sent_total",
                &with(&[("sink_type", sink_type), ("route", route)])
            ),
            count,
            "{sink_type} {route}"
        );
    }
    let table = format!("{schema}.items");
    let sink_labels = with(&[
        ("connector_type", "postgresql"),
        ("connector_name", table.as_str()),
        ("role", "sink"),
    ]);
    assert_eq!(
        samples.value("dataflow_connector_messages_written_total", &sink_labels),
        2.0
    );
    assert_eq!(
        samples.value("dataflow_connector_connection_status", &sink_labels),
        1.0
    );
    let mut rejected = sink_labels.clone();
    rejected.extend([
        ("operation", "write"),
        ("error_type", "constraint_violation"),
    ]);
    assert_eq!(
        samples.value("dataflow_connector_errors_total", &rejected),
        1.0
    );
    assert_eq!(
        samples.value(
            "dataflow_connector_errors_total",
            &with(&[
                ("role", "source"),
                ("operation", "read"),
                ("error_type", "invalid_data")
            ])
        ),
        1.0
    );
    assert_eq!(
        samples.value(
            "dataflow_transformer_errors_total",
            &with(&[
                ("transformer_type", "router"),
                ("transformer_index", "0"),
                ("error_type", "invalid_data")
            ])
        ),
        1.0
    );
    let router = with(&[("transformer_type", "router"), ("transformer_index", "0")]);
    // Lines 1 to 5 reached the router; line 4 failed there before it could read it.
    for (family, count) in [
        ("dataflow_transformer_messages_in_total", 5.0),
        ("dataflow_transformer_executions_total", 4.0),
        ("dataflow_transformer_messages_out_total", 4.0),
    ] {
        assert_eq!(samples.value(family, &router), count, "{family}");
    }
    wait_until(Duration::from_secs(20), || {
        Samples::scrape(port).find("dataflow_committed_streams", &with(&[])) == Some(1.0)
    });
    let position = Samples::scrape(port).value(
        "dataflow_committed_position",
        &with(&[("stream", "in.jsonl")]),
    );
    assert!(
        position > 0.0 && position <= INPUT.len() as f64,
        "{position}"
    );
    let saved = Samples::scrape(port).value(
        "dataflow_checkpoint_last_save_timestamp_seconds",
        &with(&[]),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - 120.0..=now + 1.0).contains(&saved), "{saved} {now}");
    // Written 3 (2 rows and 1 route record), failed 3: updated once a second.
    wait_until(Duration::from_secs(5), || {
        Samples::scrape(port).find("dataflow_task_success_rate", &with(&[])) == Some(0.5)
    });
    let samples = Samples::scrape(port);
    for queue in ["default", "error", "$.n > 100"] {
        assert_eq!(
            samples.value("dataflow_task_queue_size", &with(&[("queue_type", queue)])),
            0.0,
            "{queue}: drained"
        );
    }
    assert!(
        samples
            .find("dataflow_task_throughput_messages_per_second", &with(&[]))
            .is_some()
    );
    // One sample per batch at least (one written message in eight is sampled).
    let latencies = samples.value("dataflow_task_end_to_end_latency_seconds_count", &with(&[]));
    assert!((1.0..=3.0).contains(&latencies), "{latencies}");
    for stage in ["sink_write", "error_sink_write"] {
        let writes = samples.value(
            "dataflow_task_stage_duration_seconds_count",
            &with(&[("stage", stage)]),
        );
        assert!(writes >= 1.0, "{stage}: {writes}");
    }
    assert_eq!(
        samples.value("dataflow_status", &with(&[("phase", "Running")])),
        1.0
    );
    assert_eq!(
        samples.value("dataflow_status", &with(&[("phase", "Error")])),
        0.0
    );
    // No series without the flow's labels, and no role in `connector_name`.
    for labels in samples.labels_of("dataflow_connector_messages_written_total") {
        assert_ne!(labels["connector_name"], "sink", "{labels:?}");
    }

    // `dataflow top` reads the same endpoint.
    let top = support::dataflow(
        dir.path(),
        &["top", &address, "--once", "--interval", "0.2"],
    );
    let view = String::from_utf8_lossy(&top.stdout).into_owned();
    assert!(top.status.success(), "{view}");
    assert!(view.contains("shop/orders · Running"), "{view}");
    for row in [
        "source   file in.jsonl",
        "chain    0 router",
        "errors   file errors.jsonl",
    ] {
        assert!(
            view.lines().any(|line| line.starts_with(row)),
            "{row}:\n{view}"
        );
    }

    assert_eq!(get(port, "/healthz").unwrap().0, 200);
    assert_eq!(
        get(port, "/livez").unwrap().0,
        200,
        "a flow with no input is not stale"
    );
    terminate(&mut running.0, Duration::from_secs(30));
    assert!(
        get(port, "/readyz").is_none(),
        "the endpoints end with the run"
    );
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// A flow from `in.jsonl` (followed) to `sink_config` (a PostgreSQL sink's config), with the
/// endpoints on `port` and a progress timeout of one second.
fn spawn_probed(dir: &Path, sink_config: &str, port: u16) -> support::Running {
    std::fs::write(dir.join("in.jsonl"), "").unwrap();
    std::fs::write(
        dir.join("flow.yaml"),
        format!(
            "source: {{type: file, config: {{path: in.jsonl, follow: true}}}}\n\
             sink: {{type: postgresql, config: {sink_config}}}\n"
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{port}");
    spawn(
        dir,
        &[
            "run",
            "flow.yaml",
            "--metrics-address",
            &address,
            "--progress-timeout",
            "1",
        ],
    )
}

fn status(port: u16, path: &str) -> Option<u16> {
    get(port, path).map(|(status, _)| status)
}

#[test]
fn readyz_waits_for_the_sinks_to_connect() {
    // A server that accepts and never answers: the connect runs until its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "{{connectionString: \"host=127.0.0.1 port={silent_port} user=root dbname=test connect_timeout=30\", table: t}}"
    );
    let mut running = spawn_probed(dir.path(), &config, port);
    wait_until(Duration::from_secs(30), || {
        status(port, "/healthz") == Some(200)
    });
    assert_eq!(status(port, "/readyz"), Some(503), "connecting");
    assert_eq!(
        status(port, "/livez"),
        Some(200),
        "nothing is held while connecting"
    );
    let scrape = Samples::scrape(port);
    assert_eq!(
        scrape.value("dataflow_status", &[("phase", "Pending")]),
        1.0
    );
    terminate(&mut running.0, Duration::from_secs(30));
    drop(silent);
}

#[test]
fn livez_fails_while_a_sink_is_stalled_and_recovers() {
    let schema = format!("stall_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.items (id bigint primary key)"
    ));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!("{{connectionString: \"{POSTGRES}\", table: {schema}.items}}");
    let mut running = spawn_probed(dir.path(), &config, port);
    wait_until(Duration::from_secs(30), || {
        status(port, "/readyz") == Some(200)
    });
    assert_eq!(status(port, "/livez"), Some(200), "idle with nothing held");

    // Another session holds the table for a while: the sink's write waits on the lock.
    let mut lock = std::process::Command::new("psql")
        .args([
            POSTGRES,
            "-X",
            "-q",
            "-c",
            &format!(
                "BEGIN; LOCK TABLE {schema}.items IN ACCESS EXCLUSIVE MODE; \
                 SELECT pg_sleep(6); COMMIT;"
            ),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), || {
        psql(&format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted \
             AND c.relnamespace = '{schema}'::regnamespace"
        )) == "1"
    });
    std::fs::write(dir.path().join("in.jsonl"), "{\"id\":1}\n").unwrap();
    wait_until(Duration::from_secs(5), || {
        status(port, "/livez") == Some(503)
    });
    let (_, body) = get(port, "/livez").unwrap();
    assert!(body.starts_with("stale: no pipeline progress"), "{body}");
    assert_eq!(status(port, "/readyz"), Some(200), "still reading");

    assert!(lock.wait().unwrap().success());
    wait_until(Duration::from_secs(10), || {
        status(port, "/livez") == Some(200)
    });
    assert_eq!(
        psql(&format!("SELECT count(*) FROM {schema}.items")),
        "1",
        "the row waited and was written"
    );
    terminate(&mut running.0, Duration::from_secs(30));
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn a_source_whose_polls_fail_is_unhealthy_and_counts_each_failure() {
    // A port nothing listens on: every poll's connect is refused, and retried.
    let refused = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "source: {{type: postgresql, config: {{connectionString: \"postgres://app@127.0.0.1:{refused}/test?sslmode=disable\", table: t, pollInterval: 1}}}}\n\
             sink: {{type: stdout}}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut running = spawn(
        dir.path(),
        &["run", "flow.yaml", "--metrics-address", &address],
    );
    let source = [("role", "source"), ("connector_type", "postgresql")];
    wait_until(Duration::from_secs(30), || {
        get(port, "/metrics").is_some()
            && Samples::scrape(port).find("dataflow_connector_source_poll_healthy", &source)
                == Some(0.0)
    });
    let mut failed = source.to_vec();
    failed.extend([("operation", "read"), ("error_type", "connection_error")]);
    wait_until(Duration::from_secs(30), || {
        Samples::scrape(port)
            .find("dataflow_connector_errors_total", &failed)
            .is_some_and(|count| count >= 2.0)
    });
    terminate(&mut running.0, Duration::from_secs(30));
}
