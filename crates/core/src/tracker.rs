//! Source positions and their in-order commit.
//!
//! Each stream (a file, a partition, a table) hands out positions in read order. Acks may come
//! back in any order; the tracker commits the highest position below which every position is
//! acknowledged, so a commit never passes a gap. Positions are kept compact and turned into
//! JSON only when a checkpoint is written.
//!
//! The window of positions between the committed one and the newest is bounded per stream:
//! once it is full (a message held by `ackPolicy: never`, a stuck route sink, a leaked token),
//! the source waits in [`StreamHandle::wait_for_room`] instead of growing memory for every later
//! message (one slot is 80 bytes plus what the position holds).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        /// A hash of the file's first line, which tells the file apart from another one
        /// under the same name (0: not known).
        head: u64,
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
            Position::Offset {
                offset,
                line,
                head: 0,
            } => json!({"offset": offset, "line": line}),
            Position::Offset { offset, line, head } => {
                json!({"offset": offset, "line": line, "head": format!("{head:016x}")})
            }
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
    /// Most positions one stream may hold before its source waits.
    window_limit: usize,
    /// Signalled while a source waits for room: sinks flush partial batches, since a batch
    /// that only a full size would flush may need more messages than the window lets through.
    pressure: Notify,
}

/// The default bound of a stream's window of held positions.
pub const DEFAULT_WINDOW_LIMIT: usize = 1_000_000;

impl Default for PositionTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl PositionTracker {
    /// An empty tracker with the default window bound.
    pub fn new() -> Self {
        Self::with_window_limit(DEFAULT_WINDOW_LIMIT)
    }

    /// An empty tracker whose streams hold at most `limit` positions before their source
    /// waits.
    pub fn with_window_limit(limit: usize) -> Self {
        PositionTracker {
            shared: Arc::new(Shared {
                streams: Mutex::new(HashMap::new()),
                version: AtomicU64::new(0),
                changed: Notify::new(),
                outstanding: AtomicU64::new(0),
                window_limit: limit.max(1),
                pressure: Notify::new(),
            }),
        }
    }

    /// A handle that fires while some source waits for room in its window.
    pub fn pressure(&self) -> Pressure {
        Pressure {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The stream whose oldest held position has waited longest, and for how long.
    pub fn oldest_held(&self) -> Option<(String, Duration)> {
        self.per_stream(|state| state.front_since.map(|since| since.elapsed()))
            .into_iter()
            .max_by_key(|(_, age)| *age)
    }

    /// What `read` gives of each stream's state (streams it gives nothing for left out).
    fn per_stream<T>(&self, read: impl Fn(&StreamState) -> Option<T>) -> Vec<(String, T)> {
        let streams = self.shared.streams.lock().expect("tracker lock");
        streams
            .iter()
            .filter_map(|(name, stream)| {
                let state = stream.inner.state.lock().expect("stream lock");
                read(&state).map(|value| (name.clone(), value))
            })
            .collect()
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
                    held: AtomicUsize::new(0),
                    room: Notify::new(),
                    shared: Arc::clone(&self.shared),
                }),
            })
            .clone()
    }

    /// The committed position of every stream that committed at least once, as JSON.
    pub fn committed(&self) -> BTreeMap<String, Value> {
        self.per_stream(|state| state.committed.as_ref().map(Position::to_json))
            .into_iter()
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

/// Fires while a source waits for room (see [`PositionTracker::pressure`]).
#[derive(Clone)]
pub struct Pressure {
    shared: Arc<Shared>,
}

impl Pressure {
    /// Waits until a source asks the sinks to flush what they hold.
    pub async fn flush_requested(&self) {
        self.shared.pressure.notified().await;
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
    /// The window's length, readable without the lock.
    held: AtomicUsize,
    /// Signalled when positions are released.
    room: Notify,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct StreamState {
    /// Sequence number of `window[0]`.
    base: u64,
    window: VecDeque<Slot>,
    committed: Option<Position>,
    /// Since when the oldest held position has been the oldest (`None`: nothing held).
    front_since: Option<Instant>,
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
        if state.window.len() == 1 {
            state.front_since = Some(Instant::now());
        }
        self.inner.held.store(state.window.len(), Ordering::Relaxed);
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
        if released > 0 {
            state.front_since = (!state.window.is_empty()).then(Instant::now);
            self.inner.held.store(state.window.len(), Ordering::Relaxed);
        }
        drop(state);
        if released > 0 {
            self.inner.room.notify_waiters();
            let shared = &self.inner.shared;
            shared.outstanding.fetch_sub(released, Ordering::Relaxed);
            shared.version.fetch_add(1, Ordering::Release);
            shared.changed.notify_one();
        }
    }

    /// Whether this stream may hold another position now (one atomic load).
    pub fn has_room(&self) -> bool {
        self.inner.held.load(Ordering::Relaxed) < self.inner.shared.window_limit
    }

    /// Waits while this stream holds as many positions as the tracker allows: backpressure on
    /// commits, not only on channels. Returns at once while there is room.
    pub async fn wait_for_room(&self) {
        let limit = self.inner.shared.window_limit;
        if self.inner.held.load(Ordering::Relaxed) < limit {
            return;
        }
        let mut warned = false;
        loop {
            let released = self.inner.room.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            if self.inner.held.load(Ordering::Relaxed) < limit {
                return;
            }
            if !warned {
                warned = true;
                let held_for = self
                    .inner
                    .state
                    .lock()
                    .expect("stream lock")
                    .front_since
                    .map(|since| since.elapsed());
                tracing::warn!(stream = %self.inner.name, held = limit, ?held_for,
                    "reading waits: this many positions are held behind one unacknowledged \
                     message (ackPolicy never/afterMainSinkSuccess, or a sink that does not \
                     finish)");
            }
            // Ask the sinks to flush partial batches, again and again while waiting (a sink
            // that was busy writing may not have been listening the first time).
            self.inner.shared.pressure.notify_waiters();
            let _ = tokio::time::timeout(Duration::from_millis(100), released).await;
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

    #[tokio::test]
    async fn a_held_position_makes_the_source_wait_once_the_window_is_full() {
        // U1: one held position kept a slot for every later message, without bound.
        let tracker = PositionTracker::with_window_limit(1000);
        let stream = tracker.stream("topic/0");
        let held = stream.track(Position::Count(0));
        for offset in 1..1000u64 {
            stream.wait_for_room().await;
            stream.track(Position::Count(offset)).ack();
        }
        assert_eq!(tracker.outstanding(), 1000);
        let waiting =
            tokio::time::timeout(Duration::from_millis(100), stream.wait_for_room()).await;
        assert!(waiting.is_err(), "the window is full: the source waits");
        let (name, age) = tracker.oldest_held().expect("a position is held");
        assert_eq!(name, "topic/0");
        assert!(age >= Duration::from_millis(100));
        let waiter = tokio::spawn({
            let stream = stream.clone();
            async move { stream.wait_for_room().await }
        });
        tokio::task::yield_now().await;
        held.ack();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released positions make room")
            .unwrap();
        assert_eq!(tracker.outstanding(), 0);
        assert!(tracker.oldest_held().is_none());
        assert_eq!(tracker.committed()["topic/0"], json!(999));
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
                head: 0,
            })
            .ack();
        assert_eq!(
            tracker.committed()["in.jsonl"],
            json!({"offset": 120, "line": 3})
        );
    }
}
