//! The comparison figure of [`crate::compare`]: each group's runs, its law (solid over the
//! compute its points span, dashed where it extrapolates) with its band (bootstrap, or the
//! classical interval where the bootstrap was refused), and where each pair of laws crosses,
//! with the interval of the crossing drawn as a bar through it.

use std::sync::Arc;

use super::figure::{
    Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Rgb, Shape, Symbol,
};
use super::scaling::{Fits, LawToDraw, ScalingSpec, scaling_figure};
use super::{Labels, figure::Figure};
use crate::compare::CompareRecord;
use crate::error::Result;
use crate::pipeline::{Law, SelectSpec};
use crate::table::Table;

/// How the comparison figure looks.
#[derive(Debug, Clone)]
pub struct CompareFigureSpec {
    /// The rows of the comparison (as given to [`crate::compare::compare`]).
    pub select: SelectSpec,
    /// Column that shapes the points (e.g. `model`).
    pub marker_by: Option<String>,
    pub labels: Labels,
    pub title: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// Builds the figure of `rec` from the (regrouped) `table` it was computed on.
pub fn compare_figure(
    table: &Table,
    rec: &CompareRecord,
    spec: &CompareFigureSpec,
) -> Result<Figure> {
    let laws = rec
        .groups
        .iter()
        .map(|g| LawToDraw {
            label: spec.labels.get(&g.name),
            record: g.fit.clone(),
            // classical draws are not refits: their band is drawn from the interval itself
            replicates: if g.resampled_by == "bootstrap" {
                g.replicates.clone()
            } else {
                Vec::new()
            },
        })
        .collect();
    let scaling = ScalingSpec {
        select: spec.select.clone(),
        color_by: rec.by.clone(),
        marker_by: spec.marker_by.clone(),
        fits: Fits::Given(laws),
        band: true,
        dashed_beyond_data: true,
        labels: spec.labels.clone(),
        title: spec.title.clone(),
        x_label: None,
        y_label: None,
        width: spec.width,
        height: spec.height,
    };
    let mut fig = scaling_figure(table, &scaling)?.figure;
    let law = Law::from_name(&rec.law)?;
    let mut entries = Vec::new();
    let star = MarkerStyle {
        shape: Shape::Star,
        color: Rgb::BLACK,
        size: 13.0,
        filled: true,
    };
    for p in &rec.pairs {
        let Some(c) = p.crossing.compute else {
            entries.push(LegendEntry::new(
                Symbol::Line(LineStyle {
                    color: Rgb::GREY,
                    width: 1.0,
                    dashed: true,
                }),
                format!(
                    "{} and {}: no crossing up to C = {:.2e}",
                    spec.labels.get(&p.a),
                    spec.labels.get(&p.b),
                    p.crossing.range[1]
                ),
            ));
            continue;
        };
        let Some(a) = rec.groups.iter().find(|g| g.name == p.a) else {
            continue;
        };
        let pa: Vec<f64> = a.fit.parameters.iter().map(|q| q.value).collect();
        let y = law.predict(&pa, c, f64::NAN, f64::NAN, f64::NAN);
        fig.layers.push(Layer::Points {
            name: format!("{} = {}", p.a, p.b),
            points: vec![(c, y)],
            style: star,
        });
        let mut text = format!(
            "{} = {} at C = {:.2e}",
            spec.labels.get(&p.a),
            spec.labels.get(&p.b),
            c
        );
        if let (Some(lo), Some(hi)) = (p.crossing.ci_low, p.crossing.ci_high) {
            fig.layers.push(Layer::Curve {
                name: format!("{} = {} interval", p.a, p.b),
                f: Arc::new(move |x| (lo..=hi).contains(&x).then_some(y)),
                style: LineStyle {
                    color: Rgb::BLACK,
                    width: 2.0,
                    dashed: false,
                },
                fit_y: false,
            });
            text += &format!(
                " [{lo:.2e}, {hi:.2e}], {:.0}% of refits cross",
                100.0 * p.crossing.share_crossing
            );
        }
        entries.push(LegendEntry::new(Symbol::Marker(star), text));
    }
    if !entries.is_empty() {
        fig.legend.push(LegendSection {
            title: Some(format!("crossings ({:.0}% intervals)", 100.0 * rec.level)),
            entries,
        });
    }
    fig.notes
        .push("dashed: a law beyond its own runs' compute".into());
    Ok(fig)
}
