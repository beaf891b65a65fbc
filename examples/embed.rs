//! Embedding tickgrad in a Rust service that holds its data as `ndarray` arrays.
//!
//! ```text
//! cargo run --example embed                         # a small untrained TCN, to show the calls
//! cargo run --example embed -- model.safetensors    # a checkpoint written by `tickgrad train`
//! ```
//!
//! The loop stands in for a service: each "bar" arrives as a feature row, the streaming predictor answers for the
//! trailing window, and every few bars the same window is also scored in one batch call, as a service would
//! for a backfill or a cross-check. Feature rows must already be scaled as the model was trained (the
//! checkpoint's metadata holds the scaler); the synthetic rows here are standard normal.

use ndarray::{s, Array2, Axis};
use std::sync::Arc;
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::serve::StreamPredictor;
use tickgrad::tensor::Tensor;

const BARS: usize = 40;
const WINDOW: usize = 16;

fn main() -> tickgrad::Result<()> {
    let model = match std::env::args().nth(1) {
        Some(path) => {
            let ck = checkpoint::load(&path, Device::Cpu)?;
            println!("loaded {path}: a {} model", ck.model.config().kind());
            ck.model
        }
        None => {
            let cfg = ModelConfig::from_json(
                r#"{"kind":"tcn","n_features":6,"channels":[16,16],"kernel_size":3,"n_outputs":1}"#,
                "embed example",
            )?;
            println!("no checkpoint given: a fresh {} model with random weights", cfg.kind());
            Model::new(&cfg, 42, Device::Cpu)?
        }
    };
    let features = model.config().n_features();
    // One copy of the weights, shared by the per-bar predictor and the batch calls.
    let model = Arc::new(model);
    let mut stream = StreamPredictor::new(model.clone(), WINDOW)?;

    // The service's feature store: [bars, features], filled as bars arrive.
    let mut rng = Rng::new(7);
    let mut store = Array2::<f32>::zeros((BARS, features));
    for bar in 0..BARS {
        let row = store.row_mut(bar).into_slice().expect("a row of a standard-layout array is contiguous");
        row.iter_mut().for_each(|v| *v = rng.normal() as f32);

        let Some(answer) = stream.push_array(store.row(bar))? else {
            continue; // still filling the first window
        };
        let streamed = answer.values.to_vec();
        if bar % 8 == 7 {
            // The same window in one batch call: [1, WINDOW, features] -> [1, k].
            let window = store.slice(s![bar + 1 - WINDOW..=bar, ..]).insert_axis(Axis(0));
            let batch = model.predict_array(window)?;
            println!("bar {bar:>3}: stream {streamed:?}  batch {:?}", batch.row(0).to_vec());
        } else {
            println!("bar {bar:>3}: stream {streamed:?}");
        }
    }

    // Tensors for lower-level calls: an ndarray view in, an ndarray array out (here, the last window's input).
    let last = store.slice(s![BARS - WINDOW.., ..]).insert_axis(Axis(0));
    let x = Tensor::from_ndarray(last, model.device())?;
    let y = model.predict(&x)?.to_ndarray()?;
    println!("last window via tensors: shape {:?}, values {:?}", y.shape(), y.iter().collect::<Vec<_>>());
    Ok(())
}
