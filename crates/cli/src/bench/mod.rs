//! `dataflow bench`: engine throughput and memory next to a baseline run in the same process.

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use dataflow_connectors::generate::GenerateSource;
use dataflow_core::telemetry::{FlowIdentity, FlowMetrics};
use dataflow_core::{BuildContext, Flow, PassThrough, RunControl};
use dataflow_spec::{DataFlow, GenerateSourceConfig};
use serde_json::{Value, json};

mod kafka;

/// Arguments of `dataflow bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(clap::Subcommand)]
enum BenchKind {
    /// generate → null: engine overhead per message, against rendering the same messages alone.
    GenerateNull {
        /// Messages to move.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Approximate size of each message as JSON.
        #[arg(long, default_value_t = 500)]
        payload_bytes: usize,
        /// channelBufferSize of the flow.
        #[arg(long, default_value_t = 100)]
        channel_buffer_size: u32,
        /// Run the six-step chain of `bench transform` inside the flow.
        #[arg(long)]
        chain: bool,
        /// transformWorkers of the flow (with `--chain`).
        #[arg(long, default_value_t = 1)]
        transform_workers: u32,
    },
    /// Kafka → null against a bare librdkafka consumer reading the same topic in the same run.
    KafkaNull {
        /// Messages to produce and read.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Approximate size of each message as JSON.
        #[arg(long, default_value_t = 500)]
        payload_bytes: usize,
        /// Brokers of the test broker.
        #[arg(long, default_value = "127.0.0.1:19092")]
        brokers: String,
        /// Rounds of (bare consumer, pipeline) over the same topic; medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Worker threads of the runtime both readers run on (default: one per CPU).
        #[arg(long)]
        worker_threads: Option<NonZeroUsize>,
    },
    /// A six-step chain (filter, mask, select, snakeCase, timestamp, insertField) on one
    /// thread, against parsing the same messages from JSON text.
    Transform {
        /// Messages to transform.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Approximate size of each message as JSON.
        #[arg(long, default_value_t = 500)]
        payload_bytes: usize,
    },
}

/// Runs a benchmark and prints its figures.
pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.kind {
        BenchKind::GenerateNull {
            count,
            payload_bytes,
            channel_buffer_size,
            chain,
            transform_workers,
        } => generate_null(
            count,
            payload_bytes,
            channel_buffer_size,
            chain.then_some(transform_workers),
        ),
        BenchKind::Transform {
            count,
            payload_bytes,
        } => transform(count, payload_bytes),
        BenchKind::KafkaNull {
            count,
            payload_bytes,
            brokers,
            rounds,
            worker_threads,
        } => kafka::kafka_null(count, payload_bytes, &brokers, rounds, worker_threads),
    }
}

/// A template whose rendering is about `bytes` long.
/// The DataFlow of a bench's manifest; its validation errors, if any, as the error.
fn bench_flow(manifest: &str) -> anyhow::Result<DataFlow> {
    let loaded = dataflow_spec::load_text_with(manifest, &dataflow_transform::check);
    let checked = loaded
        .flows
        .first()
        .context("the bench manifest holds no DataFlow")?;
    let problems: Vec<String> = checked
        .problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.to_string())
        .collect();
    match (&checked.flow, problems.is_empty()) {
        (Some(flow), true) => Ok(flow.clone()),
        _ => bail!("the bench manifest is invalid: {}", problems.join("; ")),
    }
}

fn template_of_size(bytes: usize) -> anyhow::Result<Value> {
    let build = |padding: usize| {
        json!({
            "id": "{{seq}}",
            "orderId": "{{uuid}}",
            "createdAt": "{{now}}",
            "customer": {"name": "{{pick Ada Lovelace|Grace Hopper|Linus Torvalds}}", "email": "{{randString 8}}@example.com", "tier": "{{pick gold|silver|bronze}}"},
            "amount": "{{randInt 1 100000}}",
            "currency": "EUR",
            "status": "{{pick new|paid|shipped|cancelled}}",
            "items": [{"sku": "SKU-{{randInt 1000 9999}}", "qty": "{{randInt 1 5}}"}, {"sku": "SKU-{{randInt 1000 9999}}", "qty": "{{randInt 1 5}}"}],
            "note": format!("{{{{randString {padding}}}}}")
        })
    };
    let config = GenerateSourceConfig {
        template: Some(build(0)),
        ..Default::default()
    };
    let base = GenerateSource::new(&config)
        .map_err(|e| anyhow::anyhow!(e))?
        .render(0)
        .to_string()
        .len();
    if base > bytes {
        bail!("--payload-bytes must be at least {base}");
    }
    Ok(build(bytes - base))
}

/// Peak resident set size of this process since the last reset, in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// CPU time this process has used so far, user and system, every thread (threads that have
/// ended included, which per-thread figures from `/proc` would miss).
fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage it is given; RUSAGE_SELF is always a valid target,
    // and a zeroed rusage is a valid value should it fail.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn generate_null(
    count: u64,
    payload_bytes: usize,
    channel_buffer_size: u32,
    chain_workers: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let template = template_of_size(payload_bytes)?;
    let config = GenerateSourceConfig {
        template: Some(template.clone()),
        ..Default::default()
    };
    let mut generator = GenerateSource::new(&config).map_err(|e| anyhow::anyhow!(e))?;
    let sample_len = generator.render(0).to_string().len();

    // Baseline: render the same messages on one thread, no pipeline.
    let started = Instant::now();
    let mut checksum = 0usize;
    for seq in 0..count {
        let value = generator.render(seq);
        checksum = checksum.wrapping_add(
            std::hint::black_box(&value)
                .as_object()
                .map_or(0, |o| o.len()),
        );
    }
    let baseline_seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);

    // The engine: generate → null through the real registry, channels, acks and batching.
    let manifest = format!(
        "apiVersion: dataflow.dataflow.io/v1\nkind: DataFlow\nmetadata: {{name: bench}}\nspec:\n  source:\n    type: generate\n    config:\n      count: {count}\n      template: {template}\n  sink:\n    type: null\n  channelBufferSize: {channel_buffer_size}\n  checkpointPersistence: false\n"
    );
    let manifest = match chain_workers {
        Some(workers) => format!(
            "{manifest}  transformWorkers: {workers}\n  transformations:{}",
            SIX_STEPS.replace("\n  ", "\n    ")
        ),
        None => manifest,
    };
    let flow = bench_flow(&manifest)?;
    let registry = dataflow_connectors::registry();
    let runtime = crate::runtime::build(None)?;
    reset_peak_rss();
    let (snapshot, pipeline_seconds) = runtime.block_on(async {
        let context = BuildContext {
            flow: &flow,
            base_dir: std::env::current_dir()?,
            once: false,
        };
        let transformer: Arc<dyn dataflow_core::Transformer> = match chain_workers {
            Some(_) => crate::files::chain_of(&flow)?,
            None => Arc::new(PassThrough),
        };
        let runnable = Flow::from_spec(&flow, &registry, transformer, &context, None)?;
        let started = Instant::now();
        let snapshot = runnable.run(RunControl::default()).await?;
        anyhow::Ok((snapshot, started.elapsed().as_secs_f64()))
    })?;
    let peak = peak_rss();
    if snapshot.written != count {
        bail!(
            "the pipeline wrote {} of {count} messages",
            snapshot.written
        );
    }

    let baseline_rate = count as f64 / baseline_seconds;
    let pipeline_rate = count as f64 / pipeline_seconds;
    println!(
        "generate → null: {count} messages of {sample_len} bytes (JSON), channelBufferSize {channel_buffer_size}"
    );
    println!(
        "baseline  (render only, one thread): {baseline_rate:>12.0} msg/s  {baseline_seconds:.2}s"
    );
    let pipeline = match chain_workers {
        Some(workers) => format!("generate → 6 steps ({workers} worker(s)) → null"),
        None => "generate → null".to_string(),
    };
    println!("pipeline  ({pipeline}): {pipeline_rate:>12.0} msg/s  {pipeline_seconds:.2}s");
    println!(
        "ratio pipeline / baseline          : {:>12.2}",
        pipeline_rate / baseline_rate
    );
    match peak {
        Some(bytes) => println!(
            "peak RSS during the pipeline run    : {:>9.1} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        ),
        None => println!("peak RSS during the pipeline run    : unavailable (no /proc)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The chain measured by `bench transform`.
const SIX_STEPS: &str = r#"
  - type: filter
    config: {condition: "$.amount > 0"}
  - type: mask
    config: {fields: [customer.email], keepLength: true}
  - type: select
    config: {fields: [id, orderId, customer, amount, currency, status, createdAt, items]}
  - type: snakeCase
    config: {deep: true}
  - type: timestamp
    config: {fieldName: processed_at}
  - type: insertField
    config: {fields: {source: dataflow, sequence: "${metadata.seq}"}}
"#;

fn transform(count: u64, payload_bytes: usize) -> anyhow::Result<ExitCode> {
    use dataflow_core::Record;
    use dataflow_transform::{Chain, Fate};

    const POOL: usize = 10_000;
    let template = template_of_size(payload_bytes)?;
    let config = GenerateSourceConfig {
        template: Some(template),
        ..Default::default()
    };
    let mut generator = GenerateSource::new(&config).map_err(|e| anyhow::anyhow!(e))?;
    let pool: Vec<Record> = (0..POOL as u64)
        .map(|seq| {
            let mut record = Record::json(generator.render(seq));
            record.metadata.insert("seq".into(), json!(seq));
            record
        })
        .collect();
    let texts: Vec<Vec<u8>> = pool
        .iter()
        .map(|r| match &r.payload {
            dataflow_core::Payload::Json(v) => serde_json::to_vec(v).expect("serialises"),
            dataflow_core::Payload::JsonText(b) | dataflow_core::Payload::Bytes(b) => b.to_vec(),
        })
        .collect();
    let average_len = texts.iter().map(Vec::len).sum::<usize>() / POOL;

    let manifest =
        format!("source: {{type: stdin}}\nsink: {{type: stdout}}\ntransformations:{SIX_STEPS}");
    let flow = bench_flow(&manifest)?;
    let chain = Chain::compile(&flow.spec.transformations).map_err(|p| {
        anyhow::anyhow!(
            "{}",
            p.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;

    // Baseline: parse the same messages from JSON text (what any source pays per message).
    let started = Instant::now();
    let mut parsed = 0u64;
    while parsed < count {
        for text in texts
            .iter()
            .take((count - parsed).min(POOL as u64) as usize)
        {
            let value: Value = serde_json::from_slice(text)?;
            std::hint::black_box(value);
            parsed += 1;
        }
    }
    let baseline_seconds = started.elapsed().as_secs_f64();

    // The chain: records are copied from the pool outside the timed part.
    let mut chain_seconds = 0.0;
    let mut chain_cpu_seconds = 0.0;
    let mut done = 0u64;
    let mut outputs = 0u64;
    let mut fates = Vec::with_capacity(POOL);
    // Counted per step as a flow counts: plain integers, flushed into the metrics per chunk
    // of 64 (a parallel worker's chunk).
    let steps = FlowMetrics::detached(FlowIdentity {
        transformers: chain.step_types().iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    })
    .transformers();
    let mut tally = steps.tally();
    while done < count {
        let take = (count - done).min(POOL as u64) as usize;
        let batch: Vec<Record> = pool[..take].to_vec();
        let started = Instant::now();
        let cpu_started = thread_cpu_seconds();
        for (index, record) in batch.into_iter().enumerate() {
            chain.run_tallied(record, &mut fates, &mut tally);
            if index % 64 == 63 {
                steps.flush(&mut tally);
            }
            // Count and drop the outputs inside the timed part, as a sink would.
            outputs += fates
                .drain(..)
                .filter(|f| matches!(f, Fate::Out(_)))
                .count() as u64;
        }
        chain_seconds += started.elapsed().as_secs_f64();
        if let (Some(start), Some(end)) = (cpu_started, thread_cpu_seconds()) {
            chain_cpu_seconds += end - start;
        }
        done += take as u64;
    }
    if outputs != count {
        bail!("the chain let {outputs} of {count} messages through");
    }
    let baseline_rate = count as f64 / baseline_seconds;
    let chain_rate = count as f64 / chain_seconds;
    println!(
        "transform chain (filter, mask, select, snakeCase, timestamp, insertField): {count} messages of {average_len} bytes, one thread"
    );
    println!(
        "baseline  (parse the JSON text)    : {baseline_rate:>12.0} msg/s  {baseline_seconds:.2}s"
    );
    println!("chain     (six steps)              : {chain_rate:>12.0} msg/s  {chain_seconds:.2}s");
    if chain_cpu_seconds > 0.0 {
        println!(
            "chain per CPU-second of its thread : {:>12.0} msg/s  ({:.0}% of the wall time on CPU)",
            count as f64 / chain_cpu_seconds,
            100.0 * chain_cpu_seconds / chain_seconds
        );
    }
    println!(
        "ratio chain / parse                : {:>12.2}",
        chain_rate / baseline_rate
    );
    Ok(ExitCode::SUCCESS)
}
