//! The tokio runtime the commands run on, and how many worker threads it has.

use std::num::NonZeroUsize;

use anyhow::{Context, bail};
use tokio::runtime::Runtime;

/// tokio's own setting for the worker count, read by its builder when none is given.
const TOKIO_WORKER_THREADS: &str = "TOKIO_WORKER_THREADS";

/// A multi-threaded runtime with `worker_threads` workers; without it, tokio's default: one per
/// CPU this process may use (a container's CPU limit included), or `TOKIO_WORKER_THREADS`. That
/// variable is checked here first, so a bad value is an error naming it, not a panic in tokio.
pub fn build(worker_threads: Option<NonZeroUsize>) -> anyhow::Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    match worker_threads {
        Some(count) => {
            builder.worker_threads(count.get());
        }
        None => {
            if let Some(value) = std::env::var_os(TOKIO_WORKER_THREADS)
                && value
                    .to_str()
                    .and_then(|text| text.parse::<NonZeroUsize>().ok())
                    .is_none()
            {
                bail!(
                    "{TOKIO_WORKER_THREADS} must be a whole number of worker threads, at least 1; it is {value:?}"
                );
            }
        }
    }
    builder.enable_all().build().context("starting the runtime")
}
