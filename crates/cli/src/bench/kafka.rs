//! `dataflow bench kafka-null`: the Kafka source into the null sink, next to a bare librdkafka
//! consumer loop reading the same topic in the same process.

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use dataflow_connectors::generate::GenerateSource;
use dataflow_core::{BuildContext, Flow, PassThrough, RunControl};
use dataflow_spec::GenerateSourceConfig;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::runtime::Runtime;

use super::{bench_flow, process_cpu_seconds, template_of_size};

/// Produces `count` messages of about `payload_bytes` to a new 3-partition topic, then reads
/// them `rounds` times with each reader (fresh consumer groups, the order alternating) and
/// prints the medians.
pub(super) fn kafka_null(
    count: u64,
    payload_bytes: usize,
    brokers: &str,
    rounds: usize,
    worker_threads: Option<NonZeroUsize>,
) -> anyhow::Result<ExitCode> {
    let runtime = crate::runtime::build(worker_threads)?;
    let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let measured = measure(&runtime, &topic, count, payload_bytes, brokers, rounds);
    // The test broker keeps topics in memory: a million messages each time add up.
    if let Err(error) = runtime.block_on(delete_topic(&topic, brokers)) {
        eprintln!("warning: the bench topic {topic} was not deleted: {error:#}");
    }
    measured
}

/// Fills `topic`, reads it `rounds` times with each reader and prints the medians.
fn measure(
    runtime: &Runtime,
    topic: &str,
    count: u64,
    payload_bytes: usize,
    brokers: &str,
    rounds: usize,
) -> anyhow::Result<ExitCode> {
    let sample_len = runtime.block_on(produce(topic, count, payload_bytes, brokers))?;
    let mut baseline = Vec::new();
    let mut pipeline = Vec::new();
    for round in 1..=rounds.max(1) {
        // Which reader goes first alternates, so neither gains from the broker's state.
        let (bare, flow) = if round % 2 == 1 {
            let bare = runtime.block_on(bare_consumer(topic, count, brokers))?;
            (bare, pipeline_reading(runtime, topic, count, brokers)?)
        } else {
            let flow = pipeline_reading(runtime, topic, count, brokers)?;
            (
                runtime.block_on(bare_consumer(topic, count, brokers))?,
                flow,
            )
        };
        eprintln!(
            "round {round}: bare consumer {:.0} msg/s {:.2} µs CPU/msg, kafka → null {:.0} msg/s {:.2} µs CPU/msg, ratio {:.2}",
            bare.rate(count),
            bare.cpu_micros(count),
            flow.rate(count),
            flow.cpu_micros(count),
            bare.seconds / flow.seconds
        );
        baseline.push(bare);
        pipeline.push(flow);
    }
    let (baseline_seconds, pipeline_seconds) = (
        median(baseline.iter().map(|r| r.seconds)),
        median(pipeline.iter().map(|r| r.seconds)),
    );
    let (baseline_cpu, pipeline_cpu) = (
        median(baseline.iter().map(|r| r.cpu_micros(count))),
        median(pipeline.iter().map(|r| r.cpu_micros(count))),
    );
    let baseline_rate = count as f64 / baseline_seconds;
    let pipeline_rate = count as f64 / pipeline_seconds;
    println!(
        "kafka → null: {count} messages of {sample_len} bytes on a 3-partition topic ({brokers}), median of {} rounds",
        baseline.len()
    );
    println!(
        "baseline  (bare rdkafka consumer)  : {baseline_rate:>12.0} msg/s  {baseline_seconds:.2}s  {baseline_cpu:.2} µs CPU/msg"
    );
    println!(
        "pipeline  (kafka source → null)    : {pipeline_rate:>12.0} msg/s  {pipeline_seconds:.2}s  {pipeline_cpu:.2} µs CPU/msg"
    );
    println!(
        "ratio pipeline / baseline          : {:>12.2}  (CPU per message {:.2}×)",
        pipeline_rate / baseline_rate,
        pipeline_cpu / baseline_cpu
    );
    Ok(ExitCode::SUCCESS)
}

/// One reader's pass over the topic: wall time and this process's CPU time (every thread,
/// librdkafka's included), both from the first message to the last.
struct Reading {
    seconds: f64,
    cpu_seconds: f64,
}

impl Reading {
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.seconds
    }

    fn cpu_micros(&self, count: u64) -> f64 {
        self.cpu_seconds * 1e6 / count as f64
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Creates `topic` and fills it; returns the size of one message.
async fn produce(
    topic: &str,
    count: u64,
    payload_bytes: usize,
    brokers: &str,
) -> anyhow::Result<usize> {
    let config = GenerateSourceConfig {
        template: Some(template_of_size(payload_bytes)?),
        ..Default::default()
    };
    let mut generator = GenerateSource::new(&config).map_err(|e| anyhow::anyhow!(e))?;
    let payloads: Vec<Vec<u8>> = (0..1000)
        .map(|seq| generator.render(seq).to_string().into_bytes())
        .collect();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    for result in admin
        .create_topics(
            &[NewTopic::new(topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?
    {
        result.map_err(|(name, e)| anyhow::anyhow!("creating {name}: {e}"))?;
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    for seq in 0..count {
        let key = seq.to_string();
        let payload = &payloads[(seq % 1000) as usize];
        let mut record = FutureRecord::to(topic).key(&key).payload(payload);
        let delivery = loop {
            match producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        };
        pending.push(delivery);
        if pending.len() == 10_000 || seq + 1 == count {
            for delivery in pending.drain(..) {
                delivery
                    .await?
                    .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
            }
        }
    }
    eprintln!(
        "produced {count} messages in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(payloads[0].len())
}

/// Deletes the bench topic.
async fn delete_topic(topic: &str, brokers: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    for result in admin.delete_topics(&[topic], &AdminOptions::new()).await? {
        result.map_err(|(name, e)| anyhow::anyhow!("deleting {name}: {e}"))?;
    }
    Ok(())
}

/// Client settings both readers share: a fresh group from the beginning, the fetch settings
/// the Kafka source uses.
fn group_settings(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.queue.backoff.ms", "20");
    config
}

/// The baseline: a bare consumer loop touching each payload, timed from the first message.
async fn bare_consumer(topic: &str, count: u64, brokers: &str) -> anyhow::Result<Reading> {
    let consumer: StreamConsumer = group_settings(brokers).create()?;
    consumer.subscribe(&[topic])?;
    let first = consumer.recv().await?;
    std::hint::black_box(first.payload().map(<[u8]>::len));
    let (started, cpu) = (Instant::now(), process_cpu_seconds());
    for _ in 1..count {
        let message = consumer.recv().await?;
        std::hint::black_box(message.payload().map(<[u8]>::len));
    }
    Ok(Reading {
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: process_cpu_seconds() - cpu,
    })
}

/// The engine: kafka source (JSON checked, metadata built, positions tracked, offsets stored)
/// → null sink, timed from the first message read to the last written.
fn pipeline_reading(
    runtime: &Runtime,
    topic: &str,
    count: u64,
    brokers: &str,
) -> anyhow::Result<Reading> {
    let group = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let manifest = format!(
        "source:\n  type: kafka\n  config:\n    brokers: [\"{brokers}\"]\n    topic: {topic}\n    consumerGroup: {group}\n    librdkafkaOptions: {{session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}}\nsink:\n  type: null\nchannelBufferSize: 1000\ncheckpointPersistence: false\n"
    );
    let flow = bench_flow(&manifest)?;
    let registry = dataflow_connectors::registry();
    let (snapshot, reading) = runtime.block_on(async {
        let context = BuildContext {
            flow: &flow,
            base_dir: std::env::current_dir()?,
            once: false,
        };
        let runnable = Flow::from_spec(&flow, &registry, Arc::new(PassThrough), &context, None)?;
        let control = RunControl::default();
        let stats = Arc::clone(&control.stats);
        let shutdown = control.shutdown.clone();
        let timer = tokio::spawn(async move {
            while stats.snapshot().read == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let (started, cpu) = (Instant::now(), process_cpu_seconds());
            while stats.snapshot().written < count {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let reading = Reading {
                seconds: started.elapsed().as_secs_f64(),
                cpu_seconds: process_cpu_seconds() - cpu,
            };
            shutdown.cancel();
            reading
        });
        let snapshot = runnable.run(control).await?;
        anyhow::Ok((snapshot, timer.await?))
    })?;
    if snapshot.written < count {
        bail!(
            "the pipeline wrote {} of {count} messages",
            snapshot.written
        );
    }
    Ok(reading)
}
