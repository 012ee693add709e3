//! Exponential backoff for transient failures at connect and at write.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `initial`, doubles each time, never exceeds `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            next: initial,
            max,
            attempt: 0,
        }
    }

    /// The default for writes and connects in the runner: 200 ms doubling to 30 s.
    pub fn standard() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(30))
    }

    /// The delay before the next attempt, advancing the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        self.attempt += 1;
        delay
    }

    /// How many delays were handed out.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 350, 350]);
        assert_eq!(backoff.attempts(), 4);
    }
}
