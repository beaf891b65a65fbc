//! The model family of MODELS.md, plus the boosted-trees ensemble member.
pub mod gbdt;
