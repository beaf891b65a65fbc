//! `tickgrad pretrain`: masked-timestep pretraining of a model body on a CSV's training windows; writes the
//! pretrained body file that `train --init-from` (and `meta-train --init-from`) start from.

use crate::cli::train::{initial_model, prepare, Prepared, Progress, TrainArgs};
use crate::pipeline::pretrain::pretrain_body;
use crate::train::pretrain::PretrainConfig;
use crate::{Error, Result};
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct PretrainArgs {
    /// `train`'s arguments: data, model, config, window, epochs, seed, batch, lr, weight decay, patience and
    /// device apply; `--out` is the pretrained body file; `--init-from` continues from an earlier one.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Share of the time steps masked (zeroed: the training mean after scaling) and reconstructed.
    #[arg(long, default_value_t = 0.15)]
    pub mask_ratio: f64,
}

pub fn run(a: &PretrainArgs) -> Result<()> {
    let started = Instant::now();
    if a.train.resume {
        return Err(Error::config("resume", "pretrain does not keep a resume state; run it again without --resume"));
    }
    let Prepared { tc, ds, cfg, window, .. } = prepare(&a.train)?;
    let pc = PretrainConfig { mask_ratio: a.mask_ratio, train: tc };
    pc.validate()?;
    let mut model = initial_model(&a.train, &cfg, &pc.train)?;
    let mut progress = Progress::default();
    let kind = cfg.kind();
    let o = pretrain_body(&ds, &mut model, window, &pc, &a.train.out, &mut |e| progress.event("pretrain", e))?;
    println!(
        "{kind} body: masked reconstruction loss on validation {:.5} -> {:.5} (best epoch {} of {}{}); wrote {} in {:.1}s",
        o.initial_val_loss,
        o.best_val_loss,
        o.best_epoch,
        o.epochs.len(),
        if o.stopped_early { ", stopped early" } else { "" },
        a.train.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
