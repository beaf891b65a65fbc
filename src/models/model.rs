//! One type for the four models, so the CLI, the trainer and the stream engine need not care which it is.

use super::config::ModelConfig;
use super::{LstmAttention, MultiTask, Tcn, Transformer};
use crate::device::Device;
use crate::nn::{Ctx, Module, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

pub enum Model {
    Transformer(Transformer),
    LstmAttention(LstmAttention),
    Tcn(Tcn),
    MultiTask(MultiTask),
}

/// A forward pass's results: the `predict` array [B, k] and, where the model has them, attention maps.
pub struct Output {
    pub pred: Tensor,
    /// lstm_attention: [B, T]; transformer (when asked): one [B, T, T] per layer, averaged over heads.
    pub attention: Vec<Tensor>,
}

impl Model {
    /// A freshly initialised model (PyTorch's default initialisers) from a seeded generator.
    pub fn new(cfg: &ModelConfig, seed: u64, device: Device) -> Result<Model> {
        cfg.validate()?;
        let mut rng = Rng::new(seed);
        Ok(match cfg {
            ModelConfig::Transformer(c) => Model::Transformer(Transformer::new(c, &mut rng, device)?),
            ModelConfig::LstmAttention(c) => Model::LstmAttention(LstmAttention::new(c, &mut rng, device)?),
            ModelConfig::Tcn(c) => Model::Tcn(Tcn::new(c, &mut rng, device)?),
            ModelConfig::MultiTask(c) => Model::MultiTask(MultiTask::new(c, &mut rng, device)?),
        })
    }

    pub fn config(&self) -> ModelConfig {
        match self {
            Model::Transformer(m) => ModelConfig::Transformer(m.cfg.clone()),
            Model::LstmAttention(m) => ModelConfig::LstmAttention(m.cfg.clone()),
            Model::Tcn(m) => ModelConfig::Tcn(m.cfg.clone()),
            Model::MultiTask(m) => ModelConfig::MultiTask(m.cfg.clone()),
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        match self {
            Model::Transformer(m) => m.input_proj.weight.device(),
            Model::LstmAttention(m) => m.output.weight.device(),
            Model::Tcn(m) => m.head.weight.device(),
            Model::MultiTask(m) => m.log_vars.device(),
        }
    }

    /// Check that x is [B, T, n_features] with B, T ≥ 1; the error names the input and both shapes.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let nf = self.config().n_features();
        match x.shape() {
            [b, t, f] if *b > 0 && *t > 0 && *f == nf => Ok(()),
            s => Err(Error::shape("model input", format!("[batch, time, {nf}] with batch, time ≥ 1"), s)),
        }
    }

    /// Forward pass; `want_attention` asks the transformer for its per-layer maps (LSTM attention is always cheap).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx, want_attention: bool) -> Result<Output> {
        self.check_input(x)?;
        Ok(match self {
            Model::Transformer(m) => {
                let (pred, maps) = m.forward(x, ctx, want_attention)?;
                Output { pred, attention: maps }
            }
            Model::LstmAttention(m) => {
                let (pred, a) = m.forward(x, ctx)?;
                Output { pred, attention: vec![a] }
            }
            Model::Tcn(m) => Output { pred: m.forward(x, ctx)?, attention: vec![] },
            Model::MultiTask(m) => Output { pred: m.forward(x, ctx)?, attention: vec![] },
        })
    }

    /// Eval-mode prediction [B, k] with no graph recorded.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        let _g = crate::autodiff::no_grad();
        Ok(self.forward(x, &Ctx::eval(), false)?.pred)
    }
}

#[cfg(feature = "ndarray")]
impl Model {
    /// [`Model::predict`] for a service holding its windows as `ndarray`: `x` is [batch, time, features] (any
    /// layout; a non-contiguous view is copied), the answer is [batch, k] on the host. A wrong shape is an error
    /// naming both shapes, as with tensors.
    pub fn predict_array(&self, x: ndarray::ArrayView3<'_, f32>) -> Result<ndarray::Array2<f32>> {
        let x = Tensor::from_ndarray(x, self.device())?;
        let y = self.predict(&x)?;
        let (b, k) = match y.shape() {
            [b, k] => (*b, *k),
            s => return Err(Error::shape("model output", "[batch, k]", s)),
        };
        ndarray::Array2::from_shape_vec((b, k), y.to_vec()?)
            .map_err(|e| Error::Invalid(format!("model output [{b}, {k}] as an ndarray array: {e}")))
    }
}

impl Module for Model {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        match self {
            Model::Transformer(m) => m.visit(prefix, f),
            Model::LstmAttention(m) => m.visit(prefix, f),
            Model::Tcn(m) => m.visit(prefix, f),
            Model::MultiTask(m) => m.visit(prefix, f),
        }
    }
}
