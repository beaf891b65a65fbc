//! Launchers for `shaders/attention.wgsl`.

use super::AttentionDims;
use crate::backend::wgpu::Gpu;
use crate::backend::Storage;
use crate::{Error, Result};

fn todo(op: &str) -> Error {
    Error::Device(format!("wgpu: {op} not implemented yet"))
}

pub fn attention(_gpu: &'static Gpu, _d: &AttentionDims, _q: &Storage, _k: &Storage, _v: &Storage) -> Result<(Storage, Storage)> {
    Err(todo("attention"))
}
pub fn attention_weights(_gpu: &'static Gpu, _d: &AttentionDims, _q: &Storage, _k: &Storage, _lse: &Storage) -> Result<Storage> {
    Err(todo("attention_weights"))
}
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    _gpu: &'static Gpu,
    _d: &AttentionDims,
    _q: &Storage,
    _k: &Storage,
    _v: &Storage,
    _o: &Storage,
    _lse: &Storage,
    _dout: &Storage,
) -> Result<(Storage, Storage, Storage)> {
    Err(todo("attention_backward"))
}
