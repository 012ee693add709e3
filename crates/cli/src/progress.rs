//! The live progress line on a terminal and the summary at the end.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataflow_core::{Stats, StatsSnapshot};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

/// A progress line refreshed while the flow runs (only when standard error is a terminal).
pub struct Progress {
    bar: Option<ProgressBar>,
    task: Option<JoinHandle<()>>,
    started: Instant,
}

impl Progress {
    /// Starts showing progress of `stats` unless `quiet` or standard error is not a terminal.
    pub fn start(stats: Arc<Stats>, quiet: bool) -> Self {
        let started = Instant::now();
        if quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                task: None,
                started,
            };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        crate::terminal::set_progress(bar.clone());
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut previous = (Instant::now(), StatsSnapshot::default());
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = Instant::now();
                let current = stats.snapshot();
                let seconds = now.duration_since(previous.0).as_secs_f64().max(1e-3);
                let rate = (current.written - previous.1.written) as f64 / seconds;
                // Positions waiting for commit, shown once the oldest has waited a while.
                let held = if current.oldest_held_ms >= 5_000 {
                    format!(
                        "  held {} (oldest {}s)",
                        current.held,
                        current.oldest_held_ms / 1000
                    )
                } else {
                    String::new()
                };
                shown.set_message(format!(
                    "read {}  written {}  errors {}  filtered {}  {:.0} msg/s{held}",
                    current.read, current.written, current.failed, current.filtered, rate
                ));
                shown.tick();
                previous = (now, current);
            }
        });
        Progress {
            bar: Some(bar),
            task: Some(task),
            started,
        }
    }

    /// Stops the line and prints the summary.
    pub fn finish(self, totals: StatsSnapshot) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            crate::terminal::clear_progress();
            bar.finish_and_clear();
        }
        let elapsed = self.started.elapsed();
        let rate = totals.written as f64 / elapsed.as_secs_f64().max(1e-3);
        eprintln!(
            "done in {:.2}s: read {}, written {}, errors {} (skipped {}), filtered {} ({:.0} msg/s)",
            elapsed.as_secs_f64(),
            totals.read,
            totals.written,
            totals.failed,
            totals.skipped,
            totals.filtered,
            rate
        );
    }
}
