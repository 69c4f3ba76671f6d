//! Benchmark recording shared by clipscale's crates: `record` appends one JSON line per run to
//! `results/benchmarks/<topic>.jsonl` (topic, command, ordered unit-named figures, git commit and
//! dirty flag, machine, UTC date) and regenerates `results/benchmarks/README.md`, a markdown view
//! of every topic. Mirrors no paper; it keeps the timing claims of the others reproducible.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AnalysisError, Result};
use crate::records::{append_jsonl, read_jsonl};

/// Folder of benchmark records, relative to the repository root.
pub const BENCH_DIR: &str = "results/benchmarks";

/// Figures in the order they were given (serialised as a JSON object, order kept).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figures(pub Vec<(String, String)>);

impl Serialize for Figures {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Figures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Figures;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of figures")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Figures, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    out.push((k, v));
                }
                Ok(Figures(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub logical_cores: usize,
}

/// One line of `<topic>.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    pub topic: String,
    pub command: String,
    pub figures: Figures,
    pub git_commit: String,
    pub git_dirty: bool,
    pub machine: Machine,
    pub date_utc: String,
}

/// Appends a record for `topic` and regenerates the README; returns the `.jsonl` path.
pub fn record(
    repo_root: &Path,
    topic: &str,
    command: &str,
    figures: &[(&str, String)],
) -> Result<PathBuf> {
    if topic.is_empty()
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || topic.starts_with('.')
    {
        return Err(AnalysisError::arg(
            "topic",
            format!("{topic:?}: use letters, digits, '-', '_' or '.'"),
        ));
    }
    let dir = repo_root.join(BENCH_DIR);
    fs::create_dir_all(&dir).map_err(|e| AnalysisError::io(&dir, "creating", e))?;
    let (git_commit, git_dirty) = git_state(repo_root);
    let rec = BenchRecord {
        topic: topic.to_string(),
        command: command.to_string(),
        figures: Figures(
            figures
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ),
        git_commit,
        git_dirty,
        machine: machine(),
        date_utc: iso8601_utc(SystemTime::now()),
    };
    let path = dir.join(format!("{topic}.jsonl"));
    append_jsonl(&path, &rec)?;
    write_readme(&dir)?;
    Ok(path)
}

fn git_state(root: &Path) -> (String, bool) {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    // --no-optional-locks: only read, never refresh the index.
    let dirty =
        run(&["--no-optional-locks", "status", "--porcelain"]).is_none_or(|s| !s.is_empty());
    (commit, dirty)
}

/// Hostname, CPU model (from /proc/cpuinfo) and logical cores of this machine.
pub fn machine() -> Machine {
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string());
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| {
                    l.starts_with("model name")
                        || l.starts_with("Model")
                        || l.starts_with("cpu model")
                })
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let logical_cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Machine {
        hostname,
        cpu_model,
        logical_cores,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (civil-from-days, proleptic Gregorian calendar).
pub fn iso8601_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Rewrites `README.md` in `dir` from every `<topic>.jsonl` there.
pub fn write_readme(dir: &Path) -> Result<()> {
    let mut topics: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| AnalysisError::io(dir, "listing", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    topics.sort();
    let mut md = String::from(
        "# Benchmarks\n\n_Generated by `clipscale_analysis::bench::record` from the `*.jsonl` files in this \
         folder; do not edit by hand (edits are overwritten on the next record)._\n\n\
         One table per topic, oldest first, newest last. `commit` ends in `+dirty` when the working tree \
         had uncommitted changes.\n",
    );
    for path in topics {
        let topic = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let _ = write!(md, "\n## {topic}\n\n");
        let read = match read_jsonl::<BenchRecord>(&path) {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(md, "_Could not read: {}_", cell(&e.to_string()));
                continue;
            }
        };
        let mut keys: Vec<String> = Vec::new();
        for (_, r) in &read.records {
            for (k, _) in &r.figures.0 {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        let mut header = vec!["date (UTC)", "commit", "machine", "command"];
        header.extend(keys.iter().map(String::as_str));
        let _ = writeln!(
            md,
            "| {} |",
            header
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
        for (_, r) in &read.records {
            let commit = format!(
                "{}{}",
                r.git_commit.chars().take(10).collect::<String>(),
                if r.git_dirty { "+dirty" } else { "" }
            );
            let machine = format!(
                "{} ({}, {} cores)",
                r.machine.hostname, r.machine.cpu_model, r.machine.logical_cores
            );
            let mut cells = vec![
                r.date_utc.clone(),
                commit,
                machine,
                format!("`{}`", r.command),
            ];
            for k in &keys {
                cells.push(
                    r.figures
                        .0
                        .iter()
                        .find(|(kk, _)| kk == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                );
            }
            let _ = writeln!(
                md,
                "| {} |",
                cells
                    .iter()
                    .map(|c| cell(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        for w in &read.warnings {
            let _ = writeln!(md, "\n_{}_", cell(w));
        }
    }
    let readme = dir.join("README.md");
    fs::write(&readme, md).map_err(|e| AnalysisError::io(&readme, "writing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_known_instants() {
        let at = |s: u64| iso8601_utc(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn figures_keep_their_order_through_json() {
        let f = Figures(vec![("z_s".into(), "1".into()), ("a_s".into(), "2".into())]);
        let s = serde_json::to_string(&f).expect("serialise");
        assert_eq!(s, r#"{"z_s":"1","a_s":"2"}"#);
        let back: Figures = serde_json::from_str(&s).expect("parse");
        assert_eq!(back, f);
    }
}
