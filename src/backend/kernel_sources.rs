//! The kernel sources, embedded in the binary so a deployed executable needs no source tree. build.rs lists
//! `kernels/*.cu`, `kernels/*.cuh` and `shaders/*.wgsl` and writes this table (`$OUT_DIR/kernel_sources.rs`),
//! so adding a file needs no list edited by hand:
//!
//! - `CUDA_SOURCES`: every `kernels/*.cu` as (path from the crate root, source), sorted by name
//!   (`backend::cuda::sources`);
//! - `CUDA_HEADERS`: every `kernels/*.cuh`, likewise, spliced in where a kernel file `#include`s it;
//! - `WGSL_SOURCES`: every `shaders/*.wgsl` but `common.wgsl`, likewise (`backend::wgpu::Shader::named`);
//! - `WGSL_COMMON`: `shaders/common.wgsl`, the helpers appended to every shader.

include!(concat!(env!("OUT_DIR"), "/kernel_sources.rs"));
