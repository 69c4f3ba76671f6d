//! Error (or loss) against compute on log-log axes, the figure of Cherti et al. 2023: every
//! selected run as a point coloured by one column (model, training data, sweep) and optionally
//! shaped by another, the fitted law of each group as a line with its bootstrap confidence band
//! (pointwise percentiles of the refitted laws), the frontier points the law was fitted to, and
//! the law written in the legend (`OpenCLIP: E = 5.858 C^-0.1114`). Laws come from fit records
//! (their bootstrap replays from the record's seed when the in-memory refits are absent) or are
//! fitted on the fly, one per group.

use std::sync::Arc;

use super::band::{BAND_OPACITY, Band, band_legend, band_notes, push_bands};
use super::figure::{
    Figure, Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Rgb, Shape, Symbol,
};
use super::{
    Axis, Labels, check_group_column, column_label, distinct_sorted, metric_label, style,
    sub_table, text_of,
};
use crate::error::{AnalysisError, Result};
use crate::fit::bootstrap::BootstrapOptions;
use crate::fit::frontier::Frontier;
use crate::fit::record::{FitRecord, Selection};
use crate::fit::{power, saturating};
use crate::pipeline::{FitSpec, Law, SelectSpec, YKind, fit_table};
use crate::select::{Selected, select_rows};
use crate::table::Table;

/// A law to draw: its record, legend label and (when known) the bootstrap refits.
#[derive(Debug, Clone)]
pub struct LawToDraw {
    pub label: String,
    pub record: FitRecord,
    /// Bootstrap parameter vectors (record order); empty = no band.
    pub replicates: Vec<Vec<f64>>,
}

/// Where the laws come from.
#[derive(Debug, Clone)]
pub enum Fits {
    /// Points only.
    None,
    /// Given laws (e.g. read from fit records, labels from the records or the caller).
    Given(Vec<LawToDraw>),
    /// Fit one law per distinct value of `by` (all selected rows when `None`).
    OnTheFly {
        by: Option<String>,
        spec: Box<FitSpec>,
        bootstrap: Option<BootstrapOptions>,
    },
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct ScalingSpec {
    pub select: SelectSpec,
    /// Column that colours the points.
    pub color_by: String,
    /// Column that shapes the points.
    pub marker_by: Option<String>,
    pub fits: Fits,
    /// Draw bootstrap bands where refits are available.
    pub band: bool,
    /// Draw each law dashed beyond the compute range of the points it was fitted to (its
    /// extrapolation), solid within it.
    pub dashed_beyond_data: bool,
    pub labels: Labels,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// The figure and the laws on it.
#[derive(Debug, Clone)]
pub struct ScalingPlot {
    pub figure: Figure,
    pub laws: Vec<LawToDraw>,
    pub warnings: Vec<String>,
}

/// A law's prediction at compute `c` from a parameter vector in record order; an error for a
/// law that is not a function of compute alone.
pub(super) fn law_fn(law: &str) -> Result<impl Fn(&[f64], f64) -> f64 + Send + Sync + 'static> {
    let law = Law::from_name(law)?;
    if !law.of_compute() {
        return Err(AnalysisError::arg(
            "fit",
            format!(
                "a {} law is not a function of compute alone; plot it with `plot isoflop`",
                law.name()
            ),
        ));
    }
    Ok(move |p: &[f64], c: f64| law.predict(p, c, f64::NAN, f64::NAN, f64::NAN))
}

/// The record's parameters in the order the bootstrap stores them.
fn params_of(rec: &FitRecord) -> Vec<f64> {
    rec.parameters.iter().map(|p| p.value).collect()
}

/// The law written out for the legend.
pub fn law_text(rec: &FitRecord) -> String {
    let p = params_of(rec);
    if rec.law == power::LAW && p.len() == 2 {
        super::power_formula(p[0], p[1])
    } else if rec.law == saturating::LAW && p.len() == 3 {
        format!(
            "E = {} + {} C^{}",
            crate::pipeline::sig(p[0]),
            crate::pipeline::sig(p[1]),
            crate::pipeline::sig(p[2])
        )
    } else {
        rec.formula.clone()
    }
}

/// Parses a record's frontier description (`bins(5)`, `pareto`, `none`).
pub fn parse_frontier(s: &str) -> Result<Frontier> {
    match s {
        "none" => Ok(Frontier::None),
        "pareto" => Ok(Frontier::Pareto),
        _ => s
            .strip_prefix("bins(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
            .map(Frontier::Bins)
            .ok_or_else(|| AnalysisError::arg("fit", format!("unknown frontier {s:?} in record"))),
    }
}

/// Replays a record's fit and bootstrap on `table` (same selection, frontier, seed and number
/// of refits) and returns the refits; fails if the replayed fit differs from the record.
pub fn replay_bootstrap(table: &Table, rec: &FitRecord) -> Result<Vec<Vec<f64>>> {
    let Some(b) = &rec.bootstrap else {
        return Ok(Vec::new());
    };
    let s = &rec.selection;
    let regrouped;
    let table = if s.groups.is_empty() {
        table
    } else {
        regrouped = regroup_as_recorded(table, &s.groups)?;
        &regrouped
    };
    let select = SelectSpec {
        sweeps: s.sweeps.clone(),
        train_data: s.train_data.clone(),
        model: s.model.clone(),
        dataset: Some(s.dataset.clone()),
        metric: Some(s.metric.clone()),
        x_column: rec.axes.x.clone(),
        y: if rec.axes.y.starts_with("1 - ") {
            YKind::Error
        } else {
            YKind::Value
        },
        drop_highest: s.dropped_highest,
        need_nd: false,
    };
    let mut spec = FitSpec {
        law: Law::from_name(&rec.law)?,
        frontier: parse_frontier(&rec.frontier)?,
        saturating: Default::default(),
        chinchilla: Default::default(),
    };
    if let Some(d) = rec.objective.huber_delta {
        spec.saturating.huber_delta = d;
    }
    let boot = BootstrapOptions {
        reps: b.reps,
        seed: b.seed,
        level: b.level,
        threads: 0,
    };
    let again = fit_table(table, &select, &spec, Some(&boot), None)?;
    let (p, q) = (params_of(rec), params_of(&again));
    let same = p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| (a - b).abs() <= 1e-6 * a.abs().max(1e-12));
    if !same {
        return Err(AnalysisError::fit(
            &rec.law,
            format!(
                "the record says {} but the table {} gives {}; is it the table the record was fitted on?",
                rec.formula,
                table.path.display(),
                again.formula
            ),
        ));
    }
    Ok(again.bootstrap.map(|b| b.replicates).unwrap_or_default())
}

/// `table` with the groupings a record's selection names (`column: NAME=V1,V2`) applied.
fn regroup_as_recorded(table: &Table, groups: &[String]) -> Result<Table> {
    let mut out = table.clone();
    for g in groups {
        let parsed = g.split_once(": ").and_then(|(col, grouping)| {
            grouping
                .parse::<crate::table::Grouping>()
                .ok()
                .map(|gr| (col, gr))
        });
        let Some((col, grouping)) = parsed else {
            return Err(AnalysisError::arg(
                "fit",
                format!("the record's grouping {g:?} is not `column: NAME=V1,V2`"),
            ));
        };
        // a table already grouped so (the name present, the values gone) is left as it is
        let present = |v: &str| out.rows.iter().any(|r| r.text(col) == Some(v));
        if present(&grouping.name) && !grouping.values.iter().any(|v| present(v)) {
            continue;
        }
        out = out.regroup(col, &[grouping])?;
    }
    Ok(out)
}

/// Whether row `r` is one of the rows a record's selection describes.
fn in_selection(row: &crate::table::TidyRow, s: &Selection) -> bool {
    (s.sweeps.is_empty() || s.sweeps.contains(&row.sweep))
        && s.train_data.as_ref().is_none_or(|t| *t == row.train_data)
        && s.model.as_ref().is_none_or(|m| *m == row.model)
}

fn fit_groups(
    table: &Table,
    rows: &[usize],
    spec: &ScalingSpec,
    by: &Option<String>,
    fit: &FitSpec,
    boot: Option<&BootstrapOptions>,
    warnings: &mut Vec<String>,
) -> Result<Vec<LawToDraw>> {
    let groups: Vec<(String, Vec<usize>)> = match by {
        None => vec![("all runs".to_string(), rows.to_vec())],
        Some(col) => distinct_sorted(table, rows, col)
            .into_iter()
            .map(|g| {
                let members = rows
                    .iter()
                    .copied()
                    .filter(|&i| text_of(&table.rows[i], col) == g)
                    .collect();
                (g, members)
            })
            .collect(),
    };
    let mut out = Vec::new();
    for (g, members) in groups {
        let sub = sub_table(table, &members);
        let mut sel = spec.select.clone();
        if let Some(col) = by {
            match col.as_str() {
                "sweep" => sel.sweeps = vec![g.clone()],
                "train_data" => sel.train_data = Some(g.clone()),
                "model" => sel.model = Some(g.clone()),
                _ => {}
            }
        }
        match fit_table(&sub, &sel, fit, boot, None) {
            Ok(mut rec) => {
                let replicates = rec
                    .bootstrap
                    .as_mut()
                    .map(|b| std::mem::take(&mut b.replicates))
                    .unwrap_or_default();
                out.push(LawToDraw {
                    label: spec.labels.get(&g),
                    record: rec,
                    replicates,
                });
            }
            Err(e) => warnings.push(format!("no law for {g}: {e}")),
        }
    }
    Ok(out)
}

fn frontier_words(rec: &FitRecord) -> String {
    let n = rec.points_input;
    match parse_frontier(&rec.frontier) {
        Ok(Frontier::Bins(k)) => format!("fitted to the {k}-bin frontier of {n} runs"),
        Ok(Frontier::Pareto) => format!("fitted to the Pareto frontier of {n} runs"),
        _ => format!("fitted to all {n} runs"),
    }
}

/// The colours and marker shapes of a figure's groups.
struct Palette {
    colors: Vec<String>,
    shapes: Vec<String>,
}

impl Palette {
    fn color(&self, v: &str) -> Rgb {
        style::category(self.colors.iter().position(|c| c == v).unwrap_or(0))
    }

    fn shape(&self, v: &str) -> Shape {
        style::shape(self.shapes.iter().position(|c| c == v).unwrap_or(0))
    }
}

/// Builds the figure: points, laws, bands, frontier points and legend.
pub fn scaling_figure(table: &Table, spec: &ScalingSpec) -> Result<ScalingPlot> {
    check_group_column("color-by", &spec.color_by)?;
    super::check_not_empty(table)?;
    if let Some(m) = &spec.marker_by {
        check_group_column("marker-by", m)?;
    }
    let (sel, rows) = select_rows(table, &spec.select)?;
    if sel.obs.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: format!(
                "no rows of {} match the selection ({} {})",
                table.path.display(),
                sel.selection.dataset,
                sel.selection.metric
            ),
        });
    }
    let x_axis = Axis::log(
        spec.x_label
            .clone()
            .unwrap_or_else(|| column_label(&spec.select.x_column)),
    );
    let as_error = sel.axes.y.starts_with("1 - ");
    let y_axis =
        Axis::log(spec.y_label.clone().unwrap_or_else(|| {
            metric_label(&sel.selection.dataset, &sel.selection.metric, as_error)
        }));
    for (o, &i) in sel.obs.iter().zip(&rows) {
        let at = table.locate(i);
        x_axis.check(o.x, &spec.select.x_column, &at)?;
        y_axis.check(o.y, &sel.axes.y, &at)?;
    }
    let mut warnings = Vec::new();
    let laws = laws_to_draw(table, spec, &sel, &rows, &mut warnings)?;
    let palette = Palette {
        colors: distinct_sorted(table, &rows, &spec.color_by),
        shapes: match &spec.marker_by {
            Some(m) => distinct_sorted(table, &rows, m),
            None => Vec::new(),
        },
    };
    let mut fig = Figure::new(x_axis, y_axis);
    fig.width = spec.width;
    fig.height = spec.height;
    fig.title = spec.title.clone();
    let styles = law_styles(table, spec, &rows, &laws, &palette);
    // bands first, under everything; then the points, then the laws and their frontiers
    let bands = if spec.band {
        push_bands(&mut fig, &laws, &styles)?
    } else {
        vec![Band::None; laws.len()]
    };
    push_points(&mut fig, table, spec, &sel, &rows, &palette);
    let fit_entries = push_laws(&mut fig, &laws, &bands, &styles, spec.dashed_beyond_data)?;
    legend(&mut fig, spec, &palette, fit_entries);
    fig.notes.extend(band_notes(&laws, &bands));
    if let Some(name) = table.path.file_name() {
        fig.notes.push(format!("data: {}", name.to_string_lossy()));
    }
    Ok(ScalingPlot {
        figure: fig,
        laws,
        warnings,
    })
}

/// The laws of the spec (given, or fitted per group here), each checked to be of the axes shown.
fn laws_to_draw(
    table: &Table,
    spec: &ScalingSpec,
    sel: &Selected,
    rows: &[usize],
    warnings: &mut Vec<String>,
) -> Result<Vec<LawToDraw>> {
    let laws = match &spec.fits {
        Fits::None => Vec::new(),
        Fits::Given(l) => l.clone(),
        Fits::OnTheFly {
            by,
            spec: fit,
            bootstrap,
        } => {
            if let Some(b) = by {
                check_group_column("fit-by", b)?;
            }
            fit_groups(table, rows, spec, by, fit, bootstrap.as_ref(), warnings)?
        }
    };
    for l in &laws {
        let _checked = law_fn(&l.record.law)?;
        if l.record.axes.x != spec.select.x_column || l.record.axes.y != sel.axes.y {
            return Err(AnalysisError::arg(
                "fit",
                format!(
                    "the law {:?} was fitted to {} against {}, but the plot shows {} against {}",
                    l.label, l.record.axes.y, l.record.axes.x, sel.axes.y, spec.select.x_column
                ),
            ));
        }
    }
    Ok(laws)
}

/// Law colours: the colour of the group when all its points share one, else a dark one.
fn law_styles(
    table: &Table,
    spec: &ScalingSpec,
    rows: &[usize],
    laws: &[LawToDraw],
    palette: &Palette,
) -> Vec<LineStyle> {
    let mut dark = 0;
    laws.iter()
        .map(|l| {
            let vals: Vec<&str> = rows
                .iter()
                .filter(|&&i| in_selection(&table.rows[i], &l.record.selection))
                .map(|&i| text_of(&table.rows[i], &spec.color_by))
                .collect();
            let single = vals.first().filter(|v| vals.iter().all(|w| w == *v));
            let color = match single {
                Some(v) => palette.color(v).darker(0.15),
                None => {
                    dark += 1;
                    style::LAW_COLORS[(dark - 1) % style::LAW_COLORS.len()]
                }
            };
            LineStyle {
                color,
                width: 2.6,
                dashed: false,
            }
        })
        .collect()
}

/// The selected runs as points, grouped by (colour, shape); bigger colour groups first, so a
/// small group (e.g. 3 reference models) stays visible on top.
fn push_points(
    fig: &mut Figure,
    table: &Table,
    spec: &ScalingSpec,
    sel: &Selected,
    rows: &[usize],
    palette: &Palette,
) {
    let mut combos: Vec<(String, String)> = Vec::new();
    for &i in rows {
        let r = &table.rows[i];
        let key = (
            text_of(r, &spec.color_by).to_string(),
            spec.marker_by
                .as_deref()
                .map(|m| text_of(r, m).to_string())
                .unwrap_or_default(),
        );
        if !combos.contains(&key) {
            combos.push(key);
        }
    }
    let count = |c: &str| {
        rows.iter()
            .filter(|&&i| text_of(&table.rows[i], &spec.color_by) == c)
            .count()
    };
    combos.sort_by_key(|(c, _)| std::cmp::Reverse(count(c)));
    for (c, s) in &combos {
        let points: Vec<(f64, f64)> = sel
            .obs
            .iter()
            .zip(rows)
            .filter(|(_, i)| {
                let r = &table.rows[**i];
                text_of(r, &spec.color_by) == c
                    && spec.marker_by.as_deref().is_none_or(|m| text_of(r, m) == s)
            })
            .map(|(o, _)| (o.x, o.y))
            .collect();
        fig.layers.push(Layer::Points {
            name: format!("{c} {s}"),
            points,
            style: MarkerStyle {
                shape: if spec.marker_by.is_some() {
                    palette.shape(s)
                } else {
                    Shape::Circle
                },
                color: palette.color(c),
                size: 7.5,
                filled: true,
            },
        });
    }
}

/// Each law as a curve with the frontier points it was fitted to; returns their legend entries.
fn push_laws(
    fig: &mut Figure,
    laws: &[LawToDraw],
    bands: &[Band],
    styles: &[LineStyle],
    dashed_beyond_data: bool,
) -> Result<Vec<LegendEntry>> {
    let mut entries = Vec::new();
    for ((l, st), band) in laws.iter().zip(styles).zip(bands) {
        let f = Arc::new(law_fn(&l.record.law)?);
        let p = Arc::new(params_of(&l.record));
        let (lo, hi) = (l.record.data_range.x_min, l.record.data_range.x_max);
        let inside = move |c: f64| !dashed_beyond_data || (lo..=hi).contains(&c);
        let (f2, p2) = (f.clone(), p.clone());
        fig.layers.push(Layer::Curve {
            name: l.label.clone(),
            f: Arc::new(move |c| inside(c).then(|| f(&p, c))),
            style: *st,
            fit_y: true,
        });
        if dashed_beyond_data {
            fig.layers.push(Layer::Curve {
                name: format!("{} (extrapolated)", l.label),
                f: Arc::new(move |c| (!(lo..=hi).contains(&c)).then(|| f2(&p2, c))),
                style: LineStyle {
                    dashed: true,
                    ..*st
                },
                fit_y: false,
            });
        }
        let symbol = if *band == Band::None {
            Symbol::Line(*st)
        } else {
            Symbol::LineBand(*st, BAND_OPACITY)
        };
        let mut lines = vec![
            format!("{}: {}", l.label, law_text(&l.record)),
            format!("\u{a0}\u{a0}{}", frontier_words(&l.record)),
        ];
        if !l.record.at_bound.is_empty() {
            // the parameter names, "E_inf = 1e-14 at its lower bound..." -> "E_inf"
            let names: Vec<&str> = l
                .record
                .at_bound
                .iter()
                .map(|b| b.split(" =").next().unwrap_or(b))
                .collect();
            lines.push(format!(
                "\u{a0}\u{a0}at a bound of its range: {} (see the fit record)",
                names.join(", ")
            ));
        }
        lines.extend(band_legend(&l.record, band).map(|s| format!("\u{a0}\u{a0}{s}")));
        entries.push(LegendEntry { symbol, lines });
        let frontier = parse_frontier(&l.record.frontier)?;
        if frontier != Frontier::None {
            let fs = MarkerStyle {
                shape: Shape::Diamond,
                color: st.color,
                size: 11.0,
                filled: false,
            };
            fig.layers.push(Layer::Points {
                name: format!("{} frontier", l.label),
                points: l.record.points_used.iter().map(|u| (u.x, u.y)).collect(),
                style: fs,
            });
            let what = match frontier {
                Frontier::Bins(_) => "binned frontier (bin centre, best error)",
                _ => "Pareto frontier",
            };
            entries.push(LegendEntry::new(
                Symbol::Marker(fs),
                format!("{}: {what}", l.label),
            ));
        }
    }
    Ok(entries)
}

/// The legend: colours, shapes (with a marker column) and the fitted laws.
fn legend(fig: &mut Figure, spec: &ScalingSpec, palette: &Palette, fit_entries: Vec<LegendEntry>) {
    let marker = |shape, color| {
        Symbol::Marker(MarkerStyle {
            shape,
            color,
            size: 7.5,
            filled: true,
        })
    };
    fig.legend.push(LegendSection {
        title: Some(super::group_title(&spec.color_by)),
        entries: palette
            .colors
            .iter()
            .map(|c| LegendEntry::new(marker(Shape::Circle, palette.color(c)), spec.labels.get(c)))
            .collect(),
    });
    if let Some(m) = &spec.marker_by {
        fig.legend.push(LegendSection {
            title: Some(super::group_title(m)),
            entries: palette
                .shapes
                .iter()
                .map(|s| LegendEntry::new(marker(palette.shape(s), Rgb::GREY), spec.labels.get(s)))
                .collect(),
        });
    }
    if !fit_entries.is_empty() {
        fig.legend.push(LegendSection {
            title: Some(format!(
                "fitted laws (C in {})",
                super::unit_of(&spec.select.x_column)
            )),
            entries: fit_entries,
        });
    }
}
