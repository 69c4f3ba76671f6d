//! Where a run happened: git commit and dirty flag, versions, backend, device, host, threads.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use clipscale_analysis::records::Provenance;

use crate::backend::BackendInfo;

/// The burn version clipscale is pinned to (Cargo.toml: `burn = "=0.21.0"`).
pub const BURN_VERSION: &str = "0.21.0";

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Threads the CPU backend uses: RAYON_NUM_THREADS if set, else every logical core.
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub fn now_unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Collected now, for a run on `info`'s backend.
pub fn collect(info: &BackendInfo) -> Provenance {
    Provenance {
        git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
            .map(|s| !s.is_empty())
            .unwrap_or(false),
        clipscale_version: env!("CARGO_PKG_VERSION").to_string(),
        burn_version: BURN_VERSION.to_string(),
        backend: info.backend.to_string(),
        device: info.device.to_string(),
        float_type: info.float_type.to_string(),
        threads: cpu_threads(),
        host: host_name(),
        started_unix_s: now_unix_s(),
    }
}
