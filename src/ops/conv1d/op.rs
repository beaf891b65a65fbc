//! Tensor-level dilated conv1d (implicit left padding) and its backward rule (input- and weight-gradient kernels).

use super::Conv1dDims;
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// x [B, C_in, T] * w [C_out, C_in, K] (+ b [C_out]) with dilation and `pad_left` implicit zeros;
    /// `pad_left = (K−1)·dilation` makes it causal with T_out = T.
    pub fn conv1d(&self, w: &Tensor, b: Option<&Tensor>, dilation: usize, pad_left: usize) -> Result<Tensor> {
        let [batch, c_in, t_in] = *self.shape() else {
            return Err(Error::shape("conv1d input", "[B, C_in, T]", self.shape()));
        };
        let [c_out, wc_in, kernel] = *w.shape() else {
            return Err(Error::shape("conv1d weight", "[C_out, C_in, K]", w.shape()));
        };
        if wc_in != c_in {
            return Err(Error::shape("conv1d weight", [c_out, c_in, kernel], w.shape()));
        }
        if let Some(b) = b {
            if b.shape() != [c_out] {
                return Err(Error::shape("conv1d bias", [c_out], b.shape()));
            }
        }
        if dilation == 0 || kernel == 0 || t_in + pad_left < (kernel - 1) * dilation + 1 {
            return Err(Error::Invalid(format!(
                "conv1d: input length {t_in} + padding {pad_left} is shorter than the receptive field of kernel {kernel} with dilation {dilation}"
            )));
        }
        let d = Conv1dDims { batch, c_in, c_out, t_in, kernel, dilation, pad_left };
        let be = backend(self.device())?;
        let y = be.conv1d(&d, self.storage(), w.storage(), b.map(|b| b.storage()))?;
        let (xs, ws) = (self.clone(), w.clone());
        let has_bias = b.is_some();
        let mut inputs = vec![self, w];
        if let Some(b) = b {
            inputs.push(b);
        }
        Ok(Tensor::from_op(y, vec![batch, c_out, d.t_out()], &inputs, move |g| {
            let be = backend(g.device())?;
            let dx = be.conv1d_backward_input(&d, ws.storage(), g.storage())?;
            let (dw, db) = be.conv1d_backward_weight(&d, xs.storage(), g.storage())?;
            let mut out = vec![
                Some(Tensor::from_storage(dx, xs.shape().to_vec())),
                Some(Tensor::from_storage(dw, ws.shape().to_vec())),
            ];
            if has_bias {
                out.push(Some(Tensor::from_storage(db, vec![c_out])));
            }
            Ok(out)
        }))
    }
}
