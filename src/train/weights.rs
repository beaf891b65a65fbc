//! Named weights (parameters and buffers) taken out of a module and put back: tensor snapshots for keeping the
//! best epoch, and host copies for arithmetic across several sets of weights (meta-learning's task solutions).

use crate::nn::{Kind, Module};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Every tensor `visit` sees, with its name and kind, in visit order. Tensors are immutable, so this is a
/// snapshot: later updates replace the module's tensors, never these.
pub fn snapshot(m: &mut dyn Module) -> Result<Vec<(String, Kind, Tensor)>> {
    let mut out = Vec::new();
    m.visit("", &mut |name, kind, t| {
        out.push((name.to_string(), kind, t.clone()));
        Ok(())
    })?;
    Ok(out)
}

/// Put a [`snapshot`] of the same module back.
pub fn restore(m: &mut dyn Module, saved: &[(String, Kind, Tensor)]) -> Result<()> {
    let mut i = 0;
    m.visit("", &mut |name, _, t| {
        match saved.get(i) {
            Some((n, _, s)) if n == name && s.shape() == t.shape() => *t = s.clone(),
            _ => return Err(Error::Invalid(format!("restoring weights: no saved `{name}` of shape {:?}", t.shape()))),
        }
        i += 1;
        Ok(())
    })
}

/// Host copies of a module's weights, in visit order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostWeights {
    pub tensors: Vec<(String, Kind, Vec<f32>)>,
}

impl HostWeights {
    pub fn of(m: &mut dyn Module) -> Result<HostWeights> {
        let mut tensors = Vec::new();
        m.visit("", &mut |name, kind, t| {
            tensors.push((name.to_string(), kind, t.to_vec()?));
            Ok(())
        })?;
        Ok(HostWeights { tensors })
    }

    /// Upload into `m` (same names and sizes), each on the device of the tensor it replaces.
    pub fn load_into(&self, m: &mut dyn Module) -> Result<()> {
        let mut i = 0;
        m.visit("", &mut |name, _, t| {
            match self.tensors.get(i) {
                Some((n, _, v)) if n == name && v.len() == t.numel() => {
                    *t = Tensor::from_vec(v.clone(), t.shape(), t.device())?
                }
                _ => return Err(Error::Invalid(format!("loading weights: no `{name}` of {} values", t.numel()))),
            }
            i += 1;
            Ok(())
        })
    }

    /// Upload only the buffers into `m` (its parameters are left as they are).
    pub fn load_buffers_into(&self, m: &mut dyn Module) -> Result<()> {
        m.visit("", &mut |name, kind, t| {
            if kind == Kind::Buffer {
                let v = self
                    .get(name)
                    .filter(|v| v.len() == t.numel())
                    .ok_or_else(|| Error::Invalid(format!("loading buffers: no `{name}` of {} values", t.numel())))?;
                *t = Tensor::from_vec(v.to_vec(), t.shape(), t.device())?;
            }
            Ok(())
        })
    }

    /// The values of the tensor `name`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.tensors.iter().find(|(n, _, _)| n == name).map(|(_, _, v)| v.as_slice())
    }

    /// Euclidean distance over every parameter (buffers left out), in f64.
    pub fn param_distance(&self, other: &HostWeights) -> Result<f64> {
        if self.tensors.len() != other.tensors.len() {
            return Err(Error::Invalid(format!(
                "weight distance: {} tensors against {}",
                self.tensors.len(),
                other.tensors.len()
            )));
        }
        let mut sum = 0.0f64;
        for ((n, kind, a), (m, _, b)) in self.tensors.iter().zip(&other.tensors) {
            if n != m || a.len() != b.len() {
                return Err(Error::Invalid(format!("weight distance: `{n}` against `{m}`")));
            }
            if *kind == Kind::Param {
                sum += a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>();
            }
        }
        Ok(sum.sqrt())
    }
}
