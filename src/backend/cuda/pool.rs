//! The CUDA caching allocator: device buffers come from the driver only when no free buffer of the size class is
//! cached, and go back to the cache when their last user drops them (see `backend::memory` for the contract).
//!
//! Reuse needs no event: every allocation, copy and launch of a device goes to its one stream, in order, so a
//! buffer handed out again is only touched by work queued after everything that used it before. Without a
//! stream-ordered pool in the driver (cuda-sim, old drivers) a freed `CudaSlice` synchronises the stream; with the
//! cache that happens only when the cache is trimmed or over its budget.

use crate::backend::memory::{self, For};
use cudarc::driver::CudaSlice;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The element types kernels take buffers of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Elem {
    F32,
    /// f16 / bf16 bit patterns.
    U16,
    U32,
}

/// A cached free buffer of any element type.
pub(crate) enum Block {
    F32(CudaSlice<f32>),
    U16(CudaSlice<u16>),
    U32(CudaSlice<u32>),
}

/// The free lists and the budget of one device.
pub(crate) type Pool = memory::Pool<Elem, Block>;

/// A type the device buffers hold, and its way in and out of a cached [`Block`].
pub(crate) trait PoolElem: Sized + cudarc::driver::DeviceRepr {
    const ELEM: Elem;
    fn into_block(s: CudaSlice<Self>) -> Block;
    fn from_block(b: Block) -> Option<CudaSlice<Self>>;
}

impl PoolElem for f32 {
    const ELEM: Elem = Elem::F32;
    fn into_block(s: CudaSlice<f32>) -> Block {
        Block::F32(s)
    }
    fn from_block(b: Block) -> Option<CudaSlice<f32>> {
        if let Block::F32(s) = b {
            Some(s)
        } else {
            None
        }
    }
}

impl PoolElem for u16 {
    const ELEM: Elem = Elem::U16;
    fn into_block(s: CudaSlice<u16>) -> Block {
        Block::U16(s)
    }
    fn from_block(b: Block) -> Option<CudaSlice<u16>> {
        if let Block::U16(s) = b {
            Some(s)
        } else {
            None
        }
    }
}

impl PoolElem for u32 {
    const ELEM: Elem = Elem::U32;
    fn into_block(s: CudaSlice<u32>) -> Block {
        Block::U32(s)
    }
    fn from_block(b: Block) -> Option<CudaSlice<u32>> {
        if let Block::U32(s) = b {
            Some(s)
        } else {
            None
        }
    }
}

/// Elements of `T` a request of `n` is rounded up to: its size class (at least one element, as the driver refuses
/// zero-byte allocations).
pub(crate) fn class_of<T>(n: usize) -> (u64, usize) {
    let size = std::mem::size_of::<T>() as u64;
    let class = memory::size_class((n.max(1) as u64).saturating_mul(size));
    (class, (class / size) as usize)
}

/// A device buffer on loan from the pool: derefs to the `CudaSlice` a kernel takes (which may hold more elements
/// than were asked for), and goes back to the pool's free list when dropped.
pub(crate) struct Pooled<T: PoolElem> {
    slice: Option<CudaSlice<T>>,
    class: u64,
    pool: Arc<Pool>,
}

impl<T: PoolElem> Pooled<T> {
    pub(crate) fn new(slice: CudaSlice<T>, class: u64, pool: Arc<Pool>) -> Self {
        Pooled { slice: Some(slice), class, pool }
    }
}

impl<T: PoolElem> Deref for Pooled<T> {
    type Target = CudaSlice<T>;
    fn deref(&self) -> &CudaSlice<T> {
        // Only `Drop` takes the slice out.
        self.slice.as_ref().expect("pooled buffer used after drop")
    }
}

impl<T: PoolElem> DerefMut for Pooled<T> {
    fn deref_mut(&mut self) -> &mut CudaSlice<T> {
        self.slice.as_mut().expect("pooled buffer used after drop")
    }
}

impl<T: PoolElem> Drop for Pooled<T> {
    fn drop(&mut self) {
        if let Some(s) = self.slice.take() {
            self.pool.give(T::ELEM, self.class, T::into_block(s));
        }
    }
}

/// The label of the buffers `upload` creates.
pub(crate) fn upload_label(n: &usize) -> For<'_> {
    For("upload of f32 values", n)
}
