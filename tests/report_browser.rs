//! `report.html` as a person sees it: opened in headless Chromium, it loads with no console messages and its
//! charts are drawn (each curve's colour, the model's, every baseline's and every ensemble member's, is on screen,
//! and the charts' area is not blank).
//!
//! Needs Debian's `chromium` (or `TICKGRAD_CHROMIUM=/path`). Without it the test prints why and skips, except under
//! `scripts/test`, which sets `TICKGRAD_REQUIRE_CHROMIUM=1` so a missing browser fails the suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::eval::{evaluate, write_report, ConfidenceFilter, EvalInputs, TradingConfig};
use tickgrad::explain::png::Palette;
use tickgrad::explain::svg::{heatmap, page as svg_page};

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 1900;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TICKGRAD_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Chromium, or `None` after printing why the test is skipped; panics when the suite requires it.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        let why = "no chromium on PATH (apt-get install chromium, or set TICKGRAD_CHROMIUM)";
        assert!(std::env::var("TICKGRAD_REQUIRE_CHROMIUM").as_deref() != Ok("1"), "{why}");
        eprintln!("SKIPPED report_browser: {why}");
    }
    found
}

/// Screenshot of `page` and the console messages Chromium logged while loading it.
fn screenshot(browser: &Path, page: &Path, dir: &Path) -> (Vec<u8>, Vec<String>) {
    let shot = dir.join(format!("{}.png", page.file_stem().unwrap().to_string_lossy()));
    let out = Command::new(browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && shot.is_file(), "chromium failed ({}): {stderr}", out.status);
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    (std::fs::read(&shot).unwrap(), console)
}

/// RGB pixels [HEIGHT][WIDTH] of a decoded screenshot.
fn rgb(png_bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()].chunks(channels).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width as usize, info.height as usize, px)
}

/// A pixel that is `colour` drawn over white at coverage >= 0.45 (antialiased line edges included).
fn is_shade_of(p: [u8; 3], colour: [u8; 3]) -> bool {
    let a: Vec<f64> = (0..3).map(|i| (255.0 - p[i] as f64) / (255.0 - colour[i] as f64).max(1.0)).collect();
    let (lo, hi) = a.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    lo >= 0.45 && hi <= 1.1 && hi - lo <= 0.15
}

fn hex(c: &str) -> [u8; 3] {
    let v = |i: usize| u8::from_str_radix(&c[1 + 2 * i..3 + 2 * i], 16).unwrap();
    [v(0), v(1), v(2)]
}

fn write_fixture_report(dir: &Path) {
    let n = 1500;
    let mut state = 99u64;
    let mut u = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let returns: Vec<f64> = (0..n).map(|_| (u() - 0.49) * 0.02).collect();
    let labels: Vec<usize> = (0..n).map(|_| (u() * 3.0) as usize % 3).collect();
    let predictions: Vec<usize> =
        labels.iter().map(|&l| if u() < 0.5 { l } else { (u() * 3.0) as usize % 3 }).collect();
    let gbdt: Vec<usize> = (0..n).map(|_| (u() * 3.0) as usize % 3).collect();
    let confidence: Vec<f64> = (0..n).map(|_| 0.34 + 0.66 * u()).collect();
    let timestamps: Vec<i64> = (0..n as i64).map(|i| 1_577_836_800_000 + 3_600_000 * i).collect();
    let mut inputs = EvalInputs::new(&timestamps, &returns, TradingConfig::hourly_24_7(4.0, 1.0));
    inputs.labels = Some(&labels);
    inputs.predictions = Some(&predictions);
    inputs.confidence = Some(ConfidenceFilter { confidence: &confidence, threshold: 0.7 });
    inputs.train_labels = Some(&labels[..500]);
    inputs.boosted_trees = Some(&gbdt);
    // An ensemble's members: two networks with calls of their own, and the boosted trees (as in `run`, whose gbdt
    // member is the `boosted_trees` baseline, drawn dashed over it).
    let nets: Vec<Vec<usize>> = (0..2)
        .map(|_| labels.iter().map(|&l| if u() < 0.4 { l } else { (u() * 3.0) as usize % 3 }).collect())
        .collect();
    inputs.members =
        vec![("tcn", nets[0].as_slice()), ("lstm_attention", nets[1].as_slice()), ("gbdt", gbdt.as_slice())];
    write_report(dir, &evaluate(&inputs).unwrap()).unwrap();
}

#[test]
fn report_html_renders_in_chromium() {
    let Some(browser) = chromium_or_skip() else { return };
    let dir = std::env::temp_dir().join(format!("tickgrad_report_browser_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The console check can fail: a page that logs is caught.
    let noisy = dir.join("noisy.html");
    std::fs::write(&noisy, "<!DOCTYPE html><html><body><script>console.error('x'); nope();</script></body></html>")
        .unwrap();
    let (_, console) = screenshot(&browser, &noisy, &dir);
    assert!(console.len() >= 2, "chromium's console log was not captured: {console:?}");

    write_fixture_report(&dir);
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let (shot, console) = screenshot(&browser, &page, &dir);
    assert!(console.is_empty(), "report.html logged to the console: {console:#?}");
    let (w, h, px) = rgb(&shot);

    // Every series drawn in the two line charts shows up on screen in its own colour.
    let mut colours: Vec<&str> = html.split("<polyline fill=\"none\" stroke=\"").skip(1).map(|p| &p[..7]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() >= 8, "model, at least four baselines and three members: {colours:?}");
    for member in ["tcn", "lstm_attention", "gbdt (= boosted trees)"] {
        assert_eq!(html.matches(&format!(">member {member}</text>")).count(), 2, "{member} in both line charts");
    }
    for c in &colours {
        let n = px.iter().filter(|&&p| is_shade_of(p, hex(c))).count();
        assert!(n >= 100, "series colour {c}: only {n} pixels on screen");
    }

    // The charts' area (the rows between the first and last pixel of the model's colour, which draws the equity
    // curve first and the calibration points last) is not blank: each quarter of it varies.
    let model = hex("#2166ac");
    let rows: Vec<usize> = (0..h).filter(|&y| px[y * w..(y + 1) * w].iter().any(|&p| is_shade_of(p, model))).collect();
    let (top, bottom) = (rows[0], *rows.last().unwrap());
    assert!(bottom - top > 500, "charts span rows {top}..{bottom} only");
    for q in 0..4 {
        let band = top + (bottom - top) * q / 4..top + (bottom - top) * (q + 1) / 4;
        let lum: Vec<f64> = band
            .flat_map(|y| px[y * w..(y + 1) * w].iter().map(|p| p.iter().map(|&c| c as f64).sum::<f64>() / 3.0))
            .collect();
        let mean = lum.iter().sum::<f64>() / lum.len() as f64;
        let var = lum.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / lum.len() as f64;
        assert!(var > 50.0, "chart band {q} looks blank (luminance variance {var:.1})");
    }

    // explain.html's heatmaps render too: every colour of the diverging scale's ends is on screen.
    let rows: Vec<String> = ["log_return", "rsi_14", "volume_z"].map(String::from).to_vec();
    let lags: Vec<String> = (0..24).rev().map(|l: i32| l.to_string()).collect();
    let values: Vec<f32> = (0..rows.len() * lags.len()).map(|i| ((i as f32) * 0.7).sin()).collect();
    let section = heatmap("Integrated gradients", &values, &rows, &lags, Palette::Diverging);
    let page = dir.join("explain.html");
    std::fs::write(&page, svg_page("explain", &[section])).unwrap();
    let (shot, console) = screenshot(&browser, &page, &dir);
    assert!(console.is_empty(), "explain.html logged to the console: {console:#?}");
    let (_, _, px) = rgb(&shot);
    for end in ["#2166ac", "#b2182b"] {
        let n = px.iter().filter(|&&p| is_shade_of(p, hex(end)) && p != [255, 255, 255]).count();
        assert!(n >= 200, "heatmap colour {end}: only {n} pixels");
    }
    std::fs::remove_dir_all(&dir).ok();
}
