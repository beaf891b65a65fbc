//! Minimal `.npy` (format 1.0/2.0) reader and writer for little-endian float32 C-order arrays, the format
//! `predict` and `stream` exchange with numpy.

use crate::{Error, Result};
use std::path::Path;

/// A float32 array read from or written to `.npy`.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Read a float32 `.npy` file; float64 is accepted and narrowed. Errors name the file and what is wrong.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_npy(&bytes, &path.display().to_string())
}

/// Decode `.npy` bytes already in memory; `name` stands in for the file name in errors.
pub fn decode_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    parse_npy(bytes).map_err(|m| Error::parse(name, m))
}

fn parse_npy(b: &[u8]) -> std::result::Result<NpyArray, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = b[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10usize),
        2 | 3 => {
            if b.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let body_start = start.checked_add(hlen).ok_or("truncated .npy header")?;
    let header = b.get(start..body_start).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    if fortran.trim() != "False" {
        return Err("fortran_order arrays are not supported; save with C order".into());
    }
    let shape_s = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let shape: Vec<usize> = shape_s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape entry {s:?}")))
        .collect::<std::result::Result<_, _>>()?;
    let body = &b[body_start..];
    let descr = descr.trim().trim_matches('\'').trim_matches('"');
    let width = match descr {
        "<f4" | "=f4" => 4,
        "<f8" | "=f8" => 8,
        other => return Err(format!("dtype {other} is not supported: expected float32 ('<f4')")),
    };
    // The header is untrusted: a shape whose byte size does not fit in usize must be an error, not a wrapped
    // product that happens to match a short body and hands callers a shape their data cannot back.
    let nbytes = data_bytes(&shape, width).ok_or_else(|| {
        format!("shape {shape:?} is too large: its size in bytes overflows (found {} bytes of data)", body.len())
    })?;
    if body.len() != nbytes {
        let kind = if width == 4 { "float32" } else { "float64" };
        return Err(format!("expected {nbytes} bytes of {kind} data for shape {shape:?}, found {}", body.len()));
    }
    let data = match width {
        4 => body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        _ => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
    };
    Ok(NpyArray { shape, data })
}

/// Bytes of a `shape` array of `width`-byte elements, `None` on overflow. The non-zero extents must multiply out
/// even when a zero one makes the array empty, so that callers taking the shape's product in any order (as
/// `Tensor` does) cannot overflow either.
fn data_bytes(shape: &[usize], width: usize) -> Option<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(width, |acc, &d| acc.checked_mul(d))?;
    Some(if shape.contains(&0) { 0 } else { nonzero })
}

/// Value text of `'key': value` in a numpy header dict (value ends at the next top-level comma or brace).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}'");
    let i = header.find(&pat)? + pat.len();
    let rest = header[i..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (j, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..j]),
            _ => {}
        }
    }
    None
}

/// Encode a float32 C-order array as `.npy` bytes.
pub fn encode_npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Write a float32 `.npy` atomically.
pub fn write_npy(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    super::atomic::write_atomic(path, &encode_npy(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b = encode_npy(&[2, 3, 4], &data);
        assert_eq!(b.len() % 64, 24 * 4 % 64);
        let a = parse_npy(&b).unwrap();
        assert_eq!(a.shape, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert!(parse_npy(&b[..b.len() - 4]).unwrap_err().contains("expected 96 bytes"));
        assert!(parse_npy(b"hello world").unwrap_err().contains("magic"));
        // Found by tests/fuzz_loaders.rs: a shape whose element count overflows was a multiply overflow.
        let (from, to) = (format!("(2, 3, 4), }}{}", " ".repeat(19)), "(18446744073709551615, 3, 4), }");
        let at = b.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
        let mut huge = b.clone();
        huge.splice(at..at + from.len(), to.bytes());
        let e = parse_npy(&huge).unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    /// A `.npy` with `shape` in its header and `body` after it (the header is not padded; the reader needs not).
    fn with_shape(shape: &str, descr: &str, body: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn hostile_shapes_are_clean_errors() {
        // Products that overflow usize outright, and after the element width is applied: each would panic in a
        // debug build and, in release, wrap to a size that an empty or short body could match.
        for (shape, descr) in [
            ("(18446744073709551615, 2)", "<f4"),
            ("(4611686018427387904,)", "<f4"),
            ("(2305843009213693952,)", "<f8"),
            ("(4294967296, 4294967296)", "<f4"),
            ("(8589934592, 2147483648)", "<f4"),
        ] {
            for body in [&[][..], &[0u8; 16][..]] {
                let e = parse_npy(&with_shape(shape, descr, body)).unwrap_err();
                assert!(e.contains("is too large: its size in bytes overflows"), "{shape}: {e}");
            }
        }
        // Large but representable: refused by the length check before anything is allocated for it.
        let e = parse_npy(&with_shape("(1000000000000, 1000)", "<f4", &[0u8; 8])).unwrap_err();
        assert_eq!(e, "expected 4000000000000000 bytes of float32 data for shape [1000000000000, 1000], found 8");
        // A zero extent makes an empty array, but the other extents must still multiply out.
        let a = parse_npy(&with_shape("(1000, 0, 7)", "<f4", &[])).unwrap();
        assert_eq!((a.shape, a.data.len()), (vec![1000, 0, 7], 0));
        let e = parse_npy(&with_shape("(18446744073709551615, 2, 0)", "<f4", &[])).unwrap_err();
        assert!(e.contains("overflows"), "{e}");
        let e = parse_npy(&with_shape("(99999999999999999999999,)", "<f4", &[])).unwrap_err();
        assert!(e.contains("bad shape entry"), "{e}");
        let f8 = parse_npy(&with_shape("(2,)", "<f8", &[1.5f64.to_le_bytes(), (-2.0f64).to_le_bytes()].concat()));
        assert_eq!(f8.unwrap().data, vec![1.5, -2.0]);
    }
}
