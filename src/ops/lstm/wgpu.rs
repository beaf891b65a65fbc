//! Launchers for `shaders/lstm.wgsl`.

use super::LstmDims;
use crate::backend::wgpu::Gpu;
use crate::backend::{LstmGrads, LstmSaved, Storage};
use crate::{Error, Result};

fn todo(op: &str) -> Error {
    Error::Device(format!("wgpu: {op} not implemented yet"))
}

#[allow(clippy::too_many_arguments)]
pub fn lstm_seq(
    _gpu: &'static Gpu,
    _d: &LstmDims,
    _x: &Storage,
    _h0: &Storage,
    _c0: &Storage,
    _w_ih: &Storage,
    _w_hh: &Storage,
    _b_ih: &Storage,
    _b_hh: &Storage,
) -> Result<LstmSaved> {
    Err(todo("lstm_seq"))
}

#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_backward(
    _gpu: &'static Gpu,
    _d: &LstmDims,
    _x: &Storage,
    _h0: &Storage,
    _c0: &Storage,
    _w_ih: &Storage,
    _w_hh: &Storage,
    _saved: &LstmSaved,
    _dhs: &Storage,
) -> Result<LstmGrads> {
    Err(todo("lstm_seq_backward"))
}
