//! Heatmaps as PNG, written by hand: 8-bit RGB, no filtering, the zlib stream made of stored (uncompressed)
//! deflate blocks. That is a valid PNG any viewer opens; it is just not small, which is fine for a few heatmaps
//! and spares the project an image crate. Spec: RFC 2083 (PNG), RFC 1950 (zlib), RFC 1951 §3.2.4 (stored blocks).

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320) as PNG chunks use.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, slot) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *slot = c;
    }
    !bytes.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8))
}

/// Adler-32, the zlib trailer.
pub fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// A zlib stream of stored deflate blocks (at most 65 535 bytes each).
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65_535 * 5 + 16);
    out.extend_from_slice(&[0x78, 0x01]); // deflate, 32K window, no dictionary; 0x7801 % 31 == 0
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Encode `rgb` (row-major, 3 bytes per pixel) as a PNG file.
pub fn encode_rgb(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(rgb.len(), width * height * 3, "encode_rgb: pixel buffer length");
    let mut raw = Vec::with_capacity(height * (1 + width * 3));
    for row in rgb.chunks(width * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, truecolour, deflate, no filter method, no interlace
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// How values map to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// Non-negative values, 0 → dark blue … max → yellow (viridis-like).
    Sequential,
    /// Signed values, symmetric around 0: blue < 0, white at 0, red > 0.
    Diverging,
}

fn lerp(a: [f32; 3], b: [f32; 3], t: f32) -> [u8; 3] {
    [0, 1, 2].map(|i| (a[i] + (b[i] - a[i]) * t).round().clamp(0.0, 255.0) as u8)
}

pub(crate) fn colour(v: f32, scale: f32, p: Palette) -> [u8; 3] {
    if !v.is_finite() {
        return [128, 128, 128];
    }
    match p {
        Palette::Sequential => {
            const STOPS: [[f32; 3]; 5] = [
                [68.0, 1.0, 84.0],
                [59.0, 82.0, 139.0],
                [33.0, 145.0, 140.0],
                [94.0, 201.0, 98.0],
                [253.0, 231.0, 37.0],
            ];
            let t = if scale > 0.0 { (v / scale).clamp(0.0, 1.0) } else { 0.0 } * 4.0;
            let i = (t.floor() as usize).min(3);
            lerp(STOPS[i], STOPS[i + 1], t - i as f32)
        }
        Palette::Diverging => {
            let t = if scale > 0.0 { (v / scale).clamp(-1.0, 1.0) } else { 0.0 };
            let white = [255.0, 255.0, 255.0];
            if t < 0.0 {
                lerp(white, [33.0, 102.0, 172.0], -t)
            } else {
                lerp(white, [178.0, 24.0, 43.0], t)
            }
        }
    }
}

/// A heatmap of `values` [rows, cols] as PNG, each cell a block of pixels sized so the image is roughly 600–800
/// pixels on its longer sides (at least one pixel per cell). The colour scale is the largest |value|.
pub fn heatmap(values: &[f32], rows: usize, cols: usize, palette: Palette) -> Vec<u8> {
    assert_eq!(values.len(), rows * cols, "heatmap: values length");
    let cell = |n: usize| (800 / n.max(1)).clamp(1, 24);
    let (ch, cw) = (cell(rows), cell(cols));
    let (width, height) = (cols * cw, rows * ch);
    let scale = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    let mut rgb = vec![0u8; width * height * 3];
    for (y, line) in rgb.chunks_mut(width * 3).enumerate() {
        for (x, px) in line.chunks_mut(3).enumerate() {
            px.copy_from_slice(&colour(values[(y / ch) * cols + x / cw], scale, palette));
        }
    }
    encode_rgb(width.max(1), height.max(1), if rgb.is_empty() { &[0, 0, 0] } else { &rgb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_published_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082, "the CRC every PNG ends with");
    }

    /// Undo `zlib_stored` by reading the stored blocks back (the only block type it writes).
    fn inflate_stored(z: &[u8]) -> Vec<u8> {
        assert_eq!(((z[0] as u16) << 8 | z[1] as u16) % 31, 0, "zlib header check bits");
        let (mut i, mut out) = (2, Vec::new());
        loop {
            let last = z[i] & 1 == 1;
            assert_eq!(z[i] >> 1, 0, "stored block type");
            let len = u16::from_le_bytes([z[i + 1], z[i + 2]]);
            assert_eq!(!len, u16::from_le_bytes([z[i + 3], z[i + 4]]), "NLEN");
            out.extend_from_slice(&z[i + 5..i + 5 + len as usize]);
            i += 5 + len as usize;
            if last {
                break;
            }
        }
        assert_eq!(u32::from_be_bytes([z[i], z[i + 1], z[i + 2], z[i + 3]]), adler32(&out));
        assert_eq!(i + 4, z.len());
        out
    }

    #[test]
    fn png_round_trips_through_its_own_chunks() {
        // 200×120 RGB rows are > 65 535 bytes in all, so the stream needs several stored blocks
        let (w, h) = (200, 120);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let png = encode_rgb(w, h, &rgb);
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        let (mut i, mut idat, mut kinds) = (8, Vec::new(), Vec::new());
        while i < png.len() {
            let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            let kind = &png[i + 4..i + 8];
            let crc = u32::from_be_bytes(png[i + 8 + len..i + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[i + 4..i + 8 + len]), "chunk CRC");
            if kind == b"IHDR" {
                assert_eq!(&png[i + 8..i + 16], &[0, 0, 0, 200, 0, 0, 0, 120]);
            }
            if kind == b"IDAT" {
                idat.extend_from_slice(&png[i + 8..i + 8 + len]);
            }
            kinds.push(String::from_utf8(kind.to_vec()).unwrap());
            i += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        let raw = inflate_stored(&idat);
        assert_eq!(raw.len(), h * (1 + w * 3));
        for (y, row) in raw.chunks(1 + w * 3).enumerate() {
            assert_eq!(row[0], 0, "filter byte");
            assert_eq!(&row[1..], &rgb[y * w * 3..(y + 1) * w * 3]);
        }
        assert_eq!(inflate_stored(&zlib_stored(&[])), Vec::<u8>::new());
    }

    #[test]
    fn palettes_span_their_ends() {
        assert_eq!(colour(0.0, 1.0, Palette::Diverging), [255, 255, 255]);
        assert_eq!(colour(-2.0, 1.0, Palette::Diverging), [33, 102, 172]);
        assert_eq!(colour(1.0, 1.0, Palette::Sequential), [253, 231, 37]);
        assert_eq!(colour(f32::NAN, 1.0, Palette::Sequential), [128, 128, 128]);
        let png = heatmap(&[0.0, 1.0, 2.0, 3.0, -1.0, f32::NAN], 2, 3, Palette::Diverging);
        assert_eq!(&png[16..24], &[0, 0, 0, 72, 0, 0, 0, 48], "cells of 24 px (the cap) in a 3×2 grid");
        let png = heatmap(&vec![1.0; 1021 * 40], 40, 1021, Palette::Sequential);
        assert_eq!(&png[16..24], &[0, 0, 3, 0xFD, 0, 0, 3, 0x20], "1 px per time step, 20 px per feature");
    }
}
