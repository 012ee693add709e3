//! Validation problems: what is wrong, where (field path and line:column), and how bad.

use std::fmt;

use crate::yaml::Position;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The DataFlow cannot run.
    Error,
    /// The DataFlow runs, but probably not as intended.
    Warning,
}

/// One problem found in a DataFlow document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path as the user wrote it, e.g. `spec.sink.config.table`.
    pub path: String,
    /// Plain description: what is wrong and what was expected.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
    /// Where the field (or its nearest written ancestor) is, when known.
    pub position: Option<Position>,
    /// The problem is the key itself (an unknown field), not its value: point at the key.
    pub about_key: bool,
}

impl Problem {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            severity: Severity::Error,
            position: None,
            about_key: false,
        }
    }

    /// An error about a key that should not be there.
    pub fn unknown_key(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            about_key: true,
            ..Problem::error(path, message)
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(path, message)
        }
    }

    /// Whether this problem prevents the DataFlow from running.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(position) = self.position {
            write!(f, "{}:{}: ", position.line, position.column)?;
        }
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The closest candidate to `word` (for "did you mean" hints), if one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = if candidate.to_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &candidate.to_lowercase())
            };
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance counting an adjacent swap as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("tabel", ["table", "query"]), Some("table"));
        assert_eq!(did_you_mean("batchsize", ["batchSize"]), Some("batchSize"));
        assert_eq!(did_you_mean("xyz", ["table", "query"]), None);
    }
}
