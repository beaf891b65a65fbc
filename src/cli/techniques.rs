//! The training-technique flags `train`, `run` and `finetune` share (module docs of `train::schedule`,
//! `train::curriculum` and `train::adversarial` say what each does).

use crate::train::adversarial::DEFAULT_ADV_WEIGHT;
use crate::train::{Adversarial, Curriculum, LrSchedule, TrainConfig};
use crate::{Error, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct TechniqueArgs {
    /// constant, cosine (to 0 over the run's steps after the warmup) or plateau (halve the rate after every
    /// epoch whose validation loss does not improve by 1e-4 relative).
    #[arg(long, default_value = "constant")]
    pub lr_schedule: String,
    /// Optimizer steps of linear warmup from lr/(N+1) to lr.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// volatility[:STAGES] (default 3 stages): epoch e <= STAGES trains on the calmest e/STAGES of the
    /// windows (realised volatility of the input window), every window after.
    #[arg(long)]
    pub curriculum: Option<String>,
    /// fgsm: train on (1 - A)·L(x) + A·L(x + E·sign(dL/dx)); needs --epsilon.
    #[arg(long)]
    pub adversarial: Option<String>,
    /// FGSM step E, in scaled input units (training standard deviations).
    #[arg(long)]
    pub epsilon: Option<f32>,
    /// FGSM weight A of the adversarial loss.
    #[arg(long, default_value_t = DEFAULT_ADV_WEIGHT)]
    pub adv_weight: f32,
}

impl TechniqueArgs {
    /// `tc` with these techniques set (then validated with the rest of the config by the caller).
    pub fn apply(&self, tc: TrainConfig) -> Result<TrainConfig> {
        let adversarial = match (self.adversarial.as_deref(), self.epsilon) {
            (None, None) => None,
            (Some("fgsm"), Some(epsilon)) => Some(Adversarial { epsilon, weight: self.adv_weight }),
            (Some("fgsm"), None) => {
                return Err(Error::config("epsilon", "--adversarial fgsm needs --epsilon E (e.g. 0.05)"))
            }
            (Some(other), _) => {
                return Err(Error::config("adversarial", format!("unknown method {other:?}, expected fgsm")))
            }
            (None, Some(_)) => return Err(Error::config("epsilon", "--epsilon needs --adversarial fgsm")),
        };
        Ok(TrainConfig {
            lr_schedule: LrSchedule::parse(&self.lr_schedule)?,
            warmup: self.warmup,
            curriculum: self.curriculum.as_deref().map(Curriculum::parse).transpose()?,
            adversarial,
            ..tc
        })
    }
}
