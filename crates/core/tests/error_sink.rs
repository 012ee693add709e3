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

#[tokio::test]
async fn after_main_sink_success_holds_the_position_of_a_failure() {
    let run = run(100, Some(AckPolicy::AfterMainSinkSuccess), 0).await;
    assert!(run.result.is_ok());
    assert_eq!(run.errors.len(), 10, "failures still reach the error sink");
    assert_eq!(run.main.len(), 90);
    assert_eq!(run.committed, Some(json!({"streams": {"numbers": 3}})));
}

/// The flow of `run` with an error sink configured by `errors`.
async fn run_with_error_sink(errors: Collecting) -> (Run, Collecting) {
    let mut flow = TestFlow::new(Numbers::with(
        100,
        |n| json!({"n": n, "reject": n % 10 == 3}),
    ));
    flow.sink.reject_marked = true;
    let main = flow.sink.clone();
    flow.error_sink = Some((errors.clone(), AckPolicy::AfterWrite));
    let store = Arc::clone(&flow.store);
    let control = RunControl {
        shutdown_timeout: std::time::Duration::from_secs(5),
        ..RunControl::default()
    };
    let (result, _) = flow.run(control).await;
    let run = Run {
        result,
        main: main.values(),
        errors: errors.values(),
        committed: store.get("test/flow", "numbers").await.unwrap(),
    };
    (run, errors)
}

fn committed_number(committed: &Option<Value>) -> u64 {
    committed
        .as_ref()
        .and_then(|c| c["streams"]["numbers"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_error_sink_that_fails_fatally_stops_the_flow_before_the_failure_is_committed() {
    let (run, _) = run_with_error_sink(Collecting {
        fail_fatally: true,
        ..Default::default()
    })
    .await;
    let error = run.result.expect_err("the flow stops").to_string();
    assert!(error.contains("disk full"), "{error}");
    assert!(committed_number(&run.committed) <= 3, "{:?}", run.committed);
}

#[tokio::test]
async fn an_error_sink_failing_transiently_is_retried_without_loss() {
    let (run, _) = run_with_error_sink(Collecting {
        transient_failures: Arc::new(Mutex::new(2)),
        ..Default::default()
    })
    .await;
    run.result.expect("the retries succeed");
    assert_eq!(run.errors.len(), 10);
    assert_eq!(committed_number(&run.committed), 100);
}

#[tokio::test]
async fn an_error_sink_that_rejects_an_error_record_stops_the_flow() {
    let (run, _) = run_with_error_sink(Collecting {
        reject_all: true,
        ..Default::default()
    })
    .await;
    let error = run.result.expect_err("the flow stops").to_string();
    assert!(
        error.contains("error sink rejected the error record of id 3"),
        "{error}"
    );
    assert!(committed_number(&run.committed) <= 3, "{:?}", run.committed);
}

/// Sends odd numbers to route 0.
struct OddToRoute;

impl dataflow_core::Transformer for OddToRoute {
    fn apply(
        &self,
        mut record: dataflow_core::Record,
        out: &mut Vec<dataflow_core::Derived>,
        _tally: &mut dataflow_core::transform::StepTally,
    ) {
        let n = record
            .payload
            .to_json()
            .and_then(|v| v["n"].as_u64())
            .unwrap_or(0);
        if n % 2 == 1 {
            record.route = Some(0);
        }
        out.push(Ok(record));
    }
}

#[tokio::test]
async fn a_route_sinks_rejection_reaches_the_error_sink() {
    let mut flow = TestFlow::new(Numbers::with(
        100,
        |n| json!({"n": n, "reject": n % 10 == 3}),
    ));
    flow.transformer = Arc::new(OddToRoute);
    let route = Collecting {
        reject_marked: true,
        ..Default::default()
    };
    flow.routes = vec![route.clone()];
    let main = flow.sink.clone();
    let errors = Collecting::default();
    flow.error_sink = Some((errors.clone(), AckPolicy::AfterWrite));
    let (result, committed) = flow.run(RunControl::default()).await;
    result.expect("the flow goes on");
    assert_eq!(main.numbers(), (0..100).step_by(2).collect::<Vec<_>>());
    assert_eq!(route.numbers().len(), 40);
    let failed: Vec<u64> = errors
        .values()
        .iter()
        .map(|record| {
            assert_eq!(record["error"]["stage"], "sink");
            record["original_message"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(failed, (0..100).filter(|n| n % 10 == 3).collect::<Vec<_>>());
    assert_eq!(committed, 100);
}
