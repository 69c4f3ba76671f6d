//! Row selection for the fits: filter the tidy table by sweep, training data, model, eval data
//! set and metric (naming what is present when a choice is unknown or ambiguous), and turn each
//! row into an observation: compute on the chosen axis and the fitted quantity, error = 1 - score
//! for accuracies and recalls as Cherti et al. 2023 fit them, losses as they are (Hoffmann et
//! al. 2022).

use crate::error::{AnalysisError, Result};
use crate::fit::record::{Axes, Selection};
use crate::table::Table;

/// One selected observation: compute x, error y, and (for Chinchilla) N and D, and (for the
/// data-constrained law) the unique pairs U its data held; NaN where not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Obs {
    pub x: f64,
    pub y: f64,
    pub n: f64,
    pub d: f64,
    pub u: f64,
    pub label: String,
}

/// How values become the fitted quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YKind {
    /// `loss`-like metrics as they are, everything else as 1 - value.
    Auto,
    /// 1 - value.
    Error,
    /// The value itself.
    Value,
}

/// Which rows to use and how to read them.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectSpec {
    pub sweeps: Vec<String>,
    pub train_data: Option<String>,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub metric: Option<String>,
    /// Compute column: `total_gmacs` or `train_flops`.
    pub x_column: String,
    pub y: YKind,
    /// Drop this many highest-y points (Besiroglu et al. drop 5 of Chinchilla's 245).
    pub drop_highest: usize,
    /// Also read N (`params`) and D (`samples_seen`), and U (`unique_samples`) where a row
    /// has it.
    pub need_nd: bool,
}

/// Rows selected from a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub obs: Vec<Obs>,
    pub selection: Selection,
    pub axes: Axes,
}

fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = it.map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

/// Keeps rows whose `column` equals `wanted`; an unknown value is an error listing those present.
fn narrow(table: &Table, rows: Vec<usize>, column: &str, wanted: &[String]) -> Result<Vec<usize>> {
    if wanted.is_empty() {
        return Ok(rows);
    }
    let present = distinct(
        rows.iter()
            .map(|&i| table.rows[i].text(column).unwrap_or("")),
    );
    for w in wanted {
        if !present.contains(w) {
            return Err(AnalysisError::UnknownSelection {
                path: table.path.clone(),
                kind: column.into(),
                value: w.clone(),
                present,
            });
        }
    }
    Ok(rows
        .into_iter()
        .filter(|&i| wanted.iter().any(|w| table.rows[i].text(column) == Some(w)))
        .collect())
}

/// Like [`narrow`] for one value, but when none is given the rows must hold exactly one.
fn choose(
    table: &Table,
    rows: Vec<usize>,
    column: &str,
    wanted: &Option<String>,
) -> Result<(Vec<usize>, String)> {
    let present = distinct(
        rows.iter()
            .map(|&i| table.rows[i].text(column).unwrap_or("")),
    );
    let value = match wanted {
        Some(w) => w.clone(),
        None if present.len() == 1 => present[0].clone(),
        None => {
            return Err(AnalysisError::Ambiguous {
                path: table.path.clone(),
                kind: column.into(),
                present,
            });
        }
    };
    let rows = narrow(table, rows, column, std::slice::from_ref(&value))?;
    Ok((rows, value))
}

/// Whether a metric is a loss (fitted as is) rather than a score (fitted as 1 - score).
pub fn is_loss(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    m.contains("loss") || m.contains("perplexity") || m.contains("error")
}

/// Row filter shared by the fits and the plots: rows of the given sweeps, training data set and
/// model, then exactly one evaluation data set and metric (given, or the only one present).
/// Returns the kept row indices (in table order), the data set and the metric.
pub fn filter_rows(
    table: &Table,
    sweeps: &[String],
    train_data: Option<&str>,
    model: Option<&str>,
    dataset: Option<&str>,
    metric: Option<&str>,
) -> Result<(Vec<usize>, String, String)> {
    let rows: Vec<usize> = (0..table.rows.len()).collect();
    let rows = narrow(table, rows, "sweep", sweeps)?;
    let train_data: Vec<String> = train_data.map(str::to_string).into_iter().collect();
    let rows = narrow(table, rows, "train_data", &train_data)?;
    let model: Vec<String> = model.map(str::to_string).into_iter().collect();
    let rows = narrow(table, rows, "model", &model)?;
    let (rows, dataset) = choose(table, rows, "dataset", &dataset.map(str::to_string))?;
    let (rows, metric) = choose(table, rows, "metric", &metric.map(str::to_string))?;
    Ok((rows, dataset, metric))
}

/// Selects the rows of `table` described by `spec` and converts them to observations.
pub fn select(table: &Table, spec: &SelectSpec) -> Result<Selected> {
    select_rows(table, spec).map(|(sel, _)| sel)
}

/// Like [`select`], also returning the table row index of each observation (aligned with
/// `obs`), so callers such as the plots can read the rows' other columns (model, training data).
pub fn select_rows(table: &Table, spec: &SelectSpec) -> Result<(Selected, Vec<usize>)> {
    let mut needed = vec!["dataset", "metric", "value", spec.x_column.as_str()];
    if !spec.sweeps.is_empty() {
        needed.push("sweep");
    }
    if spec.train_data.is_some() {
        needed.push("train_data");
    }
    if spec.model.is_some() {
        needed.push("model");
    }
    if spec.need_nd {
        needed.extend(["params", "samples_seen"]);
    }
    table.require(&needed)?;
    if !matches!(spec.x_column.as_str(), "total_gmacs" | "train_flops") {
        return Err(AnalysisError::arg(
            "x",
            format!("{:?}: use total_gmacs or train_flops", spec.x_column),
        ));
    }
    let (rows, dataset, metric) = filter_rows(
        table,
        &spec.sweeps,
        spec.train_data.as_deref(),
        spec.model.as_deref(),
        spec.dataset.as_deref(),
        spec.metric.as_deref(),
    )?;
    let as_error = match spec.y {
        YKind::Auto => !is_loss(&metric),
        YKind::Error => true,
        YKind::Value => false,
    };
    let mut obs = Vec::with_capacity(rows.len());
    for &i in &rows {
        let r = &table.rows[i];
        let line = table.lines.get(i).copied().unwrap_or(0);
        let x = r.number(&spec.x_column).ok_or_else(|| {
            AnalysisError::bad_value(
                &table.path,
                line,
                &spec.x_column,
                "",
                "empty; the fit needs it",
            )
        })?;
        let (n, d) = if spec.need_nd {
            let get = |c: &str| {
                r.number(c).ok_or_else(|| {
                    AnalysisError::bad_value(
                        &table.path,
                        line,
                        c,
                        "",
                        "empty; the Chinchilla law needs it",
                    )
                })
            };
            (get("params")?, get("samples_seen")?)
        } else {
            (f64::NAN, f64::NAN)
        };
        let u = if spec.need_nd {
            r.number("unique_samples").unwrap_or(f64::NAN)
        } else {
            f64::NAN
        };
        if as_error && !(0.0..=1.0).contains(&r.value) {
            return Err(AnalysisError::bad_value(
                &table.path,
                line,
                "value",
                &r.value.to_string(),
                format!("a {metric} score must lie in [0, 1] (it is fitted as error = 1 - score)"),
            ));
        }
        let y = if as_error { 1.0 - r.value } else { r.value };
        let who = if r.trial_id.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.trial_id)
        };
        obs.push(Obs {
            x,
            y,
            n,
            d,
            u,
            label: format!("{}{who}", table.locate(i)),
        });
    }
    let mut kept = rows.clone();
    if spec.drop_highest > 0 {
        let mut idx: Vec<usize> = (0..obs.len()).collect();
        idx.sort_by(|&a, &b| obs[b].y.total_cmp(&obs[a].y));
        let drop: Vec<usize> = idx.into_iter().take(spec.drop_highest).collect();
        let keep = |i: &usize| !drop.contains(i);
        kept = kept
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep(i))
            .map(|(_, r)| r)
            .collect();
        obs = obs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep(i))
            .map(|(_, o)| o)
            .collect();
    }
    let y_name = if as_error {
        format!("1 - {metric}")
    } else {
        metric.clone()
    };
    let mut sweeps = spec.sweeps.clone();
    if sweeps.is_empty() {
        sweeps = distinct(rows.iter().map(|&i| table.rows[i].sweep.as_str()));
    }
    let selected = Selected {
        obs,
        selection: Selection {
            table: table.path.display().to_string(),
            sweeps,
            dataset,
            metric,
            train_data: spec.train_data.clone(),
            model: spec.model.clone(),
            dropped_highest: spec.drop_highest,
            groups: Vec::new(),
            wheres: Vec::new(),
        },
        axes: Axes {
            x: spec.x_column.clone(),
            y: y_name,
            n: spec.need_nd.then(|| "params".to_string()),
            d: spec.need_nd.then(|| "samples_seen".to_string()),
        },
    };
    Ok((selected, kept))
}
