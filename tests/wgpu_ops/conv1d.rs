//! conv1d: see the family's wgpu launcher.
