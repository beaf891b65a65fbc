//! Tensor-level layout ops and their backward rules.

use super::NarrowDims;
use crate::ops::prelude::*;
use crate::tensor::shape::{axis as resolve_axis, split3};
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Same data, new shape (no copy). One dimension may be `usize::MAX`, meaning "whatever is left".
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n = self.numel();
        let mut shape = shape.to_vec();
        if let Some(pos) = shape.iter().position(|&d| d == usize::MAX) {
            let rest: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
            if rest == 0 || !n.is_multiple_of(rest) {
                return Err(Error::shape("reshape", format!("a shape with {n} elements"), &shape));
            }
            shape[pos] = n / rest;
        }
        if shape.iter().product::<usize>() != n {
            return Err(Error::shape("reshape", format!("{n} elements"), &shape));
        }
        let src = self.shape().to_vec();
        Ok(Tensor::from_op(self.storage().clone(), shape, &[self], move |g| Ok(vec![Some(g.reshape(&src)?)])))
    }

    /// Reorder dimensions (a contiguous copy).
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if perm.len() != r || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::Invalid(format!("permute: {perm:?} is not a permutation of {r} dimensions")));
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape()[p]).collect();
        let y = backend(self.device())?.permute(self.storage(), self.shape(), perm)?;
        let mut inv = vec![0; r];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        Ok(Tensor::from_op(y, shape, &[self], move |g| Ok(vec![Some(g.permute(&inv)?)])))
    }

    /// Swap two dimensions.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = resolve_axis(self.shape(), a)?;
        let b = resolve_axis(self.shape(), b)?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..start+len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = resolve_axis(self.shape(), axis)?;
        let (outer, ax, inner) = split3(self.shape(), a);
        if start + len > ax {
            return Err(Error::Invalid(format!("narrow: {start}..{} out of range 0..{ax} on axis {a}", start + len)));
        }
        let mut shape = self.shape().to_vec();
        shape[a] = len;
        let nd = NarrowDims { outer, axis: ax, inner, start, len };
        let be = backend(self.device())?;
        let y = be.narrow(self.storage(), &nd)?;
        let full = self.shape().to_vec();
        Ok(Tensor::from_op(y, shape, &[self], move |g| {
            let be = backend(g.device())?;
            let s = be.unnarrow(g.storage(), &nd)?;
            Ok(vec![Some(Tensor::from_storage(s, full.clone()))])
        }))
    }

    /// Concatenate along `axis`; every other dimension must agree.
    pub fn cat(parts: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| Error::Invalid("cat of no tensors".into()))?;
        let a = resolve_axis(first.shape(), axis)?;
        let mut lens = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            p.expect_same_device(first, "cat")?;
            let ok = p.rank() == first.rank()
                && p.shape().iter().zip(first.shape()).enumerate().all(|(d, (x, y))| d == a || x == y);
            if !ok {
                return Err(Error::shape(format!("cat part {i}"), first.shape(), p.shape()));
            }
            lens.push(p.shape()[a]);
        }
        let (outer, _, inner) = split3(first.shape(), a);
        let mut shape = first.shape().to_vec();
        shape[a] = lens.iter().sum();
        let storages: Vec<_> = parts.iter().map(|p| p.storage()).collect();
        let y = backend(first.device())?.concat(&storages, outer, &lens, inner)?;
        let offsets: Vec<usize> = lens
            .iter()
            .scan(0, |s, &l| {
                let o = *s;
                *s += l;
                Some(o)
            })
            .collect();
        Ok(Tensor::from_op(y, shape, parts, move |g| {
            lens.iter().zip(&offsets).map(|(&l, &o)| g.narrow(a as isize, o, l).map(Some)).collect()
        }))
    }
}
