//! The transformation hook: a chain that turns one record into zero or more.

use crate::message::Record;

/// A transformation failed on a record.
#[derive(Debug, Clone)]
pub struct TransformFailure {
    /// The record the failing step received.
    pub record: Record,
    /// Stage label: `transform:<index>:<type>`.
    pub stage: String,
    /// What went wrong.
    pub reason: String,
}

/// The outcome of the chain for one derived record.
pub type Derived = Result<Record, Box<TransformFailure>>;

/// Applies the transformation chain to one record.
pub trait Transformer: Send + Sync {
    /// Appends to `out` every record derived from `record` and every failure (nothing appended
    /// = filtered out).
    fn apply(&self, record: Record, out: &mut Vec<Derived>);

    /// Whether the chain leaves every record unchanged (lets the engine skip it).
    fn is_identity(&self) -> bool {
        false
    }
}

/// The empty chain: every record passes unchanged.
pub struct PassThrough;

impl Transformer for PassThrough {
    fn apply(&self, record: Record, out: &mut Vec<Derived>) {
        out.push(Ok(record));
    }

    fn is_identity(&self) -> bool {
        true
    }
}
