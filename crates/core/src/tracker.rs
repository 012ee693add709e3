//! Source positions and their in-order commit.
//!
//! Each stream (a file, a partition, a table) hands out positions in read order. Acks may come
//! back in any order; the tracker commits the highest position below which every position is
//! acknowledged, so a commit never passes a gap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use crate::ack::AckToken;

/// Tracks the positions of every stream of one source.
#[derive(Clone)]
pub struct PositionTracker {
    shared: Arc<Shared>,
}

struct Shared {
    streams: Mutex<HashMap<String, StreamHandle>>,
    committed: Mutex<BTreeMap<String, Value>>,
    changes: watch::Sender<u64>,
    outstanding: AtomicU64,
}

impl Default for PositionTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl PositionTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        PositionTracker {
            shared: Arc::new(Shared {
                streams: Mutex::new(HashMap::new()),
                committed: Mutex::new(BTreeMap::new()),
                changes: watch::channel(0).0,
                outstanding: AtomicU64::new(0),
            }),
        }
    }

    /// The handle of stream `name`, created on first use.
    pub fn stream(&self, name: &str) -> StreamHandle {
        let mut streams = self.shared.streams.lock().expect("tracker lock");
        streams
            .entry(name.to_string())
            .or_insert_with(|| StreamHandle {
                inner: Arc::new(StreamInner {
                    name: name.to_string(),
                    state: Mutex::new(StreamState::default()),
                    shared: Arc::clone(&self.shared),
                }),
            })
            .clone()
    }

    /// The committed position of every stream that committed at least once.
    pub fn committed(&self) -> BTreeMap<String, Value> {
        self.shared.committed.lock().expect("tracker lock").clone()
    }

    /// A receiver that changes whenever a commit moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Positions handed out and not yet committed (held by unacknowledged messages).
    pub fn outstanding(&self) -> u64 {
        self.shared.outstanding.load(Ordering::Relaxed)
    }
}

/// One stream's position window.
#[derive(Clone)]
pub struct StreamHandle {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    name: String,
    state: Mutex<StreamState>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct StreamState {
    /// Sequence number of `window[0]`.
    base: u64,
    window: VecDeque<Slot>,
}

struct Slot {
    position: Value,
    acked: bool,
}

impl StreamHandle {
    /// Registers the next position of this stream (positions must come in read order) and
    /// returns the token that acknowledges it.
    pub fn track(&self, position: Value) -> AckToken {
        let mut state = self.inner.state.lock().expect("stream lock");
        let seq = state.base + state.window.len() as u64;
        state.window.push_back(Slot {
            position,
            acked: false,
        });
        self.inner
            .shared
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        drop(state);
        AckToken::for_position(self.clone(), seq)
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn acknowledge(&self, seq: u64) {
        let mut state = self.inner.state.lock().expect("stream lock");
        let Some(index) = seq.checked_sub(state.base) else {
            return;
        };
        if let Some(slot) = state.window.get_mut(index as usize) {
            slot.acked = true;
        }
        let mut newest = None;
        while state.window.front().is_some_and(|slot| slot.acked) {
            let slot = state.window.pop_front().expect("front exists");
            state.base += 1;
            newest = Some(slot.position);
        }
        drop(state);
        if let Some(position) = newest {
            let shared = &self.inner.shared;
            let mut committed = shared.committed.lock().expect("tracker lock");
            committed.insert(self.inner.name.clone(), position);
            drop(committed);
            shared.outstanding.fetch_sub(1, Ordering::Relaxed);
            shared.changes.send_modify(|version| *version += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commits_in_order_despite_out_of_order_acks() {
        let tracker = PositionTracker::new();
        let stream = tracker.stream("file");
        let tokens: Vec<AckToken> = (1..=4).map(|i| stream.track(json!(i * 10))).collect();
        let mut tokens: VecDeque<AckToken> = tokens.into();
        let first = tokens.pop_front().unwrap();
        let second = tokens.pop_front().unwrap();
        let third = tokens.pop_front().unwrap();
        let fourth = tokens.pop_front().unwrap();
        third.ack();
        second.ack();
        assert!(
            tracker.committed().is_empty(),
            "a gap at position 10 holds everything"
        );
        first.ack();
        assert_eq!(tracker.committed()["file"], json!(30));
        fourth.ack();
        assert_eq!(tracker.committed()["file"], json!(40));
    }

    #[test]
    fn streams_are_independent() {
        let tracker = PositionTracker::new();
        let a = tracker.stream("p0").track(json!(1));
        let _held = tracker.stream("p1").track(json!(1));
        a.ack();
        assert_eq!(tracker.committed().len(), 1);
        assert_eq!(tracker.committed()["p0"], json!(1));
    }
}
