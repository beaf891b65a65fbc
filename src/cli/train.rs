//! `tickgrad train`: one network on one CSV, the best checkpoint written atomically at every improvement.

use super::bars::BarArgs;
use super::techniques::TechniqueArgs;
use crate::data::SplitFractions;
use crate::io::hash::describe_bytes;
use crate::models::pretrained::load_body;
use crate::models::{Model, ModelConfig};
use crate::pipeline::member::config_kind;
use crate::pipeline::{resolve_config, train_model_from, Costs, Dataset, DatasetSpec, ResumeOptions};
use crate::train::{Event, TrainConfig};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default half-spread, chosen in docs/DATA.md ("Costs") from the bundled BTCUSDT perpetual hourly bars.
pub const DEFAULT_HALF_SPREAD_BPS: f64 = 1.0;

/// Trading costs shared by train (θ), backtest and run (the costs in the report).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CostArgs {
    /// Exchange fee per side in basis points (4 = Binance USDT-M futures taker fee in 2020).
    #[arg(long, default_value_t = 4.0)]
    pub fee_bps: f64,
    /// Half the bid-ask spread per side in basis points (docs/DATA.md: 1 bp for BTCUSDT perpetual hourly bars).
    #[arg(long, default_value_t = DEFAULT_HALF_SPREAD_BPS)]
    pub half_spread_bps: f64,
}

impl CostArgs {
    pub fn costs(&self) -> Costs {
        Costs { fee_bps: self.fee_bps, half_spread_bps: self.half_spread_bps }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub bars: BarArgs,
    /// transformer, lstm_attention, tcn or multitask; may be left out when the config names its `kind`.
    #[arg(long)]
    pub model: Option<String>,
    /// JSON of the reference class's constructor arguments; `n_features` is filled in from the feature set.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Bars per window (default: the model's window in docs/MODELS.md).
    #[arg(long)]
    pub window: Option<usize>,
    /// Label horizon in bars (also the purge between train, validation and test).
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    /// Hold band of the direction label in log-return units (default: the round-trip cost).
    #[arg(long)]
    pub theta: Option<f64>,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f32,
    /// Epochs without a lower validation loss before stopping.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    #[command(flatten)]
    pub techniques: TechniqueArgs,
    #[command(flatten)]
    pub costs: CostArgs,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Where the best checkpoint goes (safetensors). The resume state is kept beside it as `<out>.resume`.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from the resume state beside `--out` (left by a run that was killed) after its last completed
    /// epoch; it must come from the same command line and data. Without it a stale state is replaced.
    #[arg(long)]
    pub resume: bool,
    /// Start from the body of a pretrained file (`tickgrad pretrain --out`, or any checkpoint of the same kind):
    /// its body tensors must match this config's shapes; the head keeps its fresh init.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
}

impl TrainArgs {
    pub fn train_config(&self) -> Result<TrainConfig> {
        let tc = self.techniques.apply(TrainConfig {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            patience: self.patience,
            seed: self.seed,
            device: crate::backend::select(&self.device)?,
            ..TrainConfig::default()
        })?;
        tc.validate()?;
        Ok(tc)
    }
}

/// Prints training progress to stderr: a self-overwriting bar within an epoch when stderr is a terminal, and
/// one line per epoch always (so logs stay readable).
pub struct Progress {
    tty: bool,
    last_draw: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { tty: std::io::stderr().is_terminal(), last_draw: Instant::now() }
    }
}

impl Progress {
    pub fn event(&mut self, name: &str, e: Event<'_>) {
        let mut err = std::io::stderr().lock();
        match e {
            Event::Batch { epoch, epochs, done, total, mean_loss, windows_per_s } => {
                if !self.tty || (done < total && self.last_draw.elapsed().as_millis() < 100) {
                    return;
                }
                self.last_draw = Instant::now();
                let filled = done * 24 / total.max(1);
                let bar: String = "#".repeat(filled) + &"-".repeat(24 - filled);
                let _ = write!(
                    err,
                    "\r[{name}] epoch {epoch}/{epochs} [{bar}] {done}/{total}  loss {mean_loss:.4}  {windows_per_s:.0} win/s "
                );
                let _ = err.flush();
            }
            Event::Note(text) => {
                if self.tty {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = writeln!(err, "[{name}] {text}");
            }
            Event::Epoch { stats, epochs, improved } => {
                if self.tty {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = writeln!(
                    err,
                    "[{name}] epoch {:>2}/{epochs}  loss {:.4}  val {:.4}  {:>6.0} win/s  {:>5.1}s{}",
                    stats.epoch,
                    stats.train_loss,
                    stats.val_loss,
                    stats.windows_per_s,
                    stats.seconds,
                    if improved { "  best" } else { "" }
                );
            }
        }
    }
}

/// The data file's part of a resume fingerprint: its size and hash (a resumed run must read the same bytes).
pub fn data_identity(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(BTreeMap::from([("data".to_string(), describe_bytes(&bytes))]))
}

/// What `train`, `pretrain` and `meta-train` build from the shared arguments before training.
pub struct Prepared {
    pub tc: TrainConfig,
    pub ds: Dataset,
    pub cfg: ModelConfig,
    pub window: usize,
    /// The bars' part of a resume fingerprint (the file's or the store range's hash).
    pub identity: BTreeMap<String, String>,
}

/// The dataset (features, preprocessing fitted on training rows, split) and the model config of `args`, the
/// output directory created, a summary printed to stderr.
pub fn prepare(args: &TrainArgs) -> Result<Prepared> {
    let tc = args.train_config()?;
    let theta = match args.theta {
        Some(t) => t,
        None => args.costs.costs().round_trip_theta()?,
    };
    let text = match &args.config {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let source = args.config.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default();
    // The kind (and a readable config file) is checked before the slower feature pass, so a typo fails at once.
    let kind = config_kind(args.model.as_deref(), text.as_deref(), &source)?;
    let loaded = args.bars.load(None)?;
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    let (bars, identity) = (loaded.bars, loaded.identity);
    let window = match args.window {
        Some(w) => w,
        None => ModelConfig::seed(&kind, 1)?.default_window(),
    };
    let spec = DatasetSpec { window, horizon: args.horizon, theta, fractions: SplitFractions::default() };
    let ds = Dataset::fit(bars, &spec)?;
    let cfg = resolve_config(args.model.as_deref(), text.as_deref(), &source, ds.n_features())?;
    eprintln!(
        "{} ({} features, window {window}, horizon {}, theta {theta:.6}): {} train / {} val / {} test windows",
        cfg.kind(),
        ds.n_features(),
        args.horizon,
        ds.split.train.len(),
        ds.split.val.len(),
        ds.split.test.len()
    );
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(Prepared { tc, ds, cfg, window, identity })
}

/// A fresh model of `cfg` (seeded by `tc`), with the body of `--init-from` when given.
pub fn initial_model(args: &TrainArgs, cfg: &ModelConfig, tc: &TrainConfig) -> Result<Model> {
    let mut model = Model::new(cfg, tc.seed, tc.device)?;
    if let Some(p) = &args.init_from {
        let src = load_body(p, &mut model)?;
        eprintln!("{}: {} body tensors loaded from {}", cfg.kind(), src.loaded.len(), p.display());
    }
    Ok(model)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    let Prepared { tc, ds, cfg, window, mut identity } = prepare(args)?;
    let model = initial_model(args, &cfg, &tc)?;
    let mut progress = Progress::default();
    let kind = cfg.kind();
    if let Some(p) = &args.init_from {
        let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
        identity.insert("init_from".into(), describe_bytes(&bytes));
    }
    let opts = ResumeOptions { resume: args.resume, identity };
    let trained =
        train_model_from(&ds, model, window, &tc, Some(&args.out), Some(&opts), &mut |e| progress.event(kind, e))?;
    let o = trained.outcome().ok_or_else(|| Error::Invalid("training left no history".into()))?;
    println!(
        "{}: best epoch {} of {} (val loss {:.5}){}; {} {} in {:.1}s",
        kind,
        o.best_epoch,
        o.epochs.len(),
        o.best_val_loss,
        if o.stopped_early { ", stopped early" } else { "" },
        if trained.already_trained { "kept (already trained)" } else { "wrote" },
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
