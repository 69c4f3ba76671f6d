//! Shard lists: brace patterns as webdataset and open_clip accept them.
//!
//! A pattern is one or more parts separated by `::` (open_clip's way of mixing several sources),
//! each expanded like the `braceexpand` package that webdataset uses:
//!
//! - numeric ranges `{0..9}`, `{00000..00127}` (zero-padded to the wider bound when either bound
//!   has a leading zero), descending ranges `{3..1}` and steps `{0..10..5}`;
//! - letter ranges `{a..e}`;
//! - comma lists `{train,val}`, nested (`{a,b{1..2}}`) and several groups per part
//!   (`{a,b}-{0..1}.tar`, expanded left to right).
//!
//! Errors name the pattern and the problem: an empty pattern or part, unbalanced braces, braces
//! holding neither a list nor a range, or an expansion over [`MAX_SHARDS`] names. Remote
//! sources (`pipe:`, `s3://`, `http://`...) are refused: shards are local files.

use crate::error::DataError;

/// Largest number of names one pattern may expand to.
pub const MAX_SHARDS: usize = 10_000_000;

/// Expands a shard pattern (parts separated by `::`) into file names, in order.
pub fn expand_shards(pattern: &str) -> Result<Vec<String>, DataError> {
    let err = |reason: String| DataError::ShardPattern {
        pattern: pattern.to_string(),
        reason,
    };
    if pattern.trim().is_empty() {
        return Err(err("the pattern is empty: no shard is named".into()));
    }
    let mut out = Vec::new();
    for (i, part) in pattern.split("::").enumerate() {
        let part = part.trim();
        if part.is_empty() {
            return Err(err(format!("part {} (separated by `::`) is empty", i + 1)));
        }
        if part.starts_with("pipe:") || part.contains("://") {
            return Err(err(format!(
                "part {part:?} is not a local path: only local tar files are read"
            )));
        }
        check_balanced(part).map_err(&err)?;
        expand_into(part, &mut out).map_err(&err)?;
        if out.len() > MAX_SHARDS {
            return Err(err(format!("expands to more than {MAX_SHARDS} names")));
        }
    }
    if out.iter().any(|s| s.is_empty()) {
        return Err(err("an alternative expands to an empty file name".into()));
    }
    Ok(out)
}

/// Checks that braces nest properly.
fn check_balanced(s: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unmatched `}}` at byte {i} of {s:?}"))?;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unmatched `{{` in {s:?}"));
    }
    Ok(())
}

/// Expands the first brace group of `s` and recurses on each result.
fn expand_into(s: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = s.find('{') else {
        out.push(s.to_string());
        return Ok(());
    };
    let close = matching_close(s, open);
    let (prefix, inner, rest) = (&s[..open], &s[open + 1..close], &s[close + 1..]);
    let alternatives = split_top_level(inner);
    let items: Vec<String> = if alternatives.len() > 1 {
        alternatives.into_iter().map(str::to_string).collect()
    } else if let Some(range) = expand_range(inner)? {
        range
    } else {
        return Err(format!(
            "`{{{inner}}}` holds neither a comma list nor a range like {{000..127}}"
        ));
    };
    for item in items {
        expand_into(&format!("{prefix}{item}{rest}"), out)?;
        if out.len() > MAX_SHARDS {
            return Err(format!("expands to more than {MAX_SHARDS} names"));
        }
    }
    Ok(())
}

/// Byte index of the `}` matching the `{` at `open` (braces are known to be balanced).
fn matching_close(s: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    s.len() - 1
}

/// Splits on commas outside nested braces.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Expands `a..b` or `a..b..step` (numbers or single letters); `None` when `s` is not a range.
fn expand_range(s: &str) -> Result<Option<Vec<String>>, String> {
    let fields: Vec<&str> = s.split("..").collect();
    if !(2..=3).contains(&fields.len()) {
        return Ok(None);
    }
    let step = match fields.get(2) {
        Some(f) => match f.parse::<i64>() {
            Ok(0) => return Err(format!("range step in `{{{s}}}` is 0")),
            Ok(v) => v.unsigned_abs(),
            Err(_) => return Ok(None),
        },
        None => 1,
    };
    let (lo, hi) = (fields[0], fields[1]);
    if let (Ok(a), Ok(b)) = (lo.parse::<i64>(), hi.parse::<i64>()) {
        let padded = |f: &str| {
            let digits = f.strip_prefix('-').unwrap_or(f);
            digits.len() > 1 && digits.starts_with('0')
        };
        let width = if padded(lo) || padded(hi) {
            lo.len().max(hi.len())
        } else {
            0
        };
        let count = a.abs_diff(b) / step + 1;
        if count > MAX_SHARDS as u64 {
            return Err(format!(
                "range `{{{s}}}` has {count} values, over {MAX_SHARDS}"
            ));
        }
        let dir: i64 = if b >= a { 1 } else { -1 };
        let items = (0..count as i64)
            .map(|k| {
                let v = a + dir * k * step as i64;
                if v < 0 {
                    format!("-{:0w$}", v.unsigned_abs(), w = width.saturating_sub(1))
                } else {
                    format!("{v:0width$}")
                }
            })
            .collect();
        return Ok(Some(items));
    }
    let (mut lc, mut hc) = (lo.chars(), hi.chars());
    if let (Some(a), None, Some(b), None) = (lc.next(), lc.next(), hc.next(), hc.next())
        && a.is_ascii_alphabetic()
        && b.is_ascii_alphabetic()
    {
        let (a, b) = (a as u8, b as u8);
        let dir: i16 = if b >= a { 1 } else { -1 };
        let count = u16::from(a.abs_diff(b)) / step.min(255) as u16 + 1;
        let items = (0..count as i16)
            .map(|k| char::from((i16::from(a) + dir * k * step as i16) as u8).to_string())
            .collect();
        return Ok(Some(items));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_letter_ranges() {
        assert_eq!(expand_shards("{0..10..5}").unwrap(), ["0", "5", "10"]);
        assert_eq!(expand_shards("{c..a}").unwrap(), ["c", "b", "a"]);
        assert_eq!(expand_shards("{-01..01}").unwrap(), ["-01", "000", "001"]);
    }
}
