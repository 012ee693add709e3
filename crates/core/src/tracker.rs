//! Source positions and their in-order commit.
//!
//! Each stream (a file, a partition, a table) hands out positions in read order. Acks may come
//! back in any order; the tracker commits the highest position below which every position is
//! acknowledged, so a commit never passes a gap. Positions are kept compact and turned into
//! JSON only when a checkpoint is written.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::ack::AckToken;

/// A position in a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// A byte offset and the number of lines before it (line-oriented files).
    Offset {
        /// Bytes read up to and including this record.
        offset: u64,
        /// Lines read up to and including this record.
        line: u64,
    },
    /// A count of records (array files, generated messages, offsets of a partition).
    Count(u64),
    /// Anything else, as JSON (composite positions of polling sources).
    Json(Value),
}

impl Position {
    /// The JSON form stored in checkpoints.
    pub fn to_json(&self) -> Value {
        match self {
            Position::Offset { offset, line } => json!({"offset": offset, "line": line}),
            Position::Count(count) => json!(count),
            Position::Json(value) => value.clone(),
        }
    }
}

impl From<Value> for Position {
    fn from(value: Value) -> Self {
        Position::Json(value)
    }
}

/// Tracks the positions of every stream of one source.
#[derive(Clone)]
pub struct PositionTracker {
    shared: Arc<Shared>,
}

struct Shared {
    streams: Mutex<HashMap<String, StreamHandle>>,
    /// Bumped whenever a commit moves.
    version: AtomicU64,
    changed: Notify,
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
                version: AtomicU64::new(0),
                changed: Notify::new(),
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
                    state: Mutex::new(StreamState::default()),
                    shared: Arc::clone(&self.shared),
                }),
            })
            .clone()
    }

    /// The committed position of every stream that committed at least once, as JSON.
    pub fn committed(&self) -> BTreeMap<String, Value> {
        let streams = self.shared.streams.lock().expect("tracker lock");
        streams
            .iter()
            .filter_map(|(name, stream)| {
                let state = stream.inner.state.lock().expect("stream lock");
                state
                    .committed
                    .as_ref()
                    .map(|position| (name.clone(), position.to_json()))
            })
            .collect()
    }

    /// How many times a commit moved so far.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// Waits until a commit moves after the last call (a moved commit is never missed: the
    /// signal is kept when nobody waits).
    pub async fn changed(&self) {
        self.shared.changed.notified().await;
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
    state: Mutex<StreamState>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct StreamState {
    /// Sequence number of `window[0]`.
    base: u64,
    window: VecDeque<Slot>,
    committed: Option<Position>,
}

struct Slot {
    position: Position,
    acked: bool,
}

impl StreamHandle {
    /// Registers the next position of this stream (positions must come in read order) and
    /// returns the token that acknowledges it.
    pub fn track(&self, position: impl Into<Position>) -> AckToken {
        let mut state = self.inner.state.lock().expect("stream lock");
        let seq = state.base + state.window.len() as u64;
        state.window.push_back(Slot {
            position: position.into(),
            acked: false,
        });
        drop(state);
        self.inner
            .shared
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        AckToken::for_position(self.clone(), seq)
    }

    pub(crate) fn acknowledge(&self, seq: u64) {
        self.acknowledge_all(std::iter::once(seq));
    }

    /// Acknowledges several positions of this stream under one lock.
    pub(crate) fn acknowledge_all(&self, seqs: impl Iterator<Item = u64>) {
        let mut state = self.inner.state.lock().expect("stream lock");
        for seq in seqs {
            let Some(index) = seq.checked_sub(state.base) else {
                continue;
            };
            if let Some(slot) = state.window.get_mut(index as usize) {
                slot.acked = true;
            }
        }
        let mut released = 0;
        while state.window.front().is_some_and(|slot| slot.acked) {
            let slot = state.window.pop_front().expect("front exists");
            state.base += 1;
            state.committed = Some(slot.position);
            released += 1;
        }
        drop(state);
        if released > 0 {
            let shared = &self.inner.shared;
            shared.outstanding.fetch_sub(released, Ordering::Relaxed);
            shared.version.fetch_add(1, Ordering::Release);
            shared.changed.notify_one();
        }
    }

    /// Whether `other` is a handle of the same stream.
    pub(crate) fn same_stream(&self, other: &StreamHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_in_order_despite_out_of_order_acks() {
        let tracker = PositionTracker::new();
        let stream = tracker.stream("file");
        let tokens: Vec<AckToken> = (1..=4)
            .map(|i| stream.track(Position::Count(i * 10)))
            .collect();
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
        assert_eq!(tracker.outstanding(), 4);
        first.ack();
        assert_eq!(tracker.committed()["file"], json!(30));
        assert_eq!(tracker.outstanding(), 1);
        fourth.ack();
        assert_eq!(tracker.committed()["file"], json!(40));
        assert_eq!(tracker.outstanding(), 0);
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

    #[test]
    fn offsets_become_json_when_committed() {
        let tracker = PositionTracker::new();
        tracker
            .stream("in.jsonl")
            .track(Position::Offset {
                offset: 120,
                line: 3,
            })
            .ack();
        assert_eq!(
            tracker.committed()["in.jsonl"],
            json!({"offset": 120, "line": 3})
        );
    }
}
