//! `collect`: walks a results folder (`<results>/<sweep>/<trial-id>/`) and turns every finished
//! trial into rows of the tidy table, one per eval record plus the final training loss
//! (`dataset` = `train`, `metric` = `loss`). Compute columns follow Cherti et al. 2023 (forward
//! GMACs per pair x samples seen). Trials without `final.json` and trials that failed or
//! diverged are reported and skipped; a record that cannot be read is an error naming its file
//! and line.

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use crate::error::{AnalysisError, Result};
use crate::import::{FAMILY_CLIP_VIT, OBJECTIVE_CLIP};
use crate::records::read_json;
use crate::records::{self, SCHEMA_VERSION, TrialSpecHead, TrialStatus, Versioned};
use crate::table::TidyRow;
use crate::trial::TrialDir;

/// A trial directory that contributed no rows, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedTrial {
    pub dir: PathBuf,
    pub reason: String,
}

/// What `collect` found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub rows: Vec<TidyRow>,
    /// Trials that contributed rows.
    pub trials: usize,
    pub skipped: Vec<SkippedTrial>,
    /// Non-fatal notes (truncated last lines, id mismatches, missing evals, ...).
    pub warnings: Vec<String>,
    /// Each collected trial's settings from its spec.json, flattened to `key.path -> value`,
    /// by (sweep, trial id): what the `varied` column is computed from.
    pub settings: BTreeMap<(String, String), BTreeMap<String, String>>,
}

/// Settings of a spec that never make a trial a variant of another: its identity and
/// provenance, the model (the `model` column), how many samples it sees (`samples_seen`), its
/// training data (`train_data`), its seeds (a replicate, not a variant), how often it logs, and
/// whether it branched from a trunk (which does not change its result).
const NOT_VARIANTS: [&str; 14] = [
    "schema_version",
    "trial_id",
    "sweep",
    "provenance",
    "model_summary",
    "model",
    "samples",
    "dataset",
    "data.name",
    "data.path",
    "seed",
    "data.seed",
    "intervals",
    "branching",
];

/// `value` flattened to dotted keys (arrays and empty objects as compact JSON).
pub fn flatten_settings(value: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, child, out);
                }
            }
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The `varied` text of each of one sweep's trials (given their flattened settings): the
/// settings, other than [`NOT_VARIANTS`], in which trials of the same model and sample count
/// differ, as `key=value;...`. Settings derived from the model or the sample count (a warmup
/// set as a share of the samples, say) vary only between such cells and are not variants; a
/// setting varied only together with the model or the sample count is not detected.
pub fn varied_texts(trials: &[&BTreeMap<String, String>]) -> Vec<String> {
    let excluded = |k: &str| {
        NOT_VARIANTS
            .iter()
            .any(|n| k == *n || k.starts_with(&format!("{n}.")))
    };
    let mut keys: Vec<&str> = trials
        .iter()
        .flat_map(|m| m.keys().map(String::as_str))
        .filter(|k| !excluded(k))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let cell = |m: &BTreeMap<String, String>| {
        let get = |k: &str| m.get(k).cloned().unwrap_or_default();
        (get("model_summary.name"), get("samples"))
    };
    keys.retain(|k| {
        trials.iter().enumerate().any(|(i, a)| {
            trials[i + 1..]
                .iter()
                .any(|b| cell(a) == cell(b) && a.get(*k) != b.get(*k))
        })
    });
    trials
        .iter()
        .map(|m| {
            let text: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}={}", m.get(*k).map_or("", String::as_str)))
                .collect();
            text.join(";")
        })
        .collect()
}

/// What a trial is a variant of, as the tidy table's columns say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub objective: String,
    pub curation: String,
    pub family: String,
    pub schedule: String,
}

/// A trial's variant from its flattened settings: what the spec says, or what a spec that
/// leaves it out means (CLIP's loss, no curation, a ViT and a text transformer, cosine decay).
pub fn variant_of(settings: &BTreeMap<String, String>) -> Variant {
    let setting = |keys: &[&str], default: &str| {
        keys.iter()
            .find_map(|k| settings.get(*k))
            .map_or(default.to_string(), Clone::clone)
    };
    Variant {
        objective: setting(&["objective", "optim.objective"], OBJECTIVE_CLIP),
        curation: setting(&["data.curation", "curation"], "none"),
        family: setting(&["model.family", "family"], FAMILY_CLIP_VIT),
        schedule: setting(&["optim.schedule.name", "schedule"], "cosine"),
    }
}

/// Fills every row's `varied` column from its sweep's trials (see [`varied_texts`]).
fn fill_varied(out: &mut Collected) {
    let mut texts: BTreeMap<(String, String), String> = BTreeMap::new();
    let sweeps: std::collections::BTreeSet<&String> = out.settings.keys().map(|(s, _)| s).collect();
    for sweep in sweeps {
        let (ids, trials): (Vec<&String>, Vec<&BTreeMap<String, String>>) = out
            .settings
            .iter()
            .filter(|((s, _), _)| s == sweep)
            .map(|((_, id), m)| (id, m))
            .unzip();
        for (id, text) in ids.into_iter().zip(varied_texts(&trials)) {
            texts.insert((sweep.clone(), id.clone()), text);
        }
    }
    for row in &mut out.rows {
        if let Some(t) = texts.get(&(row.sweep.clone(), row.trial_id.clone())) {
            row.varied.clone_from(t);
        }
    }
}

/// Collects every trial directory (a directory holding `spec.json`) below `root`.
pub fn collect_results(root: &Path) -> Result<Collected> {
    if !root.is_dir() {
        return Err(AnalysisError::io(
            root,
            "reading results folder",
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut dirs = Vec::new();
    find_trial_dirs(root, 0, &mut dirs)?;
    let mut out = Collected::default();
    for dir in dirs {
        collect_trial(&dir, &mut out)?;
    }
    fill_varied(&mut out);
    Ok(out)
}

fn find_trial_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if TrialDir::new(dir).has_spec() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth >= 6 {
        return Ok(());
    }
    let rd = fs::read_dir(dir).map_err(|e| AnalysisError::io(dir, "listing", e))?;
    let mut subs = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| AnalysisError::io(dir, "listing", e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            subs.push(path);
        }
    }
    subs.sort();
    for s in subs {
        find_trial_dirs(&s, depth + 1, out)?;
    }
    Ok(())
}

fn check_version<T: Versioned>(rec: &T, path: &Path, line: Option<usize>) -> Result<()> {
    let found = rec.schema_version();
    if found > SCHEMA_VERSION {
        return Err(AnalysisError::Schema {
            path: path.to_path_buf(),
            line,
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Reads one trial directory into `out` (rows, or a skip note).
pub fn collect_trial(dir: &Path, out: &mut Collected) -> Result<()> {
    let trial = TrialDir::new(dir);
    let spec: TrialSpecHead = trial.read_spec_head()?;
    if spec.is_trunk() {
        // a constant-rate run that branches start from: no point of any curve
        return Ok(());
    }
    let final_path = trial.final_path();
    let Some(fin) = trial.read_final()? else {
        out.skipped.push(SkippedTrial {
            dir: dir.to_path_buf(),
            reason: format!(
                "no {}: incomplete or still running",
                final_path.file_name().unwrap_or_default().to_string_lossy()
            ),
        });
        return Ok(());
    };
    let spec_path = trial.spec_path();
    check_version(&spec, &spec_path, None)?;
    check_version(&fin, &final_path, None)?;
    if fin.status != TrialStatus::Done {
        out.skipped.push(SkippedTrial {
            dir: dir.to_path_buf(),
            reason: format!(
                "status {}{}",
                fin.status,
                fin.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        });
        return Ok(());
    }
    if fin.trial_id != spec.trial_id {
        out.warnings.push(format!(
            "{}: trial_id {:?} differs from {}'s {:?}",
            final_path.display(),
            fin.trial_id,
            spec_path.display(),
            spec.trial_id
        ));
    }
    let settings = flatten_settings(&read_json::<serde_json::Value>(&spec_path)?);
    let variant = variant_of(&settings);
    let forecast = trial.read_forecast().unwrap_or_else(|e| {
        out.warnings
            .push(format!("{e}; the trial's rows get no forecast"));
        None
    });
    let forecast_of =
        |dataset: &str, metric: &str| forecast.as_ref().and_then(|f| f.get(dataset, metric));
    let ms = &spec.model_summary;
    let row = |samples: u64, dataset: &str, metric: &str, value: f64, source: String| {
        let fc = forecast_of(dataset, metric);
        TidyRow {
            sweep: spec.sweep.clone(),
            trial_id: spec.trial_id.clone(),
            model: ms.name.clone(),
            params: Some(ms.params),
            samples_seen: Some(samples),
            unique_samples: fin.unique_samples,
            train_flops: Some(records::train_flops(ms.fwd_macs_per_pair, samples)),
            fwd_macs_per_pair: Some(ms.fwd_macs_per_pair),
            total_gmacs: Some(records::total_gmacs(ms.fwd_macs_per_pair, samples)),
            dataset: dataset.to_string(),
            metric: metric.to_string(),
            value,
            source,
            train_data: spec.dataset.clone(),
            objective: variant.objective.clone(),
            curation: variant.curation.clone(),
            family: variant.family.clone(),
            varied: String::new(),
            schedule: variant.schedule.clone(),
            forecast: fc.map(|f| f.value),
            forecast_lo: fc.map(|f| f.lo),
            forecast_hi: fc.map(|f| f.hi),
        }
    };

    let evals_path = trial.evals_path();
    if evals_path.is_file() {
        let read = trial.read_evals()?;
        out.warnings.extend(read.warnings);
        for (line, ev) in read.records {
            check_version(&ev, &evals_path, Some(line))?;
            if ev.trial_id != spec.trial_id {
                out.warnings.push(format!(
                    "{}:{line}: trial_id {:?} differs from the spec's {:?}",
                    evals_path.display(),
                    ev.trial_id,
                    spec.trial_id
                ));
            }
            if !ev.value.is_finite() {
                return Err(AnalysisError::bad_value(
                    &evals_path,
                    line,
                    "value",
                    &ev.value.to_string(),
                    "not a finite number",
                ));
            }
            // Only the evaluation at the end of the trial is a scaling point: an intermediate
            // one comes from a run whose learning-rate schedule had not finished.
            if ev.samples_seen != fin.samples_seen {
                continue;
            }
            let source = format!("{}:{line}", evals_path.display());
            out.rows.push(row(
                ev.samples_seen,
                &ev.dataset,
                &ev.metric,
                ev.value,
                source,
            ));
        }
    } else {
        out.warnings
            .push(format!("{}: missing; no eval rows", evals_path.display()));
    }

    // The training loss at the end: from final.json, else the last metrics line.
    let mut train_loss = fin
        .final_loss
        .filter(|l| l.is_finite())
        .map(|l| (fin.samples_seen, l, final_path.display().to_string()));
    let metrics_path = trial.metrics_path();
    if train_loss.is_none() && metrics_path.is_file() {
        let read = trial.read_metrics()?;
        out.warnings.extend(read.warnings);
        if let Some((line, m)) = read.records.last() {
            check_version(m, &metrics_path, Some(*line))?;
            if m.loss.is_finite() {
                train_loss = Some((
                    m.samples_seen,
                    m.loss,
                    format!("{}:{line}", metrics_path.display()),
                ));
            }
        }
    }
    if let Some((samples, loss, source)) = train_loss {
        out.rows.push(row(samples, "train", "loss", loss, source));
    }
    out.trials += 1;
    out.settings
        .insert((spec.sweep.clone(), spec.trial_id.clone()), settings);
    Ok(())
}
