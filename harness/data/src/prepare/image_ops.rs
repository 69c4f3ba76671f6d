//! Image helpers for the preparers: SVG rasterisation (resvg), bitmap decoding (PNG, WebP),
//! alpha compositing on white, square fitting and PNG encoding. Every image leaves as an
//! 8-bit RGB square of the requested side.

use image::{RgbImage, imageops::FilterType};

use crate::error::DataError;

/// Rasterises an SVG document to `size`x`size` RGB on white. The document is scaled to the
/// square (its own aspect ratio handling, normally centred, applies). `origin` names the
/// source in errors.
pub(crate) fn render_svg(doc: &str, size: u32, origin: &str) -> Result<Vec<u8>, DataError> {
    rasterise(doc, size, origin, false)
}

/// Rasterises an SVG document of any aspect ratio to `size`x`size` RGB on white: scaled
/// uniformly to fit the square and centred (where [`render_svg`] stretches it to fill).
pub(crate) fn render_svg_fit(doc: &str, size: u32, origin: &str) -> Result<Vec<u8>, DataError> {
    rasterise(doc, size, origin, true)
}

fn rasterise(doc: &str, size: u32, origin: &str, fit: bool) -> Result<Vec<u8>, DataError> {
    let opts = resvg::usvg::Options::default();
    let tree = resvg::usvg::Tree::from_str(doc, &opts).map_err(|e| DataError::Format {
        path: origin.to_owned(),
        detail: format!("SVG does not parse: {e}"),
    })?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size, size).ok_or(DataError::InvalidDimensions {
            width: size as usize,
            height: size as usize,
            max: 8192,
        })?;
    let ts = tree.size();
    let (w, h) = (ts.width().max(1e-6), ts.height().max(1e-6));
    let side = size as f32;
    let transform = if fit {
        let scale = side / w.max(h);
        resvg::tiny_skia::Transform::from_row(
            scale,
            0.0,
            0.0,
            scale,
            (side - w * scale) / 2.0,
            (side - h * scale) / 2.0,
        )
    } else {
        resvg::tiny_skia::Transform::from_scale(side / w, side / h)
    };
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // Premultiplied RGBA over white: out = c + (255 - a).
    let mut rgb = Vec::with_capacity((size * size * 3) as usize);
    for px in pixmap.data().chunks_exact(4) {
        let inv = 255 - px[3];
        rgb.extend_from_slice(&[
            px[0].saturating_add(inv),
            px[1].saturating_add(inv),
            px[2].saturating_add(inv),
        ]);
    }
    Ok(rgb)
}

/// Decodes a PNG, WebP or JPEG file's bytes, composites it on white and fits it to a
/// `size`x`size` square (aspect kept, white margins).
pub(crate) fn decode_to_square(
    bytes: &[u8],
    size: u32,
    origin: &str,
) -> Result<Vec<u8>, DataError> {
    let img = image::load_from_memory(bytes).map_err(|e| DataError::Format {
        path: origin.to_owned(),
        detail: format!("cannot decode image: {e}"),
    })?;
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for px in rgba.pixels() {
        let a = u32::from(px[3]);
        for c in 0..3 {
            let v = (u32::from(px[c]) * a + 255 * (255 - a) + 127) / 255;
            rgb.push(v as u8);
        }
    }
    fit_square(rgb, w, h, size, origin)
}

/// Resizes RGB pixels to fit a `size` square (longer side = `size`), centred on white.
pub(crate) fn fit_square(
    rgb: Vec<u8>,
    w: u32,
    h: u32,
    size: u32,
    origin: &str,
) -> Result<Vec<u8>, DataError> {
    let img = RgbImage::from_raw(w, h, rgb).ok_or_else(|| DataError::Format {
        path: origin.to_owned(),
        detail: format!("pixel buffer does not match {w}x{h}"),
    })?;
    if w == size && h == size {
        return Ok(img.into_raw());
    }
    if w == 0 || h == 0 {
        return Err(DataError::Format {
            path: origin.to_owned(),
            detail: format!("image is {w}x{h}"),
        });
    }
    let scale = size as f64 / w.max(h) as f64;
    let nw = ((w as f64 * scale).round() as u32).clamp(1, size);
    let nh = ((h as f64 * scale).round() as u32).clamp(1, size);
    let resized = image::imageops::resize(&img, nw, nh, FilterType::Lanczos3);
    if nw == size && nh == size {
        return Ok(resized.into_raw());
    }
    let mut canvas = RgbImage::from_pixel(size, size, image::Rgb([255, 255, 255]));
    image::imageops::overlay(
        &mut canvas,
        &resized,
        i64::from((size - nw) / 2),
        i64::from((size - nh) / 2),
    );
    Ok(canvas.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_renders_on_white_with_current_color_black() {
        let doc = r#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" viewBox="0 0 16 16" color="black"><rect x="0" y="0" width="8" height="16" fill="currentColor"/></svg>"#;
        let rgb = render_svg(doc, 8, "test").unwrap();
        assert_eq!(rgb.len(), 8 * 8 * 3);
        assert_eq!(&rgb[0..3], &[0, 0, 0]); // left half black
        assert_eq!(&rgb[7 * 3..8 * 3], &[255, 255, 255]); // right half white
        assert!(
            render_svg("<svg", 8, "bad.svg")
                .unwrap_err()
                .to_string()
                .contains("bad.svg")
        );
    }

    #[test]
    fn bitmaps_fit_the_square_with_white_margins() {
        let wide = vec![0u8; 20 * 10 * 3];
        let out = fit_square(wide, 20, 10, 10, "t").unwrap();
        assert_eq!(out.len(), 300);
        assert_eq!(&out[0..3], &[255, 255, 255]); // top margin
        assert_eq!(&out[5 * 30..5 * 30 + 3], &[0, 0, 0]); // middle row
        let png = crate::png::encode_rgb(10, 10, &out).unwrap();
        let back = decode_to_square(&png, 10, "t").unwrap();
        assert_eq!(back, out);
        assert!(
            decode_to_square(b"nope", 10, "x.png")
                .unwrap_err()
                .to_string()
                .contains("x.png")
        );
    }
}
