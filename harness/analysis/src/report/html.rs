//! The page a report is written into: escaping, the embedded font, the style and the little
//! sort script, tables and inline SVG figures. Everything here is plain HTML that is also
//! well-formed XML.

use std::fmt::Write as _;
use std::path::Path;

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // CRLF files and progress bars: a carriage return is no character of its own
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (the embedded font).
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The CSS of every report: the bundled font, a readable measure, tables that scroll.
fn style() -> String {
    let font = base64(crate::plot::figure::FONT_BYTES);
    format!(
        "@font-face {{ font-family: 'DejaVu Sans'; src: url(data:font/ttf;base64,{font}) format('truetype'); }}
body {{ font-family: 'DejaVu Sans', sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #1a1a1a; background: #ffffff; line-height: 1.45; }}
h1 {{ font-size: 1.7em; margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
.lede {{ color: #444; }} .figure {{ margin: 1em 0 2em 0; }} .figure svg {{ width: 100%; height: auto; }}
.figure svg text {{ font-family: 'DejaVu Sans', sans-serif; }}
.law {{ font-family: monospace; background: #f4f4f4; padding: 0.1em 0.3em; }}
table {{ border-collapse: collapse; font-size: 0.85em; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; cursor: pointer; }} td.text {{ text-align: left; }}
.done {{ color: #176f2c; }} .failed, .diverged {{ color: #b00020; font-weight: bold; }} .pending {{ color: #8a6d00; }}
pre {{ background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: 1em; }} .tile {{ border: 1px solid #ddd; padding: 0.5em 1em; border-radius: 4px; }}
.tile b {{ display: block; font-size: 1.4em; }}"
    )
}

/// Sorts a table by the clicked column (numbers as numbers); the page reads without it.
const SORT_SCRIPT: &str = "//<![CDATA[
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var i = th.cellIndex;
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === 'up' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'up' : 'down';
    rows.sort(function (a, b) {
      var x = a.cells[i].textContent, y = b.cells[i].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      if (!isNaN(nx) && !isNaN(ny)) { return dir * (nx - ny); }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
//]]>";

/// A page: title, lede and body sections, with the style and the sort script.
pub fn page(title: &str, lede: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>\n{}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"lede\">{}</p>\n{body}\n<script>\n{SORT_SCRIPT}\n</script>\n</body>\n</html>\n",
        escape(title),
        style(),
        escape(title),
        escape(lede)
    )
}

/// A table of text cells (escaped); numeric-looking cells right-aligned, sortable by column.
pub fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table class=\"sortable\"><thead><tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let class = if cell.parse::<f64>().is_ok() {
                ""
            } else {
                " class=\"text\""
            };
            let _ = write!(s, "<td{class}>{}</td>", escape(cell));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// An SVG file as inline markup (its XML declaration dropped); `None` when unreadable or not
/// an SVG. Only the figures clipscale drew (whose text plotters escapes) are inlined.
pub(super) fn inline_svg(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let start = text.find("<svg")?;
    Some(text[start..].to_string())
}

pub(super) fn figure(path: &Path, caption: &str) -> String {
    match inline_svg(path) {
        Some(svg) => format!(
            "<div class=\"figure\">{svg}<p>{}</p></div>",
            escape(caption)
        ),
        None => format!(
            "<p>(figure {} missing)</p>",
            escape(&path.display().to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
