//! D1 of the audit: a write the kernel refused (here EFBIG, as for a full disk) must fail the
//! batch instead of being acknowledged. Its own test binary: the file size limit is set for
//! the whole process.

use dataflow_connectors::file::FileSink;
use dataflow_core::{AckToken, Message, Record, Sink};
use serde_json::json;

fn set_file_size_limit(bytes: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct only changes this process's limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

#[tokio::test]
async fn a_write_past_the_file_size_limit_fails_the_batch() {
    // SAFETY: ignoring SIGXFSZ makes the kernel return EFBIG instead of killing the process.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let mut sink = FileSink::new(path.clone());
    sink.connect().await.unwrap();
    let batch: Vec<Message> = (0..100)
        .map(|n| {
            Message::new(
                Record::json(json!({"n": n, "pad": "x".repeat(100)})),
                AckToken::none(),
            )
        })
        .collect();
    set_file_size_limit(4096);
    let result = sink.write(&batch).await;
    set_file_size_limit(libc::RLIM_INFINITY);
    let on_disk = std::fs::read_to_string(&path).unwrap();
    let whole = on_disk
        .lines()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).is_ok())
        .count();
    let error = result
        .expect_err(&format!(
            "the write was reported as done, but only {whole} of 100 lines are in the file"
        ))
        .to_string();
    assert!(error.contains("too large"), "{error}");
    // The retry reopens the file, cuts the torn line and writes the whole batch again.
    sink.write(&batch).await.unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("no torn line"))
        .collect();
    assert_eq!(lines.len(), whole + 100);
    let expected: Vec<serde_json::Value> = (0..100)
        .map(|n| json!({"n": n, "pad": "x".repeat(100)}))
        .collect();
    assert_eq!(lines[whole..], expected[..]);
}
