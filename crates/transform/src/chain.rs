//! The compiled chain: steps in order, each with its optional `when`, turning one record into
//! its outputs, drops and failures.

use dataflow_core::transform::StepTally;
use dataflow_core::{Derived, Record, TransformFailure, Transformer};
use dataflow_spec::{Problem, TransformationSpec};

use crate::condition::Condition;
use crate::steps::{self, Effect, Transformation};

struct CompiledStep {
    index: usize,
    kind: &'static str,
    when: Option<Condition>,
    transformation: Box<dyn Transformation>,
}

/// What became of a record (or of one derived from it).
#[derive(Debug)]
pub enum Fate {
    /// Passed every step.
    Out(Record),
    /// Dropped by a step (a filter, a tombstone, …).
    Dropped {
        /// Index of the step.
        step: usize,
        /// Its type.
        kind: &'static str,
    },
    /// A step failed on it.
    Failed(Box<TransformFailure>),
}

/// A compiled transformation chain.
pub struct Chain {
    steps: Vec<CompiledStep>,
}

impl Chain {
    /// Compiles every step; all problems are reported, with normalised paths
    /// (`spec.transformations[2].config.fields[0]`, `spec.transformations[1].when`).
    pub fn compile(specs: &[TransformationSpec]) -> Result<Chain, Vec<Problem>> {
        let mut steps = Vec::with_capacity(specs.len());
        let mut problems = Vec::new();
        let mut first_route = 0;
        for (index, spec) in specs.iter().enumerate() {
            let base = format!("spec.transformations[{index}]");
            let when = match &spec.when {
                Some(text) => match Condition::parse(text) {
                    Ok(condition) => Some(condition),
                    Err(e) => {
                        problems.push(Problem::error(format!("{base}.when"), e.to_string()));
                        None
                    }
                },
                None => None,
            };
            match steps::compile(&spec.step, first_route) {
                Ok(transformation) => steps.push(CompiledStep {
                    index,
                    kind: spec.type_name(),
                    when,
                    transformation,
                }),
                Err(step_problems) => {
                    for (field, message) in step_problems {
                        let path = if field.is_empty() {
                            format!("{base}.config")
                        } else {
                            format!("{base}.config.{field}")
                        };
                        problems.push(Problem::error(path, message));
                    }
                }
            }
            if let dataflow_spec::Step::Router(router) = &spec.step {
                first_route += router.routes.len();
            }
        }
        if problems.is_empty() {
            Ok(Chain { steps })
        } else {
            Err(problems)
        }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the chain has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The type of each step, in order (the `transformer_type` label).
    pub fn step_types(&self) -> Vec<&'static str> {
        self.steps.iter().map(|step| step.kind).collect()
    }

    /// Runs the chain on `record`, appending the fate of it and of every record derived from it.
    pub fn run(&self, record: Record, fates: &mut Vec<Fate>) {
        self.run_tallied(record, fates, &mut StepTally::default());
    }

    /// [`Chain::run`], counting what each step did in `tally` (nothing when it is empty).
    pub fn run_tallied(&self, mut record: Record, fates: &mut Vec<Fate>, tally: &mut StepTally) {
        if !self.steps.is_empty()
            && let Err(inexact) = record.payload.parse_text()
        {
            let first = &self.steps[0];
            if let Some(counts) = tally.steps.first_mut() {
                counts.input += 1;
                counts.errors += 1;
            }
            fates.push(Fate::Failed(Box::new(TransformFailure {
                record,
                stage: format!("transform:{}:{}", first.index, first.kind),
                reason: format!("reading the payload: {inexact}"),
            })));
            return;
        }
        self.run_from(0, record, fates, tally);
    }

    fn run_from(
        &self,
        start: usize,
        mut record: Record,
        fates: &mut Vec<Fate>,
        tally: &mut StepTally,
    ) {
        for (position, step) in self.steps.iter().enumerate().skip(start) {
            let mut counts = tally.steps.get_mut(position);
            if let Some(counts) = counts.as_deref_mut() {
                counts.input += 1;
            }
            if let Some(when) = &step.when
                && !when.matches(&record)
            {
                if let Some(counts) = counts {
                    counts.output += 1; // passed on unchanged
                }
                continue;
            }
            let effect = step.transformation.apply(&mut record);
            if let Some(counts) = counts {
                counts.executions += 1;
                match &effect {
                    Ok(Effect::Keep) => counts.output += 1,
                    Ok(Effect::Expand(records)) => counts.output += records.len() as u64,
                    Ok(Effect::Drop) => {}
                    Err(_) => counts.errors += 1,
                }
            }
            match effect {
                Ok(Effect::Keep) => {}
                Ok(Effect::Drop) => {
                    fates.push(Fate::Dropped {
                        step: step.index,
                        kind: step.kind,
                    });
                    return;
                }
                Ok(Effect::Expand(records)) => {
                    for derived in records {
                        self.run_from(position + 1, derived, fates, tally);
                    }
                    return;
                }
                Err(reason) => {
                    fates.push(Fate::Failed(Box::new(TransformFailure {
                        record,
                        stage: format!("transform:{}:{}", step.index, step.kind),
                        reason,
                    })));
                    return;
                }
            }
        }
        fates.push(Fate::Out(record));
    }
}

impl Transformer for Chain {
    fn apply(&self, record: Record, out: &mut Vec<Derived>, tally: &mut StepTally) {
        let mut fates = Vec::with_capacity(1);
        self.run_tallied(record, &mut fates, tally);
        out.extend(fates.into_iter().filter_map(|fate| match fate {
            Fate::Out(record) => Some(Ok(record)),
            Fate::Failed(failure) => Some(Err(failure)),
            Fate::Dropped { .. } => None,
        }));
    }

    fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }
}
