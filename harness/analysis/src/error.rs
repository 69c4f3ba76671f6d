//! The crate's one error type. Every variant names where the problem is (file, line or row,
//! column or key) and the offending value, so a bad results tree or table can be fixed without a
//! debugger. Mirrors no paper; it is plumbing shared by records, collect, fits, plots and bench.

use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = AnalysisError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading records, collecting tables, fitting laws or
/// drawing plots.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A file or directory could not be read, written or renamed.
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },

    /// A JSON document (or one line of a JSON-lines file) did not parse into the expected record.
    #[error("{path}{}: {source}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Json {
        path: PathBuf,
        line: Option<usize>,
        source: serde_json::Error,
    },

    /// A record was written by a newer harness than this reader understands.
    #[error("{path}{}: schema_version {found} is newer than supported version {supported}",
        line.map(|l| format!(":{l}")).unwrap_or_default())]
    Schema {
        path: PathBuf,
        line: Option<usize>,
        found: u32,
        supported: u32,
    },

    /// The CSV layer failed (malformed quoting, unequal row lengths, ...).
    #[error("{path}: CSV error: {source}")]
    Csv { path: PathBuf, source: csv::Error },

    /// A table lacks columns the requested operation needs.
    #[error("{path}: missing column(s) {}; the table has: {}", missing.join(", "), present.join(", "))]
    MissingColumns {
        path: PathBuf,
        missing: Vec<String>,
        present: Vec<String>,
    },

    /// A cell (or a JSON key) holds a value that cannot be used.
    #[error("{path}:{line}: column `{column}` has bad value {value:?}: {reason}")]
    BadValue {
        path: PathBuf,
        line: usize,
        column: String,
        value: String,
        reason: String,
    },

    /// A log-space fit met a value that is zero or negative.
    #[error("{axis} must be > 0 for a log fit, but {where_} has {value}")]
    NonPositive {
        axis: String,
        where_: String,
        value: f64,
    },

    /// Not enough points for the chosen law.
    #[error(
        "the {law} law needs at least {needed} points ({why}), but there {} only {got}",
        if *got == 1 { "is" } else { "are" }
    )]
    TooFewPoints {
        law: String,
        needed: usize,
        got: usize,
        why: String,
    },

    /// A dataset, metric, sweep, ... was asked for that the table does not hold.
    #[error(
        "{}: no rows with {kind} {value:?}; present: {}",
        path.display(),
        if present.is_empty() { "none (the table has no rows)".to_string() } else { present.join(", ") }
    )]
    UnknownSelection {
        path: PathBuf,
        kind: String,
        value: String,
        present: Vec<String>,
    },

    /// An option was needed but the table leaves it ambiguous.
    #[error(
        "{}: please choose --{kind}; the selected rows hold {}",
        path.display(),
        if present.is_empty() { "none (the table has no rows)".to_string() } else { format!("several: {}", present.join(", ")) }
    )]
    Ambiguous {
        path: PathBuf,
        kind: String,
        present: Vec<String>,
    },

    /// Some input made a fit impossible (degenerate design, optimiser failure, ...).
    #[error("{law} fit failed: {message}")]
    Fit { law: String, message: String },

    /// A value drawn on a logarithmic plot axis is zero, negative or not finite.
    #[error("{axis} is drawn on a log axis and must be > 0, but {where_} has {value}")]
    NonPositiveOnLogAxis {
        axis: String,
        where_: String,
        value: f64,
    },

    /// Nothing is left to draw after filtering.
    #[error("nothing to plot: {what}")]
    NothingToPlot { what: String },

    /// Drawing or encoding a figure failed.
    #[error("{path}: plotting failed: {message}")]
    Plot { path: PathBuf, message: String },

    /// A command-line or API argument is out of range.
    #[error("invalid argument {name}: {message}")]
    InvalidArgument { name: String, message: String },
}

impl AnalysisError {
    /// Shorthand for an I/O error on `path`.
    pub fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        AnalysisError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// Shorthand for a bad cell value.
    pub fn bad_value(
        path: &Path,
        line: usize,
        column: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        AnalysisError::BadValue {
            path: path.to_path_buf(),
            line,
            column: column.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a failed fit.
    pub fn fit(law: &str, message: impl Into<String>) -> Self {
        AnalysisError::Fit {
            law: law.to_string(),
            message: message.into(),
        }
    }

    /// Shorthand for an invalid argument.
    pub fn arg(name: &str, message: impl Into<String>) -> Self {
        AnalysisError::InvalidArgument {
            name: name.to_string(),
            message: message.into(),
        }
    }
}
