//! Test doubles shared by the engine's, the transformations' and the connectors' tests (feature
//! `testing`): a numbered source, a collecting sink with injectable faults, and a flow builder
//! that keeps its checkpoints in memory.
//!
//! Layout: [`Numbers`] emits `{"n": i, …}` on stream `numbers` at position `i + 1`;
//! [`Collecting`] records what it is given and can reject, fail or panic on cue;
//! [`TestFlow`] wires them into a [`Flow`] and reports what was written and committed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dataflow_spec::{AckPolicy, TransformErrorPolicy};
use serde_json::{Value, json};

use crate::batch::Batching;
use crate::checkpoint::{CheckpointStore, MemoryCheckpointStore, SavePolicy};
use crate::classify::ErrorType;
use crate::message::{Message, Payload, Record};
use crate::pipeline::{Checkpointing, Flow, FlowError, RunControl, SinkStage};
use crate::sink::{Rejection, Sink, SinkError};
use crate::source::{Source, SourceContext, SourceError};
use crate::stats::StatsSnapshot;
use crate::transform::{PassThrough, Transformer};

/// The payload of message `n`.
pub type MakePayload = Arc<dyn Fn(u64) -> Value + Send + Sync>;

/// Emits `count` records on stream `numbers`, message `n` at position `n + 1`, resuming after
/// the stored position. Odd messages are checked JSON text, as the Kafka source emits them.
pub struct Numbers {
    /// How many records in all.
    pub count: u64,
    /// The payload of each record (default `{"n": n}`).
    pub payload: MakePayload,
    /// Panic when about to emit this number (a source bug).
    pub panic_on: Option<u64>,
}

impl Numbers {
    /// `count` records `{"n": n}`.
    pub fn new(count: u64) -> Self {
        Numbers {
            count,
            payload: Arc::new(|n| json!({ "n": n })),
            panic_on: None,
        }
    }

    /// `count` records made by `payload`.
    pub fn with(count: u64, payload: impl Fn(u64) -> Value + Send + Sync + 'static) -> Self {
        Numbers {
            payload: Arc::new(payload),
            ..Numbers::new(count)
        }
    }
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
            assert_ne!(Some(n), self.panic_on, "the test source panics on {n}");
            let value = (self.payload)(n);
            let mut record = Record::json(value.clone());
            if n % 2 == 1 {
                record.payload = Payload::json_text(value.to_string().into())
                    .expect("serialised JSON is valid JSON text");
            }
            record.metadata.insert("id".into(), json!(n));
            context.emit(record, stream.track(json!(n + 1))).await?;
        }
        Ok(())
    }
}

/// A sink that keeps what it writes, with faults on cue.
#[derive(Clone, Default)]
pub struct Collecting {
    /// The payloads written, in order.
    pub written: Arc<Mutex<Vec<Value>>>,
    /// Reject payloads with `"reject": true` ("violates check constraint").
    pub reject_marked: bool,
    /// Fail this many writes transiently before succeeding.
    pub transient_failures: Arc<Mutex<u32>>,
    /// Fail every write transiently.
    pub always_fail: bool,
    /// Fail every write with a fatal error ("disk full").
    pub fail_fatally: bool,
    /// Reject every message ("refused by the test sink").
    pub reject_all: bool,
    /// Panic when a payload's `n`, or the `n` of an error record's original, is this number
    /// (a sink bug).
    pub panic_on: Option<u64>,
    /// How long each write takes (a sink blocked on a lock or a slow server).
    pub write_takes: Option<Duration>,
}

impl Collecting {
    /// The `n` of every written payload, in order.
    pub fn numbers(&self) -> Vec<u64> {
        self.written
            .lock()
            .expect("collecting sink lock")
            .iter()
            .filter_map(|value| value["n"].as_u64())
            .collect()
    }

    /// The written payloads.
    pub fn values(&self) -> Vec<Value> {
        self.written.lock().expect("collecting sink lock").clone()
    }
}

#[async_trait]
impl Sink for Collecting {
    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        if let Some(duration) = self.write_takes {
            tokio::time::sleep(duration).await;
        }
        if self.always_fail {
            return Err(SinkError::transient(
                ErrorType::ConnectionError,
                "connection refused",
            ));
        }
        if self.fail_fatally {
            return Err(SinkError::fatal(ErrorType::Unknown, "disk full"));
        }
        {
            let mut failures = self.transient_failures.lock().expect("fault lock");
            if *failures > 0 {
                *failures -= 1;
                return Err(SinkError::transient(
                    ErrorType::ConnectionError,
                    "connection reset by peer",
                ));
            }
        }
        let mut rejections = Vec::new();
        let mut written = self.written.lock().expect("collecting sink lock");
        for (index, message) in batch.iter().enumerate() {
            let Payload::Json(value) = &message.record.payload else {
                panic!("the engine hands parsed JSON to sinks that do not take text")
            };
            let n = value["n"]
                .as_u64()
                .or_else(|| value["original_message"]["n"].as_u64());
            if self.panic_on.is_some() && n == self.panic_on {
                drop(written);
                panic!("the test sink panics on {}", n.unwrap_or_default());
            }
            if self.reject_all {
                rejections.push(Rejection::new(index, "refused by the test sink"));
            } else if self.reject_marked && value["reject"] == json!(true) {
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

/// A sink stage around `sink` with batches of `size` (flushed every 20 ms).
pub fn sink_stage(sink: Collecting, size: usize) -> SinkStage {
    SinkStage {
        sink: Box::new(sink),
        type_name: "test".into(),
        batching: Batching::Sized {
            size,
            interval: Some(Duration::from_millis(20)),
        },
    }
}

/// A flow of test doubles, checkpointed into memory (`test/flow`, source type `numbers`).
pub struct TestFlow {
    /// The source.
    pub source: Box<dyn Source>,
    /// The chain.
    pub transformer: Arc<dyn Transformer>,
    /// The main sink.
    pub sink: Collecting,
    /// The error sink, if any, and its policy.
    pub error_sink: Option<(Collecting, AckPolicy)>,
    /// Route sinks.
    pub routes: Vec<Collecting>,
    /// `transformWorkers`.
    pub workers: usize,
    /// `onTransformError`.
    pub on_transform_error: TransformErrorPolicy,
    /// Main sink batch size.
    pub batch: usize,
    /// `channelBufferSize`.
    pub channel_capacity: usize,
    /// Where checkpoints go (shared between runs to simulate a restart).
    pub store: Arc<dyn CheckpointStore>,
}

impl TestFlow {
    /// `source` → no chain → a fresh collecting sink, batches of 10.
    pub fn new(source: impl Source + 'static) -> Self {
        TestFlow {
            source: Box::new(source),
            transformer: Arc::new(PassThrough),
            sink: Collecting::default(),
            error_sink: None,
            routes: Vec::new(),
            workers: 1,
            on_transform_error: TransformErrorPolicy::Stop,
            batch: 10,
            channel_capacity: 16,
            store: Arc::new(MemoryCheckpointStore::default()),
        }
    }

    /// Runs the flow; the outcome, and the committed position of stream `numbers`.
    pub async fn run(self, control: RunControl) -> (Result<StatsSnapshot, FlowError>, u64) {
        let store = Arc::clone(&self.store);
        let flow = Flow {
            identity: crate::telemetry::FlowIdentity {
                namespace: "test".into(),
                name: "flow".into(),
                ..Default::default()
            },
            name: "test/flow".into(),
            source: self.source,
            source_type: "numbers".into(),
            transformer: self.transformer,
            sink: sink_stage(self.sink, self.batch),
            error_sink: self
                .error_sink
                .map(|(sink, policy)| (sink_stage(sink, 4), policy)),
            routes: self
                .routes
                .into_iter()
                .map(|sink| sink_stage(sink, 16))
                .collect(),
            transform_workers: self.workers,
            on_transform_error: self.on_transform_error,
            channel_capacity: self.channel_capacity,
            checkpoints: Some(Checkpointing {
                store: Arc::clone(&store),
                policy: SavePolicy {
                    interval: Duration::from_millis(5),
                    on_every_commit: true,
                    give_up_after: crate::checkpoint::DEFAULT_GIVE_UP_AFTER,
                },
                reset: false,
            }),
        };
        let result = flow.run(control).await;
        let committed = store
            .get("test/flow", "numbers")
            .await
            .ok()
            .flatten()
            .and_then(|value| value["streams"]["numbers"].as_u64())
            .unwrap_or(0);
        (result, committed)
    }
}

/// Restricts the calling thread (and the threads it starts) to one CPU, so the engine takes
/// its single-core path: with one transformation worker the chain then runs inline on the
/// source's task. Use it in a current-thread runtime test.
pub fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t with one bit set is a valid argument for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity"
        );
    }
    assert_eq!(
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        1,
        "one CPU left to this thread"
    );
}
