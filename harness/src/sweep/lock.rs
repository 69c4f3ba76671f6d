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
    // a live holder refreshes its heartbeat every 30 s; on this host a dead pid tells sooner (and
    // the heartbeat still tells when the pid has been reused by another process)
    let silent = now_unix_s() - info.heartbeat_unix_s > STALE_AFTER_S;
    let stale = silent || (info.host == host_name() && !pid_alive(info.pid));
    (!stale).then_some(info)
}

impl TrialLock {
    /// Takes the lock, or returns who holds it. The lock is written in full beside its place
    /// and linked into it, so the link fails when a lock exists and no reader ever sees a
    /// half-written one; a stale lock is moved aside and, should the file moved turn out to be a
    /// lock another executor took meanwhile, put back.
    pub fn acquire(trial: &TrialDir) -> std::io::Result<Result<Self, LockInfo>> {
        std::fs::create_dir_all(trial.path())?;
        let path = trial.lock_path();
        for _ in 0..5 {
            let now = now_unix_s();
            let info = LockInfo {
                host: host_name(),
                pid: std::process::id(),
                acquired_unix_s: now,
                heartbeat_unix_s: now,
            };
            let text = serde_json::to_string(&info).expect("plain struct");
            if place(&path, &text)? {
                return Ok(Ok(Self { path, info }));
            }
            if let Some(owner) = holder(trial) {
                return Ok(Err(owner));
            }
            take_over_stale(&path)?;
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

/// A file beside `path` that only this call uses (process id and a per-process counter).
fn beside(path: &Path, what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{what}.{}.{n}", std::process::id()))
}

/// Puts a lock holding `text` at `path` unless one is there; true when placed.
fn place(path: &Path, text: &str) -> std::io::Result<bool> {
    let tmp = beside(path, "new");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // a file system without hard links: create the file exclusively instead
        Err(_) => match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// Moves the stale lock at `path` aside. If what was moved is not what was judged stale (another
/// executor replaced it in between), it goes back unless yet another lock took its place.
fn take_over_stale(path: &Path) -> std::io::Result<()> {
    let judged = std::fs::read_to_string(path).unwrap_or_default();
    let aside = beside(path, "stale");
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let moved = std::fs::read_to_string(&aside).unwrap_or_default();
    if moved != judged {
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

impl Drop for TrialLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
