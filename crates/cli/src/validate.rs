//! `dataflow validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::files::{format_problem, load};

/// Prints every problem of every file; fails when any is an error.
pub fn validate(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let manifests = load(paths)?;
    let mut errors = 0usize;
    for manifest in &manifests {
        let mut problems = 0usize;
        for problem in manifest.problems() {
            problems += 1;
            if problem.is_error() {
                errors += 1;
            }
            println!("{}", format_problem(&manifest.path, problem));
        }
        if manifest.loaded.flows.is_empty() && manifest.loaded.problems.is_empty() {
            errors += 1;
            println!("{}: no DataFlow found", manifest.path.display());
        } else if problems == 0 {
            println!(
                "{}: ok ({} DataFlow)",
                manifest.path.display(),
                manifest.loaded.flows.len()
            );
        }
    }
    if errors > 0 {
        eprintln!("{errors} error(s)");
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
