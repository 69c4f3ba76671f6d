//! IsoFLOP profiles (Hoffmann et al. 2022, "Training compute-optimal large language models",
//! approach 2): runs grouped into fixed compute budgets, loss against parameters for each
//! budget, a parabola in log10 N fitted per budget and its minimum marked as the fitted optimum.
//! With a Chinchilla approach-3 fit record, the law L(N, C/(6N)) is drawn at each budget too,
//! with its optimum N_opt = G (C/6)^(beta/(alpha+beta)).

use std::sync::Arc;

use super::figure::{
    Figure, Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Rgb, Shape, Symbol,
};
use super::{Axis, MetricAxes, number_of, sci, style};
use crate::error::{AnalysisError, Result};
use crate::fit::record::FitRecord;
use crate::select::{YKind, filter_rows, is_loss};
use crate::table::Table;

/// What to draw.
#[derive(Debug, Clone)]
pub struct IsoflopSpec {
    pub sweeps: Vec<String>,
    pub train_data: Option<String>,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub metric: Option<String>,
    /// Compute column the budgets are read from (`train_flops`).
    pub budget_column: String,
    /// x column (`params`).
    pub x_column: String,
    pub y: YKind,
    pub y_log: bool,
    /// Budgets in `budget_column` units; empty = clusters of the data.
    pub budgets: Vec<f64>,
    /// A run belongs to a budget within this many decades (log10).
    pub tolerance_dex: f64,
    /// A Chinchilla approach-3 record whose law is drawn too.
    pub law: Option<FitRecord>,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// One budget's runs and fitted optima.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The budget (given, or the geometric mean of its cluster).
    pub compute: f64,
    /// (x, y) of its runs, ascending x.
    pub points: Vec<(f64, f64)>,
    /// Parabola in log10 x: y = a + b u + c u^2 with u = log10 x - `centre`.
    pub parabola: Option<[f64; 3]>,
    pub centre: f64,
    /// Minimum of the parabola (x, y), when it has one.
    pub optimum: Option<(f64, f64)>,
    /// The law's optimum at this budget (x, y).
    pub law_optimum: Option<(f64, f64)>,
}

/// The figure, the budgets and what was left out.
#[derive(Debug, Clone)]
pub struct IsoflopPlot {
    pub figure: Figure,
    pub budgets: Vec<Budget>,
    pub warnings: Vec<String>,
}

/// Least-squares parabola y = a + b u + c u^2; `None` when the 3x3 system is singular.
pub fn fit_parabola(us: &[f64], ys: &[f64]) -> Option<[f64; 3]> {
    if us.len() < 3 {
        return None;
    }
    let mut m = [[0.0f64; 4]; 3];
    for (&u, &y) in us.iter().zip(ys) {
        let basis = [1.0, u, u * u];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += basis[r] * basis[c];
            }
            m[r][3] += basis[r] * y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..3 {
        let piv = (col..3).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[piv][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, piv);
        let pivot_row = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let sol = [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
    sol.iter().all(|v| v.is_finite()).then_some(sol)
}

/// Groups log10 compute values: to the nearest given budget within `tol` decades, or (no
/// budgets) into clusters whose neighbours are within `tol`. Returns (budget, member indices).
pub fn group_budgets(log_c: &[f64], budgets: &[f64], tol: f64) -> Vec<(f64, Vec<usize>)> {
    if !budgets.is_empty() {
        let mut out: Vec<(f64, Vec<usize>)> = budgets.iter().map(|&b| (b, Vec::new())).collect();
        for (i, &l) in log_c.iter().enumerate() {
            let best = budgets
                .iter()
                .enumerate()
                .map(|(k, b)| (k, (b.log10() - l).abs()))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((k, d)) = best
                && d <= tol
            {
                out[k].1.push(i);
            }
        }
        return out;
    }
    let mut idx: Vec<usize> = (0..log_c.len()).collect();
    idx.sort_by(|&a, &b| log_c[a].total_cmp(&log_c[b]));
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let finish = |cur: &mut Vec<usize>, out: &mut Vec<(f64, Vec<usize>)>| {
        if !cur.is_empty() {
            let mean = cur.iter().map(|&i| log_c[i]).sum::<f64>() / cur.len() as f64;
            out.push((10f64.powf(mean), std::mem::take(cur)));
        }
    };
    for &i in &idx {
        if let Some(&last) = cur.last()
            && log_c[i] - log_c[last] > tol
        {
            finish(&mut cur, &mut out);
        }
        cur.push(i);
    }
    finish(&mut cur, &mut out);
    out
}

/// Chinchilla law parameters (E, A, B, alpha, beta) of a record.
fn chinchilla_params(rec: &FitRecord) -> Result<[f64; 5]> {
    let get = |n: &str| {
        rec.param(n).ok_or_else(|| {
            AnalysisError::arg(
                "fit",
                format!(
                    "the record's {} law has no parameter {n}; need a chinchilla record",
                    rec.law
                ),
            )
        })
    };
    Ok([get("E")?, get("A")?, get("B")?, get("alpha")?, get("beta")?])
}

/// Checks the tolerance and budgets; the Chinchilla parameters of the spec's law, if any.
fn checked_law(spec: &IsoflopSpec) -> Result<Option<[f64; 5]>> {
    if !(spec.tolerance_dex > 0.0 && spec.tolerance_dex.is_finite()) {
        return Err(AnalysisError::arg(
            "tolerance",
            format!("{} must be > 0 (decades)", spec.tolerance_dex),
        ));
    }
    for &b in &spec.budgets {
        if !(b > 0.0 && b.is_finite()) {
            return Err(AnalysisError::NonPositiveOnLogAxis {
                axis: "budget".into(),
                where_: "--budgets".into(),
                value: b,
            });
        }
    }
    match &spec.law {
        Some(_) if spec.budget_column != "train_flops" => Err(AnalysisError::arg(
            "fit",
            "the Chinchilla law is drawn at D = C / (6N); use train_flops budgets",
        )),
        Some(rec) => chinchilla_params(rec).map(Some),
        None => Ok(None),
    }
}

/// Builds the figure.
pub fn isoflop_figure(table: &Table, spec: &IsoflopSpec) -> Result<IsoflopPlot> {
    let law = checked_law(spec)?;
    table.require(&[
        "dataset",
        "metric",
        "value",
        spec.budget_column.as_str(),
        spec.x_column.as_str(),
    ])?;
    super::check_not_empty(table)?;
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
    let (x_axis, y_axis) = MetricAxes {
        x_column: &spec.x_column,
        x_label: spec.x_label.as_deref(),
        y_label: spec.y_label.as_deref(),
        y_log: spec.y_log,
    }
    .build(&dataset, &metric, as_error);
    let budget_axis = Axis::log(&spec.budget_column);
    let mut xs = Vec::with_capacity(rows.len());
    let mut ys = Vec::with_capacity(rows.len());
    let mut log_c = Vec::with_capacity(rows.len());
    for &i in &rows {
        let at = table.locate(i);
        let c = number_of(table, i, &spec.budget_column, "the budgets need it")?;
        let x = number_of(table, i, &spec.x_column, "the x axis needs it")?;
        let v = table.rows[i].value;
        let y = if as_error { 1.0 - v } else { v };
        budget_axis.check(c, &spec.budget_column, &at)?;
        x_axis.check(x, &spec.x_column, &at)?;
        y_axis.check(y, &metric, &at)?;
        log_c.push(c.log10());
        xs.push(x);
        ys.push(y);
    }
    let mut warnings = Vec::new();
    let groups = group_budgets(&log_c, &spec.budgets, spec.tolerance_dex);
    let assigned: usize = groups.iter().map(|(_, m)| m.len()).sum();
    if assigned < rows.len() {
        warnings.push(format!(
            "{} of {} runs are not within {} decades of a budget and are left out",
            rows.len() - assigned,
            rows.len(),
            spec.tolerance_dex
        ));
    }
    let budgets: Vec<Budget> = groups
        .into_iter()
        .filter_map(|(c, members)| {
            if members.is_empty() {
                warnings.push(format!("budget {}: no runs", sci(c)));
                return None;
            }
            let points = members.iter().map(|&i| (xs[i], ys[i])).collect();
            Some(budget(c, points, law, &mut warnings))
        })
        .collect();
    if budgets.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: format!(
                "no runs of {} fall in a compute budget",
                table.path.display()
            ),
        });
    }

    let mut fig = Figure::new(x_axis, y_axis);
    fig.width = spec.width;
    fig.height = spec.height;
    fig.title = spec.title.clone();
    let budget_entries = push_budgets(&mut fig, &budgets, law, spec.y_log);
    fig.legend.push(LegendSection {
        title: Some(format!(
            "compute budget ({})",
            super::unit_of(&spec.budget_column)
        )),
        entries: budget_entries,
    });
    fig.legend.push(fits_legend(spec, law));
    if let Some(name) = table.path.file_name() {
        fig.notes.push(format!("data: {}", name.to_string_lossy()));
    }
    Ok(IsoflopPlot {
        figure: fig,
        budgets,
        warnings,
    })
}

/// One budget's runs, `points` as (x, y): the parabola in log x and its minimum, and the law's
/// optimum at this compute.
fn budget(
    c: f64,
    mut points: Vec<(f64, f64)>,
    law: Option<[f64; 5]>,
    warnings: &mut Vec<String>,
) -> Budget {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let us: Vec<f64> = points.iter().map(|p| p.0.log10()).collect();
    let centre = us.iter().sum::<f64>() / us.len() as f64;
    let cu: Vec<f64> = us.iter().map(|u| u - centre).collect();
    let py: Vec<f64> = points.iter().map(|p| p.1).collect();
    let parabola = fit_parabola(&cu, &py);
    let (umin, umax) = crate::fit::range(cu.iter().copied()).unwrap_or((0.0, 0.0));
    let optimum = match parabola {
        Some([a, b, cc]) if cc > 0.0 => {
            let u = -b / (2.0 * cc);
            if u >= umin - 0.5 && u <= umax + 0.5 {
                Some((10f64.powf(u + centre), a + b * u + cc * u * u))
            } else {
                warnings.push(format!(
                    "budget {}: the parabola's minimum lies outside the runs' range",
                    sci(c)
                ));
                None
            }
        }
        Some(_) => {
            warnings.push(format!("budget {}: the parabola has no minimum", sci(c)));
            None
        }
        None => {
            warnings.push(format!(
                "budget {}: {} runs, a parabola needs 3 distinct sizes",
                sci(c),
                points.len()
            ));
            None
        }
    };
    let law_optimum = law.map(|[e, a, b, al, be]| {
        let g = (al * a / (be * b)).powf(1.0 / (al + be));
        let n = g * (c / 6.0).powf(be / (al + be));
        let d = c / (6.0 * n);
        (n, e + a / n.powf(al) + b / d.powf(be))
    });
    Budget {
        compute: c,
        points,
        parabola,
        centre,
        optimum,
        law_optimum,
    }
}

/// Each budget's parabola, law curve and runs, then the optima on top; returns the budgets'
/// legend entries.
fn push_budgets(
    fig: &mut Figure,
    budgets: &[Budget],
    law: Option<[f64; 5]>,
    y_log: bool,
) -> Vec<LegendEntry> {
    let n = budgets.len();
    let mut budget_entries = Vec::new();
    for (k, b) in budgets.iter().enumerate() {
        let color = style::sequential(k, n);
        if let Some([a, bb, cc]) = b.parabola {
            let us: Vec<f64> = b.points.iter().map(|p| p.0.log10() - b.centre).collect();
            let (lo, hi) = crate::fit::range(us.iter().copied()).unwrap_or((0.0, 0.0));
            let (lo, hi) = (lo - 0.1, hi + 0.1);
            let pts: Vec<(f64, f64)> = (0..=60)
                .map(|j| {
                    let u = lo + (hi - lo) * j as f64 / 60.0;
                    (10f64.powf(u + b.centre), a + bb * u + cc * u * u)
                })
                .filter(|&(_, y)| !y_log || y > 0.0)
                .collect();
            fig.layers.push(Layer::Line {
                name: format!("budget {} parabola", sci(b.compute)),
                points: pts,
                style: LineStyle {
                    color,
                    width: 1.8,
                    dashed: true,
                },
            });
        }
        if let Some([e, a, bb, al, be]) = law {
            let c = b.compute;
            fig.layers.push(Layer::Curve {
                name: format!("budget {} law", sci(c)),
                f: Arc::new(move |nn| {
                    let d = c / (6.0 * nn);
                    Some(e + a / nn.powf(al) + bb / d.powf(be))
                }),
                style: LineStyle {
                    color,
                    width: 2.0,
                    dashed: false,
                },
                fit_y: false,
            });
        }
        fig.layers.push(Layer::Points {
            name: format!("budget {}", sci(b.compute)),
            points: b.points.clone(),
            style: MarkerStyle {
                shape: Shape::Circle,
                color,
                size: 6.0,
                filled: true,
            },
        });
        budget_entries.push(LegendEntry::new(
            Symbol::Marker(MarkerStyle {
                shape: Shape::Circle,
                color,
                size: 6.0,
                filled: true,
            }),
            format!("{} ({} runs)", sci(b.compute), b.points.len()),
        ));
    }
    // Optima on top.
    for (k, b) in budgets.iter().enumerate() {
        let color = style::sequential(k, n);
        if let Some(o) = b.optimum {
            fig.layers.push(Layer::Points {
                name: format!("budget {} optimum", sci(b.compute)),
                points: vec![o],
                style: MarkerStyle {
                    shape: Shape::Star,
                    color,
                    size: 10.0,
                    filled: true,
                },
            });
        }
        if let Some(o) = b.law_optimum {
            fig.layers.push(Layer::Points {
                name: format!("budget {} law optimum", sci(b.compute)),
                points: vec![o],
                style: MarkerStyle {
                    shape: Shape::Diamond,
                    color: Rgb::BLACK,
                    size: 9.0,
                    filled: false,
                },
            });
        }
    }
    budget_entries
}

/// The legend section that explains the fits.
fn fits_legend(spec: &IsoflopSpec, law: Option<[f64; 5]>) -> LegendSection {
    let mut fits = vec![
        LegendEntry::new(
            Symbol::Line(LineStyle {
                color: Rgb::GREY,
                width: 1.8,
                dashed: true,
            }),
            "parabola in log N per budget",
        ),
        LegendEntry::new(
            Symbol::Marker(MarkerStyle {
                shape: Shape::Star,
                color: Rgb::GREY,
                size: 10.0,
                filled: true,
            }),
            "its minimum: the fitted optimum",
        ),
    ];
    if let (Some(rec), Some(_)) = (&spec.law, law) {
        fits.push(LegendEntry {
            symbol: Symbol::Line(LineStyle {
                color: Rgb::GREY,
                width: 2.0,
                dashed: false,
            }),
            lines: vec![
                "Chinchilla law at D = C/(6N):".into(),
                format!("\u{a0}\u{a0}{}", rec.formula),
            ],
        });
        fits.push(LegendEntry::new(
            Symbol::Marker(MarkerStyle {
                shape: Shape::Diamond,
                color: Rgb::BLACK,
                size: 9.0,
                filled: false,
            }),
            "the law's optimum N_opt(C)",
        ));
    }
    LegendSection {
        title: Some("fits".into()),
        entries: fits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parabola_and_budgets() {
        let us = [-1.0, 0.0, 1.0, 2.0];
        let ys: Vec<f64> = us.iter().map(|u| 3.0 - 2.0 * u + 0.5 * u * u).collect();
        let [a, b, c] = fit_parabola(&us, &ys).expect("fit");
        assert!((a - 3.0).abs() < 1e-9 && (b + 2.0).abs() < 1e-9 && (c - 0.5).abs() < 1e-9);
        assert!(fit_parabola(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
        let lc = [18.0, 18.01, 19.0, 19.02, 20.5];
        let g = group_budgets(&lc, &[], 0.05);
        assert_eq!(g.len(), 3);
        assert_eq!(g[1].1, vec![2, 3]);
        let g = group_budgets(&lc, &[1e18, 1e19], 0.05);
        assert_eq!((g[0].1.len(), g[1].1.len()), (2, 2));
    }
}
