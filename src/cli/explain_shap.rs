//! `tickgrad explain --shap [--background N]`: Shapley values, written beside the other explanations.
//!
//! A network checkpoint gets two estimates over the same explained windows, both against N background windows
//! drawn (seeded, without replacement) from the training part of the file, the first 70% of its labelled
//! windows as `train` splits them:
//! - `shap_gradient.csv` / `_abs.csv` / `.png`: GradientSHAP (expected gradients) per [lag, feature], the mean
//!   over the windows (signed and absolute), as the integrated-gradients files are laid out;
//! - `shap_kernel.csv` / `.png`: exact KernelSHAP per window (rows, `bar` = window end) and feature group
//!   (columns: each feature column across the window is a player, or adjacent columns grouped to at most
//!   `--shap-groups` players), with the window's E\[f\] and f(x).
//!
//! An ensemble (its directory or `ensemble.json`) gets TreeSHAP of its boosted trees on the last N labelled rows:
//! `shap_trees.csv` (per row and class logit: expected value, output, one φ per feature) and `shap_trees.png`
//! (φ of the predicted class, features down, rows across).
//!
//! Each map is also drawn in `explain.html` as the attributions are: a title, a feature (or feature group) name on
//! every row, the time axis (lags for GradientSHAP; the explained bars' dates for KernelSHAP and TreeSHAP) and a
//! colour scale with its ends printed.

use super::explain::Args;
use crate::data::{chronological_split, SplitFractions};
use crate::explain::png::{heatmap, Palette};
use crate::explain::svg;
use crate::explain::{gradient_shap, kernel_shap, GradientShapOptions, Groups};
use crate::io::atomic::write_atomic;
use crate::models::Model;
use crate::pipeline::bundle::EnsembleBundle;
use crate::pipeline::dataset::Dataset;
use crate::pipeline::tabular;
use crate::rng::Rng;
use crate::{Error, Result};
use std::fmt::Write;
use std::path::Path;

/// What the network part needs from `explain`'s setup.
pub struct NetInputs<'a> {
    pub model: &'a Model,
    /// Scaled inputs [rows, F] of every bar.
    pub x: &'a [f32],
    pub names: &'a [String],
    pub window: usize,
    /// Window ends explained.
    pub ends: &'a [usize],
    /// The last labelled window end.
    pub last_end: usize,
    /// Every bar's open time (Unix ms), to label the explained bars.
    pub timestamps: &'a [i64],
}

/// The explained bars' labels: UTC dates, with the time of day when any bar has one.
fn bar_labels(timestamps: &[i64]) -> Vec<String> {
    let full: Vec<String> = timestamps.iter().map(|&t| crate::eval::fmt_utc(t)).collect();
    if full.iter().all(|l| l.ends_with(" 00:00")) {
        full.iter().map(|l| l[..l.len() - 6].to_string()).collect()
    } else {
        full
    }
}

/// The column axis of the maps over explained bars.
const BAR_AXIS: &str = "explained window, by its last bar (UTC)";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic(dir.join(name), bytes)
}

/// `n` distinct window ends drawn from the training part of the labelled windows `w − 1 ..= last_end`.
fn background_ends(w: usize, last_end: usize, horizon: usize, n: usize, seed: u64) -> Result<Vec<usize>> {
    let count = last_end + 2 - w;
    let split = chronological_split(count, SplitFractions::default(), horizon)
        .map_err(|e| e.context("explain --shap: the training part of the file"))?;
    let mut pool: Vec<usize> = split.train.map(|i| w - 1 + i).collect();
    if n == 0 {
        return Err(Error::config("background", "must be at least 1"));
    }
    let mut rng = Rng::new(seed ^ 0x5348_4150);
    rng.shuffle(&mut pool);
    pool.truncate(n);
    pool.sort_unstable();
    Ok(pool)
}

fn window_of(x: &[f32], f: usize, w: usize, e: usize) -> &[f32] {
    &x[(e + 1 - w) * f..(e + 1) * f]
}

/// GradientSHAP and KernelSHAP of a network; returns the summary line and the maps' `explain.html` sections.
pub fn networks(a: &Args, n: &NetInputs<'_>) -> Result<(String, Vec<String>)> {
    let (w, f) = (n.window, n.names.len());
    let bg_ends = background_ends(w, n.last_end, a.horizon, a.background, a.seed)?;
    let bg: Vec<f32> = bg_ends.iter().flat_map(|&e| window_of(n.x, f, w, e).iter().copied()).collect();
    let opts = GradientShapOptions { target: a.target, steps: a.shap_steps, chunk: 64, seed: a.seed };
    let groups = Groups::contiguous(n.names, a.shap_groups)?;
    let (mut signed, mut abs) = (vec![0.0f64; w * f], vec![0.0f64; w * f]);
    let (mut grad_gap, mut kernel_gap) = (0.0f64, 0.0f64);
    let mut kernel_csv = String::from("bar,expected,output");
    for g in &groups.names {
        let _ = write!(kernel_csv, ",{g}");
    }
    kernel_csv.push('\n');
    let mut kernel_map = vec![0.0f32; groups.len() * n.ends.len()];
    for (i, &e) in n.ends.iter().enumerate() {
        let win = window_of(n.x, f, w, e);
        let g = gradient_shap(n.model, win, [w, f], &bg, &opts)?;
        grad_gap = grad_gap.max(g.additivity_gap().abs());
        for (j, &v) in g.attributions.iter().enumerate() {
            signed[j] += v as f64 / n.ends.len() as f64;
            abs[j] += v.abs() as f64 / n.ends.len() as f64;
        }
        let k = kernel_shap(n.model, win, [w, f], &bg, &groups, a.target)?;
        kernel_gap = kernel_gap.max(k.additivity_gap().abs());
        let _ = write!(kernel_csv, "{e},{},{}", k.expected, k.output);
        for (j, v) in k.values.iter().enumerate() {
            let _ = write!(kernel_csv, ",{v}");
            kernel_map[j * n.ends.len() + i] = *v as f32;
        }
        kernel_csv.push('\n');
    }
    let to32 = |v: &[f64]| v.iter().map(|&s| s as f32).collect::<Vec<f32>>();
    let (signed, abs) = (to32(&signed), to32(&abs));
    let lag = |t: usize| (w - 1 - t).to_string();
    let dir = a.out_dir.as_path();
    write(dir, "shap_gradient.csv", super::explain::matrix_csv("lag", n.names, w, lag, &signed).as_bytes())?;
    write(dir, "shap_gradient_abs.csv", super::explain::matrix_csv("lag", n.names, w, lag, &abs).as_bytes())?;
    let (st, at) = (super::explain::transpose(&signed, w, f), super::explain::transpose(&abs, w, f));
    write(dir, "shap_gradient.png", &heatmap(&st, f, w, Palette::Diverging))?;
    write(dir, "shap_gradient_abs.png", &heatmap(&at, f, w, Palette::Sequential))?;
    write(dir, "shap_kernel.csv", kernel_csv.as_bytes())?;
    write(dir, "shap_kernel.png", &heatmap(&kernel_map, groups.len(), n.ends.len(), Palette::Diverging))?;
    let lags: Vec<String> = (0..w).map(lag).collect();
    let bars = bar_labels(&n.ends.iter().map(|&e| n.timestamps[e]).collect::<Vec<_>>());
    let sections = vec![
        svg::heatmap("GradientSHAP (signed mean; blue < 0 < red)", &st, n.names, &lags, Palette::Diverging),
        svg::heatmap("GradientSHAP |mean|", &at, n.names, &lags, Palette::Sequential),
        svg::heatmap_on(
            "KernelSHAP per explained window (features or groups across the window; blue < 0 < red)",
            &kernel_map,
            &groups.names,
            &bars,
            BAR_AXIS,
            Palette::Diverging,
        ),
    ];
    let line = format!(
        "shap background={} groups={} gradient_steps={} worst_gradient_gap={grad_gap:.3e} worst_kernel_gap={kernel_gap:.3e}",
        bg.len() / (w * f),
        groups.len(),
        a.shap_steps * bg_ends.len()
    );
    Ok((line, sections))
}

/// TreeSHAP of an ensemble's boosted trees on the last `--n` labelled rows of the file.
pub fn trees(a: &Args) -> Result<()> {
    let manifest = if a.checkpoint.is_dir() {
        a.checkpoint.join(crate::pipeline::ensemble::MANIFEST_NAME)
    } else {
        a.checkpoint.clone()
    };
    if !a.shap {
        return Err(Error::config(
            "checkpoint",
            format!(
                "{} is an ensemble: `explain` explains it with --shap (TreeSHAP of its boosted trees); pass a \
                 member's .safetensors for the network explanations",
                a.checkpoint.display()
            ),
        ));
    }
    let bundle = EnsembleBundle::load(&manifest, crate::device::Device::Cpu)?;
    let bars = a.bars.load(None)?.bars;
    let ds = Dataset::with_preprocessing(bars, bundle.manifest.prep.clone(), SplitFractions::default())?;
    let count = a.n.max(1).min(ds.n_samples);
    let samples = ds.n_samples - count..ds.n_samples;
    let x = tabular::matrix(&ds, samples.clone())?;
    let s = bundle.gbdt.shap_values(&x)?;
    let raw = bundle.gbdt.predict_raw(&x)?;
    let (k, f) = (s.n_outputs, s.n_features);
    let names = &ds.prep.features;
    let mut csv = String::from("bar,class,expected,output");
    for n in names {
        let _ = write!(csv, ",{n}");
    }
    csv.push('\n');
    let mut map = vec![0.0f32; f * count];
    let mut worst = 0.0f64;
    let stamps: Vec<i64> = ds.rows(samples.clone()).map(|bar| ds.bars.timestamp[bar]).collect();
    for (i, bar) in ds.rows(samples).enumerate() {
        let out = &raw[i * k..(i + 1) * k];
        let best = (0..k).fold(0, |b, c| if out[c] > out[b] { c } else { b });
        for (c, (&y, &e)) in out.iter().zip(&s.expected).enumerate() {
            let phi = s.row(i, c);
            worst = worst.max((phi.iter().sum::<f64>() + e - y).abs());
            let _ = write!(csv, "{bar},{c},{e},{y}");
            for v in phi {
                let _ = write!(csv, ",{v}");
            }
            csv.push('\n');
            if c == best {
                phi.iter().enumerate().for_each(|(j, &v)| map[j * count + i] = v as f32);
            }
        }
    }
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io(&a.out_dir, e))?;
    write(&a.out_dir, "shap_trees.csv", csv.as_bytes())?;
    write(&a.out_dir, "shap_trees.png", &heatmap(&map, f, count, Palette::Diverging))?;
    let section = svg::heatmap_on(
        "TreeSHAP of the boosted trees (the predicted class's logit; blue < 0 < red)",
        &map,
        names,
        &bar_labels(&stamps),
        BAR_AXIS,
        Palette::Diverging,
    );
    let title = format!("tickgrad explain: the ensemble's boosted trees on the last {count} rows");
    write(&a.out_dir, "explain.html", svg::page(&title, &[section]).as_bytes())?;
    println!("model=gbdt rounds={} explained={count} worst_treeshap_gap={worst:.3e}", bundle.gbdt.n_rounds());
    println!("wrote {}", a.out_dir.display());
    Ok(())
}
