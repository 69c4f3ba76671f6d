//! PNG encoding of 8-bit RGB pixels, the crate's one way to write a PNG (the prepared data sets'
//! images, the synthetic gallery, test shards): the `image` crate's encoder behind a checked
//! signature, so a wrong buffer is an error instead of the encoder's panic.

use std::io::Cursor;

use image::ImageEncoder;

use crate::error::DataError;

/// Largest accepted width or height.
const MAX_SIDE: usize = 1 << 16;

/// Encodes interleaved 8-bit RGB pixels (`width * height * 3` bytes, rows top to bottom).
pub fn encode_rgb(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>, DataError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(DataError::InvalidDimensions {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    let expected = width * height * 3;
    if rgb.len() != expected {
        return Err(DataError::BufferSize {
            expected,
            actual: rgb.len(),
            width,
            height,
            channels: 3,
        });
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut out))
        .write_image(
            rgb,
            width as u32,
            height as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| DataError::Format {
            path: format!("<{width}x{height} PNG being encoded>"),
            detail: e.to_string(),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_survive_a_round_trip() {
        let (w, h) = (300, 250);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let png = encode_rgb(w, h, &rgb).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!((back.width(), back.height()), (w as u32, h as u32));
        assert_eq!(back.into_raw(), rgb);
    }

    #[test]
    fn bad_buffers_are_rejected() {
        assert!(matches!(
            encode_rgb(2, 2, &[0; 11]),
            Err(DataError::BufferSize {
                expected: 12,
                actual: 11,
                ..
            })
        ));
        assert!(matches!(
            encode_rgb(0, 2, &[]),
            Err(DataError::InvalidDimensions { .. })
        ));
    }
}
