//! Acknowledgement tokens with a counted barrier.
//!
//! A source binds each message to a token. A transformation that turns one message into N
//! splits the token into N; the source position is acknowledged only when all N are. A token
//! dropped without [`AckToken::ack`] never acknowledges: its position stays held (progress stops
//! visibly instead of data being lost).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::tracker::StreamHandle;

/// What a fully acknowledged token releases.
enum Target {
    /// A source position in a stream.
    Position { stream: StreamHandle, seq: u64 },
    /// Arbitrary code (tests, sources with their own bookkeeping).
    Callback(Box<dyn Fn() + Send + Sync>),
}

struct Node {
    pending: AtomicUsize,
    target: Target,
}

impl Node {
    fn fire(&self) {
        match &self.target {
            Target::Position { stream, seq } => stream.acknowledge(*seq),
            Target::Callback(callback) => callback(),
        }
    }
}

/// Releases the positions of a run of fully acknowledged nodes of one stream.
fn release(run: &mut Vec<Arc<Node>>) {
    if let Some(Target::Position { stream, .. }) = run.first().map(|node| &node.target) {
        stream.acknowledge_all(run.iter().map(|node| match node.target {
            Target::Position { seq, .. } => seq,
            Target::Callback(_) => unreachable!("a run holds positions only"),
        }));
    }
    run.clear();
}

/// A claim on one source position. Not `Clone`: use [`AckToken::split`] to share it.
#[must_use = "a dropped token holds its source position forever; call ack()"]
pub struct AckToken(Option<Arc<Node>>);

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(node) => write!(
                f,
                "AckToken(pending={})",
                node.pending.load(Ordering::Relaxed)
            ),
            None => write!(f, "AckToken(none)"),
        }
    }
}

impl AckToken {
    /// A token bound to nothing: acknowledging it has no effect.
    pub fn none() -> Self {
        AckToken(None)
    }

    /// A token that runs `callback` once fully acknowledged.
    pub fn from_callback(callback: impl Fn() + Send + Sync + 'static) -> Self {
        AckToken::with_target(Target::Callback(Box::new(callback)))
    }

    pub(crate) fn for_position(stream: StreamHandle, seq: u64) -> Self {
        AckToken::with_target(Target::Position { stream, seq })
    }

    fn with_target(target: Target) -> Self {
        AckToken(Some(Arc::new(Node {
            pending: AtomicUsize::new(1),
            target,
        })))
    }

    /// Whether the stream of this token's position may hold another one now (always for
    /// other tokens).
    pub fn has_room(&self) -> bool {
        match &self.0 {
            Some(node) => match &node.target {
                Target::Position { stream, .. } => stream.has_room(),
                Target::Callback(_) => true,
            },
            None => true,
        }
    }

    /// Waits while the stream of this token's position holds as many positions as allowed
    /// (see [`StreamHandle::wait_for_room`]); returns at once for other tokens.
    pub async fn wait_for_room(&self) {
        if let Some(node) = &self.0
            && let Target::Position { stream, .. } = &node.target
        {
            stream.wait_for_room().await;
        }
    }

    /// Acknowledges this share; the position is released when every share is acknowledged.
    pub fn ack(mut self) {
        if let Some(node) = self.0.take()
            && node.pending.fetch_sub(1, Ordering::AcqRel) == 1
        {
            node.fire();
        }
    }

    /// Acknowledges many shares at once: positions of one stream released one after another
    /// are acknowledged under one lock of that stream (a batch's worth of messages costs one
    /// lock per partition instead of one per message).
    pub fn ack_all(tokens: impl IntoIterator<Item = AckToken>) {
        // Fully acknowledged nodes of the same stream, waiting to be released together.
        let mut run: Vec<Arc<Node>> = Vec::new();
        for mut token in tokens {
            let Some(node) = token.0.take() else {
                continue;
            };
            if node.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
                continue;
            }
            match (&node.target, run.first().map(|first| &first.target)) {
                (
                    Target::Position { stream, .. },
                    Some(Target::Position {
                        stream: current, ..
                    }),
                ) if stream.same_stream(current) => {}
                (Target::Callback(_), _) => {
                    node.fire();
                    continue;
                }
                _ => release(&mut run),
            }
            run.push(node);
        }
        release(&mut run);
    }

    /// Splits into `count` shares of the same position. `count == 0` acknowledges at once
    /// (the message was filtered out).
    pub fn split(self, count: usize) -> Vec<AckToken> {
        match count {
            0 => {
                self.ack();
                Vec::new()
            }
            1 => vec![self],
            _ => {
                let mut this = self;
                let Some(node) = this.0.take() else {
                    return (0..count).map(|_| AckToken::none()).collect();
                };
                node.pending.fetch_add(count - 1, Ordering::AcqRel);
                (0..count)
                    .map(|_| AckToken(Some(Arc::clone(&node))))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting() -> (AckToken, Arc<AtomicUsize>) {
        let fired = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&fired);
        let token = AckToken::from_callback(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        (token, fired)
    }

    #[test]
    fn fires_once_after_every_share() {
        let (token, fired) = counting();
        let mut shares = token.split(3);
        shares.pop().unwrap().ack();
        shares.pop().unwrap().ack();
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        shares.pop().unwrap().ack();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn nested_splits_share_one_barrier() {
        let (token, fired) = counting();
        let mut shares = token.split(2);
        let inner = shares.pop().unwrap().split(2);
        for share in inner {
            share.ack();
        }
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        shares.pop().unwrap().ack();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn zero_outputs_acknowledge_at_once() {
        let (token, fired) = counting();
        assert!(token.split(0).is_empty());
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn ack_all_releases_interleaved_streams_and_holds_gaps() {
        use crate::tracker::{Position, PositionTracker};
        use serde_json::json;

        let tracker = PositionTracker::new();
        let (p0, p1) = (tracker.stream("t/0"), tracker.stream("t/1"));
        let mut tokens: Vec<AckToken> = Vec::new();
        for offset in 0..4 {
            tokens.push(p0.track(Position::Count(offset)));
            tokens.push(p1.track(Position::Count(100 + offset)));
        }
        // Hold p1's second position (index 3): p1 may commit only its first.
        let held = tokens.remove(3);
        let (token, fired) = counting();
        let mut shares = token.split(2);
        tokens.push(shares.pop().unwrap());
        AckToken::ack_all(tokens);
        assert_eq!(tracker.committed()["t/0"], json!(3));
        assert_eq!(tracker.committed()["t/1"], json!(100));
        assert_eq!(tracker.outstanding(), 3);
        assert_eq!(fired.load(Ordering::SeqCst), 0, "one share is still out");
        AckToken::ack_all([held, shares.pop().unwrap(), AckToken::none()]);
        assert_eq!(tracker.committed()["t/1"], json!(103));
        assert_eq!(tracker.outstanding(), 0);
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_dropped_share_holds_the_position() {
        let (token, fired) = counting();
        let mut shares = token.split(2);
        shares.pop().unwrap().ack();
        drop(shares);
        assert_eq!(fired.load(Ordering::SeqCst), 0);
    }
}
