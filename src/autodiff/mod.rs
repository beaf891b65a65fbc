//! Reverse-mode autodiff: the graph lives in the tensors (see `Tensor::from_op`); `backward` walks it in reverse
//! topological order and sums gradients per tensor. Backward rules live beside their ops and are written with the
//! op set, so the backward pass runs on the forward's device. `no_grad` records nothing, for inference.

use crate::tensor::Tensor;
use crate::{Error, Result};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

pub(crate) type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// How an op's output reaches its inputs' gradients.
pub(crate) struct Node {
    pub inputs: Vec<Tensor>,
    pub backward: BackwardFn,
}

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

pub fn is_enabled() -> bool {
    ENABLED.with(|e| e.get())
}

/// While the guard lives, ops on this thread record no graph.
pub struct NoGradGuard(bool);

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        ENABLED.with(|e| e.set(self.0));
    }
}

pub fn no_grad() -> NoGradGuard {
    NoGradGuard(ENABLED.with(|e| e.replace(false)))
}

/// Gradients keyed by tensor id.
#[derive(Default)]
pub struct Grads {
    map: HashMap<u64, Tensor>,
}

impl Grads {
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id())
    }
    /// Set the gradient of `t`: for gradients assembled outside `backward` (first-order meta-learning hands the
    /// optimizer the mean of gradients taken at other weights).
    pub fn insert(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        if g.shape() != t.shape() {
            return Err(Error::shape("gradient", t.shape(), g.shape()));
        }
        self.map.insert(t.id(), g);
        Ok(())
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// a·self + b·other, tensor by tensor (a tensor absent on one side counts as zero there): the gradients of
    /// a·L₁ + b·L₂ from those of L₁ and L₂, so a caller that needed both sets anyway (FGSM training) need not walk
    /// the two graphs a third time.
    pub fn weighted_sum(&self, a: f32, other: &Grads, b: f32) -> Result<Grads> {
        let _guard = no_grad();
        let mut map = HashMap::with_capacity(self.map.len().max(other.map.len()));
        for (&id, g) in &self.map {
            let sum = match other.map.get(&id) {
                Some(h) => g.scale(a)?.add(&h.scale(b)?)?,
                None => g.scale(a)?,
            };
            map.insert(id, sum);
        }
        for (&id, h) in &other.map {
            if !self.map.contains_key(&id) {
                map.insert(id, h.scale(b)?);
            }
        }
        Ok(Grads { map })
    }
}

/// Gradients of `root` (summed over its elements, i.e. seeded with ones) for every tensor that tracks them.
pub fn backward(root: &Tensor) -> Result<Grads> {
    if !root.tracks_grad() {
        return Err(Error::Invalid("backward(): the tensor does not depend on any tensor that requires grad".into()));
    }
    let seed = Tensor::full(1.0, root.shape(), root.device())?;
    backward_with(root, seed)
}

/// Gradients of Σ root·seed.
pub fn backward_with(root: &Tensor, seed: Tensor) -> Result<Grads> {
    let _guard = no_grad();
    if seed.shape() != root.shape() {
        return Err(Error::shape("backward seed", root.shape(), seed.shape()));
    }
    let order = topo_order(root);
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    grads.insert(root.id(), seed);
    let mut out = Grads::default();
    for t in order.iter().rev() {
        let Some(g) = grads.remove(&t.id()) else { continue };
        if let Some(node) = t.node() {
            let input_grads = (node.backward)(&g)?;
            for (inp, ig) in node.inputs.iter().zip(input_grads) {
                let Some(ig) = ig else { continue };
                if !inp.tracks_grad() {
                    continue;
                }
                if ig.shape() != inp.shape() {
                    return Err(Error::shape("gradient (internal backward rule)", inp.shape(), ig.shape()));
                }
                let acc = match grads.remove(&inp.id()) {
                    Some(prev) => prev.add(&ig)?,
                    None => ig,
                };
                grads.insert(inp.id(), acc);
            }
        }
        if t.is_leaf_param() {
            out.map.insert(t.id(), g);
        }
    }
    Ok(out)
}

/// Tensors reachable from `root`, inputs before outputs (iterative DFS: deep LSTM graphs would overflow recursion).
fn topo_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.node() {
            for inp in &node.inputs {
                if inp.tracks_grad() && !seen.contains(&inp.id()) {
                    stack.push((inp.clone(), false));
                }
            }
        }
    }
    order
}
