//! The tidy results table: one row per (trial, point of training, eval data set, metric), with
//! stable unit-named columns. `collect` writes it from trial directories or from published data
//! (Cherti et al. 2023, Hoffmann et al. 2022 via Besiroglu et al. 2024); `fit` reads it.
//! Compute columns follow Cherti et al. 2023: `total_gmacs` = forward GMACs per pair x samples
//! seen, and `train_flops` = 6 x forward MACs x samples (1 MAC = 2 FLOPs, training = 3 forwards).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{AnalysisError, Result};

/// Version of the table's layout. 1: the first 14 columns. 2: four columns appended that say
/// what a trial is a variant of (`objective`, `curation`, `family`, `varied`). 3: three more,
/// the result forecast before the trial ran (`forecast`, `forecast_lo`, `forecast_hi`). 4: the
/// learning-rate `schedule`. An older table reads as before, with the newer cells empty.
/// Columns are only ever appended.
pub const TABLE_VERSION: u32 = 4;

/// The columns version 2 appended.
pub const VARIANT_COLUMNS: [&str; 4] = ["objective", "curation", "family", "varied"];

/// The columns version 3 appended.
pub const FORECAST_COLUMNS: [&str; 3] = ["forecast", "forecast_lo", "forecast_hi"];

/// The column version 4 appended.
pub const SCHEDULE_COLUMNS: [&str; 1] = ["schedule"];

/// Column names, in file order.
pub const COLUMNS: [&str; 22] = [
    "sweep",
    "trial_id",
    "model",
    "params",
    "samples_seen",
    "unique_samples",
    "train_flops",
    "fwd_macs_per_pair",
    "total_gmacs",
    "dataset",
    "metric",
    "value",
    "source",
    "train_data",
    "objective",
    "curation",
    "family",
    "varied",
    "forecast",
    "forecast_lo",
    "forecast_hi",
    "schedule",
];

/// One row of the tidy table. Unknown quantities are empty cells (`None`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TidyRow {
    /// Sweep name; published runs use e.g. `cherti2023-openclip` / `cherti2023-openai`.
    pub sweep: String,
    pub trial_id: String,
    /// Model (architecture) name.
    pub model: String,
    /// Parameter count.
    pub params: Option<u64>,
    /// Image-text pairs (or tokens, for language models) seen when the value was measured.
    pub samples_seen: Option<u64>,
    /// Distinct samples seen in training, when known.
    pub unique_samples: Option<u64>,
    /// 6 x fwd_macs_per_pair x samples_seen.
    pub train_flops: Option<f64>,
    /// Forward MACs per pair (image + text tower).
    pub fwd_macs_per_pair: Option<u64>,
    /// fwd_macs_per_pair x samples_seen / 1e9.
    pub total_gmacs: Option<f64>,
    /// Evaluation data set (`train` for the training loss).
    pub dataset: String,
    pub metric: String,
    pub value: f64,
    /// Where the value came from: `file:line`.
    pub source: String,
    /// Training (upstream) data set, e.g. `LAION-2B`.
    pub train_data: String,
    /// Training objective, e.g. `clip` (the softmax contrastive loss of CLIP).
    pub objective: String,
    /// How the training data were curated (`none` when they were not; empty when unknown).
    pub curation: String,
    /// Model family, e.g. `clip-vit` (a ViT image tower and a causal text transformer).
    pub family: String,
    /// The other settings this trial's sweep varies, as `key=value` pairs joined by `;` in key
    /// order (e.g. `optim.lr=0.001;batch_size=128`); empty when the sweep varies only model and
    /// samples.
    pub varied: String,
    /// The value the sweep's laws forecast before the trial ran (see `crate::forecast`), and
    /// the forecast's interval.
    pub forecast: Option<f64>,
    pub forecast_lo: Option<f64>,
    pub forecast_hi: Option<f64>,
    /// The learning-rate schedule after warm-up (`cosine`, `constant-cooldown`; empty when
    /// unknown).
    pub schedule: String,
}

impl TidyRow {
    /// Value of a numeric column by name (for axis selection); `None` when empty or unknown.
    pub fn number(&self, column: &str) -> Option<f64> {
        match column {
            "params" => self.params.map(|v| v as f64),
            "samples_seen" => self.samples_seen.map(|v| v as f64),
            "unique_samples" => self.unique_samples.map(|v| v as f64),
            "train_flops" => self.train_flops,
            "fwd_macs_per_pair" => self.fwd_macs_per_pair.map(|v| v as f64),
            "total_gmacs" => self.total_gmacs,
            "value" => Some(self.value),
            "forecast" => self.forecast,
            "forecast_lo" => self.forecast_lo,
            "forecast_hi" => self.forecast_hi,
            _ => None,
        }
    }

    /// Value of a text column by name.
    pub fn text(&self, column: &str) -> Option<&str> {
        Some(match column {
            "sweep" => &self.sweep,
            "trial_id" => &self.trial_id,
            "model" => &self.model,
            "dataset" => &self.dataset,
            "metric" => &self.metric,
            "source" => &self.source,
            "train_data" => &self.train_data,
            "objective" => &self.objective,
            "curation" => &self.curation,
            "family" => &self.family,
            "varied" => &self.varied,
            "schedule" => &self.schedule,
            _ => return None,
        })
    }

    /// The cell of a text column by name, to rewrite it.
    pub fn text_mut(&mut self, column: &str) -> Option<&mut String> {
        Some(match column {
            "sweep" => &mut self.sweep,
            "trial_id" => &mut self.trial_id,
            "model" => &mut self.model,
            "dataset" => &mut self.dataset,
            "metric" => &mut self.metric,
            "source" => &mut self.source,
            "train_data" => &mut self.train_data,
            "objective" => &mut self.objective,
            "curation" => &mut self.curation,
            "family" => &mut self.family,
            "varied" => &mut self.varied,
            "schedule" => &mut self.schedule,
            _ => return None,
        })
    }
}

/// A table read from disk: its path, the columns it had and its rows with their line numbers.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    /// The layout version its header shows ([`TABLE_VERSION`] when it has the variant columns).
    pub version: u32,
    pub columns: Vec<String>,
    pub rows: Vec<TidyRow>,
    /// 1-based file line of each row (the header is line 1).
    pub lines: Vec<usize>,
}

impl Table {
    /// Fails, naming the missing ones, unless every column in `needed` is present.
    pub fn require(&self, needed: &[&str]) -> Result<()> {
        let missing: Vec<String> = needed
            .iter()
            .filter(|c| !self.columns.iter().any(|h| h == *c))
            .map(|c| c.to_string())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AnalysisError::MissingColumns {
                path: self.path.clone(),
                missing,
                present: self.columns.clone(),
            })
        }
    }

    /// `file:line` of row `i`, for error messages.
    pub fn locate(&self, i: usize) -> String {
        format!(
            "{}:{}",
            self.path.display(),
            self.lines.get(i).copied().unwrap_or(0)
        )
    }
}

/// `NAME=v1,v2,...`: values of one column read as one group, e.g.
/// `LAION=LAION-80M,LAION-400M,LAION-2B` so published runs group by training set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub name: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Grouping {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, values) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not NAME=VALUE,VALUE,..."))?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if name.trim().is_empty() || values.is_empty() {
            return Err(format!(
                "{s:?} needs a name and at least one value (NAME=VALUE,...)"
            ));
        }
        Ok(Grouping {
            name: name.trim().to_string(),
            values,
        })
    }
}

impl std::fmt::Display for Grouping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.values.join(","))
    }
}

/// `COLUMN=VALUE`: only the rows whose text column holds the value (`--where`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    pub column: String,
    pub value: String,
}

impl std::str::FromStr for Where {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split_once('=') {
            Some((c, v)) if !c.trim().is_empty() && !v.trim().is_empty() => Ok(Where {
                column: c.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(format!(
                "{s:?} is not COLUMN=VALUE (e.g. curation=align or model=w64-d3)"
            )),
        }
    }
}

impl Table {
    /// The rows whose text column `w.column` holds `w.value`: exactly, or else the one value
    /// whose operator (its text before the first `:`) is `w.value`, so that `curation=dfn`
    /// names `dfn:filter=...,fraction=0.15`. Fails, naming the file and the values present,
    /// for a column that is not a text column, a value no row holds or a name that fits two.
    /// Returns the rows and the value matched.
    pub fn keep_where(&self, w: &Where) -> Result<(Table, String)> {
        let Some(first) = self.rows.first() else {
            return Ok((self.clone(), w.value.clone()));
        };
        if first.text(&w.column).is_none() {
            return Err(AnalysisError::arg(
                "where",
                format!(
                    "{:?} is not a text column of {}",
                    w.column,
                    self.path.display()
                ),
            ));
        }
        let text = |r: &TidyRow| r.text(&w.column).unwrap_or("").to_string();
        let mut present: Vec<String> = self.rows.iter().map(text).collect();
        present.sort();
        present.dedup();
        let value = if present.contains(&w.value) {
            w.value.clone()
        } else {
            let short: Vec<&String> = present
                .iter()
                .filter(|v| v.split(':').next() == Some(w.value.as_str()))
                .collect();
            match short.as_slice() {
                [one] => (*one).clone(),
                [_, _, ..] => {
                    let names: Vec<&str> = short.iter().map(|s| s.as_str()).collect();
                    return Err(AnalysisError::arg(
                        "where",
                        format!(
                            "{}={} names {} values of {}: {}; give one in full",
                            w.column,
                            w.value,
                            short.len(),
                            self.path.display(),
                            names.join(" | ")
                        ),
                    ));
                }
                [] => {
                    return Err(AnalysisError::UnknownSelection {
                        path: self.path.clone(),
                        kind: w.column.clone(),
                        value: w.value.clone(),
                        present,
                    });
                }
            }
        };
        let mut out = self.clone();
        let (rows, lines): (Vec<TidyRow>, Vec<usize>) = self
            .rows
            .iter()
            .zip(&self.lines)
            .filter(|(r, _)| text(r) == value)
            .map(|(r, l)| (r.clone(), *l))
            .unzip();
        out.rows = rows;
        out.lines = lines;
        Ok((out, value))
    }

    /// The table with the values of text column `column` renamed to their group's name. Fails,
    /// naming the file and what is present, for a column that is not a text column, a value the
    /// column never holds (a typo would silently group nothing) or a value in two groups.
    pub fn regroup(&self, column: &str, groups: &[Grouping]) -> Result<Table> {
        let Some(first) = self.rows.first() else {
            return Ok(self.clone());
        };
        if first.text(column).is_none() {
            return Err(AnalysisError::arg(
                "group-column",
                format!("{column:?} is not a text column of {}", self.path.display()),
            ));
        }
        let text = |r: &TidyRow| r.text(column).unwrap_or("").to_string();
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for g in groups {
            for v in &g.values {
                if let Some(other) = seen.insert(v, &g.name) {
                    return Err(AnalysisError::arg(
                        "group",
                        format!("{v:?} is in both group {other:?} and group {:?}", g.name),
                    ));
                }
                if !self.rows.iter().any(|r| text(r) == *v) {
                    let mut present: Vec<String> = self.rows.iter().map(text).collect();
                    present.sort();
                    present.dedup();
                    return Err(AnalysisError::UnknownSelection {
                        path: self.path.clone(),
                        kind: column.to_string(),
                        value: v.clone(),
                        present,
                    });
                }
            }
        }
        let mut out = self.clone();
        for r in &mut out.rows {
            if let Some(name) = seen.get(text(r).as_str()) {
                let name = name.to_string();
                if let Some(cell) = r.text_mut(column) {
                    *cell = name;
                }
            }
        }
        Ok(out)
    }
}

/// Writes rows as CSV with the [`COLUMNS`] header.
pub fn write_csv(path: &Path, rows: &[TidyRow]) -> Result<()> {
    let csv_err = |source| AnalysisError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(csv_err)?;
    w.write_record(COLUMNS).map_err(csv_err)?;
    for r in rows {
        w.serialize(r).map_err(csv_err)?;
    }
    w.flush()
        .map_err(|e| AnalysisError::io(path, "writing CSV", e))
}

/// Reads a tidy table. Columns may be missing (callers state what they need with
/// [`Table::require`]); extra columns are ignored; a bad cell names its line, column and value.
pub fn read_csv(path: &Path) -> Result<Table> {
    let csv_err = |source| AnalysisError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(csv_err)?;
    let columns: Vec<String> = rd
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let index: HashMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let cell = |name: &str| index.get(name).and_then(|&i| rec.get(i)).map(str::trim);
        let text = |name: &str| cell(name).unwrap_or("").to_string();
        let float = |name: &str| -> Result<Option<f64>> {
            match cell(name) {
                None | Some("") => Ok(None),
                Some(s) => parse_f64(s)
                    .map(Some)
                    .ok_or_else(|| AnalysisError::bad_value(path, line, name, s, "not a number")),
            }
        };
        let int = |name: &str| -> Result<Option<u64>> {
            match cell(name) {
                None | Some("") => Ok(None),
                Some(s) => parse_count(s).map(Some).ok_or_else(|| {
                    AnalysisError::bad_value(path, line, name, s, "not a non-negative whole number")
                }),
            }
        };
        let value = match cell("value") {
            None => f64::NAN,
            Some(s) => parse_f64(s)
                .ok_or_else(|| AnalysisError::bad_value(path, line, "value", s, "not a number"))?,
        };
        rows.push(TidyRow {
            sweep: text("sweep"),
            trial_id: text("trial_id"),
            model: text("model"),
            params: int("params")?,
            samples_seen: int("samples_seen")?,
            unique_samples: int("unique_samples")?,
            train_flops: float("train_flops")?,
            fwd_macs_per_pair: int("fwd_macs_per_pair")?,
            total_gmacs: float("total_gmacs")?,
            dataset: text("dataset"),
            metric: text("metric"),
            value,
            source: text("source"),
            train_data: text("train_data"),
            objective: text("objective"),
            curation: text("curation"),
            family: text("family"),
            varied: text("varied"),
            forecast: float("forecast")?,
            forecast_lo: float("forecast_lo")?,
            forecast_hi: float("forecast_hi")?,
            schedule: text("schedule"),
        });
        lines.push(line);
    }
    let has = |cols: &[&str]| cols.iter().all(|c| columns.iter().any(|h| h == c));
    let version = if has(&SCHEDULE_COLUMNS) {
        4
    } else if has(&FORECAST_COLUMNS) {
        3
    } else if has(&VARIANT_COLUMNS) {
        2
    } else {
        1
    };
    Ok(Table {
        path: path.to_path_buf(),
        version,
        columns,
        rows,
        lines,
    })
}

/// Parses a float, rejecting NaN and infinities.
pub fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses a count written as an integer or as an integral float (`12800000000.0`, `1.28e10`).
pub fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return Some(v);
    }
    let v = parse_f64(s)?;
    (v >= 0.0 && v.fract() == 0.0 && v < 1.8e19).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accept_integral_floats_only() {
        assert_eq!(parse_count("12800000000.0"), Some(12_800_000_000));
        assert_eq!(parse_count("1.5e3"), Some(1500));
        assert_eq!(parse_count("42"), Some(42));
        assert_eq!(parse_count("2.5"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("abc"), None);
        assert_eq!(parse_f64("nan"), None);
    }

    fn table_of(curations: &[&str]) -> Table {
        let rows: Vec<TidyRow> = curations
            .iter()
            .map(|c| TidyRow {
                curation: c.to_string(),
                ..Default::default()
            })
            .collect();
        Table {
            path: PathBuf::from("t.csv"),
            version: TABLE_VERSION,
            columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
            lines: (2..2 + rows.len()).collect(),
            rows,
        }
    }

    #[test]
    fn where_keeps_a_value_named_in_full_or_by_its_operator() {
        let t = table_of(&["none", "dfn:filter=f,fraction=0.15", "align", "none"]);
        let w = |s: &str| s.parse::<Where>().unwrap();
        let (kept, value) = t.keep_where(&w("curation=none")).unwrap();
        assert_eq!((kept.rows.len(), value.as_str()), (2, "none"));
        assert_eq!(kept.lines, vec![2, 5], "each row keeps its file line");
        let (kept, value) = t.keep_where(&w("curation=dfn")).unwrap();
        assert_eq!(
            (kept.rows.len(), value.as_str()),
            (1, "dfn:filter=f,fraction=0.15")
        );
        // two values with the operator: ambiguous, both named
        let t = table_of(&["dfn:filter=f,fraction=0.15", "dfn:filter=f,fraction=0.3"]);
        let err = t.keep_where(&w("curation=dfn")).unwrap_err().to_string();
        assert!(
            err.contains("2 values") && err.contains("fraction=0.3"),
            "{err}"
        );
        // unknown value and unknown column
        let err = t
            .keep_where(&w("curation=metaclip"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metaclip") && err.contains("fraction=0.15"),
            "{err}"
        );
        let err = t.keep_where(&w("colour=red")).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!("curation".parse::<Where>().is_err());
    }
}
