//! File helpers for trial records: atomic JSON documents (temp file, fsync, rename), JSON-lines
//! appends (one whole line per write) and a JSON-lines reader that names file and line on a bad
//! record and tolerates a truncated last line left by a crash mid-append. Mirrors no paper.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AnalysisError, Result};

/// Writes `value` as pretty JSON to `path` atomically: a temporary file in the same directory is
/// written, fsynced and renamed over `path`, so readers see the old document or the new one,
/// never half of one.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| AnalysisError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })?;
    text.push('\n');
    clipscale_core::fs::write_atomic(path, text.as_bytes())
        .map_err(|e| AnalysisError::io(&e.path, e.action, e.source))
}

/// Appends `value` as one JSON line to `path` (created if missing) with a single write, then
/// flushes. A crash can at worst leave a truncated last line, which [`read_jsonl`] skips.
pub fn append_jsonl<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut line = serde_json::to_string(value).map_err(|source| AnalysisError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })?;
    line.push('\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AnalysisError::io(path, "opening for append", e))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| AnalysisError::io(path, "appending a line", e))
}

/// Reads one JSON document.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| AnalysisError::io(path, "reading", e))?;
    serde_json::from_str(&text).map_err(|source| AnalysisError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })
}

/// The records of a JSON-lines file, each with its 1-based line number, and any warnings.
#[derive(Debug, Clone)]
pub struct JsonlRead<T> {
    pub records: Vec<(usize, T)>,
    /// Human-readable notes, e.g. a skipped truncated last line.
    pub warnings: Vec<String>,
}

/// Reads a JSON-lines file. Blank lines are ignored. A bad line is an error naming the file and
/// line, except the last line when it is a truncated record (JSON ended early, as after a crash
/// mid-append): that one is skipped and reported in `warnings`.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<JsonlRead<T>> {
    let text = fs::read_to_string(path).map_err(|e| AnalysisError::io(path, "reading", e))?;
    let lines: Vec<&str> = text.lines().collect();
    let last_nonblank = lines.iter().rposition(|l| !l.trim().is_empty());
    let mut out = JsonlRead {
        records: Vec::new(),
        warnings: Vec::new(),
    };
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(v) => out.records.push((i + 1, v)),
            Err(e) if Some(i) == last_nonblank && e.is_eof() => out.warnings.push(format!(
                "{}:{}: skipped truncated last line ({e}); the writer probably stopped mid-append",
                path.display(),
                i + 1
            )),
            Err(source) => {
                return Err(AnalysisError::Json {
                    path: path.to_path_buf(),
                    line: Some(i + 1),
                    source,
                });
            }
        }
    }
    Ok(out)
}
