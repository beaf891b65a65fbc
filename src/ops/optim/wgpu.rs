//! Launcher for `shaders/optim.wgsl`: the same scalars as the CPU (`AdamStep`, `SgdStep`), the clip factor read
//! by the update shaders from device memory.

use super::{sgd_len, AdamArgs, AdamStep, OptimKernel, SgdStep};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::{For, Pair, Storage, Triple};
use crate::Result;

static SHADER: Shader = Shader::named("optim");

impl OptimKernel for Gpu {
    fn sum_squares(&self, g: &Storage, acc: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (gb, ab) = (gpu.input(g, g.len(), "g")?, gpu.input(acc, 1, "acc")?);
        let out = gpu.alloc(1, For("optim sum_squares of", &gb.len()))?;
        let params = Params::new().u(gb.len());
        gpu.run(&[Launch::new(&SHADER, "sum_squares", params, vec![Arg::R(gb), Arg::R(ab), Arg::W(&out)], [1, 1, 1])])?;
        Ok(store(out))
    }

    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage> {
        let gpu = self.handle()?;
        let tb = gpu.input(total, 1, "total")?;
        let out = gpu.alloc(1, For("optim clip_factor", &max_norm))?;
        let params = Params::new().f(max_norm);
        gpu.run(&[Launch::new(&SHADER, "clip_factor", params, vec![Arg::R(tb), Arg::W(&out)], [1, 1, 1])])?;
        Ok(store(out))
    }

    fn adam_update(&self, a: &AdamArgs<'_>, s: &AdamStep) -> Result<Triple> {
        let gpu = self.handle()?;
        let n = a.checked_len()?;
        let (p, g) = (gpu.input(a.p, n, "p")?, gpu.input(a.g, n, "g")?);
        let (m, v, c) = (gpu.input(a.m, n, "m")?, gpu.input(a.v, n, "v")?, gpu.input(a.scale, 1, "scale")?);
        let what = For("optim adam update of", &n);
        let (p2, m2, v2) = (gpu.alloc(n, what)?, gpu.alloc(n, what)?, gpu.alloc(n, what)?);
        let params = Params::new().u(n).f(s.decay).f(s.l2).f(s.w1).f(s.beta2).f(s.w2).f(s.bc2_sqrt).f(s.neg_step);
        let args = vec![Arg::R(p), Arg::R(g), Arg::R(m), Arg::R(v), Arg::R(c), Arg::W(&p2), Arg::W(&m2), Arg::W(&v2)];
        gpu.run(&[Launch::new(&SHADER, "adam", params.f(s.eps), args, grid(n, 256))])?;
        Ok((store(p2), store(m2), store(v2)))
    }

    fn sgd_update(&self, p: &Storage, g: &Storage, buf: &Storage, scale: &Storage, s: &SgdStep) -> Result<Pair> {
        let gpu = self.handle()?;
        let n = sgd_len(p, g, buf, scale)?;
        let (pb, gb, bb) = (gpu.input(p, n, "p")?, gpu.input(g, n, "g")?, gpu.input(buf, n, "momentum buffer")?);
        let cb = gpu.input(scale, 1, "scale")?;
        let what = For("optim sgd update of", &n);
        let (p2, b2) = (gpu.alloc(n, what)?, gpu.alloc(n, what)?);
        let params = Params::new().u(n).f(s.neg_lr).f(s.momentum).f(s.l2).flag(s.first);
        let args = vec![Arg::R(pb), Arg::R(gb), Arg::R(bb), Arg::R(cb), Arg::W(&p2), Arg::W(&b2)];
        gpu.run(&[Launch::new(&SHADER, "sgd", params, args, grid(n, 256))])?;
        Ok((store(p2), store(b2)))
    }
}
