//! Training for the model family: mini-batches of windows cut on demand from one scaled feature matrix
//! (`data::WindowSampler`, so a large file never has all its windows in memory), AdamW, gradient clipping to a
//! global norm, early stopping on the validation loss with the best weights kept, and a callback at every
//! improvement so the caller can write the best checkpoint atomically as it goes.
//!
//! Reproducible by construction: the initial weights, the shuffling of each epoch and every dropout mask come
//! from the seed alone, and the CPU kernels reduce in a fixed order, so the same seed gives the same losses bit
//! for bit (`tests/pipeline_train.rs` checks it).
//!
//! Resumable: after every epoch the whole training state can be taken ([`TrainState`]) and a run started
//! from it continues bit for bit as the uninterrupted run would have ([`resume`]; `train --resume`).
//!
//! What each model learns ([`Objective`]): the transformer classifies the direction (cross-entropy), the LSTM
//! and the TCN regress the return scaled by its training standard deviation (MSE, so the loss starts near 1),
//! and the multi-task model fits all four targets under the learned uncertainty weights of docs/MODELS.md.
//!
//! Optional techniques, each off by default and each part of the config (so of a resume fingerprint): a
//! learning-rate schedule with warmup ([`schedule`]), a volatility curriculum ([`curriculum`]) and FGSM
//! adversarial training ([`adversarial`]). Two ways to start from better than a random init: first-order
//! meta-learning over market tasks ([`meta`]: FOMAML, Reptile) and masked pretraining of the model body
//! ([`pretrain`]).

pub mod adversarial;
pub mod curriculum;
mod epoch;
pub mod meta;
mod objective;
pub mod pretrain;
pub mod resume;
pub mod schedule;
mod trainer;
pub mod weights;

pub use adversarial::Adversarial;
pub use curriculum::Curriculum;
pub use objective::{Examples, Objective};
pub use resume::{Fingerprint, ResumeFile, TrainState};
pub use schedule::LrSchedule;
pub use trainer::{train, train_resumable, validation_loss, EpochStats, Event, TrainConfig, TrainOutcome};
