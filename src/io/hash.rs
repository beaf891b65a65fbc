//! A content hash for identity checks (is this the same data file, the same windows?), not for security:
//! 64-bit FNV-1a, stable across platforms and releases, no dependency. A resume state records these hashes so
//! that a run resumed on other data is refused instead of silently mixing two trainings.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over a stream of byte slices; feeding the same bytes in any split gives the same value.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET)
    }
}

impl Fnv1a {
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &x in b {
            self.0 = (self.0 ^ x as u64).wrapping_mul(PRIME);
        }
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn f32s(&mut self, v: &[f32]) -> &mut Self {
        for x in v {
            self.bytes(&x.to_bits().to_le_bytes());
        }
        self
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// `"<len> bytes fnv1a64 <hex>"` of a byte string: the identity of a data file as a resume state records it.
pub fn describe_bytes(b: &[u8]) -> String {
    format!("{} bytes fnv1a64 {:016x}", b.len(), Fnv1a::default().bytes(b).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        // From the FNV reference test suite (Noll's fnv_test.c, FNV-1a 64-bit).
        assert_eq!(Fnv1a::default().finish(), 0xcbf29ce484222325);
        assert_eq!(Fnv1a::default().bytes(b"a").finish(), 0xaf63dc4c8601ec8c);
        assert_eq!(Fnv1a::default().bytes(b"foobar").finish(), 0x85944171f73967e8);
        assert_eq!(Fnv1a::default().bytes(b"foo").bytes(b"bar").finish(), 0x85944171f73967e8);
    }
}
