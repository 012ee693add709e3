//! PostgreSQL that cannot be reached (A5, A10, A11 of the adversarial review): a server that
//! accepts TCP and never answers times out and gives way to the first SIGTERM; a refused
//! connection says why; a malformed connection string stops the run at once.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Running, terminate, wait_until};

/// A port that accepts connections and never says a word.
fn silent_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn start(dir: &Path, flow: &str) -> Running {
    std::fs::write(dir.join("flow.yaml"), flow).unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_dataflow"))
            .args(["run", "flow.yaml", "--quiet"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    )
}

fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

fn sink_flow(connection: &str) -> String {
    format!(
        "source: {{type: generate, config: {{count: 10}}}}\nsink: {{type: postgresql, config: {{connectionString: \"{connection}\", table: t}}}}\n"
    )
}

fn stops_soon_after_sigterm(child: &mut Child) -> Duration {
    let asked = Instant::now();
    let status = terminate(child, Duration::from_secs(10));
    assert!(
        !status.success(),
        "a run stopped before it connected is not a success"
    );
    asked.elapsed()
}

#[test]
fn a_silent_server_times_out_and_the_first_sigterm_stops_the_sink() {
    let (_listener, port) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(
        dir.path(),
        &sink_flow(&format!(
            "postgres://app:pw@127.0.0.1:{port}/test?sslmode=disable&connect_timeout=1"
        )),
    );
    // Each attempt ends after the timeout, saying so, and is retried.
    wait_until(Duration::from_secs(15), || {
        stderr(dir.path()).contains("connect failed; retrying")
    });
    let log = stderr(dir.path());
    assert!(
        log.to_lowercase().contains("timeout") || log.contains("timed out"),
        "{log}"
    );
    let took = stops_soon_after_sigterm(&mut running.0);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let log = stderr(dir.path());
    assert!(
        log.contains("stopped while connecting") || log.contains("stopped while retrying"),
        "{log}"
    );
}

#[test]
fn the_first_sigterm_stops_a_source_waiting_for_a_silent_server() {
    let (_listener, port) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(
        dir.path(),
        &format!(
            "source: {{type: postgresql, config: {{connectionString: \"postgres://app@127.0.0.1:{port}/test?sslmode=disable\", table: t}}}}\nsink: {{type: stdout}}\n"
        ),
    );
    std::thread::sleep(Duration::from_millis(800));
    let asked = Instant::now();
    terminate(&mut running.0, Duration::from_secs(10));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "took {:?}",
        asked.elapsed()
    );
}

#[test]
fn a_refused_connection_names_the_cause() {
    // A port nothing listens on: bind one, then free it.
    let port = silent_server().1;
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(
        dir.path(),
        &sink_flow(&format!(
            "postgres://app@127.0.0.1:{port}/test?sslmode=disable"
        )),
    );
    wait_until(Duration::from_secs(10), || {
        stderr(dir.path()).contains("connect failed; retrying")
    });
    let log = stderr(dir.path());
    assert!(log.contains("Connection refused"), "{log}");
    stops_soon_after_sigterm(&mut running.0);
}

#[test]
fn a_malformed_connection_string_stops_the_run_at_once() {
    for connection in [
        "postgres://app:s3cret@127.0.0.1:notaport/test",
        "host=127.0.0.1 password=s3cret connect_timeout=abc",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut running = start(dir.path(), &sink_flow(connection));
        let status = support::wait_for_exit(&mut running.0, Duration::from_secs(10));
        assert_eq!(status.code(), Some(1));
        let log = stderr(dir.path());
        assert!(log.contains("invalid connection string: "), "{log}");
        assert!(!log.contains("s3cret"), "{log}");
        assert!(!log.contains("retrying"), "{log}");
    }
}
