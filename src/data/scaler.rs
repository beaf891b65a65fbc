//! Per-feature scaling fitted on the training rows alone (fitting on all rows would hand the model the test
//! period's mean and spread). The fitted scaler serializes to JSON so it travels with the checkpoint and
//! inference scales exactly as training did.
//!
//! Missing values: NaN (warm-up rows, undefined ratios) are ignored when fitting. [`Scaler::transform`] keeps
//! them NaN, so a caller can still see where data was missing; [`Scaler::transform_fill0`] turns them into 0
//! after scaling, i.e. the training centre, because models need finite inputs. Infinite inputs count as missing.

use super::features::FeatureFrame;
use super::regime::quantile_sorted;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalerKind {
    /// (x − mean) / std, population std.
    ZScore,
    /// (x − median) / IQR (75th − 25th percentile, linear interpolation): unmoved by the fat tails of returns.
    Robust,
}

/// `scaled = (x − center[j]) / scale[j]` for feature `names[j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub kind: ScalerKind,
    pub center: Vec<f64>,
    pub scale: Vec<f64>,
    pub names: Vec<String>,
}

impl Scaler {
    /// Fit on rows `train` of the named columns. A column with no finite training value is an error; a constant
    /// one gets scale 1 (it is only centred) so nothing divides by zero.
    pub fn fit(frame: &FeatureFrame, names: &[String], train: Range<usize>, kind: ScalerKind) -> Result<Scaler> {
        frame.check_fit_rows("Scaler::fit", "training range", &train)?;
        let mut center = Vec::with_capacity(names.len());
        let mut scale = Vec::with_capacity(names.len());
        for name in names {
            let col = column(frame, name)?;
            let mut v: Vec<f64> = col[train.clone()].iter().copied().filter(|x| x.is_finite()).collect();
            if v.is_empty() {
                return Err(Error::Invalid(format!(
                    "Scaler::fit: feature `{name}` has no finite value in training rows {}..{} (still warming up?)",
                    train.start, train.end
                )));
            }
            let (c, s) = match kind {
                ScalerKind::ZScore => {
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
                    (mean, var.sqrt())
                }
                ScalerKind::Robust => {
                    v.sort_by(f64::total_cmp);
                    (quantile_sorted(&v, 0.5), quantile_sorted(&v, 0.75) - quantile_sorted(&v, 0.25))
                }
            };
            center.push(c);
            scale.push(if s > 0.0 && s.is_finite() { s } else { 1.0 });
        }
        Ok(Scaler { kind, center, scale, names: names.to_vec() })
    }

    pub fn features(&self) -> usize {
        self.names.len()
    }

    /// Scale one row of raw values (in `names` order) into `out`; `fill0` turns missing values into 0.
    pub fn transform_row(&self, row: &[f64], out: &mut [f32], fill0: bool) -> Result<()> {
        let f = self.features();
        if row.len() != f || out.len() != f {
            return Err(Error::shape("Scaler::transform_row (row, out)", (f, f), (row.len(), out.len())));
        }
        for j in 0..f {
            out[j] = self.scale_value(j, row[j], fill0);
        }
        Ok(())
    }

    fn scale_value(&self, j: usize, x: f64, fill0: bool) -> f32 {
        if x.is_finite() {
            ((x - self.center[j]) / self.scale[j]) as f32
        } else if fill0 {
            0.0
        } else {
            f32::NAN
        }
    }

    /// The frame's columns in `names` order, scaled, as a row-major `[n, F]` f32 matrix; NaN stays NaN.
    pub fn transform(&self, frame: &FeatureFrame) -> Result<Vec<f32>> {
        self.matrix(frame, false)
    }

    /// As [`Scaler::transform`] but missing values become 0 (the training centre), for model inputs.
    pub fn transform_fill0(&self, frame: &FeatureFrame) -> Result<Vec<f32>> {
        self.matrix(frame, true)
    }

    fn matrix(&self, frame: &FeatureFrame, fill0: bool) -> Result<Vec<f32>> {
        let cols = self.names.iter().map(|n| column(frame, n)).collect::<Result<Vec<_>>>()?;
        let (n, f) = (frame.len(), cols.len());
        let mut out = vec![0.0f32; n * f];
        for (j, col) in cols.iter().enumerate() {
            for (i, &x) in col.iter().enumerate() {
                out[i * f + j] = self.scale_value(j, x, fill0);
            }
        }
        Ok(out)
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Invalid(format!("Scaler::to_json: {e}")))
    }

    /// Parse a scaler stored by [`Scaler::to_json`], checking that its vectors agree in length.
    pub fn from_json(text: &str) -> Result<Scaler> {
        let s: Scaler = serde_json::from_str(text).map_err(|e| Error::parse("scaler JSON", e.to_string()))?;
        if s.center.len() != s.names.len() || s.scale.len() != s.names.len() {
            return Err(Error::shape(
                "scaler JSON (center, scale)",
                (s.names.len(), s.names.len()),
                (s.center.len(), s.scale.len()),
            ));
        }
        Ok(s)
    }
}

fn column<'a>(frame: &'a FeatureFrame, name: &str) -> Result<&'a [f64]> {
    let col = frame.column(name).ok_or_else(|| Error::Invalid(format!("feature `{name}` is not in the frame")))?;
    if col.len() != frame.len() {
        return Err(Error::shape(format!("feature `{name}`"), [frame.len()], [col.len()]));
    }
    Ok(col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> FeatureFrame {
        FeatureFrame {
            timestamp: (0..6).collect(),
            names: vec!["a".into(), "b".into()],
            columns: vec![vec![f64::NAN, 1.0, 2.0, 3.0, 100.0, 200.0], vec![5.0; 6]],
        }
    }

    #[test]
    fn fits_on_training_rows_only() {
        let names = vec!["a".to_string(), "b".to_string()];
        let s = Scaler::fit(&frame(), &names, 0..4, ScalerKind::ZScore).unwrap();
        assert_eq!(s.center, vec![2.0, 5.0]);
        assert!((s.scale[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.scale[1], 1.0, "constant column is only centred");
        let m = s.transform(&frame()).unwrap();
        assert!(m[0].is_nan());
        assert_eq!(m[1], 0.0);
        assert_eq!(s.transform_fill0(&frame()).unwrap()[0], 0.0);
        let r = Scaler::fit(&frame(), &names, 0..6, ScalerKind::Robust).unwrap();
        assert_eq!(r.center[0], 3.0);
        assert_eq!(r.scale[0], 98.0);
    }

    #[test]
    fn json_round_trip() {
        let s = Scaler::fit(&frame(), &["a".to_string()], 1..6, ScalerKind::Robust).unwrap();
        let back = Scaler::from_json(&s.to_json().unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(Scaler::from_json("{\"kind\":\"ZScore\",\"center\":[1],\"scale\":[],\"names\":[\"a\"]}").is_err());
    }

    #[test]
    fn errors_instead_of_panics() {
        assert!(Scaler::fit(&frame(), &["zz".to_string()], 0..3, ScalerKind::ZScore).is_err());
        assert!(Scaler::fit(&frame(), &["a".to_string()], 0..1, ScalerKind::ZScore).is_err());
        assert!(Scaler::fit(&frame(), &["a".to_string()], 0..9, ScalerKind::ZScore).is_err());
    }
}
