//! Layers with PyTorch's parameter names, so a state_dict maps one-to-one onto a tickgrad model.
//!
//! A layer owns its tensors; `Module::visit` walks them with their dotted names (the safetensors keys), which is all
//! that checkpoint loading, saving and the optimizers need. Forward passes take `&self` plus a `Ctx` that says
//! whether the model is training and hands out dropout seeds, so a model in eval mode can be shared across threads.

mod attention;
mod conv;
mod ctx;
mod linear;
pub mod loss;
mod lstm;
mod norm;
mod transformer;

pub use attention::{AdditiveAttention, MultiHeadAttention};
pub use conv::{CausalConv1d, CausalConvBn, ResBlock1d, TemporalBlock};
pub use ctx::Ctx;
pub use linear::{Dropout, Linear};
pub use lstm::Lstm;
pub use norm::{BatchNorm1d, LayerNorm};
pub use transformer::{sinusoidal_encoding, TransformerEncoderLayer};

use crate::tensor::Tensor;
use crate::Result;

/// What a named tensor is: a trained parameter or a buffer (BatchNorm running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Param,
    Buffer,
}

/// Callback of `Module::visit`: (dotted name, kind, the tensor to read or replace).
pub type Visitor<'a> = dyn FnMut(&str, Kind, &mut Tensor) -> Result<()> + 'a;

pub trait Module {
    /// Call `f` on every parameter and buffer with its full dotted name (`prefix` + local name).
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()>;
}

/// `prefix.name` or `name` when the prefix is empty.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Every parameter (not buffer) of a module, with its name.
pub fn parameters(m: &mut dyn Module) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    m.visit("", &mut |name, kind, t| {
        if kind == Kind::Param {
            out.push((name.to_string(), t.clone()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Mark every parameter as requiring grad (fresh leaves), so the next forward records a graph.
pub fn track_parameters(m: &mut dyn Module) -> Result<()> {
    m.visit("", &mut |_, kind, t| {
        if kind == Kind::Param && !t.is_leaf_param() {
            *t = t.requires_grad();
        }
        Ok(())
    })
}
