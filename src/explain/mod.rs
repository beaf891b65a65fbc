//! Explanations of a model's predictions: attention maps where the model has them, gradient×input and integrated
//! gradients per feature and time step (from the autodiff), and permutation feature importance on a validation
//! set; heatmaps are written as PNG by a small hand-rolled encoder ([`png`]) and, labelled, as SVG in `explain.html` ([`svg`]). `tickgrad explain` writes them all.

pub mod attention;
pub mod gradients;
pub mod permutation;
pub mod png;
pub mod svg;

pub use attention::{attention_maps, Attention};
pub use gradients::{
    gradient_x_input, input_gradients, integrated_gradients, Baseline, IgOptions, IntegratedGradients,
};
pub use permutation::{permutation_importance, Importance};
