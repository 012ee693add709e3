//! `dataflow`: run a DataFlow in the foreground, validate manifests, print the JSON Schema,
//! or benchmark the engine.
//!
//! Layout: this file holds the command line, the allocator and the logging set-up, and hands
//! each command to its module: `run` (load, validate, resolve secrets, build and run one flow),
//! `validate`, `test_chain` (`dataflow test`), `bench` (with `bench/kafka.rs` for
//! `kafka-null`) and `top` (the live view of a running flow); `dataflow schema` is answered
//! here. `serve` holds the HTTP endpoints of `--metrics-address`. `files` reads manifests and reports their
//! problems, `runtime` builds the tokio runtime, `progress` draws the live progress line and
//! the summary, and `terminal` shares standard error between that line and the log lines.

mod bench;
mod files;
mod progress;
mod run;
mod runtime;
mod serve;
mod terminal;
mod test_chain;
mod top;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Messages are allocated on one thread and freed on another; glibc's allocator serialises that
/// on an arena lock (it cost most of the engine's time in `bench generate-null`). The
/// `override` feature of `libmimalloc-sys` makes C code use mimalloc too: librdkafka allocates
/// each fetched record on its broker thread and the Kafka source frees it on a worker, which
/// under glibc took the broker's arena lock and woke it through a futex (about an eighth of the
/// workers' samples in `bench kafka-null`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Declarative data movement: one source, a chain of transformations, one sink.
#[derive(Parser)]
#[command(name = "dataflow", version, about)]
struct Cli {
    /// Log format on standard error (level from RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the DataFlow in FILE... in the foreground until its source is drained or a signal.
    Run(run::RunArgs),
    /// Check DataFlow manifests; print every problem as file:line:col: path: message.
    Validate {
        /// Manifests (YAML or JSON, several documents allowed).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run only the transformation chain on sample messages and show where each would go.
    Test(test_chain::TestArgs),
    /// Print the JSON Schema of a DataFlow manifest (for editor completion).
    Schema,
    /// Measure the engine against a baseline in the same process.
    Bench(bench::BenchArgs),
    /// A live view of a running flow, from its `--metrics-address`.
    Top(top::TopArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal (logs redirected to a file or CI stay plain text).
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(terminal::Stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// mimalloc's `mi_option_purge_delay`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory instead of returning it to the OS: a flow frees and allocates about the
/// same amount again and again (its peak is bounded by channels and batches), and returning
/// pages made the kernel zero them anew — a fifth of the CPU time of a file → PostgreSQL run.
/// `DATAFLOW_ALLOCATOR_PURGE_MS` sets a delay in milliseconds instead (-1, the default, never).
fn tune_allocator() {
    let delay_ms = std::env::var("DATAFLOW_ALLOCATOR_PURGE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    // SAFETY: sets a plain integer option of the allocator; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms) };
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { files } => validate::validate(&files),
        Command::Test(args) => test_chain::test(args),
        Command::Schema => match serde_json::to_string_pretty(dataflow_spec::dataflow_schema()) {
            Ok(text) => {
                println!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.into()),
        },
        Command::Bench(args) => bench::bench(args),
        Command::Top(args) => top::top(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
