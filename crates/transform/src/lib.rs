//! The transformations of a DataFlow: compiled field paths, the condition language, the
//! eighteen step types, and the chain that runs them in order.
//!
//! Layout: `path` compiles field paths, `condition` the condition language (reading values
//! through `value`: a value as text and as truth), and `timefmt` the time formats; `steps`
//! has one module per transformation type, each compiled into a `Transformation`; `chain`
//! runs the steps in order, each with its optional `when`. This file compiles a flow's chain
//! ([`build_chain`]) and adds the chain's rules to `dataflow validate` ([`check`]).

pub mod chain;
pub mod condition;
pub mod path;
pub mod steps;
pub mod timefmt;
pub mod value;

use std::sync::Arc;

use dataflow_spec::{DataFlow, Problem};

pub use chain::{Chain, Fate};
pub use condition::Condition;
pub use path::FieldPath;

/// Compiles the chain of a DataFlow.
pub fn build_chain(flow: &DataFlow) -> Result<Arc<Chain>, Vec<Problem>> {
    Chain::compile(&flow.spec.transformations).map(Arc::new)
}

/// The transformation rules `dataflow validate` adds to the model's own: every path, condition,
/// format and zone compiles. Use with [`dataflow_spec::load_text_with`].
pub fn check(flow: &DataFlow) -> Vec<Problem> {
    match Chain::compile(&flow.spec.transformations) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}
