//! Products against constant weights, packed once (when a batch-1 plan, `serve::plan`, is built), into buffers
//! the caller owns: the batch-1 variant of the matmul family.
//!
//! Why not the `gemm` crate that `predict` uses: it allocates its packing scratch on every call, and a per-bar
//! forward must not allocate. The weights never change between bars, so they are packed here once, as
//! ⌈n/16⌉ panels of [k][16] (the last zero-padded): a panel's 16 columns are two AVX2 registers, and its weights
//! stream contiguously. Row blocks of 6 keep 12 independent FMA chains in flight (12 of the 16 registers); a single
//! row (the LSTM's recurrent step) walks 4 panels at once for the same reason.
//!
//! On x86-64 with AVX2 and FMA (checked at run time through `pulp`, which also supplies the target-feature
//! context, so no `unsafe` here) the micro-kernels hold their accumulators in explicit 8-lane registers: left to
//! the autovectoriser, the same loops ran at a third of the speed (98 against ~30 GFLOP/s single-threaded at
//! 60×2048×512; the `gemm` crate: 79). Enabling `pulp`'s AVX-512 level made the autovectorised loops slower still on
//! this Zen 4 (whose 512-bit units are double-pumped); explicit 16-lane kernels were not tried. Elsewhere plain
//! loops, vectorised as LLVM can.

use rayon::prelude::*;

const NR: usize = 16;
const MR: usize = 6;
/// Panels walked together by the single-row product.
const WIDE: usize = 4;
/// Products below this many multiply-adds stay on one thread (a hand-off costs a few microseconds).
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// A weight matrix W [n, k] (PyTorch's Linear layout, y = x·Wᵀ + b), packed; and its bias (zeros if none).
#[derive(Debug, Clone)]
pub struct Packed {
    k: usize,
    n: usize,
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl Packed {
    /// W row-major [n, k].
    pub fn linear(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Packed {
        Packed::from_fn(n, k, |j, kk| w[j * k + kk], bias)
    }

    /// The packed matrix whose element (output j, input kk) is `at(j, kk)`: lets convolutions lay their taps
    /// out as one long input row.
    pub fn from_fn(n: usize, k: usize, at: impl Fn(usize, usize) -> f32, bias: Option<&[f32]>) -> Packed {
        let mut panels = vec![0.0f32; n.div_ceil(NR) * k * NR];
        for (p, panel) in panels.chunks_mut(k * NR).enumerate() {
            for l in 0..NR.min(n - p * NR) {
                for kk in 0..k {
                    panel[kk * NR + l] = at(p * NR + l, kk);
                }
            }
        }
        let bias = bias.map_or_else(|| vec![0.0; n], <[f32]>::to_vec);
        assert_eq!(bias.len(), n, "packed: bias length");
        Packed { k, n, panels, bias }
    }

    /// Output width n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input width k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// y[i, ..n] = x[i, ..k]·Wᵀ + b for i < m, rows of x `ldx` apart and of y `ldy` apart; with `accumulate`,
    /// y += x·Wᵀ instead (no bias).
    ///
    /// Inside a rayon pool (a plan run through `serve::plan::Plan::run_on` a pool) a product big enough to pay
    /// for the hand-off is split by rows over the pool's threads, each streaming the whole packed matrix; work
    /// pushed from a pool's own thread goes through its local deque, which does not allocate once warm.
    pub fn apply(&self, m: usize, x: &[f32], ldx: usize, y: &mut [f32], ldy: usize, accumulate: bool) {
        if m == 0 || self.n == 0 {
            return;
        }
        assert!(self.k <= ldx && x.len() >= (m - 1) * ldx + self.k, "packed: x too short");
        assert!(self.n <= ldy && y.len() >= (m - 1) * ldy + self.n, "packed: y too short");
        let threads = if rayon::current_thread_index().is_some() { rayon::current_num_threads() } else { 1 };
        if threads > 1 && m >= 2 * MR && m * self.n * self.k >= PARALLEL_MIN_MACS {
            // Row blocks of whole tiles, one per thread; y's rows are ldy apart, so blocks are disjoint slices.
            let per = m.div_ceil(threads).next_multiple_of(MR);
            let y = &mut y[..(m - 1) * ldy + self.n];
            y.par_chunks_mut(per * ldy).enumerate().for_each(|(b, yb)| {
                let rows = per.min(m - b * per);
                self.apply_serial(rows, &x[b * per * ldx..], ldx, yb, ldy, accumulate);
            });
            return;
        }
        self.apply_serial(m, x, ldx, y, ldy, accumulate);
    }

    fn apply_serial(&self, m: usize, x: &[f32], ldx: usize, y: &mut [f32], ldy: usize, accumulate: bool) {
        let job = Job { p: self, m, x, ldx, y, ldy, accumulate };
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            v3.vectorize(avx2::Run { v3, job });
            return;
        }
        pulp::Arch::new().dispatch(Portable(job));
    }
}

/// One product's operands.
struct Job<'a> {
    p: &'a Packed,
    m: usize,
    x: &'a [f32],
    ldx: usize,
    y: &'a mut [f32],
    ldy: usize,
    accumulate: bool,
}

/// The two micro-kernels a product is made of; the loops around them are shared ([`drive`]).
trait Kernel: Copy {
    /// R rows of x against one panel: acc[r][l] = Σ_kk x[r, kk]·panel[kk][l].
    fn tile<const R: usize>(self, panel: &[f32], x: &[f32], ldx: usize, k: usize) -> [[f32; NR]; R];
    /// One row of x against WIDE panels at once: WIDE independent accumulators share each broadcast of x[kk].
    fn wide(self, panels: [&[f32]; WIDE], x: &[f32]) -> [[f32; NR]; WIDE];
}

/// The whole product with kernel `kern` (inlined into the caller's target-feature context).
#[inline(always)]
fn drive<K: Kernel>(kern: K, job: Job<'_>) {
    let Job { p, m, x, ldx, y, ldy, accumulate } = job;
    let k = p.k;
    if m == 1 {
        let x = &x[..k];
        for (g, group) in p.panels.chunks(WIDE * k * NR).enumerate() {
            let acc = if group.len() == WIDE * k * NR {
                kern.wide(std::array::from_fn(|w| &group[w * k * NR..(w + 1) * k * NR]), x)
            } else {
                let mut acc = [[0.0f32; NR]; WIDE];
                for (w, panel) in group.chunks_exact(k * NR).enumerate() {
                    acc[w] = kern.tile::<1>(panel, x, k, k)[0];
                }
                acc
            };
            let c0 = g * WIDE * NR;
            store(acc.as_flattened(), p, c0, (p.n - c0).min(WIDE * NR), y, accumulate);
        }
        return;
    }
    for (pi, panel) in p.panels.chunks_exact(k * NR).enumerate() {
        let c0 = pi * NR;
        let width = NR.min(p.n - c0);
        let mut i = 0;
        while i < m {
            let rows = MR.min(m - i);
            let (xs, ys) = (&x[i * ldx..], &mut y[i * ldy..]);
            let mut put = |acc: &[[f32; NR]]| {
                for (r, a) in acc.iter().enumerate() {
                    store(a, p, c0, width, &mut ys[r * ldy..], accumulate);
                }
            };
            match rows {
                6 => put(&kern.tile::<6>(panel, xs, ldx, k)),
                5 => put(&kern.tile::<5>(panel, xs, ldx, k)),
                4 => put(&kern.tile::<4>(panel, xs, ldx, k)),
                3 => put(&kern.tile::<3>(panel, xs, ldx, k)),
                2 => put(&kern.tile::<2>(panel, xs, ldx, k)),
                _ => put(&kern.tile::<1>(panel, xs, ldx, k)),
            }
            i += rows;
        }
    }
}

/// y[c0..c0 + width] = acc + bias (or += acc).
#[inline(always)]
fn store(acc: &[f32], p: &Packed, c0: usize, width: usize, y: &mut [f32], accumulate: bool) {
    let out = &mut y[c0..c0 + width];
    if accumulate {
        out.iter_mut().zip(acc).for_each(|(o, v)| *o += v);
    } else {
        out.iter_mut().zip(acc).zip(&p.bias[c0..c0 + width]).for_each(|((o, v), b)| *o = v + b);
    }
}

/// Plain loops, vectorised as LLVM can in the context `pulp` dispatches to.
#[derive(Clone, Copy)]
struct Scalar;

impl Kernel for Scalar {
    #[inline(always)]
    fn tile<const R: usize>(self, panel: &[f32], x: &[f32], ldx: usize, k: usize) -> [[f32; NR]; R] {
        let mut acc = [[0.0f32; NR]; R];
        let xs: [&[f32]; R] = std::array::from_fn(|r| &x[r * ldx..r * ldx + k]);
        for (kk, b) in panel[..k * NR].chunks_exact(NR).enumerate() {
            for r in 0..R {
                let a = xs[r][kk];
                for l in 0..NR {
                    acc[r][l] += a * b[l];
                }
            }
        }
        acc
    }

    #[inline(always)]
    fn wide(self, panels: [&[f32]; WIDE], x: &[f32]) -> [[f32; NR]; WIDE] {
        let mut acc = [[0.0f32; NR]; WIDE];
        for (kk, &a) in x.iter().enumerate() {
            for w in 0..WIDE {
                let b = &panels[w][kk * NR..kk * NR + NR];
                for l in 0..NR {
                    acc[w][l] += a * b[l];
                }
            }
        }
        acc
    }
}

struct Portable<'a>(Job<'a>);

impl pulp::WithSimd for Portable<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        drive(Scalar, self.0);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{drive, Job, Kernel, NR, WIDE};
    use pulp::bytemuck::cast;
    use pulp::f32x8;
    use pulp::x86::V3;

    /// Explicit 8-lane FMA accumulators: left to the autovectoriser, the same loops ran at a third of the speed.
    #[derive(Clone, Copy)]
    struct Avx2(V3);

    pub(super) struct Run<'a> {
        pub v3: V3,
        pub job: Job<'a>,
    }

    impl pulp::NullaryFnOnce for Run<'_> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            drive(Avx2(self.v3), self.job);
        }
    }

    #[inline(always)]
    fn load(b: &[f32]) -> [f32x8; 2] {
        let b: &[f32; NR] = b.try_into().expect("a panel row is NR wide");
        cast(*b)
    }

    impl Kernel for Avx2 {
        #[inline(always)]
        fn tile<const R: usize>(self, panel: &[f32], x: &[f32], ldx: usize, k: usize) -> [[f32; NR]; R] {
            let v3 = self.0;
            let zero = v3.splat_f32x8(0.0);
            let mut acc = [[zero; 2]; R];
            let xs: [&[f32]; R] = std::array::from_fn(|r| &x[r * ldx..r * ldx + k]);
            for (kk, b) in panel[..k * NR].chunks_exact(NR).enumerate() {
                let [b0, b1] = load(b);
                for r in 0..R {
                    let a = v3.splat_f32x8(xs[r][kk]);
                    acc[r][0] = v3.mul_add_f32x8(a, b0, acc[r][0]);
                    acc[r][1] = v3.mul_add_f32x8(a, b1, acc[r][1]);
                }
            }
            acc.map(cast)
        }

        #[inline(always)]
        fn wide(self, panels: [&[f32]; WIDE], x: &[f32]) -> [[f32; NR]; WIDE] {
            let v3 = self.0;
            let zero = v3.splat_f32x8(0.0);
            let mut acc = [[zero; 2]; WIDE];
            let [p0, p1, p2, p3] = panels;
            let cols = p0.chunks_exact(NR).zip(p1.chunks_exact(NR)).zip(p2.chunks_exact(NR).zip(p3.chunks_exact(NR)));
            for (&a, ((b0, b1), (b2, b3))) in x.iter().zip(cols) {
                let a = v3.splat_f32x8(a);
                for (acc, b) in acc.iter_mut().zip([b0, b1, b2, b3]) {
                    let [lo, hi] = load(b);
                    acc[0] = v3.mul_add_f32x8(a, lo, acc[0]);
                    acc[1] = v3.mul_add_f32x8(a, hi, acc[1]);
                }
            }
            acc.map(cast)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn naive(w: &[f32], b: &[f32], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f64> {
        let mut y = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = b[j] as f64 + (0..k).map(|kk| x[i * k + kk] as f64 * w[j * k + kk] as f64).sum::<f64>();
            }
        }
        y
    }

    #[test]
    fn matches_a_naive_product_for_ragged_sizes() {
        let mut r = Rng::new(3);
        for &(m, n, k) in &[(1, 1, 1), (1, 70, 33), (1, 64, 256), (7, 17, 5), (13, 100, 64), (6, 16, 16), (60, 48, 9)] {
            let w: Vec<f32> = (0..n * k).map(|_| r.normal() as f32).collect();
            let b: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
            let x: Vec<f32> = (0..m * k).map(|_| r.normal() as f32).collect();
            let p = Packed::linear(&w, n, k, Some(&b));
            // rows of y padded to n + 3 with a poison the product must overwrite (or, in the gaps, leave alone)
            let ldy = n + 3;
            let mut y = vec![f32::NAN; m * ldy];
            p.apply(m, &x, k, &mut y, ldy, false);
            let want = naive(&w, &b, n, k, &x, m);
            for i in 0..m {
                for j in 0..n {
                    let (got, e) = (y[i * ldy + j] as f64, want[i * n + j]);
                    assert!((got - e).abs() <= 1e-4 * (1.0 + e.abs()), "m{m} n{n} k{k} ({i},{j}): {got} vs {e}");
                }
                assert!(y[i * ldy + n..(i + 1) * ldy].iter().all(|v| v.is_nan()), "wrote past the row");
            }
            // accumulate adds x·Wᵀ (without the bias) to what is there
            p.apply(m, &x, k, &mut y, ldy, true);
            for i in 0..m {
                for j in 0..n {
                    let e = 2.0 * want[i * n + j] - b[j] as f64;
                    assert!((y[i * ldy + j] as f64 - e).abs() <= 2e-4 * (1.0 + e.abs()), "accumulate m{m} n{n} k{k}");
                }
            }
        }
    }
}
