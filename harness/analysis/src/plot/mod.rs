//! Scaling plots drawn from the tidy table and fit records, as PNG or SVG (plotters, bundled
//! DejaVu Sans font, no system fonts): [`scaling`] error against compute on log-log axes with
//! the fitted power law and its bootstrap band (the figure of Cherti et al. 2023, "Reproducible
//! scaling laws for contrastive language-image learning"); [`samples`] a metric against samples
//! seen, one line per model; [`isoflop`] loss against parameters at fixed compute budgets with
//! the fitted optimum (Hoffmann et al. 2022's IsoFLOP profiles); [`extrapolation`] predicted
//! against observed for a hold-out check; and [`cherti`], the reference figure reproduced from
//! the published data. Each kind builds a [`figure::Figure`], which [`figure::render`] draws.

pub mod axis;
mod band;
pub mod cherti;
pub mod compare;
pub mod extrapolation;
pub mod figure;
pub mod forecast;
pub mod glyph;
pub mod isoflop;
mod legend;
mod marks;
pub mod render;
pub mod samples;
pub mod scaling;
pub mod style;

use std::collections::HashMap;

pub use axis::{Axis, Scale};
pub use figure::{Figure, Format, render};

use crate::error::{AnalysisError, Result};
use crate::table::{Table, TidyRow};

/// Text columns of the tidy table that rows can be grouped, coloured or marked by.
pub const GROUP_COLUMNS: [&str; 12] = [
    "sweep",
    "trial_id",
    "model",
    "train_data",
    "dataset",
    "metric",
    "source",
    "objective",
    "curation",
    "family",
    "varied",
    "schedule",
];

/// Fails unless `column` is a text column rows can be grouped by.
pub fn check_group_column(option: &str, column: &str) -> Result<()> {
    if GROUP_COLUMNS.contains(&column) {
        Ok(())
    } else {
        Err(AnalysisError::arg(
            option,
            format!(
                "{column:?} is not a text column; use one of {}",
                GROUP_COLUMNS.join(", ")
            ),
        ))
    }
}

/// Fails with [`AnalysisError::NothingToPlot`] when the table has no data rows.
pub fn check_not_empty(table: &Table) -> Result<()> {
    if table.rows.is_empty() {
        Err(AnalysisError::NothingToPlot {
            what: format!("{} has a header but no rows", table.path.display()),
        })
    } else {
        Ok(())
    }
}

/// Axis description, with units, of a numeric column of the tidy table.
pub fn column_label(column: &str) -> String {
    match column {
        "total_gmacs" => "total compute (GMAC)".into(),
        "train_flops" => "training compute (FLOP)".into(),
        "samples_seen" => "samples seen".into(),
        "unique_samples" => "unique samples".into(),
        "params" => "parameters".into(),
        "fwd_macs_per_pair" => "forward MACs per sample".into(),
        other => other.to_string(),
    }
}

/// Unit of a numeric column, for formulas (`C in GMAC`).
pub fn unit_of(column: &str) -> &str {
    match column {
        "total_gmacs" => "GMAC",
        "train_flops" => "FLOP",
        other => other,
    }
}

/// Legend-title form of a text column.
pub fn group_title(column: &str) -> String {
    match column {
        "train_data" => "training data".into(),
        "trial_id" => "trial".into(),
        other => other.replace('_', " "),
    }
}

fn dataset_name(dataset: &str) -> String {
    match dataset {
        "imagenet1k" => "ImageNet-1k".into(),
        "train" => "training".into(),
        "mscoco_captions" => "MS-COCO".into(),
        "flickr30k" => "Flickr30k".into(),
        "cifar10" => "CIFAR-10".into(),
        "cifar100" => "CIFAR-100".into(),
        "massivetext" => "MassiveText".into(),
        other => other.to_string(),
    }
}

/// Axis description of an evaluation: e.g. `ImageNet-1k zero-shot top-1 error` for
/// (imagenet1k, acc1, as error) or `training loss` for (train, loss).
/// The axes of a metric against a column: x logarithmic and described by its column, y linear
/// (or logarithmic with `y_log`) and described by the metric; given labels replace either.
pub struct MetricAxes<'a> {
    pub x_column: &'a str,
    pub x_label: Option<&'a str>,
    pub y_label: Option<&'a str>,
    pub y_log: bool,
}

impl MetricAxes<'_> {
    /// The (x, y) axes for `metric` on `dataset`, shown as an error (1 - value) when `as_error`.
    pub fn build(&self, dataset: &str, metric: &str, as_error: bool) -> (Axis, Axis) {
        let x = Axis::log(
            self.x_label
                .map_or_else(|| column_label(self.x_column), String::from),
        );
        let y = Axis::new(
            self.y_label
                .map_or_else(|| metric_label(dataset, metric, as_error), String::from),
            if self.y_log {
                Scale::Log
            } else {
                Scale::Linear
            },
        );
        (x, y)
    }
}

pub fn metric_label(dataset: &str, metric: &str, as_error: bool) -> String {
    let d = dataset_name(dataset);
    let (what, zero_shot) = match metric {
        "acc1" => ("top-1", true),
        "acc5" => ("top-5", true),
        _ => ("", false),
    };
    if zero_shot {
        let kind = if as_error { "error" } else { "accuracy" };
        return format!("{d} zero-shot {what} {kind}");
    }
    let m = metric.replace('_', " ");
    if as_error {
        format!("{d} 1 - {m}")
    } else {
        format!("{d} {m}")
    }
}

/// Legend renames parsed from `OLD=NEW` strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels(HashMap<String, String>);

impl Labels {
    /// Parses `OLD=NEW` pairs; anything without `=` is an error naming it.
    pub fn parse(pairs: &[String]) -> Result<Labels> {
        let mut m = HashMap::new();
        for p in pairs {
            let (old, new) = p
                .split_once('=')
                .ok_or_else(|| AnalysisError::arg("label", format!("{p:?} is not OLD=NEW")))?;
            m.insert(old.to_string(), new.to_string());
        }
        Ok(Labels(m))
    }

    pub fn insert(&mut self, old: &str, new: &str) {
        self.0.insert(old.to_string(), new.to_string());
    }

    /// The display name of `name`.
    pub fn get(&self, name: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }
}

/// Text of `column` in `row` (the column was checked with [`check_group_column`]).
pub fn text_of<'a>(row: &'a TidyRow, column: &str) -> &'a str {
    row.text(column).unwrap_or("")
}

/// A numeric cell that must be present: a missing one names the file, line and column.
pub fn number_of(table: &Table, i: usize, column: &str, why: &str) -> Result<f64> {
    table.rows[i].number(column).ok_or_else(|| {
        AnalysisError::bad_value(
            &table.path,
            table.lines.get(i).copied().unwrap_or(0),
            column,
            "",
            format!("empty; {why}"),
        )
    })
}

/// Distinct values of `column` over `rows`, in natural size-aware order.
pub fn distinct_sorted(table: &Table, rows: &[usize], column: &str) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|&i| text_of(&table.rows[i], column).to_string())
        .collect();
    v.sort_by(|a, b| style::natural_cmp(a, b));
    v.dedup();
    v
}

/// A table holding only `rows` of `table` (same path and columns, original line numbers).
pub fn sub_table(table: &Table, rows: &[usize]) -> Table {
    Table {
        path: table.path.clone(),
        version: table.version,
        columns: table.columns.clone(),
        rows: rows.iter().map(|&i| table.rows[i].clone()).collect(),
        lines: rows
            .iter()
            .map(|&i| table.lines.get(i).copied().unwrap_or(0))
            .collect(),
    }
}

/// `v` with 3 significant digits as `m×10^k` (superscript), or plainly between 0.01 and 10^4.
pub fn sci(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let k = v.abs().log10().floor() as i32;
    if (-2..=4).contains(&k) {
        return crate::pipeline::sig(v);
    }
    let m = v / 10f64.powi(k);
    let ms = format!("{m:.2}");
    let ms = ms.trim_end_matches('0').trim_end_matches('.');
    if ms == "1" {
        axis::power_of_ten(k)
    } else {
        format!("{ms}×{}", axis::power_of_ten(k))
    }
}

/// The power law as the legend writes it: `E = 5.858 C^-0.1114`.
pub fn power_formula(beta: f64, alpha: f64) -> String {
    format!(
        "E = {} C^{}",
        crate::pipeline::sig(beta),
        crate::pipeline::sig(alpha)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_numbers_read_well() {
        assert_eq!(
            metric_label("imagenet1k", "acc1", true),
            "ImageNet-1k zero-shot top-1 error"
        );
        assert_eq!(metric_label("train", "loss", false), "training loss");
        assert_eq!(power_formula(5.8584, -0.11138), "E = 5.858 C^-0.1114");
        assert_eq!(sci(6e18), "6×10¹⁸");
        assert_eq!(sci(1e21), "10²¹");
        assert_eq!(sci(123.456), "123.5");
        let l = Labels::parse(&["a=b".into()]).expect("parse");
        assert_eq!((l.get("a"), l.get("c")), ("b".to_string(), "c".to_string()));
        assert!(Labels::parse(&["ab".into()]).is_err());
        assert!(check_group_column("color-by", "value").is_err());
    }
}
