//! S1 of the audit: a panic in a source, a transformation worker, the inline chain or a sink
//! fails the flow naming the task and the panic; the flow never reports success after part of
//! its input, and never waits for a source that has nothing more to read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dataflow_core::testing::{Collecting, Numbers, TestFlow};
use dataflow_core::transform::StepTally;
use dataflow_core::{Derived, Record, RunControl, Source, SourceContext, SourceError, Transformer};
use dataflow_spec::AckPolicy;
use serde_json::json;

/// Panics on the record whose `n` is 5.
struct PanicsOnFive;

impl Transformer for PanicsOnFive {
    fn apply(&self, record: Record, out: &mut Vec<Derived>, _tally: &mut StepTally) {
        let value = record.payload.to_json().expect("json");
        assert_ne!(value["n"], json!(5), "the test chain panics on 5");
        out.push(Ok(record));
    }
}

fn failure(result: Result<dataflow_core::StatsSnapshot, dataflow_core::FlowError>) -> String {
    match result {
        Ok(stats) => panic!("the flow reported success after a panic: {stats:?}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sink_fails_the_flow() {
    let mut flow = TestFlow::new(Numbers::new(1000));
    flow.sink.panic_on = Some(42);
    let (result, committed) = flow.run(RunControl::default()).await;
    let error = failure(result);
    assert!(error.contains("the sink (test) panicked"), "{error}");
    assert!(error.contains("the test sink panics on 42"), "{error}");
    assert!(committed <= 42, "committed {committed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_error_sink_fails_the_flow() {
    let mut flow = TestFlow::new(Numbers::with(100, |n| json!({"n": n, "reject": n == 7})));
    flow.sink.reject_marked = true;
    let errors = Collecting {
        panic_on: Some(7),
        ..Default::default()
    };
    flow.error_sink = Some((errors, AckPolicy::AfterWrite));
    let (result, committed) = flow.run(RunControl::default()).await;
    let error = failure(result);
    assert!(error.contains("the error sink (test) panicked"), "{error}");
    assert!(committed <= 7, "committed {committed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_transformation_worker_fails_the_flow() {
    let mut flow = TestFlow::new(Numbers::new(1000));
    flow.transformer = Arc::new(PanicsOnFive);
    flow.workers = 2;
    let (result, committed) = flow.run(RunControl::default()).await;
    let error = failure(result);
    assert!(error.contains("transformation worker"), "{error}");
    assert!(error.contains("the test chain panics on 5"), "{error}");
    assert!(committed <= 5, "committed {committed}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_the_inline_chain_of_a_single_core_fails_the_flow() {
    // The engine runs the chain on the source's task when the process may use one CPU only:
    // restrict this thread (the whole current-thread runtime) to one CPU.
    dataflow_core::testing::pin_to_one_cpu();
    let mut flow = TestFlow::new(Numbers::new(1000));
    flow.transformer = Arc::new(PanicsOnFive);
    let (result, committed) = flow.run(RunControl::default()).await;
    let error = failure(result);
    assert!(error.contains("the source (numbers) panicked"), "{error}");
    assert!(error.contains("the test chain panics on 5"), "{error}");
    assert!(committed <= 5, "committed {committed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_source_fails_the_flow() {
    let mut source = Numbers::new(1000);
    source.panic_on = Some(300);
    let flow = TestFlow::new(source);
    let sink = flow.sink.clone();
    let (result, committed) = flow.run(RunControl::default()).await;
    let error = failure(result);
    assert!(error.contains("the source (numbers) panicked"), "{error}");
    assert!(error.contains("the test source panics on 300"), "{error}");
    assert!(committed <= 300 && sink.numbers().len() <= 300);
}

/// Emits 50 records, then waits for more like a followed file that does not grow.
struct Idle;

#[async_trait]
impl Source for Idle {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let stream = context.stream("numbers");
        for n in 0..50u64 {
            context
                .emit(Record::json(json!({ "n": n })), stream.track(json!(n + 1)))
                .await?;
        }
        context.stopping().cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_panic_stops_a_source_that_waits_for_more() {
    let mut flow = TestFlow::new(Idle);
    flow.sink.panic_on = Some(42);
    let (result, _) =
        tokio::time::timeout(Duration::from_secs(20), flow.run(RunControl::default()))
            .await
            .expect("the flow stops by itself after the panic");
    assert!(failure(result).contains("the sink (test) panicked"));
}
