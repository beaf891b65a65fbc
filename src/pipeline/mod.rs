//! From a CSV of bars to an honest out-of-sample backtest: dataset assembly (features → fitted preprocessing →
//! scaled matrix → windows and labels on a purged chronological split), training a network end to end, the
//! boosted-trees member, the ensemble, and the backtest driver behind `tickgrad train / backtest / eval / run`.
//!
//! Leakage rules, each enforced in one place: features are causal (`data::features`); the regime threshold, the
//! scaler and the target scales are fitted on training rows only ([`dataset`], [`targets`]); the split purges
//! `horizon` samples between sets; the ensemble's member weights use only labels already realised
//! ([`ensemble`]); the confidence threshold comes from validation; backtests score the test samples only, with
//! positions held over the bar after the decision ([`backtest`]).

pub mod backtest;
pub mod build;
pub mod bundle;
pub mod curriculum;
pub mod dataset;
pub mod ensemble;
pub mod member;
pub mod meta;
pub mod meta_train;
pub mod predict;
pub mod pretrain;
pub mod regime;
pub mod resume;
pub mod tabular;
pub mod targets;
pub mod trials;

pub use backtest::{
    evaluate_calls, periods_per_year, run_backtest, test_calls, walk_forward_folds, BacktestOutcome, Costs,
    MemberSummary, ScoreRange, Scoring, TestCalls, WalkForwardRecipe,
};
pub use build::{train_ensemble, train_ensemble_resumable, EnsembleRecipe, MemberRecipe};
pub use bundle::{BacktestPredictor, EnsembleBundle, NetMember};
pub use dataset::{Dataset, DatasetSpec, Preprocessing};
pub use ensemble::{combine, Combined, Manifest, RollingSpec, Rule};
pub use member::{
    finetune_model, refit_member, resolve_config, train_model, train_model_from, train_model_resumable, TrainedModel,
};
pub use meta::ModelMeta;
pub use predict::MemberPredictions;
pub use regime::{train_per_regime, RegimeBundle, RegimeRecipe};
pub use resume::{resume_path, ResumeOptions};
pub use targets::TargetScale;
pub use trials::TrialCount;
