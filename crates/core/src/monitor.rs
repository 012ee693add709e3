//! The once-a-second watch of a running flow: held positions and the age of the oldest (for the
//! progress line, the metrics and `/livez`), channel depths, throughput and success rate, and
//! a warning once a minute while commits stand still for more than a minute.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::message::Message;
use crate::stats::Stats;
use crate::telemetry::{FlowMetrics, Health};
use crate::tracker::PositionTracker;

/// Where the watch reports.
pub(crate) struct Reporting {
    pub(crate) stats: Arc<Stats>,
    pub(crate) metrics: FlowMetrics,
    pub(crate) health: Arc<Health>,
    pub(crate) queues: Queues,
}

/// A channel watched by its `queue_type` label, without keeping it open.
type WatchedQueue = (String, mpsc::WeakSender<Message>);

/// The channels of a flow.
#[derive(Clone, Default)]
pub(crate) struct Queues(Arc<Mutex<Vec<WatchedQueue>>>);

impl Queues {
    /// Watches the channel of `sender` as `queue_type`.
    pub(crate) fn add(&self, queue_type: &str, sender: &mpsc::Sender<Message>) {
        if let Ok(mut queues) = self.0.lock() {
            queues.push((queue_type.to_string(), sender.downgrade()));
        }
    }

    /// The messages waiting in each channel still open.
    fn depths(&self) -> Vec<(String, usize)> {
        let Ok(queues) = self.0.lock() else {
            return Vec::new();
        };
        queues
            .iter()
            .map(|(name, weak)| {
                // A closed channel holds nothing.
                let depth = weak
                    .upgrade()
                    .map_or(0, |sender| sender.max_capacity() - sender.capacity());
                (name.clone(), depth)
            })
            .collect()
    }
}

/// Seconds of the throughput window (the original's 10 s).
const THROUGHPUT_WINDOW: usize = 10;

/// Reports every second until the flow ends (the task is aborted then).
pub(crate) async fn watch_every_second(tracker: PositionTracker, report: Reporting, flow: String) {
    const STUCK: Duration = Duration::from_secs(60);
    let mut warned_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut written = VecDeque::with_capacity(THROUGHPUT_WINDOW + 1);
    let mut commits = tracker.version();
    loop {
        tick.tick().await;
        // A commit is progress too (a filter that drops most messages writes little).
        if tracker.version() != commits {
            commits = tracker.version();
            report.health.progressed();
        }
        let oldest = tracker.oldest_held();
        let age = oldest.as_ref().map_or(Duration::ZERO, |(_, age)| *age);
        let held = tracker.outstanding();
        report.stats.set_held(held, age);
        report.metrics.set_held(held, age);
        report.health.set_held(held);
        for (queue, depth) in report.queues.depths() {
            report.metrics.set_queue_size(&queue, depth);
        }
        let snapshot = report.stats.snapshot();
        written.push_back(snapshot.written);
        if written.len() > THROUGHPUT_WINDOW + 1 {
            written.pop_front();
        }
        let seconds = (written.len() - 1).max(1) as f64;
        let newest = written.back().copied().unwrap_or(0);
        let first = written.front().copied().unwrap_or(0);
        report.metrics.set_rates(
            (newest - first) as f64 / seconds,
            snapshot.written,
            snapshot.failed,
        );
        if let Some((stream, age)) = oldest
            && age >= STUCK
            && warned_at.is_none_or(|at| at.elapsed() >= STUCK)
        {
            warned_at = Some(tokio::time::Instant::now());
            tracing::warn!(flow, %stream, held, oldest_held_for = ?age,
                "commits wait for an unacknowledged message");
        }
    }
}
