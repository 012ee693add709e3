//! A30: a sink write that runs long says so while it runs (it used to show only as 0 msg/s).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataflow_core::RunControl;
use dataflow_core::testing::{Collecting, Numbers, TestFlow};

/// Log lines written by the flow, kept for the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_running_long_is_reported_while_it_runs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut flow = TestFlow::new(Numbers::new(3));
    flow.sink = Collecting {
        write_takes: Some(Duration::from_secs(65)),
        ..Default::default()
    };
    let sink = flow.sink.clone();
    let (result, _) = flow.run(RunControl::default()).await;
    result.expect("a slow write is not a failure");
    assert_eq!(sink.numbers(), vec![0, 1, 2]);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warnings = text.matches("a write is still running").count();
    assert_eq!(warnings, 2, "one warning at 30 s and one at 60 s:\n{text}");
    assert!(text.contains("sink=test"), "{text}");
}
