//! Forecast against result: each trial's result (y) against what the sweep's laws forecast for
//! it before it ran (x), with the forecast's interval as a horizontal bar, the y = x line, and
//! whether each result fell inside its interval.

use std::sync::Arc;

use super::figure::{
    Figure, Layer, LegendEntry, LegendSection, LineStyle, MarkerStyle, Rgb, Shape, Symbol,
};
use super::{Axis, Scale, metric_label, style};
use crate::error::{AnalysisError, Result};
use crate::table::TidyRow;

/// Builds the figure from the rows of one data set and metric that carry a forecast.
pub fn forecast_figure(rows: &[&TidyRow], title: Option<String>) -> Result<Figure> {
    let with: Vec<(&TidyRow, f64, f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((*r, r.forecast?, r.forecast_lo?, r.forecast_hi?)))
        .collect();
    let Some((first, ..)) = with.first() else {
        return Err(AnalysisError::NothingToPlot {
            what: "no result has a forecast".into(),
        });
    };
    let what = metric_label(&first.dataset, &first.metric, false);
    let mut fig = Figure::new(
        Axis::new(
            format!("forecast {what} (before the trial ran)"),
            Scale::Linear,
        ),
        Axis::new(format!("result {what}"), Scale::Linear),
    );
    fig.title = title;
    fig.same_range = true;
    let black = LineStyle {
        color: Rgb::BLACK,
        width: 1.6,
        dashed: false,
    };
    fig.layers.push(Layer::Curve {
        name: "result = forecast".into(),
        f: Arc::new(Some),
        style: black,
        fit_y: false,
    });
    let marker = |inside: bool| MarkerStyle {
        shape: if inside {
            Shape::Circle
        } else {
            Shape::Diamond
        },
        color: style::category(if inside { 2 } else { 3 }),
        size: 8.0,
        filled: true,
    };
    for (r, f, lo, hi) in &with {
        let (y, lo, hi) = (r.value, *lo, *hi);
        fig.layers.push(Layer::Curve {
            name: format!("{} interval", r.trial_id),
            f: Arc::new(move |x| (lo..=hi).contains(&x).then_some(y)),
            style: LineStyle {
                color: Rgb::GREY,
                width: 1.2,
                dashed: false,
            },
            fit_y: false,
        });
        // the bar's ends as small marks (they also keep the bar inside the axes' range)
        fig.layers.push(Layer::Points {
            name: format!("{} interval ends", r.trial_id),
            points: vec![(lo, y), (hi, y)],
            style: MarkerStyle {
                shape: Shape::Square,
                color: Rgb::GREY,
                size: 3.0,
                filled: true,
            },
        });
        fig.layers.push(Layer::Points {
            name: r.trial_id.clone(),
            points: vec![(*f, y)],
            style: marker((lo..=hi).contains(&y)),
        });
    }
    let inside = with
        .iter()
        .filter(|(r, _, lo, hi)| (*lo..=*hi).contains(&r.value))
        .count();
    let level = crate::forecast::FORECAST_LEVEL;
    fig.legend.push(LegendSection {
        title: Some(format!("{} trials with a forecast", with.len())),
        entries: vec![
            LegendEntry::new(
                Symbol::Marker(marker(true)),
                format!("inside its {:.0}% interval: {inside}", 100.0 * level),
            ),
            LegendEntry::new(
                Symbol::Marker(marker(false)),
                format!("outside: {}", with.len() - inside),
            ),
            LegendEntry::new(Symbol::Line(black), "result = forecast"),
        ],
    });
    let rel: Vec<f64> = with
        .iter()
        .filter(|(r, ..)| r.value != 0.0)
        .map(|(r, f, ..)| (f - r.value).abs() / r.value.abs())
        .collect();
    fig.notes.push(format!(
        "mean |forecast - result| / result {:.1}%, worst {:.1}%",
        100.0 * rel.iter().sum::<f64>() / rel.len().max(1) as f64,
        100.0 * rel.iter().copied().fold(0.0, f64::max)
    ));
    fig.notes.push(
        "bars: the forecast's interval; each law fitted on the trials finished before".into(),
    );
    Ok(fig)
}
