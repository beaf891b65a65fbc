//! Model input windows cut on demand from one scaled feature matrix. Materialising every window would multiply
//! the matrix by the window length (a year of hourly bars × 64 bars × 40 features is ~90 MB in f32 per copy);
//! instead a batch of windows is copied into one caller-owned buffer that is reused for every batch.
//!
//! Shapes: the matrix is row-major `[n, F]`; a batch is `[B, W, F]`, where window `b` holds rows
//! `ends[b] − W + 1 ..= ends[b]` in time order (the last row is the bar the prediction is made at).

use crate::{Error, Result};
use std::ops::Range;

/// Window ends `t` usable for training with horizon `horizon`: the window's first row is at or after
/// `first_valid_row` (all features warmed up) and the label at `t` exists (`t + horizon < n`). Empty when none.
pub fn valid_ends(n: usize, window: usize, first_valid_row: usize, horizon: usize) -> Range<usize> {
    let start = first_valid_row + window.max(1) - 1;
    let end = n.saturating_sub(horizon);
    start..end.max(start)
}

/// Cuts `[W, F]` windows out of a borrowed `[n, F]` matrix.
#[derive(Debug, Clone, Copy)]
pub struct WindowSampler<'a> {
    data: &'a [f32],
    rows: usize,
    features: usize,
    window: usize,
}

impl<'a> WindowSampler<'a> {
    /// `data` is row-major `[n, features]`, e.g. the output of `Scaler::transform_fill0`.
    pub fn new(data: &'a [f32], features: usize, window: usize) -> Result<Self> {
        if features == 0 || window == 0 {
            return Err(Error::Invalid(format!(
                "WindowSampler: expected features >= 1 and window >= 1, found {features} and {window}"
            )));
        }
        if !data.len().is_multiple_of(features) {
            return Err(Error::shape("WindowSampler data", format!("[n, {features}]"), data.len()));
        }
        Ok(WindowSampler { data, rows: data.len() / features, features, window })
    }

    /// The whole row-major `[rows, features]` matrix the windows are cut from.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn features(&self) -> usize {
        self.features
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Floats one batch of `batch` windows needs: `batch · W · F`.
    pub fn batch_len(&self, batch: usize) -> usize {
        batch * self.window * self.features
    }

    /// Copy the windows ending at `ends` into `out` (`[ends.len(), W, F]`, exactly that long). Each end needs
    /// `W − 1 <= t < n`.
    pub fn fill(&self, ends: &[usize], out: &mut [f32]) -> Result<()> {
        let per = self.window * self.features;
        if out.len() != ends.len() * per {
            return Err(Error::shape(
                "WindowSampler::fill out",
                [ends.len(), self.window, self.features],
                format!("{} floats", out.len()),
            ));
        }
        for (dst, &t) in out.chunks_exact_mut(per).zip(ends) {
            if t + 1 < self.window || t >= self.rows {
                return Err(Error::Invalid(format!(
                    "WindowSampler::fill: window end {t} needs {} <= t < {} (window {}, {} rows)",
                    self.window - 1,
                    self.rows,
                    self.window,
                    self.rows
                )));
            }
            let first = t + 1 - self.window;
            dst.copy_from_slice(&self.data[first * self.features..(t + 1) * self.features]);
        }
        Ok(())
    }

    /// Call `f(ends_of_batch, batch_buffer)` for consecutive batches of up to `batch` ends, reusing one buffer;
    /// the last batch may be shorter (its buffer slice is then shorter too). Stops at the first error.
    pub fn for_each_batch<F>(&self, ends: &[usize], batch: usize, mut f: F) -> Result<()>
    where
        F: FnMut(&[usize], &[f32]) -> Result<()>,
    {
        if batch == 0 {
            return Err(Error::Invalid("WindowSampler::for_each_batch: expected batch >= 1, found 0".into()));
        }
        let mut buf = vec![0.0f32; self.batch_len(batch.min(ends.len()))];
        for chunk in ends.chunks(batch) {
            let part = &mut buf[..self.batch_len(chunk.len())];
            self.fill(chunk, part)?;
            f(chunk, part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_contiguous_rows() {
        let data: Vec<f32> = (0..20).map(|x| x as f32).collect(); // [10, 2]
        let s = WindowSampler::new(&data, 2, 3).unwrap();
        let mut out = vec![0.0; s.batch_len(2)];
        s.fill(&[2, 9], &mut out).unwrap();
        assert_eq!(out, vec![0., 1., 2., 3., 4., 5., 14., 15., 16., 17., 18., 19.]);
        assert!(s.fill(&[1, 9], &mut out).is_err());
        assert!(s.fill(&[2, 10], &mut out).is_err());
        assert!(s.fill(&[2], &mut out).is_err());
    }

    #[test]
    fn batches_cover_every_end_once() {
        let data = vec![0.0f32; 40];
        let s = WindowSampler::new(&data, 4, 2).unwrap();
        let ends: Vec<usize> = (1..10).collect();
        let mut seen = Vec::new();
        s.for_each_batch(&ends, 4, |e, buf| {
            assert_eq!(buf.len(), e.len() * 8);
            seen.extend_from_slice(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ends);
    }

    #[test]
    fn valid_ends_respect_warm_up_and_horizon() {
        assert_eq!(valid_ends(100, 10, 20, 5), 29..95);
        assert!(valid_ends(30, 10, 20, 5).is_empty());
    }
}
