//! U1 of the audit: a position held for good (`ackPolicy: never` after a failure) bounds what
//! the source may read ahead, instead of keeping a slot for every later message.

use std::time::Duration;

use dataflow_core::RunControl;
use dataflow_core::testing::{Collecting, Numbers, TestFlow};
use dataflow_spec::AckPolicy;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_position_stops_reading_at_the_window_bound() {
    let mut flow = TestFlow::new(Numbers::with(
        500_000,
        |n| json!({"n": n, "reject": n == 3}),
    ));
    flow.sink.reject_marked = true;
    flow.batch = 100;
    flow.error_sink = Some((Collecting::default(), AckPolicy::Never));
    let sink = flow.sink.clone();
    let control = RunControl {
        shutdown_timeout: Duration::from_secs(10),
        ..RunControl::default()
    };
    let stats = std::sync::Arc::clone(&control.stats);
    let shutdown = control.shutdown.clone();
    let running = tokio::spawn(flow.run(control));
    // Reading stops at the bound (100,000 for this flow) and stays there.
    let mut last = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let read = stats.snapshot().read;
        if read == last && read > 0 {
            break;
        }
        last = read;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read = stats.snapshot().read;
    assert!(
        (100_000..=101_100).contains(&read),
        "read {read} of 500,000 while position 4 is held"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let held = stats.snapshot();
    // Everything after message 3 is held, plus the one the source tracked and waits to emit.
    assert!(
        (read - 3..=read + 1).contains(&held.held),
        "held {} of {read} read",
        held.held
    );
    assert!(held.oldest_held_ms >= 1000, "{held:?}");
    shutdown.cancel();
    let (result, committed) = running.await.unwrap();
    result.expect("a graceful stop while reading waits is a success");
    assert_eq!(committed, 3, "nothing past the held message is committed");
    assert_eq!(sink.numbers().len() as u64, read - 1);
}
