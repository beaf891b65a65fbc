//! Launchers for `shaders/conv1d.wgsl`.

use super::Conv1dDims;
use crate::backend::wgpu::Gpu;
use crate::backend::Storage;
use crate::{Error, Result};

fn todo(op: &str) -> Error {
    Error::Device(format!("wgpu: {op} not implemented yet"))
}

pub fn conv1d(_gpu: &'static Gpu, _d: &Conv1dDims, _x: &Storage, _w: &Storage, _b: Option<&Storage>) -> Result<Storage> {
    Err(todo("conv1d"))
}
pub fn conv1d_backward_input(_gpu: &'static Gpu, _d: &Conv1dDims, _w: &Storage, _dy: &Storage) -> Result<Storage> {
    Err(todo("conv1d_backward_input"))
}
pub fn conv1d_backward_weight(_gpu: &'static Gpu, _d: &Conv1dDims, _x: &Storage, _dy: &Storage) -> Result<(Storage, Storage)> {
    Err(todo("conv1d_backward_weight"))
}
