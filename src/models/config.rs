//! Model configs: the reference classes' constructor arguments, as JSON with a `kind` field (the
//! `tickgrad.config` metadata of a checkpoint). Defaults are the reference's defaults; unknown fields are errors.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    pub n_features: usize,
    #[serde(default = "d512")]
    pub d_model: usize,
    #[serde(default = "d8")]
    pub nhead: usize,
    #[serde(default = "d6")]
    pub num_layers: usize,
    #[serde(default = "d2048")]
    pub dim_feedforward: usize,
    #[serde(default = "p01")]
    pub dropout: f32,
    #[serde(default = "d3")]
    pub n_classes: usize,
    #[serde(default = "d512")]
    pub max_len: usize,
    #[serde(default)]
    pub causal: bool,
    #[serde(default = "last")]
    pub pooling: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmAttentionConfig {
    #[serde(default = "d10")]
    pub n_features: usize,
    #[serde(default = "d256")]
    pub hidden_size: usize,
    #[serde(default = "d3")]
    pub num_layers: usize,
    #[serde(default = "yes")]
    pub bidirectional: bool,
    #[serde(default = "p02")]
    pub dropout: f32,
    #[serde(default = "d1")]
    pub n_outputs: usize,
    /// The seed design's variant (docs/MODELS.md): each LSTM layer after the first adds its input to its output.
    /// Off by default and then not written, so the JSON (and fingerprints) of existing configs are unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub residual: bool,
    /// BatchNorm1d over the D channels (statistics over batch and time) after every LSTM layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub batch_norm: bool,
    /// Width of a dense ReLU layer between the attention context and the output; 0 = none (the plain head).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dense_hidden: usize,
}

impl LstmAttentionConfig {
    /// Residual connections or batch norm need each layer's output, so the LSTM runs as one single-layer LSTM per
    /// layer (PyTorch `nn.ModuleList`, names `lstm.{i}.*_l0`) instead of one stacked `nn.LSTM`.
    pub fn per_layer(&self) -> bool {
        self.residual || self.batch_norm
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcnConfig {
    #[serde(default = "d10")]
    pub n_features: usize,
    #[serde(default = "tcn_channels")]
    pub channels: Vec<usize>,
    #[serde(default = "d3")]
    pub kernel_size: usize,
    #[serde(default = "p02")]
    pub dropout: f32,
    #[serde(default = "d1")]
    pub n_outputs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTaskConfig {
    #[serde(default = "d10")]
    pub n_features: usize,
    #[serde(default = "d64")]
    pub channels: usize,
    #[serde(default = "d4")]
    pub n_blocks: usize,
    #[serde(default = "d3")]
    pub kernel_size: usize,
    #[serde(default = "d128")]
    pub head_hidden: usize,
}

fn d1() -> usize {
    1
}
fn d3() -> usize {
    3
}
fn d4() -> usize {
    4
}
fn d6() -> usize {
    6
}
fn d8() -> usize {
    8
}
fn d10() -> usize {
    10
}
fn d64() -> usize {
    64
}
fn d128() -> usize {
    128
}
fn d256() -> usize {
    256
}
fn d512() -> usize {
    512
}
fn d2048() -> usize {
    2048
}
fn p01() -> f32 {
    0.1
}
fn p02() -> f32 {
    0.2
}
fn yes() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn last() -> String {
    "last".into()
}
fn tcn_channels() -> Vec<usize> {
    vec![64; 8]
}

/// A model config with its kind.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    Transformer(TransformerConfig),
    LstmAttention(LstmAttentionConfig),
    Tcn(TcnConfig),
    MultiTask(MultiTaskConfig),
}

pub const KINDS: [&str; 4] = ["transformer", "lstm_attention", "tcn", "multitask"];

impl ModelConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Transformer(_) => "transformer",
            ModelConfig::LstmAttention(_) => "lstm_attention",
            ModelConfig::Tcn(_) => "tcn",
            ModelConfig::MultiTask(_) => "multitask",
        }
    }

    /// Parse `{"kind": ..., args...}`; `source` names where the JSON came from, for error messages.
    pub fn from_json(text: &str, source: &str) -> Result<ModelConfig> {
        let mut v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::parse(source, format!("config is not valid JSON: {e}")))?;
        let obj = v.as_object_mut().ok_or_else(|| Error::parse(source, "config must be a JSON object"))?;
        let kind = obj.remove("kind").and_then(|k| k.as_str().map(str::to_string)).ok_or_else(|| {
            Error::parse(
                source,
                "config field `kind` is missing (expected one of transformer, lstm_attention, tcn, multitask)",
            )
        })?;
        Self::from_kind_value(&kind, v, source)
    }

    /// Parse constructor arguments for a known kind (the `kind` key already removed or absent).
    pub fn from_kind_value(kind: &str, mut v: serde_json::Value, source: &str) -> Result<ModelConfig> {
        if let Some(o) = v.as_object_mut() {
            o.remove("kind");
        }
        let err = |e: serde_json::Error| Error::parse(source, format!("config for `{kind}`: {e}"));
        let cfg = match kind {
            "transformer" => ModelConfig::Transformer(serde_json::from_value(v).map_err(err)?),
            "lstm_attention" => ModelConfig::LstmAttention(serde_json::from_value(v).map_err(err)?),
            "tcn" => ModelConfig::Tcn(serde_json::from_value(v).map_err(err)?),
            "multitask" => ModelConfig::MultiTask(serde_json::from_value(v).map_err(err)?),
            other => {
                return Err(Error::parse(
                    source,
                    format!("config field `kind`: unknown model {other:?}, expected one of {KINDS:?}"),
                ))
            }
        };
        cfg.validate().map_err(|e| Error::parse(source, e.to_string()))?;
        Ok(cfg)
    }

    /// The seed config of docs/MODELS.md for `kind` with `n_features` inputs.
    pub fn seed(kind: &str, n_features: usize) -> Result<ModelConfig> {
        let v = serde_json::json!({ "n_features": n_features });
        Self::from_kind_value(kind, v, "seed config")
    }

    pub fn to_json(&self) -> String {
        let mut v = match self {
            ModelConfig::Transformer(c) => serde_json::to_value(c),
            ModelConfig::LstmAttention(c) => serde_json::to_value(c),
            ModelConfig::Tcn(c) => serde_json::to_value(c),
            ModelConfig::MultiTask(c) => serde_json::to_value(c),
        }
        .expect("configs serialise");
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), self.kind().into());
        if let Some(o) = v.as_object_mut() {
            out.append(o);
        }
        serde_json::Value::Object(out).to_string()
    }

    pub fn n_features(&self) -> usize {
        match self {
            ModelConfig::Transformer(c) => c.n_features,
            ModelConfig::LstmAttention(c) => c.n_features,
            ModelConfig::Tcn(c) => c.n_features,
            ModelConfig::MultiTask(c) => c.n_features,
        }
    }

    /// Width k of the `predict` output.
    pub fn output_width(&self) -> usize {
        match self {
            ModelConfig::Transformer(c) => c.n_classes,
            ModelConfig::LstmAttention(c) => c.n_outputs,
            ModelConfig::Tcn(c) => c.n_outputs,
            ModelConfig::MultiTask(_) => 6,
        }
    }

    /// The default window of docs/MODELS.md.
    pub fn default_window(&self) -> usize {
        match self {
            ModelConfig::Transformer(_) => 60,
            ModelConfig::LstmAttention(_) => 120,
            ModelConfig::Tcn(_) => 256,
            ModelConfig::MultiTask(_) => 120,
        }
    }

    /// A lower bound on the number of stored weights a model of this config has (its largest matrices), and the
    /// number of floats it allocates besides them (the transformer's positional table). Computed without
    /// allocating and saturating, so a loader can refuse a config that a file's tensors cannot hold before
    /// `Model::new` tries to allocate it (a checkpoint whose config says `d_model: 10^12`).
    pub fn weight_bounds(&self) -> (u128, u128) {
        let u = |v: usize| v as u128;
        let sum = |it: &mut dyn Iterator<Item = u128>| it.fold(0u128, u128::saturating_add);
        match self {
            ModelConfig::Transformer(c) => {
                let d = u(c.d_model);
                let layer = (4 * d).saturating_mul(d).saturating_add((2 * d).saturating_mul(u(c.dim_feedforward)));
                let stored = sum(&mut [
                    u(c.n_features).saturating_mul(d),
                    u(c.num_layers).saturating_mul(layer),
                    d.saturating_mul(u(c.n_classes)),
                ]
                .into_iter());
                (stored, u(c.max_len).saturating_mul(d))
            }
            ModelConfig::LstmAttention(c) => {
                let (h, dirs) = (u(c.hidden_size), if c.bidirectional { 2 } else { 1 });
                let first = (4 * h).saturating_mul(u(c.n_features).saturating_add(h));
                let rest = u(c.num_layers.saturating_sub(1))
                    .saturating_mul((4 * h).saturating_mul(h.saturating_mul(dirs) + h));
                let dense = u(c.dense_hidden).saturating_mul(h.saturating_mul(dirs));
                (sum(&mut [first, rest].into_iter()).saturating_mul(dirs).saturating_add(dense), 0)
            }
            ModelConfig::Tcn(c) => {
                let k = u(c.kernel_size);
                let mut prev = u(c.n_features);
                let mut total = 0u128;
                for &ch in &c.channels {
                    let ch = u(ch);
                    let block = prev.saturating_mul(ch).saturating_add(ch.saturating_mul(ch)).saturating_mul(k);
                    total = total.saturating_add(block);
                    prev = ch;
                }
                (total.saturating_add(prev.saturating_mul(u(c.n_outputs))), 0)
            }
            ModelConfig::MultiTask(c) => {
                let (ch, k) = (u(c.channels), u(c.kernel_size));
                let stem = u(c.n_features).saturating_mul(ch).saturating_mul(k);
                let blocks = u(c.n_blocks).saturating_mul(ch.saturating_mul(ch).saturating_mul(k));
                let heads = (4 * ch).saturating_mul(u(c.head_hidden));
                (sum(&mut [stem, blocks, heads].into_iter()), 0)
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        let pos = |field: &str, v: usize| if v == 0 { Err(Error::config(field, "must be positive")) } else { Ok(()) };
        let prob = |field: &str, p: f32| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err(Error::config(field, format!("must be in [0, 1), found {p}")))
            }
        };
        match self {
            ModelConfig::Transformer(c) => {
                for (f, v) in [
                    ("n_features", c.n_features),
                    ("d_model", c.d_model),
                    ("nhead", c.nhead),
                    ("num_layers", c.num_layers),
                    ("dim_feedforward", c.dim_feedforward),
                    ("n_classes", c.n_classes),
                    ("max_len", c.max_len),
                ] {
                    pos(f, v)?;
                }
                if !c.d_model.is_multiple_of(c.nhead) {
                    return Err(Error::config(
                        "nhead",
                        format!("d_model {} is not divisible by nhead {}", c.d_model, c.nhead),
                    ));
                }
                if c.pooling != "last" && c.pooling != "mean" {
                    return Err(Error::config(
                        "pooling",
                        format!("expected \"last\" or \"mean\", found {:?}", c.pooling),
                    ));
                }
                prob("dropout", c.dropout)
            }
            ModelConfig::LstmAttention(c) => {
                for (f, v) in [
                    ("n_features", c.n_features),
                    ("hidden_size", c.hidden_size),
                    ("num_layers", c.num_layers),
                    ("n_outputs", c.n_outputs),
                ] {
                    pos(f, v)?;
                }
                prob("dropout", c.dropout)
            }
            ModelConfig::Tcn(c) => {
                for (f, v) in [("n_features", c.n_features), ("kernel_size", c.kernel_size), ("n_outputs", c.n_outputs)]
                {
                    pos(f, v)?;
                }
                if c.channels.is_empty() || c.channels.contains(&0) {
                    return Err(Error::config("channels", "must be a non-empty list of positive channel counts"));
                }
                if c.channels.len() > 30 {
                    return Err(Error::config("channels", "more than 30 blocks would need dilations beyond 2^30"));
                }
                prob("dropout", c.dropout)
            }
            ModelConfig::MultiTask(c) => {
                for (f, v) in [
                    ("n_features", c.n_features),
                    ("channels", c.channels),
                    ("kernel_size", c.kernel_size),
                    ("head_hidden", c.head_hidden),
                ] {
                    pos(f, v)?;
                }
                Ok(())
            }
        }
    }
}
