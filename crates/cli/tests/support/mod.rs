//! Helpers shared by the binary's tests: running `dataflow`, reading outputs, talking to the
//! test PostgreSQL, and killing runs at random moments.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub mod scrape;

use rand::Rng;
use serde_json::Value;

/// The test PostgreSQL (scripts/test-servers.sh starts it).
pub const POSTGRES: &str = "host=127.0.0.1 port=5432 user=root dbname=test";

/// Kafka source options that make a test's consumer join its group in about a second (Tansu
/// answers a join after half the session timeout, 23 s with librdkafka's default).
pub const FAST_JOIN: &str = r#"{session.timeout.ms: "6000", heartbeat.interval.ms: "500"}"#;

/// Runs `dataflow ARGS` in `dir` to the end.
pub fn dataflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataflow"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// A `dataflow` running in the background, killed when dropped (also when a test fails).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dataflow ARGS` in `dir` in the background, output discarded.
pub fn spawn(dir: &Path, args: &[&str]) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_dataflow"))
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("DATAFLOW_TEST_STDERR") {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap(),
    )
}

/// Runs `dataflow ARGS` in `dir`, which must exit within `limit` (it is killed otherwise);
/// returns its exit status and standard error.
pub fn run_within(
    dir: &Path,
    args: &[&str],
    limit: Duration,
) -> (std::process::ExitStatus, String) {
    let stderr_path = dir.join("stderr.log");
    let mut running = Running(
        Command::new(env!("CARGO_BIN_EXE_dataflow"))
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
            .spawn()
            .unwrap(),
    );
    let status = wait_for_exit(&mut running.0, limit);
    (status, std::fs::read_to_string(stderr_path).unwrap())
}

/// Standard output or error as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON values of a JSON-lines file's complete lines (none when it does not exist). A last
/// line without its newline is still being written (tests read while a flow runs) and is left
/// out; every complete line must be JSON.
pub fn json_lines(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let complete = match bytes.iter().rposition(|&byte| byte == b'\n') {
        Some(at) => &bytes[..=at],
        None => &[],
    };
    std::str::from_utf8(complete)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: {e}: {line:?}", path.display()))
        })
        .collect()
}

/// Runs SQL through psql on the test PostgreSQL; returns the unaligned output.
pub fn psql(sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            POSTGRES,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{sql}: {}", text(&output.stderr));
    text(&output.stdout).trim().to_string()
}

/// Starts `dataflow run flow.yaml` in `dir` and SIGKILLs it after a random delay, `kills` times.
/// Returns false when a run finished before it could be killed.
pub fn kill_repeatedly(dir: &Path, kills: usize, max_delay_ms: u64) -> bool {
    let mut rng = rand::rng();
    for _ in 0..kills {
        let mut running = spawn(dir, &["run", "flow.yaml", "--quiet"]);
        std::thread::sleep(Duration::from_millis(rng.random_range(20..=max_delay_ms)));
        if running.0.try_wait().unwrap().is_some() {
            return false;
        }
        running.0.kill().unwrap(); // SIGKILL
        running.0.wait().unwrap();
    }
    true
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "no exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to `child` and waits up to `limit` for it to exit.
pub fn terminate(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM {}", child.id());
    wait_for_exit(child, limit)
}

/// Polls `condition` until it holds, failing after `limit`.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
