//! CLIP's text cleaning, before pre-tokenisation.
//!
//! OpenAI's tokenizer cleans a caption with `ftfy.fix_text`, then HTML-unescapes it twice,
//! collapses whitespace runs to one space, trims, and lowercases. This module reproduces that
//! chain in Rust, including the parts of `fix_text` that matter for captions:
//!
//! - line by line, repeated until nothing changes: HTML entities ending in `;` (only while no
//!   line so far contained `<`, as ftfy's `unescape_html="auto"` does), C1 controls read as
//!   Windows-1252, Latin ligatures (`ﬁ` -> `fi`), full- and half-width forms (`ＡＢＣ` -> `ABC`,
//!   ideographic space -> space), curly quotes to straight ones, line breaks to `\n`, ANSI
//!   terminal escapes and stray control characters removed, and Unicode NFC;
//! - then Python's `html.unescape` twice (numeric references, named entities with or without
//!   the semicolon, Windows-1252 for `&#128;`..`&#159;`).
//!
//! Not reproduced: ftfy's mojibake repair (`fix_encoding`, which re-decodes text such as
//! `"cafÃ©"`), and named entities outside HTML 4 (`&check;` stays as written). Captions free
//! of mojibake clean exactly as the reference does (held to it by the fixture test).

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

use super::entities::{CP1252_C1, FTFY_UPPER, HTML};

/// Cleans a caption as CLIP's tokenizer does before splitting it: ftfy-style fixes, HTML
/// unescaping, whitespace collapsed to single spaces, trimmed, lowercased.
pub fn clean_text(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    collapse_whitespace(unescaped.trim()).to_lowercase()
}

/// Replaces every run of whitespace by one space and trims the ends.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            pending_space = true;
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(ch);
        }
    }
    out
}

struct Tables {
    named: HashMap<&'static str, &'static str>,
    ftfy: HashMap<String, &'static str>,
    ftfy_re: Regex,
    charref_re: Regex,
    ansi_re: Regex,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let named: HashMap<&str, &str> = HTML.iter().copied().collect();
        let mut ftfy: HashMap<String, &str> = HTML
            .iter()
            .filter(|(name, _)| name.ends_with(';'))
            .map(|(name, value)| (format!("&{name}"), *value))
            .collect();
        for (name, value) in FTFY_UPPER {
            ftfy.insert(format!("&{name}"), value);
        }
        Tables {
            named,
            ftfy,
            // The patterns are constants, tested to compile.
            ftfy_re: Regex::new(r"&#?[0-9A-Za-z]{1,24};").expect("constant pattern"),
            charref_re: Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0C <&#;]{1,32};?)")
                .expect("constant pattern"),
            ansi_re: Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("constant pattern"),
        }
    })
}

/// ftfy's `fix_text` without mojibake repair: segment by segment (each ending at `\n`).
fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    for segment in text.split_inclusive('\n') {
        if unescape && segment.contains('<') {
            // ftfy switches HTML unescaping off for this and every later segment.
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
    }
    out
}

fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_owned();
    // Each pass either changes the text or ends the loop; entity decoding shortens the text
    // and the other steps are idempotent, so a few passes suffice. The cap guards the loop.
    for _ in 0..64 {
        let before = text.clone();
        if unescape {
            text = ftfy_unescape(&text);
        }
        text = fix_c1_controls(&text);
        text = fix_ligatures_and_width(&text);
        text = uncurl_quotes(&text);
        text = fix_line_breaks(&text);
        text = tables().ansi_re.replace_all(&text, "").into_owned();
        text = remove_control_chars(&text);
        text = text.nfc().collect();
        if text == before {
            break;
        }
    }
    text
}

/// ftfy's `unescape_html`: entities ending in `;` that are known, and numeric references.
fn ftfy_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let t = tables();
    t.ftfy_re
        .replace_all(text, |caps: &Captures| {
            let m = &caps[0];
            if let Some(value) = t.ftfy.get(m) {
                return (*value).to_owned();
            }
            if m.starts_with("&#") {
                let decoded = html_unescape(m);
                if !decoded.contains(';') {
                    return decoded;
                }
            }
            m.to_owned()
        })
        .into_owned()
}

/// Python's `html.unescape`.
pub(crate) fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let t = tables();
    t.charref_re
        .replace_all(text, |caps: &Captures| {
            let s = &caps[1];
            if let Some(rest) = s.strip_prefix('#') {
                let (digits, radix) = match rest.strip_prefix(['x', 'X']) {
                    Some(hex) => (hex, 16),
                    None => (rest, 10),
                };
                let digits = digits.trim_end_matches(';');
                return numeric_reference(digits, radix);
            }
            if let Some(value) = t.named.get(s) {
                return (*value).to_owned();
            }
            // The longest prefix that is a legacy name without a semicolon ("&ampx" -> "&x").
            let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).skip(2).collect();
            for &cut in cuts.iter().rev() {
                if let Some(value) = t.named.get(&s[..cut]) {
                    return format!("{value}{}", &s[cut..]);
                }
            }
            format!("&{s}")
        })
        .into_owned()
}

/// The text of `&#NNN;` as Python decodes it.
fn numeric_reference(digits: &str, radix: u32) -> String {
    // Saturate: any value past U+10FFFF decodes to U+FFFD.
    let mut num: u64 = 0;
    for d in digits.chars() {
        let v = u64::from(d.to_digit(radix).unwrap_or(0));
        num = (num * u64::from(radix) + v).min(0x11_0000);
    }
    match num {
        0x00 => "\u{FFFD}".to_owned(),
        0x0D => "\r".to_owned(),
        0x80..=0x9F => CP1252_C1[(num - 0x80) as usize].to_string(),
        0xD800..=0xDFFF | 0x11_0000.. => "\u{FFFD}".to_owned(),
        0x01..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0xFDD0..=0xFDEF => String::new(),
        n if n & 0xFFFE == 0xFFFE => String::new(),
        n => char::from_u32(n as u32).map_or_else(|| "\u{FFFD}".to_owned(), String::from),
    }
}

fn fix_c1_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c as u32 {
            b @ 0x80..=0x9F => CP1252_C1[(b - 0x80) as usize],
            _ => c,
        })
        .collect()
}

fn fix_ligatures_and_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'ŉ' => out.push_str("ʼn"),
            'Ǳ' => out.push_str("DZ"),
            'ǲ' => out.push_str("Dz"),
            'ǳ' => out.push_str("dz"),
            'Ǆ' => out.push_str("DŽ"),
            'ǅ' => out.push_str("Dž"),
            'ǆ' => out.push_str("dž"),
            'Ǉ' => out.push_str("LJ"),
            'ǈ' => out.push_str("Lj"),
            'ǉ' => out.push_str("lj"),
            'Ǌ' => out.push_str("NJ"),
            'ǋ' => out.push_str("Nj"),
            'ǌ' => out.push_str("nj"),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' => out.push_str("ſt"),
            'ﬆ' => out.push_str("st"),
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FFEF}' => out.extend(std::iter::once(c).nfkc()),
            _ => out.push(c),
        }
    }
    out
}

fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{02BC}' | '\u{2018}'..='\u{201B}' => '\'',
            '\u{201C}'..='\u{201F}' => '"',
            _ => c,
        })
        .collect()
}

fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{0085}'], "\n")
}

fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c as u32,
                0x00..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFC)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_html_unescape_cases() {
        assert_eq!(html_unescape("AT&amp;T &lt;b&gt;"), "AT&T <b>");
        assert_eq!(html_unescape("&ampx &copy2020"), "&x ©2020");
        assert_eq!(html_unescape("&#65;&#x42;&#67"), "ABC");
        assert_eq!(
            html_unescape("&#128; &#0; &#1; &#99999999999;"),
            "€ \u{FFFD}  \u{FFFD}"
        );
        assert_eq!(html_unescape("&check; & x"), "&check; & x");
    }

    #[test]
    fn ftfy_style_fixes() {
        assert_eq!(
            clean_text("  “Hello”\t\n ﬁne  ＬＯＵＤ　ＮＯＩＳＥ "),
            "\"hello\" fine loud noise"
        );
        assert_eq!(clean_text("&amp;amp;amp;"), "&");
        assert_eq!(clean_text("e\u{301}t\u{e9}"), "\u{e9}t\u{e9}");
        assert_eq!(clean_text("\x1b[31mred\x1b[0m"), "red");
        assert_eq!(clean_text(""), "");
    }
}
