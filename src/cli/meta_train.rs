//! `tickgrad meta-train`: first-order meta-learning (FOMAML or Reptile) over market regimes or calendar months of
//! a CSV's training part; writes a checkpoint like `train`'s, meant to be adapted with `tickgrad finetune`.

use crate::cli::train::{initial_model, prepare, Prepared, Progress, TrainArgs};
use crate::pipeline::meta_train::{meta_train_model, TaskSplit};
use crate::train::meta::{MetaAlgo, MetaConfig};
use crate::{Error, Result};
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct MetaTrainArgs {
    /// `train`'s arguments: data, model, config, window, epochs (meta epochs), seed, batch (the inner loop's),
    /// weight decay, patience, device, out and init-from apply; `--lr` is the default of `--inner-lr`.
    #[command(flatten)]
    pub train: TrainArgs,
    /// fomaml (first-order MAML) or reptile.
    #[arg(long, default_value = "reptile")]
    pub algo: String,
    /// regime (trending / ranging / volatile) or month (UTC calendar months).
    #[arg(long, default_value = "regime")]
    pub tasks: String,
    /// SGD steps each task takes from the shared weights.
    #[arg(long, default_value_t = 5)]
    pub inner_steps: usize,
    /// The inner SGD learning rate (default: 10 × --lr; plain SGD needs a larger step than AdamW).
    #[arg(long)]
    pub inner_lr: Option<f32>,
    /// Reptile: the step toward the tasks' mean solution (default 0.5); FOMAML: AdamW's learning rate on the
    /// meta-gradient (default --lr).
    #[arg(long)]
    pub meta_lr: Option<f32>,
    /// Tasks per meta step.
    #[arg(long, default_value_t = 3)]
    pub meta_batch: usize,
}

impl MetaTrainArgs {
    pub fn meta_config(&self) -> Result<MetaConfig> {
        let algo = MetaAlgo::parse(&self.algo)?;
        let mc = MetaConfig {
            algo,
            inner_steps: self.inner_steps,
            inner_lr: self.inner_lr.unwrap_or(10.0 * self.train.lr),
            meta_lr: self.meta_lr.unwrap_or(match algo {
                MetaAlgo::Reptile => 0.5,
                MetaAlgo::Fomaml => self.train.lr,
            }),
            meta_batch: self.meta_batch,
        };
        mc.validate()?;
        Ok(mc)
    }
}

pub fn run(a: &MetaTrainArgs) -> Result<()> {
    let started = Instant::now();
    if a.train.resume {
        return Err(Error::config("resume", "meta-train does not keep a resume state; run it again without --resume"));
    }
    let mc = a.meta_config()?;
    let by = TaskSplit::parse(&a.tasks)?;
    let Prepared { tc, ds, cfg, window, .. } = prepare(&a.train)?;
    let model = initial_model(&a.train, &cfg, &tc)?;
    let mut progress = Progress::default();
    let name = format!("meta-train {}", mc.algo.name());
    let trained =
        meta_train_model(&ds, model, window, &tc, &mc, by, Some(&a.train.out), &mut |e| progress.event(&name, e))?;
    let o = trained.outcome().ok_or_else(|| Error::Invalid("meta-training left no history".into()))?;
    println!(
        "{} {}: best meta epoch {} of {} (val loss {:.5}){}; wrote {} in {:.1}s",
        cfg.kind(),
        mc.algo.name(),
        o.best_epoch,
        o.epochs.len(),
        o.best_val_loss,
        if o.stopped_early { ", stopped early" } else { "" },
        a.train.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
