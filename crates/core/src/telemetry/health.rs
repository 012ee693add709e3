//! What the health endpoints read: readiness, and progress against held work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the health endpoints read: updated by the running flow.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    /// Milliseconds since the Unix epoch of the last progress (a write or a commit).
    last_progress_ms: AtomicU64,
    held: AtomicU64,
    /// Milliseconds since the Unix epoch when the held count last rose from zero.
    held_since_ms: AtomicU64,
}

impl Health {
    /// The source reads and the sinks are connected (or not any more).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        self.progressed();
    }

    /// Whether the flow reads with its sinks connected.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Notes progress: a sink wrote, or a position was committed.
    pub fn progressed(&self) {
        self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Notes how many positions are held (work waiting for progress).
    pub fn set_held(&self, held: u64) {
        if self.held.swap(held, Ordering::Relaxed) == 0 && held > 0 {
            self.held_since_ms.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// How long the flow has held work without progress; `None` when it holds nothing (a flow
    /// with no input is not stale).
    pub fn stalled_for(&self) -> Option<Duration> {
        if self.held.load(Ordering::Relaxed) == 0 {
            return None;
        }
        // Measured from the later of the last progress and the moment work arrived: a flow
        // idle for an hour is not stale the second a message comes in.
        let start = self
            .last_progress_ms
            .load(Ordering::Relaxed)
            .max(self.held_since_ms.load(Ordering::Relaxed));
        Some(Duration::from_millis(now_ms().saturating_sub(start)))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stall_clock_starts_when_work_arrives_after_an_idle_time() {
        let health = Health::default();
        health
            .last_progress_ms
            .store(now_ms() - 3_600_000, Ordering::Relaxed);
        health.set_held(1);
        assert!(
            health
                .stalled_for()
                .is_some_and(|d| d < Duration::from_secs(5)),
            "an hour idle is not an hour stalled"
        );
    }

    #[test]
    fn a_flow_holding_nothing_is_never_stalled() {
        let health = Health::default();
        health.set_ready(true);
        assert_eq!(health.stalled_for(), None);
        health.set_held(3);
        assert!(
            health
                .stalled_for()
                .is_some_and(|d| d < Duration::from_secs(5))
        );
    }
}
