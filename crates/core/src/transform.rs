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

/// What each step of a chain did over a run of records: added up without atomics by the
/// worker running the chain, and moved into the metrics once per run (see
/// [`crate::telemetry::TransformerMetrics::flush`]).
#[derive(Debug, Default, Clone)]
pub struct StepTally {
    /// Per step, in chain order (empty: nothing is counted).
    pub steps: Vec<StepCounts>,
}

impl StepTally {
    /// A tally for a chain of `steps` steps.
    pub fn for_steps(steps: usize) -> Self {
        StepTally {
            steps: vec![StepCounts::default(); steps],
        }
    }
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepCounts {
    /// Records that reached the step.
    pub input: u64,
    /// Records the step ran on (its `when` matched).
    pub executions: u64,
    /// Records it passed on (kept, derived, or skipped by its `when`).
    pub output: u64,
    /// Records it failed on.
    pub errors: u64,
}

/// Applies the transformation chain to one record.
pub trait Transformer: Send + Sync {
    /// Appends to `out` every record derived from `record` and every failure (nothing appended
    /// = filtered out), counting what each step did in `tally`.
    fn apply(&self, record: Record, out: &mut Vec<Derived>, tally: &mut StepTally);

    /// Whether the chain leaves every record unchanged (lets the engine skip it).
    fn is_identity(&self) -> bool {
        false
    }
}

/// The empty chain: every record passes unchanged.
pub struct PassThrough;

impl Transformer for PassThrough {
    fn apply(&self, record: Record, out: &mut Vec<Derived>, _tally: &mut StepTally) {
        out.push(Ok(record));
    }

    fn is_identity(&self) -> bool {
        true
    }
}
