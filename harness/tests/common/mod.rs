//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// The repository's copy of the published anchor data (harness/analysis/anchors).
pub fn anchor(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("analysis")
        .join("anchors")
        .join(name)
}

/// The rows of an anchor CSV whose `model` column is one of `models`, as column -> value maps.
/// The first occurrence of each model wins (model_profile.csv lists some models twice).
pub fn anchor_rows(name: &str, models: &[&str]) -> HashMap<String, HashMap<String, String>> {
    let path = anchor(name);
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    let mut out = HashMap::new();
    for rec in reader.records() {
        let rec = rec.unwrap();
        let row: HashMap<String, String> = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        let model = row["model"].clone();
        if models.contains(&model.as_str()) && !out.contains_key(&model) {
            out.insert(model, row);
        }
    }
    assert_eq!(
        out.len(),
        models.len(),
        "{}: expected rows for {models:?}, found {:?}",
        path.display(),
        out.keys().collect::<Vec<_>>()
    );
    out
}

pub const OPENCLIP_MODELS: [&str; 5] = ["ViT-S-32", "ViT-M-32", "ViT-B-32", "ViT-B-16", "ViT-L-14"];

/// Complete checkpoints (those with their `state.json`) of the one trial `clipscale train`
/// wrote under `<out>/adhoc/`; 0 while there is none.
pub fn complete_checkpoints(out: &std::path::Path) -> usize {
    std::fs::read_dir(out.join("adhoc"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("checkpoints"))
        .and_then(|c| std::fs::read_dir(c).ok())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("state.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

/// An empty folder `clipscale-<prefix>-<name>-<pid>` under the system's temporary folder.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("clipscale-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The one trial folder `clipscale train --out OUT` wrote (under `OUT/adhoc/`).
pub fn adhoc_trial(out: &std::path::Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join("adhoc"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "one trial under {}", out.display());
    dirs.pop().unwrap()
}

/// Every record of a trial's JSON-lines file (`metrics.jsonl`, `evals.jsonl`).
pub fn records<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Vec<T> {
    clipscale_analysis::records::read_jsonl::<T>(path)
        .unwrap()
        .records
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// A provenance record for specs resolved in tests (no git, no device probed).
pub fn test_provenance() -> clipscale_analysis::records::Provenance {
    clipscale_analysis::records::Provenance {
        git_commit: "x".into(),
        git_dirty: false,
        clipscale_version: "0".into(),
        burn_version: "0.21.0".into(),
        backend: "flex".into(),
        device: "cpu".into(),
        float_type: "f32".into(),
        threads: 1,
        host: "h".into(),
        started_unix_s: 0.0,
    }
}
