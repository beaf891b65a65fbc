//! What `tickgrad backtest` and `tickgrad eval` accept as `--checkpoint`: one trained network (a `.safetensors`
//! written by `tickgrad train`), an ensemble (its directory or its `ensemble.json`) or per-regime models (their
//! directory or its `regimes.json`, `pipeline::regime`).

use super::dataset::Preprocessing;
use super::ensemble::{Manifest, MANIFEST_NAME};
use super::meta::ModelMeta;
use super::regime::{RegimeBundle, MANIFEST_NAME as REGIME_MANIFEST};
use crate::device::Device;
use crate::models::checkpoint;
use crate::models::gbdt::Gbdt;
use crate::models::Model;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A trained network with its metadata.
pub struct NetMember {
    pub name: String,
    pub model: Model,
    pub meta: ModelMeta,
}

impl NetMember {
    pub fn load(path: &Path, name: &str, device: Device) -> Result<NetMember> {
        let ck = checkpoint::load(path, device)?;
        let meta = ModelMeta::from_map(&ck.metadata, &path.display().to_string())?;
        if ck.model.config().n_features() != meta.prep.features.len() {
            return Err(Error::parse(
                path.display().to_string(),
                format!(
                    "the model takes {} features but the metadata lists {}",
                    ck.model.config().n_features(),
                    meta.prep.features.len()
                ),
            ));
        }
        Ok(NetMember { name: name.to_string(), model: ck.model, meta })
    }
}

pub struct EnsembleBundle {
    pub manifest: Manifest,
    pub members: Vec<NetMember>,
    pub gbdt: Gbdt,
    pub dir: PathBuf,
}

impl EnsembleBundle {
    /// Load `ensemble.json` and everything it names; every network must share the manifest's preprocessing.
    pub fn load(manifest_path: &Path, device: Device) -> Result<EnsembleBundle> {
        let source = manifest_path.display().to_string();
        let text = std::fs::read_to_string(manifest_path).map_err(|e| Error::io(manifest_path, e))?;
        let manifest = Manifest::from_json(&text, &source)?;
        let dir = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut members = Vec::new();
        for m in &manifest.members {
            let member = NetMember::load(&dir.join(&m.checkpoint), &m.name, device)?;
            if member.meta.prep != manifest.prep {
                return Err(Error::parse(
                    &source,
                    format!("member `{}` was trained with other preprocessing than the manifest lists", m.name),
                ));
            }
            members.push(member);
        }
        let gbdt = Gbdt::load(dir.join(&manifest.gbdt))?;
        if gbdt.n_features() != manifest.prep.features.len() {
            return Err(Error::parse(
                &source,
                format!(
                    "gbdt takes {} features, the manifest lists {}",
                    gbdt.n_features(),
                    manifest.prep.features.len()
                ),
            ));
        }
        Ok(EnsembleBundle { manifest, members, gbdt, dir })
    }
}

/// A trained predictor as backtested and evaluated over a whole dataset: one network or an ensemble. (Serving
/// bar by bar is `serve::StreamPredictor`.)
// One value per backtest, moved rarely: the few hundred bytes a `Single` carries inline (its metadata with the
// training history and config) cost nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum BacktestPredictor {
    Single(NetMember),
    Ensemble(EnsembleBundle),
    Regimes(RegimeBundle),
}

impl BacktestPredictor {
    /// A directory or a `.json` file is an ensemble, or per-regime models where it holds (or is) `regimes.json`;
    /// anything else is read as a single checkpoint.
    pub fn load(path: &Path, device: Device) -> Result<BacktestPredictor> {
        if path.is_dir() && path.join(REGIME_MANIFEST).exists() {
            return Ok(BacktestPredictor::Regimes(RegimeBundle::load(&path.join(REGIME_MANIFEST), device)?));
        }
        if path.file_name().is_some_and(|n| n == REGIME_MANIFEST) {
            return Ok(BacktestPredictor::Regimes(RegimeBundle::load(path, device)?));
        }
        if path.is_dir() {
            return Ok(BacktestPredictor::Ensemble(EnsembleBundle::load(&path.join(MANIFEST_NAME), device)?));
        }
        if !path.exists() {
            return Err(Error::io(path, "no such file or directory"));
        }
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            return Ok(BacktestPredictor::Ensemble(EnsembleBundle::load(path, device)?));
        }
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        Ok(BacktestPredictor::Single(NetMember::load(path, &name, device)?))
    }

    pub fn prep(&self) -> &Preprocessing {
        match self {
            BacktestPredictor::Single(m) => &m.meta.prep,
            BacktestPredictor::Ensemble(e) => &e.manifest.prep,
            BacktestPredictor::Regimes(r) => &r.manifest.prep,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            BacktestPredictor::Single(m) => {
                format!("{} ({}, target {})", m.name, m.model.config().kind(), m.meta.objective.name())
            }
            BacktestPredictor::Ensemble(e) => {
                let names: Vec<&str> = e.members.iter().map(|m| m.name.as_str()).collect();
                format!("ensemble of {} + gbdt", names.join(", "))
            }
            BacktestPredictor::Regimes(r) => r.describe(),
        }
    }
}
