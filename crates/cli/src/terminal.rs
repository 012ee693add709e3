//! Standard error shared by log lines and the progress line: a log line hides the progress
//! line while it is printed, so neither garbles the other.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::fmt::MakeWriter;

static PROGRESS: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Makes log lines hide `bar` while they print (until [`clear_progress`]).
pub fn set_progress(bar: ProgressBar) {
    *PROGRESS.lock().expect("progress lock") = Some(bar);
}

/// Log lines print straight to standard error again.
pub fn clear_progress() {
    *PROGRESS.lock().expect("progress lock") = None;
}

/// The writer factory handed to `tracing_subscriber`.
pub struct Stderr;

/// One log event, printed when dropped.
pub struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let print = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        let bar = PROGRESS.lock().ok().and_then(|bar| bar.clone());
        match bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::with_capacity(256))
    }
}
