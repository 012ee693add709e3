//! The polling driver shared by the database sources (PostgreSQL; ClickHouse and Trino next):
//! poll, wait the interval, poll again; back off after failures; stop at once when asked;
//! `--once` ends after the first poll that finds nothing new.
//!
//! Layout: a connector implements [`Poll`] (connect when needed, read what follows its
//! cursor, emit each row bound to its position) and calls [`run`], which owns the schedule.

use std::time::Duration;

use async_trait::async_trait;
use dataflow_core::retry::Backoff;
use dataflow_core::{ErrorReason, SourceContext, SourceError};

/// The longest wait between failed polls.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How soon `--once` looks again for rows a safety lag held back.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(200);

/// What one poll read.
#[derive(Debug, Clone, Copy)]
pub struct Polled {
    /// Rows emitted.
    pub rows: usize,
    /// Whether the poll reads only what follows a cursor (an unfiltered query reads
    /// everything every time, so `--once` reads it once).
    pub filtered: bool,
}

/// Why a poll did not finish.
#[derive(Debug)]
pub enum PollFailure {
    /// The pipeline stopped while rows were emitted.
    Stopped,
    /// Retrying will not help (bad settings, a missing column): the flow stops.
    Fatal(ErrorReason),
    /// Worth another poll after a backoff (a lost connection, a timeout).
    Retry(ErrorReason),
}

/// The connector's part of a polling source.
#[async_trait]
pub trait Poll: Send {
    /// What is polled, for logs (`public.orders`).
    fn name(&self) -> String;

    /// Reads everything after the cursor (connecting first when needed), emitting each row
    /// with a token bound to its position.
    async fn poll(&mut self, context: &SourceContext) -> Result<Polled, PollFailure>;

    /// After a poll that found nothing under `--once`: whether rows exist that a later poll
    /// will read (held back by a safety lag), so the run waits for them.
    async fn rows_held_back(&mut self) -> bool {
        false
    }
}

/// When to poll.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Between polls that succeeded (`pollInterval`).
    pub interval: Duration,
    /// Stop after the first poll that finds nothing new (`run --once`).
    pub once: bool,
}

/// Polls until the flow stops (or, with `--once`, until nothing new is found); a fatal
/// failure ends the source with its reason. A stop request ends a poll in progress too (a
/// hanging connect included): what was emitted but not written stays unacknowledged.
pub async fn run(
    poller: &mut dyn Poll,
    context: &SourceContext,
    schedule: Schedule,
) -> Result<(), SourceError> {
    let mut backoff: Option<Backoff> = None;
    loop {
        if context.stopping().is_cancelled() {
            return Ok(());
        }
        let outcome = tokio::select! {
            outcome = poller.poll(context) => outcome,
            _ = context.stopping().cancelled() => return Ok(()),
        };
        let wait = match outcome {
            Ok(polled) => {
                backoff = None;
                context.read_succeeded();
                match (schedule.once, polled) {
                    (false, _) => schedule.interval,
                    (true, Polled { rows: 0, .. }) => {
                        let held_back = tokio::select! {
                            held_back = poller.rows_held_back() => held_back,
                            _ = context.stopping().cancelled() => return Ok(()),
                        };
                        if !held_back {
                            return Ok(());
                        }
                        HELD_BACK_RECHECK
                    }
                    (
                        true,
                        Polled {
                            filtered: false, ..
                        },
                    ) => return Ok(()),
                    // Catching up: look again at once until a poll finds nothing.
                    (true, _) => Duration::ZERO,
                }
            }
            Err(PollFailure::Stopped) => return Ok(()),
            Err(PollFailure::Fatal(reason)) => return Err(SourceError::Fatal(reason)),
            Err(PollFailure::Retry(reason)) => {
                context.read_failed(reason.kind);
                let wait = backoff
                    .get_or_insert_with(|| Backoff::new(schedule.interval * 2, MAX_BACKOFF))
                    .next_delay();
                tracing::warn!(source = %poller.name(), %reason, retry_in = ?wait, "poll failed");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = context.stopping().cancelled() => return Ok(()),
        }
    }
}
