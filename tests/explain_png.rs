//! The hand-written PNG encoder (`explain::png`) read back by the `png` crate, a decoder that shares none of its
//! code: the unit tests beside the encoder can only show it agrees with itself.

use tickgrad::explain::png::{encode_rgb, heatmap, Palette};

/// Decode with checksums verified (CRC-32 of every chunk, Adler-32 of the zlib stream); returns
/// (width, height, colour type, bit depth, pixels).
fn decode(bytes: &[u8]) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.ignore_checksums(false);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0u8; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, info.bit_depth, buf)
}

#[test]
fn encoded_rgb_decodes_to_the_same_pixels() {
    // 200×120 RGB rows are > 65 535 bytes in all, so the zlib stream spans several stored blocks.
    for (w, h) in [(200usize, 120usize), (1, 1), (3, 700)] {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let (dw, dh, colour, depth, pixels) = decode(&encode_rgb(w, h, &rgb));
        assert_eq!((dw as usize, dh as usize), (w, h));
        assert_eq!((colour, depth), (png::ColorType::Rgb, png::BitDepth::Eight));
        assert!(pixels == rgb, "{w}×{h}: decoded pixels differ from the ones encoded");
    }
}

#[test]
fn a_corrupted_byte_is_caught_by_the_independent_decoder() {
    // Shows the decoder checks what the encoder computes: flip one pixel byte inside IDAT and decoding fails.
    let rgb = vec![10u8; 4 * 4 * 3];
    let mut bytes = encode_rgb(4, 4, &rgb);
    let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap();
    bytes[idat + 4 + 2 + 5 + 3] ^= 0xFF; // past the chunk type, zlib header, block header and filter byte
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes[..]));
    decoder.ignore_checksums(false);
    let failed = decoder.read_info().and_then(|mut r| {
        let mut buf = vec![0u8; r.output_buffer_size().unwrap_or(0)];
        r.next_frame(&mut buf).map(|_| ())
    });
    assert!(failed.is_err(), "a flipped IDAT byte must fail the CRC check");
}

#[test]
fn heatmap_cells_decode_to_the_palette_colours() {
    // 2 rows × 3 cols at the 24-pixel cell cap: a 72×48 image. Diverging scale = max |v| = 3.
    let values = [0.0, 3.0, -3.0, 1.5, f32::NAN, -2.0];
    let (w, h, colour, depth, pixels) = decode(&heatmap(&values, 2, 3, Palette::Diverging));
    assert_eq!((w, h, colour, depth), (72, 48, png::ColorType::Rgb, png::BitDepth::Eight));
    let px = |x: usize, y: usize| -> [u8; 3] {
        let i = (y * w as usize + x) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    let white = [255, 255, 255];
    let red = [178, 24, 43];
    let blue = [33, 102, 172];
    let half_red = [217, 140, 149]; // halfway from white to red, rounded
    let grey = [128, 128, 128];
    let two_thirds_blue = [107, 153, 200]; // -2 of 3 from white towards blue, rounded
    let expected = [[white, red, blue], [half_red, grey, two_thirds_blue]];
    for (r, row) in expected.iter().enumerate() {
        for (c, want) in row.iter().enumerate() {
            // Every pixel of the 24×24 cell, not only its centre: cells must not bleed into each other.
            for y in r * 24..(r + 1) * 24 {
                for x in c * 24..(c + 1) * 24 {
                    assert_eq!(px(x, y), *want, "cell ({r},{c}) pixel ({x},{y})");
                }
            }
        }
    }

    // Sequential: 0 → the palette's dark end, the maximum → its yellow end; 1 px per time step past 800 columns.
    let mut values = vec![0.0f32; 2 * 1000];
    values[999] = 5.0;
    values[1000] = 5.0;
    let (w, h, _, _, pixels) = decode(&heatmap(&values, 2, 1000, Palette::Sequential));
    assert_eq!((w, h), (1000, 48));
    let at = |x: usize, y: usize| pixels[(y * 1000 + x) * 3..(y * 1000 + x) * 3 + 3].to_vec();
    assert_eq!(at(0, 0), [68, 1, 84]);
    assert_eq!(at(999, 23), [253, 231, 37]);
    assert_eq!(at(0, 24), [253, 231, 37]);
    assert_eq!(at(998, 47), [68, 1, 84]);
}
