//! `dataflow run`: load, validate, resolve secrets, build and run one DataFlow.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use dataflow_core::telemetry::{FlowIdentity, Health, Telemetry};
use dataflow_core::{BuildContext, CheckpointStore, FileCheckpointStore, Flow, RunControl, Stats};
use dataflow_spec::{ChainResolver, DataFlow, SecretResolver, SecretsDir, resolve_secrets};
use tokio_util::sync::CancellationToken;

use crate::files::{Manifest, chain_of, load, single_flow};
use crate::progress::Progress;
use crate::serve::Endpoints;

/// Arguments of `dataflow run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Manifests holding one DataFlow and any Secrets it references.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Where checkpoints are kept (one file per flow).
    #[arg(long, default_value = ".dataflow/state")]
    state_dir: PathBuf,
    /// Secrets mounted as files: `DIR/<secret-name>/<key>`.
    #[arg(long)]
    secrets_dir: Option<PathBuf>,
    /// Longest a graceful stop may take, in seconds.
    #[arg(long, default_value_t = 60)]
    shutdown_timeout: u64,
    /// No progress line, even on a terminal.
    #[arg(long)]
    quiet: bool,
    /// Polling sources stop after the first poll that returns nothing new.
    #[arg(long)]
    once: bool,
    /// Worker threads of the runtime (default: one per CPU this process may use). On a host
    /// with few cores, fewer workers leave room for librdkafka's own threads.
    #[arg(long)]
    worker_threads: Option<NonZeroUsize>,
    /// Serve `/metrics`, `/healthz`, `/readyz` and `/livez` on this address (e.g.
    /// `127.0.0.1:9090`).
    #[arg(long)]
    metrics_address: Option<std::net::SocketAddr>,
    /// Seconds the flow may hold work without a write or a commit before `/livez` fails
    /// (0: never).
    #[arg(long, default_value_t = 600)]
    progress_timeout: u64,
}

/// Runs the DataFlow of the given files.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let manifests = load(&args.files)?;
    let written = single_flow(&manifests)?;
    let flow = resolve(&written, &manifests, args.secrets_dir.as_ref())?;
    // Labelled from the flow as written: no value that came from a secret becomes a label.
    let identity = FlowIdentity::of(&written);
    let runtime = crate::runtime::build(args.worker_threads)?;
    runtime.block_on(run_flow(flow, identity, &args))
}

fn resolve(
    flow: &DataFlow,
    manifests: &[Manifest],
    secrets_dir: Option<&PathBuf>,
) -> anyhow::Result<DataFlow> {
    let directory = secrets_dir.map(SecretsDir::new);
    let mut resolvers: Vec<&dyn SecretResolver> = manifests
        .iter()
        .map(|m| &m.loaded.secrets as &dyn SecretResolver)
        .collect();
    if let Some(directory) = &directory {
        resolvers.push(directory);
    }
    let resolved = resolve_secrets(flow, &ChainResolver(resolvers)).map_err(|errors| {
        for error in &errors {
            eprintln!("{error}");
        }
        anyhow::anyhow!(
            "{} secret reference(s) could not be resolved (from Secret documents in the given files{})",
            errors.len(),
            if secrets_dir.is_some() { " and --secrets-dir" } else { "; pass --secrets-dir for mounted secrets" }
        )
    })?;
    // Secret values are checked like written ones (a broker list, a table name, …).
    let errors: Vec<String> = dataflow_spec::validate::validate(&resolved)
        .into_iter()
        .filter(|problem| problem.is_error())
        .map(|problem| format!("{problem} (after resolving secrets)"))
        .collect();
    if !errors.is_empty() {
        for error in &errors {
            eprintln!("{error}");
        }
        bail!("{} problem(s) in values taken from secrets", errors.len());
    }
    Ok(resolved)
}

async fn run_flow(
    flow: DataFlow,
    identity: FlowIdentity,
    args: &RunArgs,
) -> anyhow::Result<ExitCode> {
    if flow.spec.checkpoint_reset {
        // The operator clears the flag after one reset; a file on disk cannot be changed here.
        tracing::warn!(
            "checkpointReset: true clears the checkpoint on every `dataflow run`; remove it \
             once this run has started over"
        );
    }
    let registry = dataflow_connectors::registry();
    let transformer = chain_of(&flow)?;
    let context = BuildContext {
        flow: &flow,
        base_dir: std::env::current_dir()?,
        once: args.once,
    };
    let store: Arc<dyn CheckpointStore> = Arc::new(FileCheckpointStore::new(&args.state_dir));
    let mut runnable = Flow::from_spec(&flow, &registry, transformer, &context, Some(store))?;
    runnable.identity = identity;
    let control = RunControl {
        shutdown: CancellationToken::new(),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        stats: Arc::new(Stats::default()),
        telemetry: Arc::new(Telemetry::new()),
        health: Arc::new(Health::default()),
    };
    let serving = CancellationToken::new();
    let _stop_serving = serving.clone().drop_guard();
    if let Some(address) = args.metrics_address {
        let endpoints = Endpoints {
            telemetry: Arc::clone(&control.telemetry),
            health: Arc::clone(&control.health),
            progress_timeout: (args.progress_timeout > 0)
                .then(|| Duration::from_secs(args.progress_timeout)),
        };
        crate::serve::serve(address, endpoints, serving).await?;
    }
    tokio::spawn(watch_signals(control.shutdown.clone()));
    let progress = Progress::start(Arc::clone(&control.stats), args.quiet);
    let stats = Arc::clone(&control.stats);
    let result = runnable.run(control).await;
    progress.finish(stats.snapshot());
    result?;
    Ok(ExitCode::SUCCESS)
}

/// A second signal this soon after the first is the same stop: `timeout`, some supervisors
/// and a terminal's Ctrl-C signal the process and its group at once.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// First SIGINT/SIGTERM: stop gracefully. Second (after [`REPEAT_WINDOW`]): exit at once (what
/// was committed is safe).
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        return;
    };
    let Ok(mut interrupt) = signal(SignalKind::interrupt()) else {
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    eprintln!("stopping: finishing in-flight messages (signal again to exit at once)");
    shutdown.cancel();
    let first = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        if first.elapsed() >= REPEAT_WINDOW {
            break;
        }
    }
    eprintln!("exiting at once; positions committed so far are safe");
    std::process::exit(130);
}
