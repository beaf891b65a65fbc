//! The per-bar predictor: built once from a model, fed one feature row per bar, answering with the prediction
//! for the trailing window of the last W rows, equal to `Model::predict` on that window (docs/MODELS.md, Streaming).
//!
//! Two ways to answer:
//! - **step** (`tcn` with W ≥ its receptive field, CPU): O(1) per bar over ring buffers ([`super::tcn`]); no
//!   allocation per bar.
//! - **recompute** (every other model, and `tcn` with W below its receptive field, where the window's zero
//!   padding reaches the output and the infinite stream would differ): the last W rows are copied from a ring into
//!   one preallocated [W, F] buffer and run through the model's batch-1 [`Plan`] (CPU): its forward with every
//!   buffer allocated at construction, so no allocation per bar either. A model on a GPU device runs `predict` on
//!   the window instead (uploads and kernel outputs allocate there).
//!
//! The model sits behind an `Arc`, so many predictors (one per symbol, one per thread) share one copy of the
//! weights; a `StreamPredictor` is `Send` and `Sync`. [`StreamPredictor::swap_model`] replaces the model between
//! two bars without losing any: the last W rows are always retained, and a TCN's rings are rebuilt by replaying
//! them.

use super::plan::Plan;
use super::tcn::TcnStream;
use crate::device::Device;
use crate::models::Model;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::sync::Arc;

/// One answer: the bar it was made at (0-based count of rows pushed) and the `predict` row [k].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'a> {
    pub bar: u64,
    pub values: &'a [f32],
}

#[derive(Debug)]
enum Mode {
    Step(Box<TcnStream>),
    /// The batch-1 plan on the CPU; `None` on a GPU device (`predict` per bar).
    Recompute(Option<Box<Plan>>),
}

/// One model served bar by bar (see the module docs). Backtesting over a whole dataset is
/// `pipeline::BacktestPredictor`.
pub struct StreamPredictor {
    model: Arc<Model>,
    device: Device,
    window: usize,
    features: usize,
    /// The last `window` rows, row-major, slot `head` written next.
    rows: Vec<f32>,
    head: usize,
    filled: usize,
    input: Vec<f32>,
    out: Vec<f32>,
    mode: Mode,
    bars: u64,
    /// Threads for the recompute plan (see [`StreamPredictor::with_threads`]); `None`: the calling thread.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// [F]: where `push_array` copies a strided row, so that it needs no allocation per bar.
    #[cfg_attr(not(feature = "ndarray"), allow(dead_code))]
    scratch: Vec<f32>,
}

impl std::fmt::Debug for StreamPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPredictor")
            .field("model", &self.model.config().kind())
            .field("window", &self.window)
            .field("features", &self.features)
            .field("incremental", &self.is_incremental())
            .field("bars", &self.bars)
            .finish()
    }
}

/// Check that `model` can answer windows of `window` rows.
fn check_window(model: &Model, window: usize) -> Result<()> {
    if window == 0 {
        return Err(Error::config("window", "must be at least 1 bar"));
    }
    if let Model::Transformer(t) = model {
        if window > t.cfg.max_len {
            return Err(Error::config(
                "window",
                format!("{window} bars exceeds the transformer's max_len {} (its positional table)", t.cfg.max_len),
            ));
        }
    }
    Ok(())
}

fn mode_for(model: &Model, window: usize) -> Result<Mode> {
    match model {
        Model::Tcn(t) if window >= t.receptive_field() && model.device() == Device::Cpu => {
            Ok(Mode::Step(Box::new(TcnStream::new(t)?)))
        }
        _ if model.device() == Device::Cpu => Ok(Mode::Recompute(Some(Box::new(Plan::new(model, window)?)))),
        _ => Ok(Mode::Recompute(None)),
    }
}

/// The `filled` newest rows of the ring `rows` (next write at slot `head`), oldest first, into `out`.
fn gather(rows: &[f32], head: usize, filled: usize, f: usize, out: &mut [f32]) -> usize {
    let window = rows.len() / f;
    let start = (head + window - filled) % window;
    let first = (window - start).min(filled);
    out[..first * f].copy_from_slice(&rows[start * f..(start + first) * f]);
    out[first * f..filled * f].copy_from_slice(&rows[..(filled - first) * f]);
    filled
}

impl StreamPredictor {
    /// A predictor answering over windows of `window` rows, with every buffer allocated here.
    pub fn new(model: Arc<Model>, window: usize) -> Result<StreamPredictor> {
        check_window(&model, window)?;
        let cfg = model.config();
        let (features, k) = (cfg.n_features(), cfg.output_width());
        Ok(StreamPredictor {
            device: model.device(),
            mode: mode_for(&model, window)?,
            model,
            window,
            features,
            rows: vec![0.0; window * features],
            head: 0,
            filled: 0,
            input: vec![0.0; window * features],
            out: vec![0.0; k],
            bars: 0,
            pool: None,
            scratch: Vec::with_capacity(features),
        })
    }

    /// A predictor whose recompute plan splits its products over `threads` threads of its own rayon pool (the
    /// TCN's O(1) step stays on the calling thread: it is too small to share). With `threads` = 1 it is
    /// [`StreamPredictor::new`]. More than one thread trades the strict no-allocation guarantee for latency: entering
    /// the pool allocates a queue block once every 63 bars (see `serve::plan`).
    pub fn with_threads(model: Arc<Model>, window: usize, threads: usize) -> Result<StreamPredictor> {
        let mut p = StreamPredictor::new(model, window)?;
        p.set_threads(threads)?;
        Ok(p)
    }

    /// Change the plan's thread count between bars (see [`StreamPredictor::with_threads`]).
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        self.pool = super::plan::thread_pool(threads)?.map(Arc::new);
        Ok(())
    }

    /// Threads the recompute plan uses.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Width F of a pushed row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Width k of an answer.
    pub fn output_width(&self) -> usize {
        self.out.len()
    }

    /// Rows pushed so far.
    pub fn bars(&self) -> u64 {
        self.bars
    }

    /// Whether bars cost one O(1) step (TCN) rather than a window forward.
    pub fn is_incremental(&self) -> bool {
        matches!(self.mode, Mode::Step(_))
    }

    /// Feed the next bar's feature row [F] (already scaled as the model was trained); `None` until W rows have
    /// been seen. A wrong width or a non-finite value is an error and leaves the state as it was.
    pub fn push(&mut self, row: &[f32]) -> Result<Option<Prediction<'_>>> {
        if row.len() != self.features {
            return Err(Error::shape(format!("feature row of bar {}", self.bars), [self.features], [row.len()]));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "feature row of bar {}: column {j} is {} (rows must be finite; fill warm-up NaN before pushing)",
                self.bars, row[j]
            )));
        }
        let f = self.features;
        self.rows[self.head * f..(self.head + 1) * f].copy_from_slice(row);
        self.head = (self.head + 1) % self.window;
        self.filled = (self.filled + 1).min(self.window);
        self.bars += 1;
        match &mut self.mode {
            Mode::Step(s) => {
                let Model::Tcn(t) = &*self.model else { unreachable!("step mode is built for tcn only") };
                let y = s.step(t, row)?;
                self.out.copy_from_slice(y);
            }
            Mode::Recompute(Some(plan)) if self.filled == self.window => {
                gather(&self.rows, self.head, self.filled, f, &mut self.input);
                plan.run_on(self.pool.as_deref(), &self.input, &mut self.out);
            }
            Mode::Recompute(None) if self.filled == self.window => {
                self.gather_window();
                let x = Tensor::from_vec(self.input.clone(), &[1, self.window, f], self.device)?;
                let y = self.model.predict(&x)?;
                if self.device == Device::Cpu {
                    self.out.copy_from_slice(y.cpu_slice()?);
                } else {
                    self.out.copy_from_slice(&y.to_vec()?);
                }
            }
            Mode::Recompute(_) => {}
        }
        if self.filled < self.window {
            return Ok(None);
        }
        Ok(Some(Prediction { bar: self.bars - 1, values: &self.out }))
    }

    /// [`StreamPredictor::push`] for a row held as an `ndarray` view. A contiguous row is used in place; a strided
    /// one (a column of a [F, T] array, say) is copied into a buffer allocated with the predictor, so this path
    /// allocates no more per bar than `push` does. Errors are `push`'s.
    #[cfg(feature = "ndarray")]
    pub fn push_array(&mut self, row: ndarray::ArrayView1<'_, f32>) -> Result<Option<Prediction<'_>>> {
        if let Some(dense) = row.as_slice() {
            return self.push(dense);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(row.iter().copied());
        let bar = self.push(&scratch).map(|p| p.map(|p| p.bar));
        self.scratch = scratch;
        Ok(bar?.map(|bar| Prediction { bar, values: &self.out }))
    }

    /// The retained rows (up to W), oldest first, as one contiguous [filled, F] block in `self.input`.
    fn gather_window(&mut self) -> usize {
        gather(&self.rows, self.head, self.filled, self.features, &mut self.input)
    }

    /// The retained rows (at most W), oldest first, row-major.
    pub fn history(&mut self) -> &[f32] {
        let n = self.gather_window();
        &self.input[..n * self.features]
    }

    /// Replace the model between two bars. The new model must take the same feature rows; its answers from the
    /// next bar on equal its own `predict` on the trailing window, as if it had been streaming all along.
    pub fn swap_model(&mut self, model: Arc<Model>) -> Result<()> {
        let n = self.gather_window();
        let history = self.input[..n * self.features].to_vec();
        self.swap_with_history(model, &history)
    }

    /// Continue on `model` — the same weights on another device, e.g. the CPU after the GPU failed — and answer
    /// the bar whose `push` just failed: that row is already retained, so it is answered, not pushed twice.
    pub fn fall_back(&mut self, model: Arc<Model>) -> Result<Option<Prediction<'_>>> {
        let (n, f, bars) = (self.gather_window(), self.features, self.bars);
        if n == 0 {
            self.swap_model(model)?;
            return Ok(None);
        }
        let history = self.input[..n * f].to_vec();
        self.swap_with_history(model, &history[..(n - 1) * f])?;
        self.bars = bars - 1;
        self.push(&history[(n - 1) * f..])
    }

    /// Replace the model and the retained rows (oldest first, at most W of them): for a swap that also changes
    /// how rows are made (a new scaler), the caller passes the last rows re-made the new way.
    pub fn swap_with_history(&mut self, model: Arc<Model>, history: &[f32]) -> Result<()> {
        let cfg = model.config();
        if cfg.n_features() != self.features {
            return Err(Error::shape(
                "swap_model: the new model's n_features (it must take the same rows)",
                self.features,
                cfg.n_features(),
            ));
        }
        let f = self.features;
        if !history.len().is_multiple_of(f) || history.len() / f > self.window {
            return Err(Error::shape("swap history", format!("[<= {}, {f}]", self.window), history.len()));
        }
        check_window(&model, self.window)?;
        let mut mode = mode_for(&model, self.window)?;
        if let (Mode::Step(s), Model::Tcn(t)) = (&mut mode, &*model) {
            for row in history.chunks(f) {
                s.step(t, row)?;
            }
        }
        let n = history.len() / f;
        self.rows[..n * f].copy_from_slice(history);
        self.head = n % self.window;
        self.filled = n;
        self.bars = self.bars.max(n as u64);
        self.out = vec![0.0; cfg.output_width()];
        self.device = model.device();
        self.mode = mode;
        self.model = model;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn predictor_can_move_between_threads() {
        assert_send_sync::<StreamPredictor>();
        assert_send_sync::<Arc<Model>>();
    }
}
