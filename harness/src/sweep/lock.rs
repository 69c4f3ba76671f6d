//! Trial locks: a file created exclusively in the trial directory, holding the owner's host, pid
//! and a heartbeat. Two executors (local or Slurm) never run the same trial at once; a lock whose
//! owner is gone (same host, process not alive; or another host and a heartbeat older than the
//! stale limit) is taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use clipscale_analysis::trial::TrialDir;
use serde::{Deserialize, Serialize};

use crate::provenance::{host_name, now_unix_s};
/// A lock from another host whose heartbeat is older than this is stale.
pub const STALE_AFTER_S: f64 = 600.0;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub acquired_unix_s: f64,
    pub heartbeat_unix_s: f64,
}

#[derive(Debug)]
pub struct TrialLock {
    path: PathBuf,
    info: LockInfo,
}

/// Whether a process with this pid exists on this host.
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && {
        // a zombie is not alive
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
            .unwrap_or(false)
    }
}

/// Who holds the lock of `trial`, if anyone alive does.
pub fn holder(trial: &TrialDir) -> Option<LockInfo> {
    let text = std::fs::read_to_string(trial.lock_path()).ok()?;
    let info: LockInfo = serde_json::from_str(&text).ok()?;
    let stale = if info.host == host_name() {
        !pid_alive(info.pid)
    } else {
        now_unix_s() - info.heartbeat_unix_s > STALE_AFTER_S
    };
    (!stale).then_some(info)
}

impl TrialLock {
    /// Takes the lock, or returns who holds it.
    pub fn acquire(trial: &TrialDir) -> std::io::Result<Result<Self, LockInfo>> {
        std::fs::create_dir_all(trial.path())?;
        let path = trial.lock_path();
        for _ in 0..3 {
            let now = now_unix_s();
            let info = LockInfo {
                host: host_name(),
                pid: std::process::id(),
                acquired_unix_s: now,
                heartbeat_unix_s: now,
            };
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(
                        serde_json::to_string(&info)
                            .expect("plain struct")
                            .as_bytes(),
                    )?;
                    f.sync_all()?;
                    return Ok(Ok(Self { path, info }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some(owner) = holder(trial) {
                        return Ok(Err(owner));
                    }
                    // stale (or unreadable, e.g. its writer was killed mid-write): take it over
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "could not take the lock {}",
            path.display()
        )))
    }

    /// Refreshes the heartbeat (atomically; a failed refresh leaves the older heartbeat, which
    /// other hosts take as stale only after [`STALE_AFTER_S`]).
    pub fn heartbeat(&mut self) {
        self.info.heartbeat_unix_s = now_unix_s();
        let text = serde_json::to_string(&self.info).expect("plain struct");
        let _ = clipscale_core::fs::write_atomic(&self.path, text.as_bytes());
    }
}

impl Drop for TrialLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
