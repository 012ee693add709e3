//! Reading manifests from files and reporting their problems.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dataflow_spec::{LoadedFile, Problem, load_text};

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
                loaded: load_text(&text),
            })
        })
        .collect()
}

/// `file:line:col: path: message`, the format editors and CI annotate.
pub fn format_problem(file: &Path, problem: &Problem) -> String {
    format!("{}:{problem}", file.display())
}
