//! Colours, marker assignment and group ordering shared by the plot kinds: a categorical palette
//! (matplotlib's tab10) for models, data sets and sweeps, a sequential one (viridis) for ordered
//! groups such as compute budgets, and a size-aware order for group names so `LAION-80M` comes
//! before `LAION-400M` and `LAION-2B`.

use std::cmp::Ordering;

use super::figure::{Rgb, Shape};

/// matplotlib's tab10.
pub const TAB10: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];

/// Dark colours for fitted laws drawn over coloured points.
pub const LAW_COLORS: [Rgb; 4] = [
    Rgb(0, 0, 0),
    Rgb(150, 20, 30),
    Rgb(20, 60, 150),
    Rgb(90, 90, 90),
];

/// Categorical colour `i` (cycles after 10).
pub fn category(i: usize) -> Rgb {
    TAB10[i % TAB10.len()]
}

/// Marker shape `i` (cycles).
pub fn shape(i: usize) -> Shape {
    Shape::CYCLE[i % Shape::CYCLE.len()]
}

/// Viridis at `t` in [0, 1] (linear between 9 anchors of matplotlib's map); the bright end is
/// stopped at 0.9 so the lightest colour stays visible on white.
pub fn viridis(t: f64) -> Rgb {
    const A: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 0.9 * (A.len() - 1) as f64;
    let i = (t.floor() as usize).min(A.len() - 2);
    let f = t - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    Rgb(
        mix(A[i].0, A[i + 1].0),
        mix(A[i].1, A[i + 1].1),
        mix(A[i].2, A[i + 1].2),
    )
}

/// Colour `i` of `n` ordered groups.
pub fn sequential(i: usize, n: usize) -> Rgb {
    if n <= 1 {
        viridis(0.0)
    } else {
        viridis(i as f64 / (n - 1) as f64)
    }
}

/// Splits a name into text and numbers; a number followed by K, M, B, G or T is scaled, so
/// sizes compare by magnitude (`80M` < `400M` < `2B`).
fn key(s: &str) -> Vec<Result<f64, String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let mut v: f64 = text.parse().unwrap_or(0.0);
            if let Some(&c) = chars.get(i) {
                let scale = match c {
                    'k' | 'K' => Some(1e3),
                    'M' => Some(1e6),
                    'B' | 'G' => Some(1e9),
                    'T' => Some(1e12),
                    _ => None,
                };
                if let Some(f) = scale {
                    let next_is_letter = chars.get(i + 1).is_some_and(|c| c.is_alphabetic());
                    if !next_is_letter {
                        v *= f;
                        i += 1;
                    }
                }
            }
            out.push(Ok(v));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Err(chars[start..i]
                .iter()
                .collect::<String>()
                .to_lowercase()));
        }
    }
    out
}

/// Natural, size-aware comparison of group names.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ka, kb) = (key(a), key(b));
    for (x, y) in ka.iter().zip(&kb) {
        let o = match (x, y) {
            (Ok(p), Ok(q)) => p.total_cmp(q),
            (Err(p), Err(q)) => p.cmp(q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ka.len().cmp(&kb.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_sort_by_magnitude() {
        let mut v = vec!["LAION-2B", "LAION-400M", "LAION-80M", "CLIP-WIT"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["CLIP-WIT", "LAION-80M", "LAION-400M", "LAION-2B"]);
        let mut m = vec!["w256-d6", "w32-d2", "w64-d4"];
        m.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(m, ["w32-d2", "w64-d4", "w256-d6"]);
    }

    #[test]
    fn palettes_span_their_range() {
        assert_eq!(viridis(0.0), Rgb(68, 1, 84));
        assert_ne!(sequential(0, 5), sequential(4, 5));
        assert_eq!(category(10), category(0));
    }
}
