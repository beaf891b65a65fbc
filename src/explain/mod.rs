//! Explanations of a model's predictions: attention maps where the model has them, gradient×input and integrated
//! gradients per feature and time step (from the autodiff), permutation feature importance on a validation set,
//! and Shapley values (GradientSHAP over training baselines, exact KernelSHAP over column groups; TreeSHAP for
//! the boosted trees lives with them, `models::gbdt`); heatmaps are written as PNG by a small hand-rolled encoder
//! ([`png`]) and, labelled, as SVG in `explain.html` ([`svg`]). `tickgrad explain` writes them all.

pub mod attention;
pub mod gradients;
pub mod kernel_shap;
pub mod permutation;
pub mod png;
pub mod shap_gradient;
pub mod svg;

pub use attention::{attention_maps, Attention};
pub use gradients::{
    gradient_x_input, input_gradients, integrated_gradients, Baseline, IgOptions, IntegratedGradients,
};
pub use kernel_shap::{kernel_shap, kernel_shap_fn, shapley_values, Groups, KernelShap};
pub use permutation::{permutation_importance, Importance};
pub use shap_gradient::{gradient_shap, GradientShap, GradientShapOptions};

#[cfg(test)]
mod shap_tests;
