//! Counters of one run, read by the progress line and the summary.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of a flow, updated lock-free.
#[derive(Debug, Default)]
pub struct Stats {
    read: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    filtered: AtomicU64,
    skipped: AtomicU64,
    held: AtomicU64,
    oldest_held_ms: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Messages the source emitted.
    pub read: u64,
    /// Messages durably written by the main sink(s).
    pub written: u64,
    /// Messages that failed (sent to the error sink or stopping the flow).
    pub failed: u64,
    /// Messages a transformation dropped.
    pub filtered: u64,
    /// Messages a transformation failed on, skipped by `onTransformError: skip` (also counted
    /// in `failed`).
    pub skipped: u64,
    /// Positions read and not yet committed (updated every second).
    pub held: u64,
    /// How long the oldest held position has waited, in milliseconds.
    pub oldest_held_ms: u64,
}

impl Stats {
    /// Counts messages read.
    pub fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts messages written.
    pub fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts failed messages.
    pub fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts filtered messages.
    pub fn add_filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts failed messages skipped by `onTransformError: skip`.
    pub fn add_skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the held positions and the age of the oldest.
    pub fn set_held(&self, held: u64, oldest: std::time::Duration) {
        self.held.store(held, Ordering::Relaxed);
        self.oldest_held_ms
            .store(oldest.as_millis() as u64, Ordering::Relaxed);
    }
    /// The current totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            read: self.read.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            oldest_held_ms: self.oldest_held_ms.load(Ordering::Relaxed),
        }
    }
}
