//! attention: see the family's wgpu launcher.
