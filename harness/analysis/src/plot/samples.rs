//! A metric against samples seen, one line per model (or per any grouping of text columns):
//! how each model's zero-shot accuracy or loss improves with training, the view behind
//! Cherti et al. 2023's per-model curves. x is log-scaled; y is linear unless asked otherwise.

use super::figure::{Figure, Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Symbol};
use super::{
    Labels, MetricAxes, check_group_column, distinct_sorted, group_title, number_of, style, text_of,
};
use crate::error::{AnalysisError, Result};
use crate::select::{YKind, filter_rows};
use crate::table::Table;

/// What to draw.
#[derive(Debug, Clone)]
pub struct SamplesSpec {
    pub sweeps: Vec<String>,
    pub train_data: Option<String>,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub metric: Option<String>,
    /// x column (default `samples_seen`).
    pub x_column: String,
    pub y: YKind,
    pub y_log: bool,
    /// One line per distinct combination of these text columns.
    pub group_by: Vec<String>,
    /// Colour column (default: one colour per line).
    pub color_by: Option<String>,
    /// Marker column.
    pub marker_by: Option<String>,
    pub labels: Labels,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// Checks the spec's columns against the table before anything is drawn.
fn check_columns(table: &Table, spec: &SamplesSpec) -> Result<()> {
    if spec.group_by.is_empty() {
        return Err(AnalysisError::arg("group-by", "give at least one column"));
    }
    for g in &spec.group_by {
        check_group_column("group-by", g)?;
    }
    for c in spec.color_by.iter().chain(&spec.marker_by) {
        check_group_column("color-by/marker-by", c)?;
    }
    let mut needed: Vec<&str> = vec!["dataset", "metric", "value", spec.x_column.as_str()];
    needed.extend(spec.group_by.iter().map(String::as_str));
    table.require(&needed)?;
    super::check_not_empty(table)
}

/// Builds the figure.
pub fn samples_figure(table: &Table, spec: &SamplesSpec) -> Result<Figure> {
    check_columns(table, spec)?;
    let (rows, dataset, metric) = filter_rows(
        table,
        &spec.sweeps,
        spec.train_data.as_deref(),
        spec.model.as_deref(),
        spec.dataset.as_deref(),
        spec.metric.as_deref(),
    )?;
    if rows.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: format!("no rows of {} match the selection", table.path.display()),
        });
    }
    // Here the metric is shown as it is unless 1 - value is asked for explicitly.
    let as_error = spec.y == YKind::Error;
    let (x_axis, y_axis) = MetricAxes {
        x_column: &spec.x_column,
        x_label: spec.x_label.as_deref(),
        y_label: spec.y_label.as_deref(),
        y_log: spec.y_log,
    }
    .build(&dataset, &metric, as_error);
    let key_of = |i: usize| -> String {
        spec.group_by
            .iter()
            .map(|g| spec.labels.get(text_of(&table.rows[i], g)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Lines in natural order of their key.
    let mut keys: Vec<String> = rows.iter().map(|&i| key_of(i)).collect();
    keys.sort_by(|a, b| style::natural_cmp(a, b));
    keys.dedup();
    let colors: Vec<String> = match &spec.color_by {
        Some(c) => distinct_sorted(table, &rows, c),
        None => keys.clone(),
    };
    let shapes: Vec<String> = match &spec.marker_by {
        Some(m) => distinct_sorted(table, &rows, m),
        None => Vec::new(),
    };
    let mut fig = Figure::new(x_axis, y_axis);
    fig.width = spec.width;
    fig.height = spec.height;
    fig.title = spec.title.clone();
    for key in &keys {
        let members: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| key_of(i) == *key)
            .collect();
        let mut pts = Vec::with_capacity(members.len());
        for &i in &members {
            let x = number_of(table, i, &spec.x_column, "the x axis needs it")?;
            let v = table.rows[i].value;
            let y = if as_error { 1.0 - v } else { v };
            let at = table.locate(i);
            fig.x.check(x, &spec.x_column, &at)?;
            fig.y.check(y, &metric, &at)?;
            pts.push((x, y));
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first = members[0];
        let ci = match &spec.color_by {
            Some(c) => {
                let v = text_of(&table.rows[first], c);
                colors.iter().position(|x| x == v).unwrap_or(0)
            }
            None => colors.iter().position(|x| x == key).unwrap_or(0),
        };
        let color = style::category(ci);
        let shape = match &spec.marker_by {
            Some(m) => {
                let v = text_of(&table.rows[first], m);
                style::shape(shapes.iter().position(|x| x == v).unwrap_or(0))
            }
            None => super::figure::Shape::Circle,
        };
        if pts.len() >= 2 {
            fig.layers.push(Layer::Line {
                name: key.clone(),
                points: pts.clone(),
                style: LineStyle {
                    color,
                    width: 2.2,
                    dashed: false,
                },
            });
        }
        fig.layers.push(Layer::Points {
            name: key.clone(),
            points: pts,
            style: MarkerStyle {
                shape,
                color,
                size: 6.5,
                filled: true,
            },
        });
    }
    fig.legend = legend(spec, &colors, &shapes);
    if let Some(name) = table.path.file_name() {
        fig.notes.push(format!("data: {}", name.to_string_lossy()));
    }
    Ok(fig)
}

/// The legend: a section for the colours (the lines, or the colour column's values) and, with a
/// marker column, one for the shapes.
fn legend(spec: &SamplesSpec, colors: &[String], shapes: &[String]) -> Vec<LegendSection> {
    let mut sections = Vec::new();
    let marker = |color, shape| {
        Symbol::Marker(MarkerStyle {
            shape,
            color,
            size: 6.5,
            filled: true,
        })
    };
    let color_title = match &spec.color_by {
        Some(c) => group_title(c),
        None => spec
            .group_by
            .iter()
            .map(|g| group_title(g))
            .collect::<Vec<_>>()
            .join(", "),
    };
    sections.push(LegendSection {
        title: Some(color_title),
        entries: colors
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let name = if spec.color_by.is_some() {
                    spec.labels.get(c)
                } else {
                    c.clone()
                };
                LegendEntry::new(
                    marker(style::category(k), super::figure::Shape::Circle),
                    name,
                )
            })
            .collect(),
    });
    if let Some(m) = &spec.marker_by {
        sections.push(LegendSection {
            title: Some(group_title(m)),
            entries: shapes
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    LegendEntry::new(
                        marker(super::figure::Rgb::GREY, style::shape(k)),
                        spec.labels.get(s),
                    )
                })
                .collect(),
        });
    }
    sections
}
