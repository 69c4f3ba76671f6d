//! A minimal PNG encoder (8-bit RGB, stored deflate blocks, no compression), so viewing the
//! synthetic images needs no image dependency. Files are about 3 bytes per pixel.

use crate::error::DataError;

/// Largest accepted width or height.
const MAX_SIDE: usize = 1 << 16;
/// Largest payload of one stored deflate block.
const STORED_BLOCK: usize = 65_535;

/// The CRC-32 (IEEE) table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// CRC-32 of `bytes` (as used by PNG chunks and gzip).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, bytes) ^ 0xFFFF_FFFF
}

fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// Adler-32 of `bytes` (the zlib checksum).
pub fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32_update(crc32_update(0xFFFF_FFFF, kind), data) ^ 0xFFFF_FFFF;
    out.extend_from_slice(&crc.to_be_bytes());
}

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
    // Scanlines, each prefixed with filter type 0 (none).
    let mut raw = Vec::with_capacity(height * (1 + width * 3));
    for row in rgb.chunks_exact(width * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    // zlib stream of stored deflate blocks.
    let mut z = Vec::with_capacity(raw.len() + raw.len() / STORED_BLOCK * 5 + 16);
    z.extend_from_slice(&[0x78, 0x01]);
    let blocks = raw.len().div_ceil(STORED_BLOCK);
    for (i, block) in raw.chunks(STORED_BLOCK).enumerate() {
        z.push(u8::from(i + 1 == blocks));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, adaptive filters, no interlace

    let mut out = Vec::with_capacity(z.len() + 64);
    out.extend_from_slice(&[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n']);
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(&mut out, b"IDAT", &z);
    push_chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[]), 1);
    }

    #[test]
    fn png_layout_is_well_formed() {
        let (w, h) = (300, 250); // raw data spans several stored blocks
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let png = encode_rgb(w, h, &rgb).unwrap();
        assert_eq!(
            &png[..8],
            &[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n']
        );
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            w as u32
        );
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        let raw_len = h * (1 + w * 3);
        let idat_len = 2 + raw_len + raw_len.div_ceil(STORED_BLOCK) * 5 + 4;
        assert_eq!(
            u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize,
            idat_len
        );
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
