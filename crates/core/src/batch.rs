//! Batching shared by every sink: by size, by timer, or whatever is ready.

use std::time::Duration;

use dataflow_spec::BatchSettings;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::message::Message;
use crate::tracker::Pressure;

/// Upper bound of a timer-only batch (`batchSize: 0`).
pub const TIMER_ONLY_CAP: usize = 10_000;
/// Upper bound of a batch for sinks that write message by message.
pub const GREEDY_CAP: usize = 1024;

/// How messages are grouped before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Take what is ready now, up to `max` (sinks without batch settings).
    Greedy {
        /// Largest batch.
        max: usize,
    },
    /// Flush at `size` messages or `interval` after the first buffered one.
    Sized {
        /// Messages per batch.
        size: usize,
        /// Timer; `None` = size only.
        interval: Option<Duration>,
    },
}

impl Batching {
    /// Batching from a sink's settings with the seed's meanings: `batchSize: 0` = timer only,
    /// `batchFlushIntervalSeconds: 0` = size only.
    pub fn from_settings(settings: Option<BatchSettings>) -> Self {
        match settings {
            None => Batching::Greedy { max: GREEDY_CAP },
            Some(s) => Batching::Sized {
                size: if s.batch_size == 0 {
                    TIMER_ONLY_CAP
                } else {
                    s.batch_size as usize
                },
                interval: (s.flush_interval_seconds > 0)
                    .then(|| Duration::from_secs(u64::from(s.flush_interval_seconds))),
            },
        }
    }

    /// One message per batch (`ackGranularity: message`).
    pub fn single() -> Self {
        Batching::Sized {
            size: 1,
            interval: None,
        }
    }
}

/// Pulls batches from a channel.
pub struct Batcher {
    input: mpsc::Receiver<Message>,
    batching: Batching,
    pressure: Option<Pressure>,
}

impl Batcher {
    /// Batches the messages of `input`.
    pub fn new(input: mpsc::Receiver<Message>, batching: Batching) -> Self {
        Batcher {
            input,
            batching,
            pressure: None,
        }
    }

    /// Also flushes a partial batch when `pressure` fires (a source waits for commits).
    pub fn flushing_on(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// Fills `batch` (which must be empty). Returns false when the input is closed and
    /// nothing is left; a final partial batch is returned first (flush on shutdown). Messages
    /// are taken in runs (`recv_many`), which gives their channel slots back all at once.
    pub async fn next_batch(&mut self, batch: &mut Vec<Message>) -> bool {
        let limit = match self.batching {
            Batching::Greedy { max } => max,
            Batching::Sized { size, .. } => size,
        };
        // Waits for the first message, then takes whatever else is ready.
        if self.input.recv_many(batch, limit).await == 0 {
            return false;
        }
        if let Batching::Sized { size, interval } = self.batching {
            let deadline = interval.map(|i| Instant::now() + i);
            while batch.len() < size {
                let wanted = size - batch.len();
                let pressure = self.pressure.as_ref();
                let more = self.input.recv_many(batch, wanted);
                let flush_requested = async move {
                    match pressure {
                        Some(pressure) => pressure.flush_requested().await,
                        None => std::future::pending().await,
                    }
                };
                let timer = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                let received = tokio::select! {
                    received = more => received,
                    _ = timer => break, // timer flush
                    _ = flush_requested => break, // a source waits for commits
                };
                if received == 0 {
                    break; // input closed: flush what we have
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::AckToken;
    use crate::message::Record;
    use serde_json::{Value, json};

    fn message(i: u64) -> Message {
        Message::new(Record::json(json!(i)), AckToken::none())
    }

    #[tokio::test]
    async fn flushes_by_size_then_the_rest_on_close() {
        let (tx, rx) = mpsc::channel(100);
        for i in 0..5 {
            tx.send(message(i)).await.unwrap();
        }
        drop(tx);
        let mut batcher = Batcher::new(
            rx,
            Batching::Sized {
                size: 2,
                interval: None,
            },
        );
        let mut sizes = Vec::new();
        let mut batch = Vec::new();
        while batcher.next_batch(&mut batch).await {
            sizes.push(batch.len());
            batch.clear();
        }
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[tokio::test]
    async fn greedy_takes_what_is_ready_up_to_its_cap_in_order() {
        let (tx, rx) = mpsc::channel(100);
        for i in 0..7 {
            tx.send(message(i)).await.unwrap();
        }
        let mut batcher = Batcher::new(rx, Batching::Greedy { max: 5 });
        let mut batch = Vec::new();
        assert!(batcher.next_batch(&mut batch).await);
        let payloads = |batch: &[Message]| -> Vec<Value> {
            batch
                .iter()
                .map(|m| m.record.payload.value().unwrap().into_owned())
                .collect()
        };
        assert_eq!(
            payloads(&batch),
            (0..5).map(|i| json!(i)).collect::<Vec<_>>()
        );
        batch.clear();
        // Two are ready: they leave without waiting for a full batch.
        assert!(batcher.next_batch(&mut batch).await);
        assert_eq!(payloads(&batch), vec![json!(5), json!(6)]);
        batch.clear();
        drop(tx);
        assert!(!batcher.next_batch(&mut batch).await);
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_by_timer() {
        let (tx, rx) = mpsc::channel(100);
        tx.send(message(1)).await.unwrap();
        let mut batcher = Batcher::new(
            rx,
            Batching::from_settings(Some(BatchSettings {
                batch_size: 100,
                flush_interval_seconds: 10,
            })),
        );
        let started = Instant::now();
        let mut batch = Vec::new();
        assert!(batcher.next_batch(&mut batch).await);
        assert_eq!(batch.len(), 1);
        assert!(started.elapsed() >= Duration::from_secs(10));
        drop(tx);
    }

    #[test]
    fn zero_meanings() {
        assert_eq!(
            Batching::from_settings(Some(BatchSettings {
                batch_size: 0,
                flush_interval_seconds: 5
            })),
            Batching::Sized {
                size: TIMER_ONLY_CAP,
                interval: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(
            Batching::from_settings(Some(BatchSettings {
                batch_size: 7,
                flush_interval_seconds: 0
            })),
            Batching::Sized {
                size: 7,
                interval: None
            }
        );
    }
}
