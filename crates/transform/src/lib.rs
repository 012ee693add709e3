//! Builds the transformation chain of a DataFlow.
//!
//! The eighteen transformation types of the original are specified in `dataflow-spec`
//! (validation accepts them); their implementations land here with the transformations issue.
//! Until then a flow that declares steps is refused at start-up with a clear error, rather than
//! silently passing messages through untransformed.

use std::sync::Arc;

use dataflow_core::{PassThrough, Transformer};
use dataflow_spec::TransformationSpec;

/// The chain could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ChainError {
    /// Field path of the step.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Builds the chain for `steps` (in order).
pub fn build_chain(steps: &[TransformationSpec]) -> Result<Arc<dyn Transformer>, ChainError> {
    match steps.first() {
        None => Ok(Arc::new(PassThrough)),
        Some(step) => Err(ChainError {
            path: "spec.transformations[0].type".into(),
            message: format!(
                "transformation `{}` is valid but not implemented in this version yet; remove \
                 the transformations to run the flow",
                step.kind
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_chain_is_identity_and_steps_are_refused() {
        assert!(build_chain(&[]).unwrap().is_identity());
        let step = TransformationSpec {
            kind: "mask".into(),
            when: None,
            config: Default::default(),
        };
        let error = build_chain(&[step]).err().unwrap();
        assert!(error.to_string().contains("transformation `mask`"));
    }
}
