//! The engine with a sink that rejects some messages: rejected messages reach the error sink
//! with their reason while the flow goes on, positions follow the ack policy, and without an
//! error sink the flow stops naming the message.

use std::sync::{Arc, Mutex};

use dataflow_core::testing::{Collecting, Numbers, TestFlow};
use dataflow_core::{CheckpointStore, FlowError, MemoryCheckpointStore, RunControl};
use dataflow_spec::AckPolicy;
use serde_json::{Value, json};

struct Run {
    result: Result<dataflow_core::StatsSnapshot, FlowError>,
    main: Vec<Value>,
    errors: Vec<Value>,
    committed: Option<Value>,
}

/// `count` records `{"n": i, "reject": i % 10 == 3}`; the main sink rejects the marked ones.
async fn run(count: u64, error_sink: Option<AckPolicy>, transient_failures: u32) -> Run {
    let mut flow = TestFlow::new(Numbers::with(
        count,
        |n| json!({"n": n, "reject": n % 10 == 3}),
    ));
    flow.sink = Collecting {
        reject_marked: true,
        transient_failures: Arc::new(Mutex::new(transient_failures)),
        ..Default::default()
    };
    flow.batch = 7;
    let main = flow.sink.clone();
    let errors = Collecting::default();
    flow.error_sink = error_sink.map(|policy| (errors.clone(), policy));
    let store = Arc::clone(&flow.store);
    let (result, _) = flow.run(RunControl::default()).await;
    Run {
        result,
        main: main.values(),
        errors: errors.values(),
        committed: store.get("test/flow", "numbers").await.unwrap(),
    }
}

#[tokio::test]
async fn rejected_messages_reach_the_error_sink_and_the_flow_goes_on() {
    let run = run(100, Some(AckPolicy::AfterWrite), 0).await;
    let stats = run.result.expect("the flow succeeds");
    assert_eq!(stats.read, 100);
    assert_eq!(stats.written, 90);
    assert_eq!(stats.failed, 10);
    let main_numbers: Vec<u64> = run.main.iter().map(|v| v["n"].as_u64().unwrap()).collect();
    assert_eq!(
        main_numbers,
        (0..100).filter(|n| n % 10 != 3).collect::<Vec<_>>()
    );
    assert_eq!(run.errors.len(), 10);
    for (record, n) in run.errors.iter().zip((0..100).filter(|n| n % 10 == 3)) {
        assert_eq!(record["original_message"]["n"], json!(n));
        assert_eq!(
            record["error"]["message"],
            json!(format!("value {n} violates check constraint"))
        );
        assert_eq!(record["error"]["original_sink"], "test");
        assert_eq!(record["error"]["stage"], "sink");
        assert_eq!(record["error"]["error_type"], "invalid_data");
        assert_eq!(record["error"]["metadata"]["id"], json!(n));
    }
    // afterWrite: every position, including the failed ones, is committed.
    assert_eq!(run.committed, Some(json!({"streams": {"numbers": 100}})));
}

#[tokio::test]
async fn ack_policy_never_holds_the_position_of_the_first_failure() {
    let run = run(100, Some(AckPolicy::Never), 0).await;
    assert!(run.result.is_ok());
    assert_eq!(run.errors.len(), 10);
    // Message 3 (position 4) is never acknowledged: the commit stops just before it.
    assert_eq!(run.committed, Some(json!({"streams": {"numbers": 3}})));
}

#[tokio::test]
async fn without_error_sink_the_flow_stops_naming_the_message() {
    let run = run(100, None, 0).await;
    let error = run.result.expect_err("the flow must fail").to_string();
    assert!(error.contains("sink failed on message id 3"), "{error}");
    assert!(
        error.contains("value 3 violates check constraint"),
        "{error}"
    );
    // Nothing at or after the failing message is committed.
    let committed = run
        .committed
        .as_ref()
        .and_then(|c| c["streams"]["numbers"].as_u64())
        .unwrap_or(0);
    assert!(committed <= 3, "committed {committed}");
}

#[tokio::test]
async fn transient_write_failures_are_retried_without_loss() {
    let run = run(50, Some(AckPolicy::AfterWrite), 3).await;
    let stats = run.result.expect("retries succeed");
    assert_eq!(stats.written, 45);
    let mut numbers: Vec<u64> = run.main.iter().map(|v| v["n"].as_u64().unwrap()).collect();
    numbers.dedup();
    assert_eq!(numbers, (0..50).filter(|n| n % 10 != 3).collect::<Vec<_>>());
    assert_eq!(run.committed, Some(json!({"streams": {"numbers": 50}})));
}

#[tokio::test]
async fn a_restart_resumes_after_the_committed_position() {
    // Simulates a restart: the first run's checkpoint is loaded by the second.
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpointStore::default());
    store
        .put("test/flow", "numbers", json!({"streams": {"numbers": 95}}))
        .await
        .unwrap();
    let mut flow = TestFlow::new(Numbers::new(100));
    flow.store = Arc::clone(&store);
    flow.channel_capacity = 4;
    let sink = flow.sink.clone();
    flow.run(RunControl::default()).await.0.unwrap();
    let numbers = sink.numbers();
    assert_eq!(numbers, vec![95, 96, 97, 98, 99]);
    assert_eq!(
        store.get("test/flow", "numbers").await.unwrap(),
        Some(json!({"streams": {"numbers": 100}}))
    );
}
