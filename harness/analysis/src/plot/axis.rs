//! Plot axes: linear or log10 scale, the padded data range, and tick marks with their labels.
//! Everything is drawn in transformed coordinates (log10 of the value on a log axis), so one
//! chart type serves all plots; ticks on a log axis are decades (labelled 10^k with superscript
//! digits, or plainly when small) or, over less than about a decade, 1-2-5 style mantissas, so a
//! narrow error axis such as Cherti et al. 2023's (0.2 to 0.5) still gets readable ticks.

use crate::error::{AnalysisError, Result};

/// Linear or logarithmic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// One axis of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Description with units, e.g. `total compute (GMAC)`.
    pub label: String,
    pub scale: Scale,
    /// Fixed range in data units; `None` = from the data, padded.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn new(label: impl Into<String>, scale: Scale) -> Self {
        Axis {
            label: label.into(),
            scale,
            range: None,
        }
    }

    pub fn log(label: impl Into<String>) -> Self {
        Axis::new(label, Scale::Log)
    }

    pub fn linear(label: impl Into<String>) -> Self {
        Axis::new(label, Scale::Linear)
    }

    /// Data value -> drawing coordinate.
    pub fn t(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.log10(),
        }
    }

    /// Drawing coordinate -> data value.
    pub fn inv(&self, u: f64) -> f64 {
        match self.scale {
            Scale::Linear => u,
            Scale::Log => 10f64.powf(u),
        }
    }

    /// Fails unless `v` can be drawn on this axis (finite, and > 0 on a log axis).
    pub fn check(&self, v: f64, what: &str, where_: &str) -> Result<()> {
        let ok = v.is_finite() && (self.scale == Scale::Linear || v > 0.0);
        if ok {
            Ok(())
        } else if self.scale == Scale::Log {
            Err(AnalysisError::NonPositiveOnLogAxis {
                axis: what.to_string(),
                where_: where_.to_string(),
                value: v,
            })
        } else {
            Err(AnalysisError::arg(
                what,
                format!("{where_} has {v}, which cannot be drawn"),
            ))
        }
    }

    /// The drawn range in transformed coordinates: the fixed range, or the data's padded by
    /// `pad` of its width on each side (a single value gets a window around it).
    pub fn span(&self, data: &[f64], pad: f64) -> Result<(f64, f64)> {
        if let Some((lo, hi)) = self.range {
            let (a, b) = (self.t(lo), self.t(hi));
            if !(a.is_finite() && b.is_finite() && a < b) {
                return Err(AnalysisError::arg(
                    "range",
                    format!(
                        "{lo}..{hi} is not an increasing range on the {} axis",
                        self.label
                    ),
                ));
            }
            return Ok((a, b));
        }
        let ts: Vec<f64> = data
            .iter()
            .map(|&v| self.t(v))
            .filter(|u| u.is_finite())
            .collect();
        let (lo, hi) =
            crate::fit::range(ts.iter().copied()).ok_or_else(|| AnalysisError::NothingToPlot {
                what: format!("no finite values on the {} axis", self.label),
            })?;
        let width = hi - lo;
        if width <= 1e-12 * (1.0 + lo.abs()) {
            let w = match self.scale {
                Scale::Log => 0.1,
                Scale::Linear => 0.05 * lo.abs().max(1e-9),
            };
            return Ok((lo - w, hi + w));
        }
        Ok((lo - pad * width, hi + pad * width))
    }

    /// Major ticks (drawing coordinates, with labels) and minor ticks within `[lo, hi]`: the
    /// preferred choice of [`Axis::tick_candidates`].
    pub fn ticks(&self, lo: f64, hi: f64) -> Ticks {
        self.tick_candidates(lo, hi).swap_remove(0)
    }

    /// Tick choices, preferred first, then ever sparser ones; the renderer takes the first
    /// whose labels do not overlap at the drawn size.
    pub fn tick_candidates(&self, lo: f64, hi: f64) -> Vec<Ticks> {
        match self.scale {
            Scale::Linear => linear_candidates(lo, hi),
            Scale::Log => log_candidates(lo, hi),
        }
    }
}

/// Tick marks of one axis in drawing coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub major: Vec<(f64, String)>,
    pub minor: Vec<f64>,
}

impl Ticks {
    /// Every `k`-th major tick (the others are dropped).
    pub fn every(&self, k: usize) -> Ticks {
        Ticks {
            major: self.major.iter().step_by(k.max(1)).cloned().collect(),
            minor: self.minor.clone(),
        }
    }
}

/// Steps 1, 2, 2.5 and 5 times powers of ten, ascending, around `width / 7`.
fn nice_steps(width: f64) -> Vec<f64> {
    let mag = 10f64.powf((width / 7.0).log10().floor());
    let mut v = Vec::new();
    for k in -1..=2 {
        for m in [1.0, 2.0, 2.5, 5.0] {
            v.push(m * mag * 10f64.powi(k));
        }
    }
    v
}

/// Decimals needed to print multiples of `step` exactly.
fn decimals_for(step: f64) -> usize {
    for d in 0..12 {
        let s = step * 10f64.powi(d as i32);
        if (s - s.round()).abs() < 1e-6 * s.abs().max(1.0) {
            return d;
        }
    }
    12
}

/// Prints `v` with `decimals`, without a negative zero.
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

fn linear_with_step(lo: f64, hi: f64, step: f64) -> Ticks {
    let dec = decimals_for(step);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let major = (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            (v, fixed(v, dec))
        })
        .collect();
    let minor_step = step
        / if (step / 10f64.powf(step.log10().floor()) - 2.0).abs() < 1e-9 {
            4.0
        } else {
            5.0
        };
    let minor = ((lo / minor_step).ceil() as i64..=(hi / minor_step).floor() as i64)
        .map(|k| k as f64 * minor_step)
        .collect();
    Ticks { major, minor }
}

/// Linear ticks: the step giving closest to 7 labels (at least 4) first, then coarser steps.
fn linear_candidates(lo: f64, hi: f64) -> Vec<Ticks> {
    let all: Vec<Ticks> = nice_steps(hi - lo)
        .into_iter()
        .map(|st| linear_with_step(lo, hi, st))
        .filter(|t| t.major.len() >= 2 && t.major.len() <= 15)
        .collect();
    let best = all
        .iter()
        .enumerate()
        .min_by_key(|(_, t)| {
            let n = t.major.len() as i64;
            ((n - 7).abs(), -n)
        })
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut out: Vec<Ticks> = all.into_iter().skip(best).collect();
    if out.is_empty() {
        out.push(linear_with_step(lo, hi, (hi - lo).abs().max(1e-12)));
    }
    out
}

const SUPERSCRIPT: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

/// `10^k` with superscript digits, e.g. `10¹²` or `10⁻³`.
pub fn power_of_ten(k: i32) -> String {
    let mut s = String::from("10");
    if k < 0 {
        s.push('⁻');
    }
    for c in k.unsigned_abs().to_string().chars() {
        s.push(SUPERSCRIPT[c.to_digit(10).unwrap_or(0) as usize]);
    }
    s
}

/// Label of the value `m * 10^k` on a log axis: plain decimals between 0.001 and 10,000,
/// `10^k` (superscript) for bare powers outside that, `m×10^k` otherwise.
fn log_label(m: f64, k: i32) -> String {
    let v = m * 10f64.powi(k);
    if (-3..=4).contains(&k) {
        let dec = decimals_for(v);
        fixed(v, dec)
    } else if (m - 1.0).abs() < 1e-9 {
        power_of_ten(k)
    } else {
        format!("{}×{}", fixed(m, decimals_for(m)), power_of_ten(k))
    }
}

/// Mantissa sets tried, coarsest first, for log axes spanning under a few decades.
const MANTISSAS: [&[f64]; 5] = [
    &[1.0],
    &[1.0, 3.0],
    &[1.0, 2.0, 5.0],
    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    &[
        1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0,
    ],
];

/// Log ticks: the coarsest mantissa set with enough labels (3 powers of ten, or 4 ticks)
/// first, then the coarser sets with at least 2 labels, then powers of ten thinned out. Over
/// very narrow ranges, linear ticks of the value.
fn log_candidates(lo: f64, hi: f64) -> Vec<Ticks> {
    let kmin = lo.floor() as i32 - 1;
    let kmax = hi.ceil() as i32 + 1;
    let within = |m: f64, k: i32| {
        let u = (m * 10f64.powi(k)).log10();
        (u >= lo - 1e-9 && u <= hi + 1e-9).then_some(u)
    };
    // Minor ticks: 2..9 x each decade when the axis spans few enough decades.
    let minor: Vec<f64> = if hi - lo <= 8.0 {
        (kmin..=kmax)
            .flat_map(|k| (1..10).filter_map(move |m| within(m as f64, k)))
            .collect()
    } else {
        Vec::new()
    };
    let sets: Vec<Vec<(f64, String)>> = MANTISSAS
        .iter()
        .map(|set| {
            (kmin..=kmax)
                .flat_map(|k| {
                    set.iter()
                        .filter_map(move |&m| within(m, k).map(|u| (u, log_label(m, k))))
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    let preferred = sets.iter().enumerate().position(|(i, major)| {
        let enough = if i == 0 { 3 } else { 4 };
        major.len() >= enough && major.len() <= 12
    });
    match preferred {
        Some(p) => {
            for major in sets[..=p].iter().rev() {
                if major.len() >= 2 {
                    out.push(Ticks {
                        major: major.clone(),
                        minor: minor.clone(),
                    });
                }
            }
        }
        None if sets[0].len() > 12 => {}
        None => {
            // Narrower than the finest mantissa set: linear ticks of the value.
            for t in linear_candidates(10f64.powf(lo), 10f64.powf(hi)) {
                let major: Vec<(f64, String)> = t
                    .major
                    .into_iter()
                    .filter(|(v, _)| *v > 0.0)
                    .map(|(v, s)| (v.log10(), s))
                    .collect();
                if !major.is_empty() {
                    out.push(Ticks {
                        major,
                        minor: minor.clone(),
                    });
                }
            }
        }
    }
    // Powers of ten, every s-th decade.
    for s in 1..=((kmax - kmin).max(1)) {
        let major: Vec<(f64, String)> = (kmin..=kmax)
            .filter(|k| k.rem_euclid(s) == 0)
            .filter_map(|k| within(1.0, k).map(|u| (u, log_label(1.0, k))))
            .collect();
        if major.len() >= 2 && major.len() <= 12 {
            out.push(Ticks {
                major,
                minor: minor.clone(),
            });
        }
    }
    if out.is_empty() {
        out.push(Ticks {
            major: vec![(
                (lo + hi) / 2.0,
                log_label_value(10f64.powf((lo + hi) / 2.0)),
            )],
            minor,
        });
    }
    out
}

/// A label for an arbitrary positive value (3 significant digits).
fn log_label_value(v: f64) -> String {
    let k = v.log10().floor() as i32;
    let m = (v / 10f64.powi(k) * 100.0).round() / 100.0;
    log_label(m, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<&str> {
        t.major.iter().map(|(_, s)| s.as_str()).collect()
    }

    fn log_ticks(lo: f64, hi: f64) -> Ticks {
        Axis::log("x").ticks(lo, hi)
    }

    fn linear_ticks(lo: f64, hi: f64) -> Ticks {
        Axis::linear("x").ticks(lo, hi)
    }

    #[test]
    fn log_axis_over_decades_labels_powers_of_ten() {
        // Two decades: powers of ten and 3x between them.
        let t = log_ticks(10.2, 12.9);
        assert_eq!(labels(&t), ["3×10¹⁰", "10¹¹", "3×10¹¹", "10¹²", "3×10¹²"]);
        let t = log_ticks(9.9, 13.1);
        assert_eq!(labels(&t), ["10¹⁰", "10¹¹", "10¹²", "10¹³"]);
        assert!(t.minor.len() > 20);
        // 30 decades: thinned to at most 12 labels.
        let t = log_ticks(-10.0, 20.0);
        assert!(
            t.major.len() <= 12 && t.major.len() >= 4,
            "{:?}",
            labels(&t)
        );
        // A crowded choice has sparser alternatives: 2.4e9..3.4e10 prefers 3e9, 4e9, ... 3e10.
        let c = Axis::log("x").tick_candidates(9.38, 10.53);
        assert!(c.len() >= 2, "{c:?}");
        assert!(c.last().expect("last").major.len() < c[0].major.len());
        assert_eq!(power_of_ten(-3), "10⁻³");
    }

    #[test]
    fn narrow_log_axis_gets_mantissa_ticks() {
        // Cherti et al.'s ImageNet error range, about 0.21 to 0.5.
        let t = log_ticks(0.21f64.log10(), 0.5f64.log10());
        let l = labels(&t);
        assert!(l.len() >= 4 && l.len() <= 12, "{l:?}");
        assert!(l.contains(&"0.3") && l.contains(&"0.4"), "{l:?}");
        // Ticks sit at the value they name.
        for (u, s) in &t.major {
            let v: f64 = s.parse().expect("plain number");
            assert!((10f64.powf(*u) - v).abs() < 1e-9, "{s} at {u}");
        }
        // A very narrow range still gets ticks.
        let t = log_ticks(0.300f64.log10(), 0.302f64.log10());
        assert!(!t.major.is_empty());
    }

    #[test]
    fn linear_ticks_are_nice() {
        let t = linear_ticks(0.0, 1.0);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = linear_ticks(2.1, 5.5);
        assert_eq!(
            labels(&t),
            ["2.5", "3.0", "3.5", "4.0", "4.5", "5.0", "5.5"]
        );
        // Sparser alternatives follow the preferred choice.
        let c = Axis::linear("x").tick_candidates(0.0, 1.0);
        assert!(c.len() > 1 && c[1].major.len() < c[0].major.len());
        let t = linear_ticks(-0.03, 0.03);
        assert!(labels(&t).contains(&"0.00"), "{:?}", labels(&t));
    }

    #[test]
    fn spans_pad_and_reject_bad_input() {
        let a = Axis::log("x");
        let (lo, hi) = a.span(&[10.0, 1000.0], 0.05).expect("span");
        assert!((lo - 0.9).abs() < 1e-12 && (hi - 3.1).abs() < 1e-12);
        assert!(a.check(0.0, "x", "row 3").is_err());
        assert!(a.check(-1.0, "x", "row 3").is_err());
        assert!(a.check(1.0, "x", "row 3").is_ok());
        assert!(a.span(&[], 0.05).is_err());
        let (lo, hi) = a.span(&[100.0], 0.05).expect("single");
        assert!(lo < 2.0 && hi > 2.0);
    }
}
