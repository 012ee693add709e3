//! Keeps the group's committed offset from moving back after a rebalance (audit U6).
//!
//! Positions are committed in read order per partition. When a partition is revoked while some
//! of its records are still on their way, and later comes back after another member committed
//! further, the late acknowledgements of the old records would store their older offsets and
//! move the group's offset back (duplicates on the next reassignment, never a loss). After
//! each rebalance the first offset read per partition is the group's committed offset at that
//! time; an offset below it is from an earlier assignment and is not stored.
//!
//! Layout: [`Rebalances`] counts rebalances (bumped by the consumer context);
//! [`AssignmentFloors`] remembers the first offset read per partition since the latest one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A count of rebalances, shared by the consumer context and the reading loop.
#[derive(Clone, Default)]
pub(super) struct Rebalances(Arc<AtomicU64>);

impl Rebalances {
    /// Counts one more rebalance.
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Rebalances so far.
    pub(super) fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Per partition, the first offset read since the latest rebalance.
#[derive(Debug, Default)]
pub(super) struct AssignmentFloors {
    rebalances: u64,
    first_read: HashMap<i32, i64>,
}

impl AssignmentFloors {
    /// Notes a record read at `offset`; a rebalance since the last call forgets every floor.
    pub(super) fn read(&mut self, rebalances: u64, partition: i32, offset: i64) {
        if rebalances != self.rebalances {
            self.first_read.clear();
            self.rebalances = rebalances;
        }
        self.first_read.entry(partition).or_insert(offset);
    }

    /// Whether storing `committed` (the last record written: the group's offset becomes the one
    /// after it) cannot move the group's offset back: a record of the partition was read since
    /// the latest rebalance, and `committed` is not before the first of them.
    pub(super) fn may_store(&self, rebalances: u64, partition: i32, committed: i64) -> bool {
        rebalances == self.rebalances
            && self
                .first_read
                .get(&partition)
                .is_some_and(|&first| committed + 1 >= first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_from_before_the_latest_assignment_is_not_stored() {
        let mut floors = AssignmentFloors::default();
        floors.read(1, 0, 100);
        assert!(
            floors.may_store(1, 0, 99),
            "the offset the group already has"
        );
        assert!(floors.may_store(1, 0, 150));
        // Revoked with 100..=150 in flight; another member commits up to 400; back to us.
        floors.read(3, 0, 400);
        assert!(
            !floors.may_store(3, 0, 150),
            "a late acknowledgement of the old records"
        );
        assert!(floors.may_store(3, 0, 399));
        assert!(floors.may_store(3, 0, 420));
    }

    #[test]
    fn nothing_is_stored_between_a_rebalance_and_the_next_record() {
        let mut floors = AssignmentFloors::default();
        floors.read(1, 0, 10);
        floors.read(1, 1, 20);
        assert!(!floors.may_store(2, 0, 15), "a rebalance happened since");
        floors.read(2, 1, 5);
        assert!(
            !floors.may_store(2, 0, 15),
            "partition 0 has not been read again"
        );
        assert!(floors.may_store(2, 1, 5));
    }
}
