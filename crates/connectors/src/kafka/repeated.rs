//! Warnings about a condition that persists, said once and then summarised, instead of one
//! line per occurrence (an unreachable broker gave two lines every half second) or silence (a
//! topic that disappeared gave one line, then nothing while the flow waited).

use std::time::{Duration, Instant};

/// How often a persisting condition is reported again.
pub(super) const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// The state of one kind of warning: what was last seen, since when, how often.
#[derive(Debug, Default)]
pub(super) struct Repeated {
    current: Option<Seen>,
}

#[derive(Debug)]
struct Seen {
    text: String,
    since: Instant,
    reported: Instant,
    count: u64,
}

/// What to log for one occurrence.
#[derive(Debug, PartialEq)]
pub(super) enum Report {
    /// A new condition: log it as it is.
    First,
    /// The same condition, due for a summary: seen `count` times over `for_how_long`.
    Summary { count: u64, for_how_long: Duration },
    /// The same condition, reported recently: nothing to log.
    Quiet,
}

impl Repeated {
    /// Records one occurrence of `text` at `now` and says what to log.
    pub(super) fn seen(&mut self, text: &str, now: Instant) -> Report {
        match &mut self.current {
            Some(seen) if seen.text == text => {
                seen.count += 1;
                if now.duration_since(seen.reported) >= REPEAT_EVERY {
                    seen.reported = now;
                    Report::Summary {
                        count: seen.count,
                        for_how_long: now.duration_since(seen.since),
                    }
                } else {
                    Report::Quiet
                }
            }
            _ => {
                self.current = Some(Seen {
                    text: text.to_string(),
                    since: now,
                    reported: now,
                    count: 1,
                });
                Report::First
            }
        }
    }

    /// The condition is over (records arrive again).
    pub(super) fn clear(&mut self) {
        self.current = None;
    }

    /// The condition still holding and due for a reminder at `now`: its text and age. Used
    /// when nothing new happens but the flow still waits.
    pub(super) fn reminder(&mut self, now: Instant) -> Option<(String, Duration)> {
        let seen = self.current.as_mut()?;
        if now.duration_since(seen.reported) < REPEAT_EVERY {
            return None;
        }
        seen.reported = now;
        Some((seen.text.clone(), now.duration_since(seen.since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_once_then_summarised_then_reminded() {
        let start = Instant::now();
        let mut repeated = Repeated::default();
        assert_eq!(repeated.seen("broker down", start), Report::First);
        for half_seconds in 1..60 {
            let at = start + Duration::from_millis(500 * half_seconds);
            assert_eq!(repeated.seen("broker down", at), Report::Quiet);
        }
        assert_eq!(
            repeated.seen("broker down", start + REPEAT_EVERY),
            Report::Summary {
                count: 61,
                for_how_long: REPEAT_EVERY
            }
        );
        assert_eq!(repeated.reminder(start + REPEAT_EVERY), None);
        let later = start + 2 * REPEAT_EVERY;
        assert_eq!(
            repeated.reminder(later),
            Some(("broker down".to_string(), 2 * REPEAT_EVERY))
        );
        assert_eq!(repeated.seen("topic gone", later), Report::First);
        repeated.clear();
        assert_eq!(repeated.reminder(later + 3 * REPEAT_EVERY), None);
    }
}
