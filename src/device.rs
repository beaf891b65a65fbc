//! Where a tensor lives. Only the CPU backend exists in this build unless the `wgpu` / `cuda` features and their
//! drivers are present; asking for a missing device is an `Error`, never a panic.

use crate::{Error, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
    Wgpu(usize),
}

impl Device {
    /// Parse `cpu`, `cuda`, `cuda:N`, `wgpu`, `wgpu:N`.
    pub fn parse(s: &str) -> Result<Device> {
        let (kind, idx) = match s.split_once(':') {
            Some((k, i)) => {
                let n =
                    i.parse::<usize>().map_err(|_| Error::config("device", format!("bad device index in {s:?}")))?;
                (k, n)
            }
            None => (s, 0),
        };
        match kind {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(idx)),
            "wgpu" => Ok(Device::Wgpu(idx)),
            _ => Err(Error::config("device", format!("unknown device {s:?}: expected cpu, cuda[:N] or wgpu[:N]"))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Wgpu(n) => write!(f, "wgpu:{n}"),
        }
    }
}
