//! Importers that bring published runs into the tidy-table schema, so they can be fitted and
//! plotted next to clipscale's own trials:
//! - Cherti et al. 2023 (LAION-AI/scaling-laws-openclip `zeroshot_results.csv`): 29 OpenCLIP runs
//!   on LAION-80M/400M/2B (sweep `cherti2023-openclip`) and OpenAI's 3 CLIP models (sweep
//!   `cherti2023-openai`, upstream data `CLIP-WIT`); one row per (model, downstream data set,
//!   metric column).
//! - Hoffmann et al. 2022 Fig. 4 as extracted by Besiroglu et al. 2024 (sweep `hoffmann2022`):
//!   parameters N, training FLOPs C and loss; tokens D = C / (6N), so forward MACs per token = N.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{AnalysisError, Result};
use crate::table::{TidyRow, parse_count, parse_f64};

/// Sweep name of the OpenCLIP runs of Cherti et al. 2023.
pub const CHERTI_OPENCLIP: &str = "cherti2023-openclip";
/// Sweep name of OpenAI's CLIP models as evaluated by Cherti et al. 2023.
pub const CHERTI_OPENAI: &str = "cherti2023-openai";
/// Sweep name of the Chinchilla points.
pub const HOFFMANN: &str = "hoffmann2022";

/// Columns of `zeroshot_results.csv` that identify a run rather than hold a metric.
const CHERTI_ID_COLUMNS: [&str; 9] = [
    "arch",
    "samples_seen",
    "gmacs_total",
    "gmacs",
    "upstream_dataset",
    "downstream_dataset",
    "task",
    "samples_seen_pretty",
    "name",
];

struct Csv {
    headers: Vec<String>,
    records: Vec<csv::StringRecord>,
}

fn read_raw(path: &Path) -> Result<Csv> {
    let csv_err = |source| AnalysisError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut rd = csv::Reader::from_path(path).map_err(csv_err)?;
    let headers = rd
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let records = rd
        .records()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(csv_err)?;
    Ok(Csv { headers, records })
}

impl Csv {
    fn require(&self, path: &Path, needed: &[&str]) -> Result<HashMap<String, usize>> {
        let index: HashMap<String, usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let missing: Vec<String> = needed
            .iter()
            .filter(|c| !index.contains_key(**c))
            .map(|c| c.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(AnalysisError::MissingColumns {
                path: path.to_path_buf(),
                missing,
                present: self.headers.clone(),
            });
        }
        Ok(index)
    }
}

fn line_of(rec: &csv::StringRecord) -> usize {
    rec.position().map(|p| p.line() as usize).unwrap_or(0)
}

fn get<'a>(rec: &'a csv::StringRecord, index: &HashMap<String, usize>, col: &str) -> &'a str {
    index
        .get(col)
        .and_then(|&i| rec.get(i))
        .unwrap_or("")
        .trim()
}

fn number(
    path: &Path,
    rec: &csv::StringRecord,
    idx: &HashMap<String, usize>,
    col: &str,
) -> Result<f64> {
    let s = get(rec, idx, col);
    parse_f64(s).ok_or_else(|| AnalysisError::bad_value(path, line_of(rec), col, s, "not a number"))
}

/// Parameter counts per architecture from `cherti2023_arch_info.csv` (`model`, `mparams`).
pub fn cherti2023_arch_params(path: &Path) -> Result<HashMap<String, u64>> {
    let raw = read_raw(path)?;
    let idx = raw.require(path, &["model", "mparams"])?;
    let mut out = HashMap::new();
    for rec in &raw.records {
        let m = number(path, rec, &idx, "mparams")?;
        out.insert(
            get(rec, &idx, "model").to_string(),
            (m * 1e6).round() as u64,
        );
    }
    Ok(out)
}

/// Imports `zeroshot_results.csv` of Cherti et al. 2023. Every non-identifying column is a metric
/// (`acc1`, `acc5`, `mean_per_class_recall`, `image_retrieval_recall@5`, ...); empty cells are
/// skipped. `params` are filled from `arch_params` when given.
pub fn cherti2023(path: &Path, arch_params: Option<&HashMap<String, u64>>) -> Result<Vec<TidyRow>> {
    let raw = read_raw(path)?;
    let idx = raw.require(
        path,
        &[
            "arch",
            "samples_seen",
            "gmacs_total",
            "gmacs",
            "upstream_dataset",
            "downstream_dataset",
            "name",
        ],
    )?;
    let metrics: Vec<&String> = raw
        .headers
        .iter()
        .filter(|h| !CHERTI_ID_COLUMNS.contains(&h.as_str()))
        .collect();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for rec in &raw.records {
        let line = line_of(rec);
        let arch = get(rec, &idx, "arch");
        let name = get(rec, &idx, "name");
        let upstream = get(rec, &idx, "upstream_dataset");
        let ss = get(rec, &idx, "samples_seen");
        let samples = parse_count(ss).ok_or_else(|| {
            AnalysisError::bad_value(path, line, "samples_seen", ss, "not a whole number")
        })?;
        let gmacs = number(path, rec, &idx, "gmacs")?;
        let gmacs_total = number(path, rec, &idx, "gmacs_total")?;
        for (column, v) in [("gmacs", gmacs), ("gmacs_total", gmacs_total)] {
            if v <= 0.0 {
                let why = "must be > 0 (compute is fitted on a logarithmic axis)";
                return Err(AnalysisError::bad_value(
                    path,
                    line,
                    column,
                    &v.to_string(),
                    why,
                ));
            }
        }
        let openai = name == "openai" || upstream == "CLIP-WIT";
        let (sweep, trial_id) = if openai {
            (CHERTI_OPENAI, format!("openai-{arch}"))
        } else {
            (CHERTI_OPENCLIP, name.to_string())
        };
        for m in &metrics {
            let s = get(rec, &idx, m);
            if s.is_empty() {
                continue;
            }
            let value = parse_f64(s)
                .ok_or_else(|| AnalysisError::bad_value(path, line, m, s, "not a number"))?;
            if !crate::select::is_loss(m) && !(0.0..=1.0).contains(&value) {
                let why = "a score (accuracy, recall, precision) must lie in [0, 1]";
                return Err(AnalysisError::bad_value(path, line, m, s, why));
            }
            rows.push(TidyRow {
                sweep: sweep.to_string(),
                trial_id: trial_id.clone(),
                model: arch.to_string(),
                params: arch_params.and_then(|p| p.get(arch).copied()),
                samples_seen: Some(samples),
                unique_samples: None,
                train_flops: Some(6.0 * gmacs_total * 1e9),
                fwd_macs_per_pair: Some((gmacs * 1e9).round() as u64),
                total_gmacs: Some(gmacs_total),
                dataset: get(rec, &idx, "downstream_dataset").to_string(),
                metric: m.to_string(),
                value,
                source: format!("{file}:{line}"),
                train_data: upstream.to_string(),
                objective: OBJECTIVE_CLIP.to_string(),
                curation: cherti2023_curation(upstream).to_string(),
                family: if arch.starts_with("ViT") {
                    FAMILY_CLIP_VIT
                } else {
                    ""
                }
                .to_string(),
                varied: String::new(),
                // the scaling study's runs decayed by cosine (Cherti et al. 2023)
                schedule: "cosine".to_string(),
                ..Default::default()
            });
        }
    }
    Ok(rows)
}

/// The `objective` of CLIP's softmax contrastive loss (every clipscale trial today).
pub const OBJECTIVE_CLIP: &str = "clip";
/// The `family` of a ViT image tower with a causal text transformer.
pub const FAMILY_CLIP_VIT: &str = "clip-vit";

/// How the training sets of Cherti et al. 2023 were curated, as their papers describe: the LAION
/// sets kept web pairs whose OpenAI CLIP ViT-B/32 image-text similarity passed a threshold (0.3
/// for LAION-400M, 0.28 for LAION-2B; LAION-80M is a subset of 2B); OpenAI's WIT-400M was
/// gathered by 500k text queries with up to 20k pairs each (the balancing MetaCLIP re-derived).
fn cherti2023_curation(upstream: &str) -> &'static str {
    if upstream.starts_with("LAION") {
        "clip-score"
    } else if upstream.contains("WIT") {
        "query-balanced"
    } else {
        ""
    }
}

/// One Chinchilla point: parameters, training tokens, final loss, and its file line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NdlPoint {
    pub n: f64,
    pub d: f64,
    pub loss: f64,
    pub line: usize,
}

/// Reads `svg_extracted_data.csv` of Besiroglu et al. 2024 (`Model Size`, `Training FLOP`,
/// `loss`) into (N, D = C / (6N), L) points, all 245 of them.
pub fn besiroglu2024_points(path: &Path) -> Result<Vec<NdlPoint>> {
    let raw = read_raw(path)?;
    let idx = raw.require(path, &["Model Size", "Training FLOP", "loss"])?;
    let mut out = Vec::with_capacity(raw.records.len());
    for rec in &raw.records {
        let line = line_of(rec);
        let n = number(path, rec, &idx, "Model Size")?;
        let c = number(path, rec, &idx, "Training FLOP")?;
        let loss = number(path, rec, &idx, "loss")?;
        for (col, v) in [("Model Size", n), ("Training FLOP", c), ("loss", loss)] {
            if v <= 0.0 {
                return Err(AnalysisError::bad_value(
                    path,
                    line,
                    col,
                    &v.to_string(),
                    "must be > 0",
                ));
            }
        }
        out.push(NdlPoint {
            n,
            d: c / (6.0 * n),
            loss,
            line,
        });
    }
    Ok(out)
}

/// The Chinchilla points as tidy rows (sweep `hoffmann2022`, dataset `massivetext`, metric
/// `loss`; samples are tokens and forward MACs per token = N).
pub fn besiroglu2024(path: &Path) -> Result<Vec<TidyRow>> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok(besiroglu2024_points(path)?
        .into_iter()
        .map(|p| {
            let tokens = p.d.round() as u64;
            let c = 6.0 * p.n * p.d;
            TidyRow {
                sweep: HOFFMANN.to_string(),
                trial_id: format!("chinchilla-{}", p.line),
                model: format!("{:.0}M", p.n / 1e6),
                params: Some(p.n.round() as u64),
                samples_seen: Some(tokens),
                unique_samples: None,
                train_flops: Some(c),
                fwd_macs_per_pair: Some(p.n.round() as u64),
                total_gmacs: Some(c / 6.0 / 1e9),
                dataset: "massivetext".to_string(),
                metric: "loss".to_string(),
                value: p.loss,
                source: format!("{file}:{}", p.line),
                train_data: "MassiveText".to_string(),
                objective: "next-token".to_string(),
                curation: String::new(),
                family: "transformer-lm".to_string(),
                varied: String::new(),
                // Chinchilla's runs: a cosine cycle matched to each run's length
                schedule: "cosine".to_string(),
                ..Default::default()
            }
        })
        .collect())
}
