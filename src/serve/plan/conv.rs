//! The convolutional models at batch 1 (`tcn` on windows shorter than its receptive field, where the O(1) step
//! does not apply, and `multitask`). Time-major activations [T, C]: a causal dilated convolution gathers, per
//! output row, its taps' input rows into one row of `taps·C_in` (zeros before the window starts, the left
//! padding) and runs one packed product over all rows. Eval-mode BatchNorm is folded into the convolution.

use super::packed_linear;
use super::relu;
use crate::models::{MultiTask, Tcn};
use crate::nn::{CausalConv1d, CausalConvBn};
use crate::ops::matmul::packed::Packed;
use crate::Result;

#[derive(Debug)]
struct Conv {
    w: Packed,
    taps: usize,
    dilation: usize,
    c_in: usize,
}

impl Conv {
    /// Weight [C_out, C_in, taps] as one [C_out, taps·C_in] matrix, tap-major, each output channel scaled by
    /// `scale` and its bias replaced by `bias` (BatchNorm folding) when given.
    fn new(c: &CausalConv1d, fold: Option<(&[f32], &[f32])>) -> Result<Conv> {
        let [c_out, c_in, taps] = *c.weight.shape() else { unreachable!("conv weight is rank 3") };
        let w = c.weight.cpu_slice()?;
        let b = c.bias.cpu_slice()?;
        let (scale, bias): (Vec<f32>, Vec<f32>) = match fold {
            Some((s, shift)) => (s.to_vec(), b.iter().zip(s).zip(shift).map(|((b, s), sh)| b * s + sh).collect()),
            None => (vec![1.0; c_out], b.to_vec()),
        };
        let at = |o: usize, col: usize| w[(o * c_in + col % c_in) * taps + col / c_in] * scale[o];
        Ok(Conv { w: Packed::from_fn(c_out, taps * c_in, at, Some(&bias)), taps, dilation: c.dilation, c_in })
    }

    /// Convolution followed by eval-mode BatchNorm: y = (conv(x) − μ)·γ/√(σ²+ε) + β as one convolution.
    fn with_bn(cb: &CausalConvBn) -> Result<Conv> {
        let (rm, rv) = cb.bn.running_stats();
        let (rm, rv) = (rm.cpu_slice()?, rv.cpu_slice()?);
        let (g, beta) = (cb.bn.weight.cpu_slice()?, cb.bn.bias.cpu_slice()?);
        let scale: Vec<f32> = g.iter().zip(rv).map(|(g, v)| g / (v + cb.bn.eps).sqrt()).collect();
        let shift: Vec<f32> = beta.iter().zip(rm).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Conv::new(&cb.conv, Some((&scale, &shift)))
    }

    fn c_out(&self) -> usize {
        self.w.n()
    }

    /// y [T, C_out] = conv(x [T, C_in]); `col` holds at least T·taps·C_in.
    fn run(&self, t: usize, x: &[f32], col: &mut [f32], y: &mut [f32]) {
        let (ci, co, k) = (self.c_in, self.c_out(), self.taps * self.c_in);
        if self.taps == 1 {
            self.w.apply(t, x, ci, y, co, false);
            return;
        }
        for (i, row) in col[..t * k].chunks_exact_mut(ci).enumerate() {
            let (ti, j) = (i / self.taps, i % self.taps);
            let back = (self.taps - 1 - j) * self.dilation;
            match ti.checked_sub(back) {
                Some(src) => row.copy_from_slice(&x[src * ci..(src + 1) * ci]),
                None => row.fill(0.0),
            }
        }
        self.w.apply(t, col, k, y, co, false);
    }
}

#[derive(Debug)]
struct TcnBlock {
    conv1: Conv,
    conv2: Conv,
    downsample: Option<Conv>,
}

#[derive(Debug)]
struct Mlp {
    fc1: Packed,
    fc2: Packed,
}

#[derive(Debug)]
enum Net {
    Tcn { blocks: Vec<TcnBlock>, head: Packed },
    MultiTask { stem: Conv, blocks: Vec<(Conv, Conv)>, heads: Vec<Mlp> },
}

#[derive(Debug)]
pub struct ConvPlan {
    t: usize,
    net: Net,
    /// Activations [T, C] (current, two scratch) and the gathered taps.
    x: Vec<f32>,
    y1: Vec<f32>,
    y2: Vec<f32>,
    col: Vec<f32>,
    pooled: Vec<f32>,
    hidden: Vec<f32>,
}

/// Widest activation row and widest gathered-taps row over `convs`.
fn widths<'a>(convs: impl IntoIterator<Item = &'a Conv>) -> (usize, usize) {
    convs.into_iter().fold((0, 0), |(w, k), c| (w.max(c.c_out()).max(c.c_in), k.max(c.taps * c.c_in)))
}

impl ConvPlan {
    fn with(t: usize, net: Net, (width, taps): (usize, usize), hidden: usize) -> ConvPlan {
        ConvPlan {
            t,
            net,
            x: vec![0.0; t * width],
            y1: vec![0.0; t * width],
            y2: vec![0.0; t * width],
            col: vec![0.0; t * taps],
            pooled: vec![0.0; width],
            hidden: vec![0.0; hidden],
        }
    }

    pub fn tcn(m: &Tcn, t: usize) -> Result<ConvPlan> {
        let blocks = m
            .blocks
            .iter()
            .map(|b| {
                Ok(TcnBlock {
                    conv1: Conv::new(&b.conv1, None)?,
                    conv2: Conv::new(&b.conv2, None)?,
                    downsample: b.downsample.as_ref().map(|d| Conv::new(d, None)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sizes = widths(blocks.iter().flat_map(|b| [&b.conv1, &b.conv2].into_iter().chain(b.downsample.as_ref())));
        Ok(ConvPlan::with(t, Net::Tcn { blocks, head: packed_linear(&m.head)? }, sizes, 0))
    }

    pub fn multitask(m: &MultiTask, t: usize) -> Result<ConvPlan> {
        let stem = Conv::with_bn(&m.stem)?;
        let blocks = m
            .blocks
            .iter()
            .map(|b| Ok((Conv::with_bn(&b.conv1)?, Conv::with_bn(&b.conv2)?)))
            .collect::<Result<Vec<_>>>()?;
        let heads = [&m.price_head, &m.direction_head, &m.volatility_head, &m.volume_head]
            .iter()
            .map(|h| Ok(Mlp { fc1: packed_linear(&h.fc1)?, fc2: packed_linear(&h.fc2)? }))
            .collect::<Result<Vec<_>>>()?;
        let sizes = widths(std::iter::once(&stem).chain(blocks.iter().flat_map(|(a, b)| [a, b])));
        let hidden = heads.iter().map(|h| h.fc1.n()).max().unwrap_or(0);
        Ok(ConvPlan::with(t, Net::MultiTask { stem, blocks, heads }, sizes, hidden))
    }

    pub fn run(&mut self, input: &[f32], out: &mut [f32]) {
        let t = self.t;
        let ConvPlan { x, y1, y2, col, pooled, hidden, net, .. } = self;
        match net {
            Net::Tcn { blocks, head } => {
                let mut c = blocks.first().map_or(0, |b| b.conv1.c_in);
                x[..t * c].copy_from_slice(&input[..t * c]);
                for b in blocks.iter() {
                    let co = b.conv1.c_out();
                    b.conv1.run(t, x, col, y1);
                    relu(&mut y1[..t * co]);
                    b.conv2.run(t, y1, col, y2);
                    relu(&mut y2[..t * co]);
                    match &b.downsample {
                        Some(ds) => ds.run(t, x, col, y1),
                        None => y1[..t * co].copy_from_slice(&x[..t * co]),
                    }
                    for ((o, a), r) in x[..t * co].iter_mut().zip(&y2[..t * co]).zip(&y1[..t * co]) {
                        *o = (a + r).max(0.0);
                    }
                    c = co;
                }
                head.apply(1, &x[(t - 1) * c..t * c], c, out, out.len(), false);
            }
            Net::MultiTask { stem, blocks, heads } => {
                let c = stem.c_out();
                stem.run(t, input, col, x);
                relu(&mut x[..t * c]);
                for (c1, c2) in blocks.iter() {
                    c1.run(t, x, col, y1);
                    relu(&mut y1[..t * c]);
                    c2.run(t, y1, col, y2);
                    for (o, a) in x[..t * c].iter_mut().zip(&y2[..t * c]) {
                        *o = (*o + a).max(0.0);
                    }
                }
                let pooled = &mut pooled[..c];
                pooled.fill(0.0);
                for row in x[..t * c].chunks_exact(c) {
                    pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
                }
                pooled.iter_mut().for_each(|p| *p /= t as f32);
                let mut at = 0;
                for h in heads.iter() {
                    let (nh, no) = (h.fc1.n(), h.fc2.n());
                    h.fc1.apply(1, pooled, c, hidden, nh, false);
                    relu(&mut hidden[..nh]);
                    h.fc2.apply(1, hidden, nh, &mut out[at..at + no], no, false);
                    at += no;
                }
            }
        }
    }
}
