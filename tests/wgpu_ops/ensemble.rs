//! ensemble: see the family's wgpu launcher.
