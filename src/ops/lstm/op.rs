//! Tensor-level fused LSTM over a whole sequence (one direction) and its backward through time.

use super::LstmDims;
use super::{LstmArgs, LstmSaved};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// PyTorch-layout weights of one LSTM direction of one layer.
pub struct LstmWeights<'a> {
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: &'a Tensor,
    pub b_hh: &'a Tensor,
}

impl Tensor {
    /// Run one LSTM direction over x [B, T, In] from (h0, c0) [B, H]; returns every hidden state [B, T, H] in time
    /// order (for `reverse`, hs[:, t] has seen x[t..]).
    pub fn lstm_seq(&self, h0: &Tensor, c0: &Tensor, w: &LstmWeights, reverse: bool) -> Result<Tensor> {
        let [batch, t, input] = *self.shape() else {
            return Err(Error::shape("lstm input", "[B, T, In]", self.shape()));
        };
        let hidden = w.w_hh.dim(-1)?;
        let checks: [(&str, &Tensor, Vec<usize>); 6] = [
            ("weight_ih", w.w_ih, vec![4 * hidden, input]),
            ("weight_hh", w.w_hh, vec![4 * hidden, hidden]),
            ("bias_ih", w.b_ih, vec![4 * hidden]),
            ("bias_hh", w.b_hh, vec![4 * hidden]),
            ("h0", h0, vec![batch, hidden]),
            ("c0", c0, vec![batch, hidden]),
        ];
        for (name, ten, want) in &checks {
            if ten.shape() != &want[..] {
                return Err(Error::shape(format!("lstm {name}"), want, ten.shape()));
            }
        }
        let d = LstmDims { batch, t, input, hidden, reverse };
        let be = backend(self.device())?;
        let args = LstmArgs {
            x: self.storage(),
            h0: h0.storage(),
            c0: c0.storage(),
            w_ih: w.w_ih.storage(),
            w_hh: w.w_hh.storage(),
            b_ih: w.b_ih.storage(),
            b_hh: w.b_hh.storage(),
        };
        let saved = be.lstm_seq(&d, &args)?;
        let hs = saved.hs.clone();
        let (x, h0s, c0s, wih, whh, bih, bhh) =
            (self.clone(), h0.clone(), c0.clone(), w.w_ih.clone(), w.w_hh.clone(), w.b_ih.clone(), w.b_hh.clone());
        let saved: LstmSaved = saved;
        Ok(Tensor::from_op(hs, vec![batch, t, hidden], &[self, h0, c0, w.w_ih, w.w_hh, w.b_ih, w.b_hh], move |g| {
            let be = backend(g.device())?;
            let args = LstmArgs {
                x: x.storage(),
                h0: h0s.storage(),
                c0: c0s.storage(),
                w_ih: wih.storage(),
                w_hh: whh.storage(),
                b_ih: bih.storage(),
                b_hh: bhh.storage(),
            };
            let gr = be.lstm_seq_backward(&d, &args, &saved, g.storage())?;
            let db = Tensor::from_storage(gr.db, vec![4 * hidden]);
            Ok(vec![
                Some(Tensor::from_storage(gr.dx, x.shape().to_vec())),
                Some(Tensor::from_storage(gr.dh0, vec![batch, hidden])),
                Some(Tensor::from_storage(gr.dc0, vec![batch, hidden])),
                Some(Tensor::from_storage(gr.dw_ih, wih.shape().to_vec())),
                Some(Tensor::from_storage(gr.dw_hh, whh.shape().to_vec())),
                Some(db.clone()),
                Some(db),
            ])
        }))
    }
}
