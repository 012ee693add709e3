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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_window_flushes_partial_batches_instead_of_deadlocking() {
    // A filter that passes 1 message in 100 into a size-only batch of 10,000: the batch needs
    // far more source messages than the window of 1,000 lets through, while its first message
    // holds the window's oldest position. Sinks flush partial batches while a source waits.
    use dataflow_core::batch::{Batcher, Batching};
    use dataflow_core::{AckToken, Message, Position, PositionTracker, Record};
    let tracker = PositionTracker::with_window_limit(1000);
    let stream = tracker.stream("s");
    let (tx, rx) = tokio::sync::mpsc::channel(100);
    let mut batcher = Batcher::new(
        rx,
        Batching::Sized {
            size: 10_000,
            interval: None,
        },
    )
    .flushing_on(tracker.pressure());
    let sink = tokio::spawn(async move {
        let mut batch = Vec::new();
        let mut written = 0;
        while batcher.next_batch(&mut batch).await {
            written += batch.len();
            AckToken::ack_all(batch.drain(..).map(|message: Message| message.ack));
        }
        written
    });
    for n in 0..5000u64 {
        stream.wait_for_room().await;
        let token = stream.track(Position::Count(n));
        if n % 100 == 0 {
            tx.send(Message::new(Record::json(json!(n)), token))
                .await
                .unwrap();
        } else {
            token.ack(); // filtered out
        }
    }
    drop(tx);
    let written = tokio::time::timeout(Duration::from_secs(20), sink)
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(written, 50);
    assert_eq!(tracker.committed()["s"], json!(4999));
}
