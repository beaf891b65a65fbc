//! Files in and out: atomic writes, `.npy` arrays.

pub mod atomic;
pub mod hash;
pub mod npy;
