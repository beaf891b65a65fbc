//! `tickgrad predict`: checkpoint + windows in, predictions out. A single window on the CPU goes through the
//! model's batch-1 plan (`serve::plan`: the same numbers to float rounding, without the autograd graph); larger
//! batches through `Model::predict`, whose products batch across windows.

use crate::device::Device;
use crate::io::npy::{read_npy, write_npy};
use crate::models::checkpoint;
use crate::serve::plan::{thread_pool, Plan};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::path::Path;

/// Windows per forward pass: bounds activation memory for very large inputs.
const CHUNK: usize = 256;

pub fn run(ckpt: &Path, input: &Path, out: &Path, device: Device) -> Result<()> {
    crate::backend::ensure_available(device)?;
    let ck = checkpoint::load(ckpt, device)?;
    let x = read_npy(input)?;
    let cfg = ck.model.config();
    let nf = cfg.n_features();
    let loc = input.display().to_string();
    let [b, t, f] = x.shape[..] else {
        return Err(Error::parse(loc, format!("input has shape {:?}; expected [batch, time, {nf}]", x.shape)));
    };
    if f != nf {
        return Err(Error::parse(
            loc,
            format!("input has {f} features (shape {:?}); the checkpoint's model expects {nf}", x.shape),
        ));
    }
    if b == 0 || t == 0 {
        return Err(Error::parse(loc, format!("input has an empty dimension (shape {:?})", x.shape)));
    }
    if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
        let (bi, ti, fi) = (i / (t * f), (i / f) % t, i % f);
        return Err(Error::parse(loc, format!("non-finite value at [{bi}, {ti}, {fi}]")));
    }
    let k = cfg.output_width();
    if b == 1 && device == Device::Cpu {
        // One window: the batch-1 plan (packed weights, no autograd graph), on every core.
        let mut y = vec![0.0f32; k];
        Plan::new(&ck.model, t)?.run_on(thread_pool(rayon::current_num_threads())?.as_ref(), &x.data, &mut y);
        return write_npy(out, &[b, k], &y);
    }
    let mut y = Vec::with_capacity(b * k);
    for start in (0..b).step_by(CHUNK) {
        let n = CHUNK.min(b - start);
        let xs = Tensor::from_vec(x.data[start * t * f..(start + n) * t * f].to_vec(), &[n, t, f], device)?;
        y.extend(ck.model.predict(&xs)?.to_vec()?);
    }
    write_npy(out, &[b, k], &y)
}
