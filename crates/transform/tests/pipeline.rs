//! The chain inside the engine: route sinks share the ack barrier, parallel workers keep input
//! order, transformation failures reach the error sink (or are skipped without one).

use std::sync::Arc;
use std::time::Duration;

use dataflow_core::testing::{Collecting, Numbers, TestFlow};
use dataflow_core::{RunControl, Transformer};
use dataflow_spec::{AckPolicy, TransformErrorPolicy, load_text_with};
use dataflow_transform::Chain;
use serde_json::json;

/// Records `{"n", "parts": [{part: a}, {part: b}], "amount"}`; every seventh amount is not a number.
fn numbers(count: u64) -> Numbers {
    Numbers::with(
        count,
        |n| json!({"n": n, "parts": [{"part": "a"}, {"part": "b"}], "amount": if n % 7 == 3 { json!("oops") } else { json!(n.to_string()) }}),
    )
}

fn chain(steps: &str) -> Arc<dyn Transformer> {
    let text =
        format!("source: {{type: stdin}}\nsink: {{type: stdout}}\ntransformations:\n{steps}");
    let loaded = load_text_with(&text, &dataflow_transform::check);
    assert!(
        !loaded.flows[0].has_errors(),
        "{:?}",
        loaded.flows[0].problems
    );
    Arc::new(Chain::compile(&loaded.flows[0].flow.as_ref().unwrap().spec.transformations).unwrap())
}

struct Setup {
    count: u64,
    steps: &'static str,
    workers: usize,
    routes: Vec<Collecting>,
    error_sink: Option<Collecting>,
}

struct Outcome {
    result: Result<dataflow_core::StatsSnapshot, dataflow_core::FlowError>,
    committed: u64,
}

async fn run(setup: Setup, main: &Collecting, control: RunControl) -> Outcome {
    let mut flow = TestFlow::new(numbers(setup.count));
    flow.transformer = chain(setup.steps);
    flow.sink = main.clone();
    flow.batch = 16;
    flow.error_sink = setup.error_sink.map(|sink| (sink, AckPolicy::AfterWrite));
    flow.routes = setup.routes;
    flow.workers = setup.workers;
    flow.channel_capacity = 32;
    let (result, committed) = flow.run(control).await;
    Outcome { result, committed }
}

const SPLIT_AND_ROUTE: &str = "  - type: flatten\n    config: {field: parts}\n  - type: router\n    config:\n      routes:\n        - condition: \"$.part == 'b'\"\n          sink: {type: stdout}\n";

#[tokio::test]
async fn routed_copies_and_main_copies_both_land() {
    let main = Collecting::default();
    let route = Collecting::default();
    let outcome = run(
        Setup {
            count: 200,
            steps: SPLIT_AND_ROUTE,
            workers: 1,
            routes: vec![route.clone()],
            error_sink: None,
        },
        &main,
        RunControl::default(),
    )
    .await;
    outcome.result.unwrap();
    assert_eq!(outcome.committed, 200);
    let main = main.written.lock().unwrap();
    let routed = route.written.lock().unwrap();
    assert_eq!(main.len(), 200);
    assert_eq!(routed.len(), 200);
    assert!(main.iter().all(|v| v["part"] == "a") && routed.iter().all(|v| v["part"] == "b"));
}

#[tokio::test]
async fn a_position_waits_for_its_routed_copy() {
    // The route sink never succeeds: main copies are written, but no source position may be
    // committed, because each input's routed copy is not written.
    let main = Collecting::default();
    let route = Collecting {
        always_fail: true,
        ..Default::default()
    };
    let control = RunControl {
        shutdown_timeout: Duration::from_millis(300),
        ..RunControl::default()
    };
    let shutdown = control.shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        shutdown.cancel();
    });
    let outcome = run(
        Setup {
            count: 50,
            steps: SPLIT_AND_ROUTE,
            workers: 1,
            routes: vec![route],
            error_sink: None,
        },
        &main,
        control,
    )
    .await;
    assert!(
        outcome.result.is_err(),
        "the stop deadline passes while the route sink retries"
    );
    assert!(
        !main.written.lock().unwrap().is_empty(),
        "main copies were written"
    );
    assert_eq!(
        outcome.committed, 0,
        "nothing committed past an unwritten routed copy"
    );
}

#[tokio::test]
async fn parallel_workers_keep_input_order() {
    let steps = "  - type: filter\n    config: {condition: \"$.n != 5\"}\n  - type: flatten\n    config: {field: parts}\n  - type: snakeCase\n    config: {deep: true}\n  - type: insertField\n    config: {fields: {seenBy: chain}}\n";
    let mut sequences = Vec::new();
    for workers in [1, 4] {
        let main = Collecting::default();
        let outcome = run(
            Setup {
                count: 3000,
                steps,
                workers,
                routes: vec![],
                error_sink: None,
            },
            &main,
            RunControl::default(),
        )
        .await;
        let stats = outcome.result.unwrap();
        assert_eq!(stats.filtered, 1);
        assert_eq!(outcome.committed, 3000);
        let written = main.written.lock().unwrap().clone();
        assert_eq!(written.len(), 2 * 2999);
        sequences.push(written);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "4 workers produce exactly the order of 1"
    );
    let numbers: Vec<u64> = sequences[1]
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] <= w[1]));
}

const CAST: &str = "  - type: select\n    config: {fields: [n, amount]}\n  - type: cast\n    config: {spec: {amount: int64}}\n";

#[tokio::test]
async fn transform_failures_go_to_the_error_sink_with_step_and_reason() {
    for workers in [1, 3] {
        let main = Collecting::default();
        let errors = Collecting::default();
        let outcome = run(
            Setup {
                count: 100,
                steps: CAST,
                workers,
                routes: vec![],
                error_sink: Some(errors.clone()),
            },
            &main,
            RunControl::default(),
        )
        .await;
        let stats = outcome.result.unwrap();
        let failed: Vec<u64> = (0..100).filter(|n| n % 7 == 3).collect();
        assert_eq!(stats.failed, failed.len() as u64);
        assert_eq!(main.written.lock().unwrap().len(), 100 - failed.len());
        let errors = errors.written.lock().unwrap();
        assert_eq!(errors.len(), failed.len());
        for (record, n) in errors.iter().zip(&failed) {
            assert_eq!(record["error"]["stage"], "transform:1:cast");
            assert_eq!(
                record["error"]["message"],
                "amount: cannot cast \"oops\" to int64"
            );
            assert_eq!(
                record["original_message"],
                json!({"n": n, "amount": "oops"})
            );
        }
        assert_eq!(
            outcome.committed, 100,
            "afterWrite acknowledges the failed ones too"
        );
    }
}

#[tokio::test]
async fn without_error_sink_a_transform_failure_stops_the_flow_by_default() {
    // S3: the failure was acknowledged and skipped with a WARN line, against the contract.
    for workers in [1, 3] {
        let mut flow = TestFlow::new(numbers(100));
        flow.transformer = chain(CAST);
        flow.workers = workers;
        let main = flow.sink.clone();
        let (result, committed) = flow.run(RunControl::default()).await;
        let error = result.expect_err("the flow stops").to_string();
        assert!(
            error.contains("transform:1:cast failed on message id 3"),
            "{error}"
        );
        assert!(error.contains("cannot cast \"oops\" to int64"), "{error}");
        assert!(committed <= 3, "committed {committed}");
        assert!(main.numbers().iter().all(|&n| n < 3));
    }
}

#[tokio::test]
async fn on_transform_error_skip_counts_and_skips_the_failures() {
    let mut flow = TestFlow::new(numbers(100));
    flow.transformer = chain(CAST);
    flow.on_transform_error = TransformErrorPolicy::Skip;
    let main = flow.sink.clone();
    let (result, committed) = flow.run(RunControl::default()).await;
    let stats = result.expect("the flow goes on");
    let failed = (0..100u64).filter(|n| n % 7 == 3).count() as u64;
    assert_eq!((stats.failed, stats.skipped), (failed, failed));
    assert_eq!(main.numbers().len() as u64, 100 - failed);
    assert_eq!(committed, 100);
}

#[tokio::test(flavor = "current_thread")]
async fn the_inline_chain_of_a_single_core_keeps_order_and_failures() {
    // On one CPU with one worker the chain runs on the source's task (no stage of its own);
    // on a machine with more cores no other test reaches that path.
    dataflow_core::testing::pin_to_one_cpu();
    let steps = "  - type: filter\n    config: {condition: \"$.n != 5\"}\n  - type: flatten\n    config: {field: parts}\n  - type: cast\n    config: {spec: {amount: int64}}\n";
    let mut outputs = Vec::new();
    for workers in [1, 4] {
        let main = Collecting::default();
        let errors = Collecting::default();
        let outcome = run(
            Setup {
                count: 500,
                steps,
                workers,
                routes: vec![],
                error_sink: Some(errors.clone()),
            },
            &main,
            RunControl::default(),
        )
        .await;
        let stats = outcome.result.unwrap();
        assert_eq!(stats.filtered, 1);
        assert_eq!(outcome.committed, 500);
        outputs.push((main.values(), errors.values().len()));
    }
    assert_eq!(outputs[0].0.len(), 2 * (499 - 71));
    assert_eq!(
        outputs[0].1,
        71 * 2,
        "each flattened copy of a bad amount fails"
    );
    assert_eq!(outputs[0], outputs[1], "inline = 4 workers, in order");
}
