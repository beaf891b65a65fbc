//! lstm: see the family's wgpu launcher.
