//! The extrapolation check drawn: a law fitted on the runs below a compute threshold predicts
//! the runs above it (the test Cherti et al. 2023 and Hoffmann et al. 2022 rely on when they
//! extrapolate), shown as predicted against observed with the y = x line and +-5% guides, the
//! mean and largest relative errors in the legend. Reads the `extrapolation` part of a fit
//! record (`fit --holdout-above C`).

use std::sync::Arc;

use super::figure::{
    Figure, Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Rgb, Shape, Symbol,
};
use super::{Axis, metric_label, sci, style};
use crate::error::{AnalysisError, Result};
use crate::fit::record::FitRecord;

/// Figure options.
#[derive(Debug, Clone)]
pub struct ExtrapolationSpec {
    pub title: Option<String>,
    /// Replace `observed ...` / `predicted ...`.
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    /// Log axes (default linear).
    pub log: bool,
    pub width: u32,
    pub height: u32,
}

/// Builds the figure from a record with an extrapolation check.
pub fn extrapolation_figure(rec: &FitRecord, spec: &ExtrapolationSpec) -> Result<Figure> {
    let x = rec.extrapolation.as_ref().ok_or_else(|| {
        AnalysisError::arg(
            "fit",
            "the fit record has no extrapolation check; fit with --holdout-above C",
        )
    })?;
    if x.points.is_empty() {
        return Err(AnalysisError::NothingToPlot {
            what: "the extrapolation check holds no held-out points".into(),
        });
    }
    let what = metric_label(
        &rec.selection.dataset,
        &rec.selection.metric,
        rec.axes.y.starts_with("1 - "),
    );
    let scale = if spec.log {
        super::Scale::Log
    } else {
        super::Scale::Linear
    };
    let mut fig = Figure::new(
        Axis::new(
            spec.x_label
                .clone()
                .unwrap_or_else(|| format!("observed {what}")),
            scale,
        ),
        Axis::new(
            spec.y_label
                .clone()
                .unwrap_or_else(|| format!("predicted {what}")),
            scale,
        ),
    );
    fig.width = spec.width;
    fig.height = spec.height;
    fig.title = spec.title.clone();
    fig.same_range = true;
    let guide = |f: f64, dashed: bool, color: Rgb, width: f64| Layer::Curve {
        name: format!("y = {f} x"),
        f: Arc::new(move |v| Some(f * v)),
        style: LineStyle {
            color,
            width,
            dashed,
        },
        fit_y: false,
    };
    let light = Rgb(150, 150, 150);
    fig.layers.push(guide(1.05, true, light, 1.4));
    fig.layers.push(guide(0.95, true, light, 1.4));
    fig.layers.push(guide(1.0, false, Rgb::BLACK, 1.8));
    let ms = MarkerStyle {
        shape: Shape::Circle,
        color: style::category(3),
        size: 8.0,
        filled: true,
    };
    fig.layers.push(Layer::Points {
        name: "held-out runs".into(),
        points: x.points.iter().map(|p| (p.observed, p.predicted)).collect(),
        style: ms,
    });
    let unit = super::unit_of(&x.axis);
    fig.legend.push(LegendSection {
        title: Some(format!(
            "{} law, fitted on C ≤ {} {unit}",
            rec.law,
            sci(x.threshold)
        )),
        entries: vec![
            LegendEntry::new(
                Symbol::Marker(ms),
                format!(
                    "{} held-out runs (C > {} {unit})",
                    x.n_held_out,
                    sci(x.threshold)
                ),
            ),
            LegendEntry::new(
                Symbol::Line(LineStyle {
                    color: Rgb::BLACK,
                    width: 1.8,
                    dashed: false,
                }),
                "predicted = observed",
            ),
            LegendEntry::new(
                Symbol::Line(LineStyle {
                    color: light,
                    width: 1.4,
                    dashed: true,
                }),
                "±5%",
            ),
        ],
    });
    fig.notes.push(format!("fitted on {} runs", x.n_fit));
    fig.notes.push(format!(
        "mean |relative error| {:.2}%, max {:.2}%",
        100.0 * x.mean_abs_rel_error,
        100.0 * x.max_abs_rel_error
    ));
    fig.notes.push(format!(
        "mean relative error {:+.2}% (+ = pessimistic)",
        100.0 * x.mean_rel_error
    ));
    Ok(fig)
}
