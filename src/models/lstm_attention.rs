//! LstmAttention: stacked (bi)LSTM, additive attention over time, dropout, linear head; optionally the seed
//! design's variant (residual connections between LSTM layers, batch norm after each layer, a dense ReLU layer
//! before the output), each off by default so that existing checkpoints load and predict as before.

use super::config::LstmAttentionConfig;
use crate::device::Device;
use crate::nn::{join, AdditiveAttention, BatchNorm1d, Ctx, Dropout, Linear, Lstm, Module, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

pub struct LstmAttention {
    pub cfg: LstmAttentionConfig,
    /// One stacked LSTM (the plain model), or one single-layer LSTM per layer when the config asks for residual
    /// connections or batch norm (`LstmAttentionConfig::per_layer`), which need each layer's output.
    pub lstm: Vec<Lstm>,
    /// One BatchNorm1d per layer with `batch_norm`, else empty.
    pub norms: Vec<BatchNorm1d>,
    pub attention: AdditiveAttention,
    /// Linear(D → dense_hidden) followed by ReLU and dropout, with `dense_hidden` > 0.
    pub dense: Option<Linear>,
    pub output: Linear,
    dropout: Dropout,
}

impl LstmAttention {
    pub fn new(cfg: &LstmAttentionConfig, rng: &mut Rng, device: Device) -> Result<LstmAttention> {
        let dim = cfg.hidden_size * if cfg.bidirectional { 2 } else { 1 };
        let (h, bi) = (cfg.hidden_size, cfg.bidirectional);
        let lstm = if cfg.per_layer() {
            (0..cfg.num_layers)
                .map(|l| Lstm::new(if l == 0 { cfg.n_features } else { dim }, h, 1, bi, 0.0, rng, device))
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![Lstm::new(cfg.n_features, h, cfg.num_layers, bi, cfg.dropout, rng, device)?]
        };
        let norms = if cfg.batch_norm {
            (0..cfg.num_layers).map(|_| BatchNorm1d::new(dim, device)).collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let attention = AdditiveAttention::new(dim, rng, device)?;
        let dense = match cfg.dense_hidden {
            0 => None,
            n => Some(Linear::new(dim, n, true, rng, device)?),
        };
        let head_in = if cfg.dense_hidden > 0 { cfg.dense_hidden } else { dim };
        Ok(LstmAttention {
            cfg: cfg.clone(),
            lstm,
            norms,
            attention,
            dense,
            output: Linear::new(head_in, cfg.n_outputs, true, rng, device)?,
            dropout: Dropout { p: cfg.dropout },
        })
    }

    pub fn num_layers(&self) -> usize {
        self.cfg.num_layers
    }

    /// Where LSTM layer `layer` lives, whichever way the layers are stored: the `Lstm` holding it and its index
    /// there (`Lstm::weights` takes both).
    pub fn layer(&self, layer: usize) -> Option<(&Lstm, usize)> {
        if self.cfg.per_layer() {
            Some((self.lstm.get(layer)?, 0))
        } else {
            (layer < self.cfg.num_layers).then(|| (&self.lstm[0], layer))
        }
    }

    /// x [B, T, F] → every top-layer hidden state [B, T, D].
    pub fn encode(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if !self.cfg.per_layer() {
            return self.lstm[0].forward(x, ctx);
        }
        let mut h = x.clone();
        for (l, layer) in self.lstm.iter().enumerate() {
            // dropout between layers, as the stacked nn.LSTM applies it; the residual skips around the layer itself
            let input = if l > 0 { self.dropout.forward(&h, ctx)? } else { h };
            let mut out = layer.forward(&input, ctx)?;
            if self.cfg.residual && l > 0 {
                out = out.add(&input)?;
            }
            if let Some(bn) = self.norms.get(l) {
                let [b, t, d] = *out.shape() else {
                    return Err(Error::shape("lstm layer output", "[B, T, D]", out.shape()));
                };
                // statistics per channel over batch and time: BatchNorm1d on the [B·T, D] rows
                out = bn.forward(&out.reshape(&[b * t, d])?, ctx)?.reshape(&[b, t, d])?;
            }
            h = out;
        }
        Ok(h)
    }

    /// x [B, T, F] → (output [B, n_outputs], attention weights [B, T]).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<(Tensor, Tensor)> {
        let h = self.encode(x, ctx)?;
        let (context, attn) = self.attention.forward(&h)?;
        let mut z = self.dropout.forward(&context, ctx)?;
        if let Some(dense) = &self.dense {
            z = self.dropout.forward(&dense.forward(&z)?.relu()?, ctx)?;
        }
        Ok((self.output.forward(&z)?, attn))
    }
}

impl Module for LstmAttention {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        let lstm = join(prefix, "lstm");
        if self.cfg.per_layer() {
            for (l, layer) in self.lstm.iter_mut().enumerate() {
                layer.visit(&join(&lstm, &l.to_string()), f)?;
            }
        } else {
            self.lstm[0].visit(&lstm, f)?;
        }
        for (l, bn) in self.norms.iter_mut().enumerate() {
            bn.visit(&join(prefix, &format!("norms.{l}")), f)?;
        }
        self.attention.visit(&join(prefix, "attention"), f)?;
        if let Some(dense) = &mut self.dense {
            dense.visit(&join(prefix, "dense"), f)?;
        }
        self.output.visit(&join(prefix, "output"), f)
    }
}

#[cfg(test)]
mod tests {
    use crate::device::Device;
    use crate::models::{Model, ModelConfig};
    use crate::nn::{Ctx, Module};
    use crate::rng::Rng;
    use crate::tensor::Tensor;

    fn names(json: &str) -> Vec<String> {
        let cfg = ModelConfig::from_json(json, "test").unwrap();
        let mut m = Model::new(&cfg, 1, Device::Cpu).unwrap();
        let mut out = Vec::new();
        m.visit("", &mut |n, _, _| {
            out.push(n.to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_variant_is_off_by_default_and_leaves_the_plain_model_alone() {
        let plain = r#"{"kind":"lstm_attention","n_features":3,"hidden_size":4,"num_layers":2}"#;
        let cfg = ModelConfig::from_json(plain, "test").unwrap();
        // no new keys in the stored config, so existing checkpoints' metadata and fingerprints are unchanged
        let json = cfg.to_json();
        for key in ["residual", "batch_norm", "dense_hidden"] {
            assert!(!json.contains(key), "{json}");
        }
        let n = names(plain);
        assert!(n.contains(&"lstm.weight_ih_l1_reverse".to_string()), "{n:?}");
        assert!(n.iter().all(|n| !n.starts_with("norms") && !n.starts_with("dense") && !n.starts_with("lstm.0")));
        // an explicit "off" is the same config
        let off = r#"{"kind":"lstm_attention","n_features":3,"hidden_size":4,"num_layers":2,"residual":false,
                      "batch_norm":false,"dense_hidden":0}"#;
        assert_eq!(ModelConfig::from_json(off, "test").unwrap(), cfg);
    }

    #[test]
    fn the_variant_has_pytorch_module_list_names_and_round_trips() {
        let json = r#"{"kind":"lstm_attention","n_features":3,"hidden_size":4,"num_layers":2,"residual":true,
                       "batch_norm":true,"dense_hidden":5}"#;
        let cfg = ModelConfig::from_json(json, "test").unwrap();
        assert_eq!(ModelConfig::from_json(&cfg.to_json(), "round trip").unwrap(), cfg);
        let n = names(json);
        for want in [
            "lstm.0.weight_ih_l0",
            "lstm.1.weight_hh_l0_reverse",
            "norms.0.weight",
            "norms.1.running_var",
            "dense.weight",
            "dense.bias",
            "output.weight",
        ] {
            assert!(n.contains(&want.to_string()), "{want} missing from {n:?}");
        }
        assert!(!n.iter().any(|n| n.contains("_l1")), "per-layer LSTMs have only layer 0: {n:?}");
    }

    /// Training normalises with the batch's statistics and moves the running ones by momentum 0.1 (PyTorch's
    /// unbiased variance); eval mode then uses the running ones, so its answer differs from training's.
    #[test]
    fn batch_norm_trains_on_batch_statistics_and_serves_on_running_ones() {
        let json = r#"{"kind":"lstm_attention","n_features":3,"hidden_size":4,"num_layers":1,"batch_norm":true,
                       "bidirectional":false,"dropout":0.0}"#;
        let cfg = ModelConfig::from_json(json, "test").unwrap();
        let model = Model::new(&cfg, 2, Device::Cpu).unwrap();
        let Model::LstmAttention(m) = &model else { unreachable!() };
        let mut rng = Rng::new(4);
        let (b, t) = (3, 5);
        let x =
            Tensor::from_vec((0..b * t * 3).map(|_| rng.normal() as f32).collect(), &[b, t, 3], Device::Cpu).unwrap();
        let h = m.lstm[0].forward(&x, &Ctx::eval()).unwrap().to_vec().unwrap();
        let eval_before = model.predict(&x).unwrap().to_vec().unwrap();
        let train = model.forward(&x, &Ctx::train(1), false).unwrap().pred.to_vec().unwrap();
        let (rm, rv) = m.norms[0].running_stats();
        let (rm, rv) = (rm.to_vec().unwrap(), rv.to_vec().unwrap());
        let rows = (b * t) as f64;
        for c in 0..4 {
            let col: Vec<f64> = h.chunks_exact(4).map(|r| r[c] as f64).collect();
            let mean = col.iter().sum::<f64>() / rows;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (rows - 1.0);
            assert!((rm[c] as f64 - 0.1 * mean).abs() < 1e-5, "running mean {c}: {} vs {}", rm[c], 0.1 * mean);
            assert!(
                (rv[c] as f64 - (0.9 + 0.1 * var)).abs() < 1e-5,
                "running var {c}: {} vs {}",
                rv[c],
                0.9 + 0.1 * var
            );
        }
        let eval_after = model.predict(&x).unwrap().to_vec().unwrap();
        assert_ne!(eval_before, eval_after, "eval mode must read the updated running statistics");
        assert!(
            train.iter().zip(&eval_after).any(|(a, b)| (a - b).abs() > 1e-4),
            "train {train:?} eval {eval_after:?}"
        );
    }
}
