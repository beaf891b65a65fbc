//! `tickgrad explain --checkpoint CKPT --data FILE.csv --out-dir DIR`: attributions, importances and attention
//! maps of a checkpoint on the last windows of a bar file, as CSV plus PNG heatmaps.
//!
//! Inputs are made exactly as `tickgrad stream --data` makes them (the checkpoint's feature list and scaler). The
//! explained windows are the last `n` windows that have a label (horizon h). Files written to DIR:
//! - `attributions_ig.csv`, `attributions_ig_abs.csv`, `attributions_grad_input.csv`: [time, feature] means over
//!   the windows (signed, absolute, and gradient×input), one row per step, `lag` 0 = the newest bar;
//!   `attributions_ig.png` (signed, blue < 0 < red) and `attributions_ig_abs.png`, features down, time across.
//! - `importance.csv`: per feature, the permutation drop of the validation score over the last `val` labelled
//!   windows (accuracy against direction labels for class outputs, negative MSE against the h-bar log return
//!   for a single regression output), its spread, and the summed |IG| and |gradient×input|.
//! - `attention_layer<l>.csv/.png` (transformer, [query, key]) or `attention.csv/.png` (lstm_attention, [time]).
//! - with `--shap`: Shapley values (GradientSHAP, exact KernelSHAP; TreeSHAP for an ensemble's boosted trees),
//!   see [`super::explain_shap`].
//! - `explain.html`: the same heatmaps as SVG with a title, feature names per row, a lag axis and a colour scale;
//!   with `--shap` the Shapley maps too (an ensemble's page has its TreeSHAP map).

use crate::data::{compute_features, make_labels, Labels};
use crate::explain::permutation::{accuracy, neg_mse};
use crate::explain::png::{heatmap, Palette};
use crate::explain::svg;
use crate::explain::{
    attention_maps, gradient_x_input, integrated_gradients, permutation_importance, Attention, Baseline, IgOptions,
};
use crate::io::atomic::write_atomic;
use crate::models::checkpoint;
use crate::models::Model;
use crate::serve::engine::{feature_config, stored_window, ModelInputs};
use crate::{Error, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A validation score of predictions [N, k], higher is better.
type Score = dyn Fn(&[f32]) -> Result<f64>;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub bars: super::bars::BarArgs,
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Bars per window (default: the checkpoint's training window, else the model's default).
    #[arg(long)]
    pub window: Option<usize>,
    /// Windows explained (attributions, attention): the last N labelled ones.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Windows scored for permutation importance: the last VAL labelled ones.
    #[arg(long, default_value_t = 128)]
    pub val: usize,
    /// Riemann steps of integrated gradients.
    #[arg(long, default_value_t = 32)]
    pub steps: usize,
    /// Output column to attribute.
    #[arg(long, default_value_t = 0)]
    pub target: usize,
    /// Integrated-gradients baseline: `zeros` (the training mean, for z-scored inputs) or `mean` (the file's).
    #[arg(long, default_value = "zeros")]
    pub baseline: String,
    /// Label horizon in bars (validation targets).
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    /// Hold band of the direction labels, in log-return units.
    #[arg(long, default_value_t = 0.0)]
    pub theta: f64,
    /// Shuffles per feature.
    #[arg(long, default_value_t = 2)]
    pub repeats: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write Shapley values: GradientSHAP and exact KernelSHAP for a network; for an ensemble (its
    /// directory or ensemble.json), TreeSHAP of its boosted trees.
    #[arg(long)]
    pub shap: bool,
    /// SHAP background windows, drawn (seeded) from the training part of the file.
    #[arg(long, default_value_t = 16)]
    pub background: usize,
    /// KernelSHAP players: one per feature column, or adjacent columns grouped to at most this many (≤ 16;
    /// 2^M coalitions × the background are evaluated per window).
    #[arg(long, default_value_t = 8)]
    pub shap_groups: usize,
    /// GradientSHAP path points per background window.
    #[arg(long, default_value_t = 8)]
    pub shap_steps: usize,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Scaled model inputs [rows, F] for every bar of the file.
fn inputs_matrix(inputs: &ModelInputs, frame: &crate::data::FeatureFrame) -> Vec<f32> {
    let f = inputs.names.len();
    let mut out = vec![0.0f32; frame.len() * f];
    let mut row = vec![0.0f64; frame.names.len()];
    for (i, o) in out.chunks_mut(f).enumerate() {
        for (r, col) in row.iter_mut().zip(&frame.columns) {
            *r = col[i];
        }
        inputs.transform(&row, o);
    }
    out
}

/// Windows [ends.len(), W, F] ending at `ends`.
fn windows(x: &[f32], f: usize, w: usize, ends: &[usize]) -> Vec<f32> {
    ends.iter().flat_map(|&e| x[(e + 1 - w) * f..(e + 1) * f].iter().copied()).collect()
}

pub(super) fn matrix_csv(
    header: &str,
    cols: &[String],
    rows: usize,
    label: impl Fn(usize) -> String,
    v: &[f32],
) -> String {
    let mut s = String::from(header);
    for c in cols {
        s.push(',');
        s.push_str(c);
    }
    s.push('\n');
    let k = cols.len();
    for r in 0..rows {
        s.push_str(&label(r));
        for x in &v[r * k..(r + 1) * k] {
            let _ = write!(s, ",{x}");
        }
        s.push('\n');
    }
    s
}

/// [W, F] → [F, W] so heatmaps show features down and time across.
pub(super) fn transpose(v: &[f32], w: usize, f: usize) -> Vec<f32> {
    (0..f * w).map(|i| v[(i % w) * f + i / w]).collect()
}

/// Direction classes at `ends` (all labelled: they are at least a horizon before the end of the file).
fn directions(labels: &Labels, ends: &[usize]) -> Result<Vec<usize>> {
    ends.iter()
        .map(|&e| {
            labels.direction[e]
                .map(usize::from)
                .ok_or_else(|| Error::Invalid(format!("explain: bar {e} has no direction label")))
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic(dir.join(name), bytes)
}

pub fn run(a: &Args) -> Result<()> {
    let ensemble = a.checkpoint.is_dir() || a.checkpoint.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if ensemble {
        return super::explain_shap::trees(a);
    }
    let device = crate::backend::select(&a.device)?;
    let loaded = a.bars.load(None)?;
    let (bars, source) = (loaded.bars, loaded.name);
    let ck = checkpoint::load(&a.checkpoint, device)?;
    let frame = compute_features(&bars, &feature_config(&ck.metadata)?)?;
    let model: &Model = &ck.model;
    let cfg = model.config();
    let (inputs, warnings) = ModelInputs::from_metadata(&ck.metadata, &frame.names, cfg.n_features())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let w = match a.window {
        Some(w) => w,
        None => stored_window(&ck.metadata)?.unwrap_or_else(|| cfg.default_window()),
    };
    let f = inputs.names.len();
    let x = inputs_matrix(&inputs, &frame);
    let labels = make_labels(&bars, a.horizon, a.theta)?;
    let rows = bars.len();
    let last_end = rows.checked_sub(a.horizon + 1).filter(|&e| e + 1 >= w && w > 0).ok_or_else(|| {
        Error::Invalid(format!("{source}: {rows} bars leave no labelled window of {w} bars at horizon {}", a.horizon))
    })?;
    let ends_from =
        |count: usize| -> Vec<usize> { ((last_end + 1).saturating_sub(count).max(w - 1)..=last_end).collect() };
    let names = &inputs.names;
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io(&a.out_dir, e))?;

    // attributions over the last n windows
    let ends = ends_from(a.n.max(1));
    let baseline = match a.baseline.as_str() {
        "zeros" => Baseline::Zeros,
        "mean" => Baseline::Row(
            (0..f)
                .map(|j| (x.iter().skip(j).step_by(f).map(|&v| v as f64).sum::<f64>() / rows as f64) as f32)
                .collect(),
        ),
        other => return Err(Error::config("baseline", format!("expected `zeros` or `mean`, found {other:?}"))),
    };
    let opts = IgOptions { target: a.target, baseline, steps: a.steps, chunk: 16 };
    let (mut ig, mut ig_abs, mut gxi) = (vec![0.0f64; w * f], vec![0.0f64; w * f], vec![0.0f64; w * f]);
    let mut worst_gap = 0.0f64;
    for &e in &ends {
        let win = &x[(e + 1 - w) * f..(e + 1) * f];
        let r = integrated_gradients(model, win, [w, f], &opts)?;
        worst_gap = worst_gap.max(r.completeness_gap().abs());
        for (i, &v) in r.attributions.iter().enumerate() {
            ig[i] += v as f64;
            ig_abs[i] += v.abs() as f64;
        }
    }
    for chunk in ends.chunks(16) {
        let g = gradient_x_input(model, &windows(&x, f, w, chunk), [chunk.len(), w, f], a.target)?;
        for win in g.chunks(w * f) {
            for (acc, &v) in gxi.iter_mut().zip(win) {
                *acc += v as f64;
            }
        }
    }
    let mean = |v: &[f64]| v.iter().map(|s| (s / ends.len() as f64) as f32).collect::<Vec<f32>>();
    let (ig, ig_abs, gxi) = (mean(&ig), mean(&ig_abs), mean(&gxi));
    let lag = |t: usize| (w - 1 - t).to_string();
    write(a.out_dir.as_path(), "attributions_ig.csv", matrix_csv("lag", names, w, lag, &ig).as_bytes())?;
    write(&a.out_dir, "attributions_ig_abs.csv", matrix_csv("lag", names, w, lag, &ig_abs).as_bytes())?;
    write(&a.out_dir, "attributions_grad_input.csv", matrix_csv("lag", names, w, lag, &gxi).as_bytes())?;
    write(&a.out_dir, "attributions_ig.png", &heatmap(&transpose(&ig, w, f), f, w, Palette::Diverging))?;
    write(&a.out_dir, "attributions_ig_abs.png", &heatmap(&transpose(&ig_abs, w, f), f, w, Palette::Sequential))?;
    let lags: Vec<String> = (0..w).map(|t| (w - 1 - t).to_string()).collect();
    let mut sections = vec![
        svg::heatmap(
            "Integrated gradients (signed mean; blue < 0 < red)",
            &transpose(&ig, w, f),
            names,
            &lags,
            Palette::Diverging,
        ),
        svg::heatmap("Integrated gradients |mean|", &transpose(&ig_abs, w, f), names, &lags, Palette::Sequential),
    ];

    // attention maps over the same windows
    let mut layers: Vec<Vec<f64>> = Vec::new();
    let mut time: Vec<f64> = Vec::new();
    for chunk in ends.chunks(16) {
        let part = chunk.len() as f64 / ends.len() as f64;
        let add = |acc: &mut Vec<f64>, m: &[f32]| {
            acc.resize(m.len(), 0.0);
            acc.iter_mut().zip(m).for_each(|(s, &v)| *s += v as f64 * part);
        };
        match attention_maps(model, &windows(&x, f, w, chunk), [chunk.len(), w, f])? {
            Some(Attention::Layers(maps)) => {
                layers.resize(maps.len(), Vec::new());
                layers.iter_mut().zip(&maps).for_each(|(acc, m)| add(acc, m));
            }
            Some(Attention::Time(m)) => add(&mut time, &m),
            None => {}
        }
    }
    let keys: Vec<String> = (0..w).map(|t| format!("lag_{}", w - 1 - t)).collect();
    for (l, m) in layers.iter().enumerate() {
        let m: Vec<f32> = m.iter().map(|&v| v as f32).collect();
        let csv = matrix_csv("query_lag", &keys, w, lag, &m);
        write(&a.out_dir, &format!("attention_layer{l}.csv"), csv.as_bytes())?;
        write(&a.out_dir, &format!("attention_layer{l}.png"), &heatmap(&m, w, w, Palette::Sequential))?;
        let queries: Vec<String> = lags.iter().map(|l| format!("query lag {l}")).collect();
        let title = format!("Attention, layer {l} (rows: query bar, columns: key bar)");
        sections.push(svg::heatmap(&title, &m, &queries, &lags, Palette::Sequential));
    }
    if !time.is_empty() {
        let m: Vec<f32> = time.iter().map(|&v| v as f32).collect();
        let mut csv = String::from("lag,weight\n");
        for (t, v) in m.iter().enumerate() {
            let _ = writeln!(csv, "{},{v}", w - 1 - t);
        }
        write(&a.out_dir, "attention.csv", csv.as_bytes())?;
        write(&a.out_dir, "attention.png", &heatmap(&m, 1, w, Palette::Sequential))?;
        sections.push(svg::heatmap("Attention over time", &m, &["weight".to_string()], &lags, Palette::Sequential));
    }

    // permutation importance on the last `val` labelled windows
    let val_ends = ends_from(a.val.max(2));
    let xv = windows(&x, f, w, &val_ends);
    let k = cfg.output_width();
    let (score_name, score): (&str, Box<Score>) = match (&cfg, k) {
        (crate::models::ModelConfig::MultiTask(_), _) | (_, 3) => {
            let cols = if k == 6 { 1..4 } else { 0..3 };
            let y = directions(&labels, &val_ends)?;
            ("accuracy", Box::new(move |p: &[f32]| accuracy(p, k, cols.clone(), &y)))
        }
        _ => {
            let y: Vec<f64> = val_ends.iter().map(|&e| labels.ret[e]).collect();
            ("neg_mse", Box::new(move |p: &[f32]| neg_mse(p, k, 0, &y)))
        }
    };
    let imp = permutation_importance(model, &xv, [val_ends.len(), w, f], &*score, a.repeats.max(1), a.seed)?;
    let mut csv = String::from("feature,permutation_drop,permutation_std,ig_abs,grad_input_abs\n");
    for (j, name) in names.iter().enumerate() {
        let ig_sum: f32 = ig_abs.iter().skip(j).step_by(f).sum();
        let gxi_sum: f32 = gxi.iter().skip(j).step_by(f).map(|v| v.abs()).sum();
        let _ = writeln!(csv, "{name},{},{},{ig_sum},{gxi_sum}", imp.drop[j], imp.std[j]);
    }
    write(&a.out_dir, "importance.csv", csv.as_bytes())?;
    let shap_line = if a.shap {
        let timestamps = bars.timestamp.as_slice();
        let inputs =
            super::explain_shap::NetInputs { model, x: &x, names, window: w, ends: &ends, last_end, timestamps };
        let (line, maps) = super::explain_shap::networks(a, &inputs)?;
        sections.extend(maps);
        Some(line)
    } else {
        None
    };
    let title = format!("tickgrad explain: {} on the last {} windows", cfg.kind(), ends.len());
    write(&a.out_dir, "explain.html", svg::page(&title, &sections).as_bytes())?;

    let mut order: Vec<usize> = (0..f).collect();
    order.sort_by(|&i, &j| imp.drop[j].total_cmp(&imp.drop[i]));
    let top: Vec<String> = order.iter().take(5).map(|&j| format!("{}={:.4}", names[j], imp.drop[j])).collect();
    println!(
        "model={} window={w} explained={} val={} {score_name}={:.4} ig_steps={} worst_completeness_gap={worst_gap:.3e}",
        cfg.kind(),
        ends.len(),
        val_ends.len(),
        imp.baseline,
        a.steps
    );
    println!("top_permutation_drop {}", top.join(" "));
    if let Some(line) = shap_line {
        println!("{line}");
    }
    println!("wrote {}", a.out_dir.display());
    Ok(())
}
