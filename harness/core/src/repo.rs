//! Where the repository is: benchmarks record into `results/benchmarks/` and the plot commands
//! read the anchors from it, whatever folder the command was started in.

use std::path::{Path, PathBuf};

/// `given` when set; else git's top level of the current folder; else the current folder.
#[must_use]
pub fn repo_root(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from("."))
}
