//! Tensor-level layer norm and batch norm with their backward rules.

use super::{BatchNormDims, BatchNormParams, BatchNormSaved, LayerNormDims, LayerNormSaved};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Layer norm over the last dimension with affine `gamma`, `beta` of that size.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        let cols = self.dim(-1)?;
        for (name, t) in [("layer_norm weight", gamma), ("layer_norm bias", beta)] {
            if t.shape() != [cols] {
                return Err(Error::shape(name, [cols], t.shape()));
            }
        }
        let d = LayerNormDims { rows: self.numel() / cols.max(1), cols, eps: eps as f64 };
        let be = backend(self.device())?;
        let (y, mean, rstd) = be.layer_norm(&d, self.storage(), gamma.storage(), beta.storage())?;
        let (x, g_s) = (self.clone(), gamma.clone());
        Ok(Tensor::from_op(y, self.shape().to_vec(), &[self, gamma, beta], move |g| {
            let be = backend(g.device())?;
            let (dx, dg, db) = be.layer_norm_backward(
                &d,
                &LayerNormSaved { x: x.storage(), g: g_s.storage(), mean: &mean, rstd: &rstd },
                g.storage(),
            )?;
            Ok(vec![
                Some(Tensor::from_storage(dx, x.shape().to_vec())),
                Some(Tensor::from_storage(dg, vec![cols])),
                Some(Tensor::from_storage(db, vec![cols])),
            ])
        }))
    }

    /// Batch norm over channels of [N, C] or [N, C, L]. In training it normalises with the batch statistics and
    /// returns the updated running statistics (PyTorch's momentum rule, unbiased variance); in eval it uses the
    /// running statistics.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        train: bool,
        momentum: f32,
        eps: f32,
    ) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        let (n, c, l) = match self.shape() {
            [n, c] => (*n, *c, 1),
            [n, c, l] => (*n, *c, *l),
            s => return Err(Error::shape("batch_norm input", "[N, C] or [N, C, L]", s)),
        };
        for (name, t) in
            [("weight", gamma), ("bias", beta), ("running_mean", running_mean), ("running_var", running_var)]
        {
            if t.shape() != [c] {
                return Err(Error::shape(format!("batch_norm {name}"), [c], t.shape()));
            }
        }
        let d = BatchNormDims { n, c, l, eps: eps as f64 };
        let be = backend(self.device())?;
        let params = BatchNormParams {
            g: gamma.storage(),
            b: beta.storage(),
            rm: running_mean.storage(),
            rv: running_var.storage(),
        };
        let (y, stat_a, stat_b, updated) = if train {
            d.check_train()?;
            let [y, mean, rstd, rm, rv] = be.batch_norm_train(&d, self.storage(), &params, momentum)?;
            let stats = (Tensor::from_storage(rm, vec![c]), Tensor::from_storage(rv, vec![c]));
            (y, mean, rstd, Some(stats))
        } else {
            let y = be.batch_norm_eval(&d, self.storage(), &params)?;
            (y, running_mean.storage().clone(), running_var.storage().clone(), None)
        };
        let (x, g_s) = (self.clone(), gamma.clone());
        let out = Tensor::from_op(y, self.shape().to_vec(), &[self, gamma, beta], move |g| {
            let be = backend(g.device())?;
            let saved = BatchNormSaved { train, x: x.storage(), g: g_s.storage(), a: &stat_a, b: &stat_b };
            let (dx, dg, db) = be.batch_norm_backward(&d, &saved, g.storage())?;
            Ok(vec![
                Some(Tensor::from_storage(dx, x.shape().to_vec())),
                Some(Tensor::from_storage(dg, vec![c])),
                Some(Tensor::from_storage(db, vec![c])),
            ])
        });
        Ok((out, updated))
    }
}
