//! Shared helpers for the integration tests: anchor paths (the repository's copies of the
//! published data, see anchors/README.md) and unique temporary folders.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Path of an anchor file of this crate.
pub fn anchor(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("anchors")
        .join(name)
}

/// A fresh empty folder under the system temp dir, unique per process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "clipscale-analysis-{tag}-{}-{n}-{nanos}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Rounds to `digits` significant digits.
pub fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Asserts `got` equals `want` to `digits` significant digits.
pub fn assert_sig(what: &str, got: f64, want: f64, digits: i32) {
    assert_eq!(
        round_sig(got, digits),
        round_sig(want, digits),
        "{what}: got {got}, published {want}"
    );
}
