//! The confidence band under a fitted law: pointwise percentiles of its bootstrap refits, or,
//! where the bootstrap was refused for too few distinct points (issue 21), the classical
//! (delta-method, Student-t) interval of the fit, said in the legend and the figure's notes.

use std::sync::Arc;

use super::figure::{BandFn, Figure, Layer, LineStyle};
use super::scaling::{LawToDraw, law_fn};
use crate::error::Result;
use crate::fit::bootstrap::quantile;
use crate::fit::record::FitRecord;
use crate::pipeline::sig;

/// Opacity of every band.
pub const BAND_OPACITY: f64 = 0.16;

/// Which band a law got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    None,
    /// Percentiles of the refits: (level, refits that succeeded, refits asked for).
    Bootstrap(f64, usize, usize),
    /// The classical interval: (level, residual degrees of freedom).
    Classical(f64, usize),
}

/// The band of each law (bootstrap refits when it has them, else the classical interval when
/// its bootstrap was refused), drawn under everything; returns which band each law got.
pub fn push_bands(fig: &mut Figure, laws: &[LawToDraw], styles: &[LineStyle]) -> Result<Vec<Band>> {
    let mut bands = Vec::new();
    for (l, st) in laws.iter().zip(styles) {
        let f = law_fn(&l.record.law)?;
        let (band, at): (Band, BandFn) = if l.replicates.len() >= 2 {
            let level = l.record.bootstrap.as_ref().map_or(0.95, |b| b.level);
            let n = l.replicates.len();
            let asked = l.record.bootstrap.as_ref().map_or(n, |b| b.reps.max(n));
            let reps = Arc::new(l.replicates.clone());
            let tail = (1.0 - level) / 2.0;
            let at = move |c: f64| {
                let mut v: Vec<f64> = reps
                    .iter()
                    .map(|p| f(p, c))
                    .filter(|v| v.is_finite())
                    .collect();
                if v.len() < 2 {
                    return None;
                }
                v.sort_by(f64::total_cmp);
                Some((quantile(&v, tail), quantile(&v, 1.0 - tail)))
            };
            (Band::Bootstrap(level, n, asked), Arc::new(at))
        } else if let (Some(_), Some(cl)) = (&l.record.bootstrap_refused, &l.record.classical) {
            let band = Band::Classical(cl.level, cl.dof);
            let cl = cl.clone();
            (band, Arc::new(move |c: f64| cl.band(&|p| f(p, c))))
        } else {
            bands.push(Band::None);
            continue;
        };
        bands.push(band);
        fig.layers.push(Layer::Band {
            name: format!("{} band", l.label),
            f: at,
            color: st.color,
            opacity: BAND_OPACITY,
        });
    }
    Ok(bands)
}

/// A legend line for a law whose band is not the bootstrap's: what the band is, and the
/// classical interval of the exponent.
pub fn band_legend(rec: &FitRecord, band: &Band) -> Option<String> {
    let Band::Classical(level, _) = *band else {
        return None;
    };
    let exponent = rec.classical.as_ref().and_then(|c| {
        ["alpha", "c"]
            .iter()
            .find_map(|n| c.param(n))
            .map(|p| format!(": {} in [{}, {}]", p.name, sig(p.ci_low), sig(p.ci_high)))
    });
    Some(format!(
        "band: {:.0}% t-interval{}",
        100.0 * level,
        exponent.unwrap_or_default()
    ))
}

/// The figure's notes on its bands: the level and how many refits succeeded (failed resamples
/// leave no trace in a band, so the count is said), and which laws got a classical band.
pub fn band_notes(laws: &[LawToDraw], bands: &[Band]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(&Band::Bootstrap(level, succeeded, asked)) =
        bands.iter().find(|b| matches!(b, Band::Bootstrap(..)))
    {
        notes.push(refits_note(level, succeeded, asked));
    }
    for (l, b) in laws.iter().zip(bands) {
        if let Band::Classical(_, dof) = b {
            // kept short: a note is one line of the legend (the reason is in the fit record)
            notes.push(format!(
                "{} band: classical, {dof} d.o.f. ({} points, too few to bootstrap)",
                l.label,
                l.record.points_used.len()
            ));
        }
    }
    notes
}

/// The note on bootstrap bands.
fn refits_note(level: f64, succeeded: usize, asked: usize) -> String {
    let refits = if succeeded == asked {
        format!("{succeeded} refits")
    } else {
        format!("{succeeded} of {asked} refits succeeded")
    };
    format!(
        "bands: {:.0}% pointwise bootstrap intervals ({refits})",
        100.0 * level
    )
}

#[cfg(test)]
mod tests {
    use super::refits_note;

    #[test]
    fn the_band_note_says_how_many_refits_succeeded() {
        assert_eq!(
            refits_note(0.95, 1000, 1000),
            "bands: 95% pointwise bootstrap intervals (1000 refits)"
        );
        assert_eq!(
            refits_note(0.95, 874, 1000),
            "bands: 95% pointwise bootstrap intervals (874 of 1000 refits succeeded)"
        );
    }
}
