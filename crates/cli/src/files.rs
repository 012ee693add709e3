//! Reading manifests from files and reporting their problems.

use std::path::{Path, PathBuf};

use anyhow::Context;
use anyhow::bail;
use dataflow_spec::{DataFlow, LoadedFile, Problem, load_text_with};

/// One manifest file, loaded and checked.
pub struct Manifest {
    /// Where it came from.
    pub path: PathBuf,
    /// What it holds.
    pub loaded: LoadedFile,
}

impl Manifest {
    /// Every problem of the file: file-level first, then per DataFlow.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.loaded.problems.iter().chain(
            self.loaded
                .flows
                .iter()
                .flat_map(|flow| flow.problems.iter()),
        )
    }
}

/// Reads and checks each file.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Manifest>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Manifest {
                path: path.clone(),
                loaded: load_text_with(&text, &dataflow_transform::check),
            })
        })
        .collect()
}

/// `file:line:col: path: message`, the format editors and CI annotate.
pub fn format_problem(file: &Path, problem: &Problem) -> String {
    format!("{}:{problem}", file.display())
}

/// The one DataFlow of the files, after printing every problem to standard error; errors stop
/// here.
pub fn single_flow(manifests: &[Manifest]) -> anyhow::Result<DataFlow> {
    let mut errors = 0;
    for manifest in manifests {
        for problem in manifest.problems() {
            if problem.is_error() {
                errors += 1;
            }
            eprintln!("{}", format_problem(&manifest.path, problem));
        }
    }
    if errors > 0 {
        bail!("{errors} problem(s) in the DataFlow; nothing was run");
    }
    let flows: Vec<(&Path, &DataFlow)> = manifests
        .iter()
        .flat_map(|m| {
            m.loaded
                .flows
                .iter()
                .filter_map(|checked| checked.flow.as_ref())
                .map(|flow| (m.path.as_path(), flow))
        })
        .collect();
    match flows.as_slice() {
        [(_, one)] => Ok((*one).clone()),
        [] => bail!("no DataFlow found in the given files"),
        many => bail!(
            "found {} DataFlows ({}); `run` takes one",
            many.len(),
            many.iter()
                .map(|(path, flow)| format!(
                    "{}/{} in {}",
                    flow.namespace(),
                    flow.name(),
                    path.display()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The chain of a validated DataFlow (its problems were reported by validation already).
pub fn chain_of(flow: &DataFlow) -> anyhow::Result<std::sync::Arc<dataflow_transform::Chain>> {
    dataflow_transform::build_chain(flow).map_err(|problems| {
        anyhow::anyhow!(
            "{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}
