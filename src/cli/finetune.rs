//! `tickgrad finetune`: warm-start a trained network on recent bars, keeping its scaler, features and target
//! scale (nothing is refitted on the new data), and write the new checkpoint atomically.

use super::bars::BarArgs;
use crate::cli::techniques::TechniqueArgs;
use crate::cli::train::Progress;
use crate::data::SplitFractions;
use crate::pipeline::{finetune_model, Dataset, NetMember};
use crate::train::TrainConfig;
use crate::Result;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct FinetuneArgs {
    /// A checkpoint written by `tickgrad train` (or a member of an ensemble directory).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Recent OHLCV bars (a CSV or a series of the store); split 70/15/15 chronologically for training and early
    /// stopping.
    #[command(flatten)]
    pub bars: BarArgs,
    /// With --db: train on the most recent N bars of the series (the online-learning loop's "latest data").
    #[arg(long)]
    pub last: Option<usize>,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Smaller than training's default: a warm start should move the weights, not replace them.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f32,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub techniques: TechniqueArgs,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: &FinetuneArgs) -> Result<()> {
    let device = crate::backend::select(&a.device)?;
    let tc = a.techniques.apply(TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        patience: a.patience,
        seed: a.seed,
        device,
        ..TrainConfig::default()
    })?;
    tc.validate()?;
    let member = NetMember::load(&a.checkpoint, "finetune", device)?;
    let loaded = a.bars.load_last(None, a.last)?;
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    let ds = Dataset::with_preprocessing(loaded.bars, member.meta.prep.clone(), SplitFractions::default())?;
    let mut progress = Progress::default();
    let trained = finetune_model(&ds, member, &tc, Some(&a.out), &mut |e| progress.event("finetune", e))?;
    if let Some(o) = &trained.meta.train_info {
        eprintln!("finetune: {} epochs, best validation loss {:.6}", o.epochs.len(), o.best_val_loss);
    }
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
