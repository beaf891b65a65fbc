//! The body of each network: what it computes at every time step before its head pools and reads it out.
//!
//! Masked pretraining (`train::pretrain`) reconstructs the input from these per-step features, and
//! `train --init-from` copies exactly the tensors the body owns, so the two must agree on what the body is:
//!
//! | kind | per-step features [B, T, D] | body tensors | head (left at its init) |
//! |---|---|---|---|
//! | transformer | encoder output, D = d_model | `input_proj.*`, `encoder.*` | `classifier.*` |
//! | lstm_attention | LSTM output (after the variant's residuals and batch norms), D = hidden_size × directions | `lstm.*`, `norms.*` | `attention.*`, `dense.*`, `output.*` |
//! | tcn | last temporal block, D = last channel count | `blocks.*` | `head.*` |
//! | multitask | stem + residual blocks, D = channels | `stem.*`, `blocks.*` | the four heads, `log_vars` |
//!
//! The LSTM's additive attention is pooling, not a per-step feature, so it stays with the head.

use super::config::ModelConfig;
use super::model::Model;
use crate::nn::{Ctx, Module};
use crate::tensor::Tensor;
use crate::Result;

/// Name prefixes (up to and including the dot) of the tensors a kind's body owns.
pub fn body_prefixes(cfg: &ModelConfig) -> &'static [&'static str] {
    match cfg {
        ModelConfig::Transformer(_) => &["input_proj.", "encoder."],
        ModelConfig::LstmAttention(_) => &["lstm.", "norms."],
        ModelConfig::Tcn(_) => &["blocks."],
        ModelConfig::MultiTask(_) => &["stem.", "blocks."],
    }
}

/// Whether the tensor named `name` (a `Module::visit` name) belongs to the body of a `cfg` model.
pub fn is_body_tensor(cfg: &ModelConfig, name: &str) -> bool {
    body_prefixes(cfg).iter().any(|p| name.starts_with(p))
}

impl Model {
    /// Per-time-step features of the body, [B, T, D] (see the module table), for input x [B, T, n_features].
    pub fn sequence_features(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        self.check_input(x)?;
        match self {
            Model::Transformer(m) => Ok(m.encode(x, ctx, false)?.0),
            Model::LstmAttention(m) => m.encode(x, ctx),
            Model::Tcn(m) => m.body(x, ctx)?.transpose(1, 2),
            Model::MultiTask(m) => m.body(x, ctx)?.transpose(1, 2),
        }
    }

    /// D, the width of [`Model::sequence_features`].
    pub fn feature_width(&self) -> usize {
        match self {
            Model::Transformer(m) => m.cfg.d_model,
            Model::LstmAttention(m) => m.cfg.hidden_size * if m.cfg.bidirectional { 2 } else { 1 },
            Model::Tcn(m) => m.cfg.channels.last().copied().unwrap_or(m.cfg.n_features),
            Model::MultiTask(m) => m.cfg.channels,
        }
    }

    /// The body's tensors (parameters and buffers) with their names, in visit order.
    pub fn body_tensors(&mut self) -> Result<Vec<(String, Tensor)>> {
        let cfg = self.config();
        let mut out = Vec::new();
        self.visit("", &mut |name, _, t| {
            if is_body_tensor(&cfg, name) {
                out.push((name.to_string(), t.clone()));
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;

    fn tiny(kind: &str) -> ModelConfig {
        let v = match kind {
            "tcn" => serde_json::json!({"channels": [3, 5], "kernel_size": 2, "n_features": 4}),
            "transformer" => serde_json::json!({"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 8,
                                                "max_len": 16, "n_features": 4}),
            "lstm_attention" => {
                serde_json::json!({"hidden_size": 3, "num_layers": 1, "bidirectional": true, "n_features": 4})
            }
            _ => serde_json::json!({"channels": 6, "n_blocks": 1, "head_hidden": 4, "n_features": 4}),
        };
        ModelConfig::from_kind_value(kind, v, "test").unwrap()
    }

    /// Every kind exposes [B, T, D] features, its body is a non-empty strict subset of its tensors, and the
    /// features depend on every body parameter (a body tensor the features never read would be copied for nothing).
    #[test]
    fn every_kind_has_per_step_features_and_a_proper_body() {
        for kind in crate::models::config::KINDS {
            let cfg = tiny(kind);
            let mut m = Model::new(&cfg, 3, Device::Cpu).unwrap();
            let x = Tensor::cpu((0..2 * 7 * 4).map(|i| (i as f32 * 0.31).sin()).collect(), &[2, 7, 4]);
            crate::nn::track_parameters(&mut m).unwrap();
            let h = m.sequence_features(&x, &Ctx::train(1)).unwrap();
            assert_eq!(h.shape(), [2, 7, m.feature_width()], "{kind}");
            let grads = h.square().unwrap().sum_all().unwrap().backward().unwrap();
            assert!(!m.body_tensors().unwrap().is_empty(), "{kind}");
            let params = crate::nn::parameters(&mut m).unwrap();
            assert!(params.iter().any(|(n, _)| !is_body_tensor(&cfg, n)), "{kind}: the head must stay out of the body");
            for (name, t) in params {
                let in_body = is_body_tensor(&cfg, &name);
                assert_eq!(grads.get(&t).is_some(), in_body, "{kind}: `{name}` body {in_body}");
            }
        }
    }
}
