//! `explain.html`: the heatmaps a person reads, as inline SVG with a title, a name on every row, a time (lag)
//! axis and a colour scale; the PNGs beside it carry the bare cells for other tools.

use super::png::{colour, Palette};
use std::fmt::Write as _;

const CELL_MAX: f64 = 24.0;
const PLOT_MAX: f64 = 720.0;
const LEFT: f64 = 170.0;
const TOP: f64 = 30.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The time axis of a window's heatmap: columns are lags.
pub const LAG_AXIS: &str = "bars before the prediction (0 = newest)";

/// One heatmap of `values` [rows, cols] under an `<h2>` title, rows labelled by `row_names` and columns by
/// `col_names` (every k-th, so labels never overlap), with the colour bar's ends printed: the scale is the largest
/// |value|, as in the PNG. The columns are lags ([`LAG_AXIS`]).
pub fn heatmap(title: &str, values: &[f32], row_names: &[String], col_names: &[String], palette: Palette) -> String {
    heatmap_on(title, values, row_names, col_names, LAG_AXIS, palette)
}

/// [`heatmap`] with another column axis named `axis` (KernelSHAP's and TreeSHAP's columns are explained bars,
/// labelled by date, not lags).
pub fn heatmap_on(
    title: &str,
    values: &[f32],
    row_names: &[String],
    col_names: &[String],
    axis: &str,
    palette: Palette,
) -> String {
    let (rows, cols) = (row_names.len(), col_names.len());
    assert_eq!(values.len(), rows * cols, "heatmap: values length");
    let cell = |n: usize| (PLOT_MAX / n.max(1) as f64).min(CELL_MAX);
    let (ch, cw) = (cell(rows).max(12.0), cell(cols));
    let (pw, ph) = (cw * cols as f64, ch * rows as f64);
    let width = LEFT + pw + 110.0;
    let height = TOP + ph.max(120.0) + 50.0;
    let scale = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    let mut s = format!(
        "<h2>{}</h2>\n<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-size=\"11\">",
        escape(title)
    );
    for (r, name) in row_names.iter().enumerate() {
        let y = TOP + ch * r as f64;
        let _ = write!(
            s,
            "<text class=\"row\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + ch / 2.0 + 4.0,
            escape(name)
        );
        for c in 0..cols {
            let v = values[r * cols + c];
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{cw:.1}\" height=\"{ch:.1}\" fill=\"{}\"><title>{} {}: {v}</title></rect>",
                LEFT + cw * c as f64,
                hex(colour(v, scale, palette)),
                escape(name),
                escape(&col_names[c])
            );
        }
    }
    // Every k-th column is labelled: k leaves each label (about 6.5 px a character at this size) room to itself.
    let longest = col_names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as f64;
    let step = (60f64.max(6.5 * longest + 10.0) / cw).ceil().max(1.0) as usize;
    for (c, name) in col_names.iter().enumerate().filter(|(c, _)| c % step == 0 || *c + 1 == cols) {
        let _ = write!(
            s,
            "<text class=\"col\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            LEFT + cw * (c as f64 + 0.5),
            TOP + ph + 14.0,
            escape(name)
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LEFT + pw / 2.0,
        TOP + ph + 32.0,
        escape(axis)
    );
    // colour bar: top = +scale, bottom = -scale (diverging) or 0 (sequential)
    let (bx, bh, steps) = (LEFT + pw + 20.0, ph.max(120.0), 32);
    let lo = if matches!(palette, Palette::Diverging) { -scale } else { 0.0 };
    for k in 0..steps {
        let v = scale - (scale - lo) * (k as f32 + 0.5) / steps as f32;
        let _ = write!(
            s,
            "<rect class=\"scale\" x=\"{bx:.1}\" y=\"{:.2}\" width=\"14\" height=\"{:.2}\" fill=\"{}\"/>",
            TOP + bh * k as f64 / steps as f64,
            bh / steps as f64 + 0.3,
            hex(colour(v, scale, palette))
        );
    }
    let _ = writeln!(
        s,
        "<text class=\"scale\" x=\"{:.1}\" y=\"{:.1}\">{scale:.3e}</text><text class=\"scale\" x=\"{:.1}\" y=\"{:.1}\">{lo:.3e}</text></svg>",
        bx + 18.0,
        TOP + 8.0,
        bx + 18.0,
        TOP + bh
    );
    s
}

/// The whole page: inline SVG and CSS, no scripts.
pub fn page(title: &str, sections: &[String]) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:24px;color:#222}}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    sections.iter().for_each(|x| s.push_str(x));
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
        svg.split(&format!("<text class=\"{class}\""))
            .skip(1)
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .collect()
    }

    #[test]
    fn explain_svg_heatmap_labels_rows_time_and_scale() {
        let (rows, cols) = (5, 40);
        let names: Vec<String> = (0..rows).map(|r| format!("feat<{r}>")).collect();
        let lags: Vec<String> = (0..cols).map(|c| (cols - 1 - c).to_string()).collect();
        let mut state = 5u64;
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let svg = heatmap("IG & co", &values, &names, &lags, Palette::Diverging);
        assert!(svg.starts_with("<h2>IG &amp; co</h2>"));
        let want: Vec<String> = names.iter().map(|n| escape(n)).collect();
        assert_eq!(texts(&svg, "row"), want);
        let cols_shown = texts(&svg, "col");
        assert!(cols_shown.len() >= 3 && cols_shown.first() == Some(&"39") && cols_shown.last() == Some(&"0"));
        let scale = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(texts(&svg, "scale"), [format!("{scale:.3e}"), format!("{:.3e}", -scale)]);
        // each cell's colour is its value's
        let fills: Vec<&str> =
            svg.split("<rect x=").skip(1).map(|r| &r[r.find("fill=\"").unwrap() + 6..][..7]).collect();
        assert_eq!(fills.len(), rows * cols);
        for (f, v) in fills.iter().zip(&values) {
            assert_eq!(*f, hex(colour(*v, scale, Palette::Diverging)));
        }
        assert_eq!(svg.matches("<rect class=\"scale\"").count(), 32);
        assert_eq!(texts(&svg, "axis"), [LAG_AXIS]);
    }

    #[test]
    fn explain_svg_long_column_labels_are_spaced_apart() {
        let names = vec!["a".to_string(), "b".to_string()];
        let dates: Vec<String> = (0..30).map(|d| format!("2021-01-{:02}", d + 1)).collect();
        let values: Vec<f32> = (0..60).map(|i| i as f32 - 30.0).collect();
        let svg = heatmap_on("KernelSHAP", &values, &names, &dates, "explained bar (UTC)", Palette::Diverging);
        assert_eq!(texts(&svg, "axis"), ["explained bar (UTC)"]);
        let xs: Vec<f64> =
            svg.split("<text class=\"col\" x=\"").skip(1).map(|t| t[..t.find('"').unwrap()].parse().unwrap()).collect();
        assert!(xs.len() >= 3, "{xs:?}");
        // ten characters take about 65 px; neighbours (the last label aside, which is always shown) sit further apart
        for pair in xs[..xs.len() - 1].windows(2) {
            assert!(pair[1] - pair[0] >= 70.0, "labels overlap: {xs:?}");
        }
    }
}
