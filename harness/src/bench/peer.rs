//! The side-by-side with open_clip (`clipscale bench train --peer`): our training step and the
//! peer's (`harness/bench/openclip_peer.py` on PyTorch) each timed in a fresh process, with the
//! share of the CPUs that other processes used meanwhile, so a contended measurement is seen.

use std::process::Command;

use clipscale_core::repo::repo_root;

use super::BenchError;
use crate::backend::DeviceSpec;
use crate::cli::BenchTrainArgs;

/// One measurement's JSON line (ours or the peer's).
pub type Figures = serde_json::Value;

/// Clock ticks from /proc: the machine's busy and total time over all CPUs, and the time used by
/// this process and its waited-for children, so that what OTHER processes used during a
/// measurement can be told apart (a second busy process ruins a 2-thread OpenMP peer).
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    busy: f64,
    total: f64,
    ours: f64,
}

fn cpu_ticks() -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // after the ")" that ends the command name: utime, stime, cutime, cstime are fields 14-17
    let rest: Vec<f64> = own
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ours = rest.get(11)? + rest.get(12)? + rest.get(13)? + rest.get(14)?;
    Some(CpuTicks {
        busy: total - idle,
        total,
        ours,
    })
}

/// Runs `f` and returns its result with the share of all CPU time that other processes used
/// meanwhile (None where /proc cannot tell).
pub fn measured<T>(
    f: impl FnOnce() -> Result<T, BenchError>,
) -> Result<(T, Option<f64>), BenchError> {
    let before = cpu_ticks();
    let r = f()?;
    let share = match (before, cpu_ticks()) {
        (Some(a), Some(b)) if b.total > a.total => {
            Some((((b.busy - a.busy) - (b.ours - a.ours)) / (b.total - a.total)).clamp(0.0, 1.0))
        }
        _ => None,
    };
    Ok((r, share))
}

/// The threads each side uses.
pub fn threads(a: &BenchTrainArgs) -> usize {
    a.threads.unwrap_or_else(crate::provenance::cpu_threads)
}

/// The last line a process printed, as JSON.
fn json_line(stdout: &[u8], whose: &str) -> Result<Figures, BenchError> {
    let line = String::from_utf8_lossy(stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    serde_json::from_str(&line).map_err(|e| BenchError::Command {
        command: whose.to_string(),
        message: format!("its last line {line:?} is not the JSON expected: {e}"),
    })
}

/// Our side, in a fresh process (like the peer's), so both are measured the same way.
pub fn ours_subprocess(
    a: &BenchTrainArgs,
    model: &str,
    batch: usize,
) -> Result<Figures, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::Command {
        command: "clipscale".into(),
        message: format!("cannot locate the binary: {e}"),
    })?;
    let out = Command::new(exe)
        .args([
            "bench",
            "train",
            "--json",
            "--no-record",
            "--model",
            model,
            "--batch",
            &batch.to_string(),
        ])
        .args([
            "--warmup",
            &a.warmup.to_string(),
            "--steps",
            &a.steps.to_string(),
            "--device",
            &a.device.to_string(),
            "--precision",
            a.precision.name(),
        ])
        .args(
            a.data_pool
                .map(|n| vec!["--data-pool".to_string(), n.to_string()])
                .unwrap_or_default(),
        )
        .env("RAYON_NUM_THREADS", threads(a).to_string())
        .output()
        .map_err(|e| BenchError::Command {
            command: "clipscale bench train --json".into(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            command: "clipscale bench train --json".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    json_line(&out.stdout, "clipscale bench train --json")
}

pub fn peer(
    a: &BenchTrainArgs,
    model: &str,
    batch: usize,
    vocab: usize,
) -> Result<Figures, BenchError> {
    let script = repo_root(None).join("harness/bench/openclip_peer.py");
    let mut cmd = Command::new(&a.python);
    cmd.arg(&script)
        .args([
            "--model",
            model,
            "--batch",
            &batch.to_string(),
            "--threads",
            &threads(a).to_string(),
        ])
        .args([
            "--steps",
            &a.steps.to_string(),
            "--warmup",
            &a.warmup.to_string(),
            "--vocab",
            &vocab.to_string(),
            "--json",
            "--precision",
            a.precision.name(),
            "--device",
            if matches!(a.device, DeviceSpec::Cpu) {
                "cpu"
            } else {
                "cuda"
            },
        ]);
    if std::env::var("OPENBLAS_CORETYPE").is_err() {
        // OpenBLAS 0.3.21 misdetects AVX-512 Xeons as having no AVX at all
        let avx512 = std::fs::read_to_string("/proc/cpuinfo")
            .map(|t| t.contains(" avx512f"))
            .unwrap_or(false);
        cmd.env(
            "OPENBLAS_CORETYPE",
            if avx512 { "SKYLAKEX" } else { "HASWELL" },
        );
    }
    let command = format!("{} {}", a.python, script.display());
    let out = cmd.output().map_err(|e| BenchError::Command {
        command: command.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            command,
            message: format!(
                "the open_clip peer failed (set it up with harness/bench/setup-peer.sh): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    json_line(&out.stdout, &command)
}
