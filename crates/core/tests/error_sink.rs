//! The engine with a sink that rejects some messages: rejected messages reach the error sink
//! with their reason while the flow goes on, positions follow the ack policy, and without an
//! error sink the flow stops naming the message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dataflow_core::batch::Batching;
use dataflow_core::checkpoint::SavePolicy;
use dataflow_core::pipeline::Checkpointing;
use dataflow_core::{
    CheckpointStore, Flow, FlowError, MemoryCheckpointStore, Message, PassThrough, Payload, Record,
    Rejection, RunControl, Sink, SinkError, SinkStage, Source, SourceContext, SourceError,
};
use dataflow_spec::AckPolicy;
use serde_json::{Value, json};

/// Emits `count` records `{"n": i, "reject": i % 10 == 3}` with positions 1..=count (odd ones
/// as unparsed JSON text).
struct Numbers {
    count: u64,
}

#[async_trait]
impl Source for Numbers {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let stream = context.stream("numbers");
        let first = context
            .stored_position("numbers")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for n in first..self.count {
            let value = json!({"n": n, "reject": n % 10 == 3});
            let mut record = Record::json(value.clone());
            if n % 2 == 1 {
                // Checked JSON text, as the Kafka source emits it: the engine parses it for
                // sinks that need values (this one panics on anything but Payload::Json).
                record.payload = Payload::json_text(value.to_string().into()).unwrap();
            }
            record.metadata.insert("id".into(), json!(n));
            context.emit(record, stream.track(json!(n + 1))).await?;
        }
        Ok(())
    }
}

/// Collects written payloads; rejects those with `"reject": true`, or fails transiently on
/// the first `transient_failures` writes.
#[derive(Clone, Default)]
struct Collecting {
    written: Arc<Mutex<Vec<Value>>>,
    reject_marked: bool,
    transient_failures: Arc<Mutex<u32>>,
}

#[async_trait]
impl Sink for Collecting {
    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        {
            let mut failures = self.transient_failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(SinkError::Transient("connection reset by peer".into()));
            }
        }
        let mut rejections = Vec::new();
        let mut written = self.written.lock().unwrap();
        for (index, message) in batch.iter().enumerate() {
            let Payload::Json(value) = &message.record.payload else {
                panic!("json expected")
            };
            if self.reject_marked && value["reject"] == json!(true) {
                rejections.push(Rejection::new(
                    index,
                    format!("value {} violates check constraint", value["n"]),
                ));
            } else {
                written.push(value.clone());
            }
        }
        Ok(rejections)
    }
}

fn stage(sink: Collecting, batch: usize) -> SinkStage {
    SinkStage {
        sink: Box::new(sink),
        type_name: "test".into(),
        batching: Batching::Sized {
            size: batch,
            interval: Some(Duration::from_millis(50)),
        },
    }
}

struct Run {
    result: Result<dataflow_core::StatsSnapshot, FlowError>,
    main: Vec<Value>,
    errors: Vec<Value>,
    committed: Option<Value>,
}

async fn run(count: u64, error_sink: Option<AckPolicy>, transient_failures: u32) -> Run {
    let main = Collecting {
        reject_marked: true,
        transient_failures: Arc::new(Mutex::new(transient_failures)),
        ..Default::default()
    };
    let errors = Collecting::default();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpointStore::default());
    let flow = Flow {
        name: "test/flow".into(),
        source: Box::new(Numbers { count }),
        source_type: "numbers".into(),
        transformer: Arc::new(PassThrough),
        sink: stage(main.clone(), 7),
        error_sink: error_sink.map(|policy| (stage(errors.clone(), 4), policy)),
        routes: Vec::new(),
        transform_workers: 1,
        channel_capacity: 16,
        checkpoints: Some(Checkpointing {
            store: Arc::clone(&store),
            policy: SavePolicy {
                interval: Duration::from_millis(10),
                on_every_commit: false,
            },
            reset: false,
        }),
    };
    let result = flow.run(RunControl::default()).await;
    let committed = store.get("test/flow", "numbers").await.unwrap();
    Run {
        result,
        main: main.written.lock().unwrap().clone(),
        errors: errors.written.lock().unwrap().clone(),
        committed,
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
    let sink = Collecting::default();
    let flow = Flow {
        name: "test/flow".into(),
        source: Box::new(Numbers { count: 100 }),
        source_type: "numbers".into(),
        transformer: Arc::new(PassThrough),
        sink: stage(sink.clone(), 10),
        error_sink: None,
        routes: Vec::new(),
        transform_workers: 1,
        channel_capacity: 4,
        checkpoints: Some(Checkpointing {
            store: Arc::clone(&store),
            policy: SavePolicy {
                interval: Duration::from_secs(60),
                on_every_commit: false,
            },
            reset: false,
        }),
    };
    flow.run(RunControl::default()).await.unwrap();
    let numbers: Vec<u64> = sink
        .written
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![95, 96, 97, 98, 99]);
    assert_eq!(
        store.get("test/flow", "numbers").await.unwrap(),
        Some(json!({"streams": {"numbers": 100}}))
    );
}
