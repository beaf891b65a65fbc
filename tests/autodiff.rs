//! The autograph end to end: finite differences (f32, central, relative tolerance) through tensor-level ops,
//! including the layout ops (reshape, permute, narrow, cat) whose backward is a copy, broadcasting, reductions and
//! fused ops composed the way the models compose them. Kernel-level f64 gradient checks live beside each kernel.

use tickgrad::autodiff::no_grad;
use tickgrad::device::Device;
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;
use tickgrad::Result;

fn rand(shape: &[usize], seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect(), shape, Device::Cpu).unwrap()
}

/// Compare autodiff gradients of Σ f(xs)·w with central differences for every element of every input.
fn check(what: &str, shapes: &[&[usize]], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let xs: Vec<Tensor> = shapes.iter().enumerate().map(|(i, s)| rand(s, 10 + i as u64).requires_grad()).collect();
    let y = f(&xs).unwrap();
    let w = rand(y.shape(), 99);
    let grads = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let _g = no_grad();
    let loss = |xs: &[Tensor]| -> f64 {
        let y = f(xs).unwrap().to_vec().unwrap();
        y.iter().zip(w.to_vec().unwrap()).map(|(a, b)| *a as f64 * b as f64).sum()
    };
    let eps = 1e-2f32;
    for (i, x) in xs.iter().enumerate() {
        let g = grads.get(x).unwrap_or_else(|| panic!("{what}: no gradient for input {i}")).to_vec().unwrap();
        let base = x.to_vec().unwrap();
        let mut max_err = 0.0f64;
        for j in 0..base.len() {
            let eval = |delta: f32| {
                let mut v = base.clone();
                v[j] += delta;
                let mut ys = xs.to_vec();
                ys[i] = Tensor::from_vec(v, x.shape(), Device::Cpu).unwrap();
                loss(&ys)
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps as f64);
            let err = (fd - g[j] as f64).abs() / (1.0 + fd.abs());
            max_err = max_err.max(err);
        }
        assert!(max_err < 2e-3, "{what}: input {i}: max finite-difference error {max_err:.2e}");
    }
}

#[test]
fn layout_ops() {
    check("reshape+permute", &[&[2, 3, 4]], |x| x[0].reshape(&[6, 4])?.reshape(&[2, 12])?.permute(&[1, 0]));
    check("permute 4d", &[&[2, 3, 2, 4]], |x| x[0].permute(&[2, 0, 3, 1]));
    check("narrow", &[&[3, 5, 2]], |x| x[0].narrow(1, 1, 3));
    check("cat", &[&[2, 3], &[2, 4]], |x| Tensor::cat(&[&x[0], &x[1]], 1));
    check("transpose", &[&[3, 4]], |x| x[0].transpose(0, 1));
}

#[test]
fn broadcasting_and_reductions() {
    check("add broadcast", &[&[2, 3, 4], &[4]], |x| x[0].add(&x[1]));
    check("mul broadcast", &[&[2, 1, 4], &[1, 3, 1]], |x| x[0].mul(&x[1]));
    check("div", &[&[3, 4], &[3, 4]], |x| x[0].div(&x[1].affine(0.3, 2.0)?));
    check("sum/mean/max", &[&[3, 4, 5]], |x| {
        let a = x[0].sum(1)?;
        let b = x[0].mean(2)?.sum(1)?.reshape(&[3, 1])?;
        let c = x[0].max(1)?;
        a.add(&c)?.mul(&b)?.add(&x[0].sum_all()?)
    });
    check("shared input used twice", &[&[4, 3]], |x| x[0].mul(&x[0])?.add(&x[0].exp()?));
}

#[test]
fn fused_ops_through_the_graph() {
    check("matmul batched + broadcast", &[&[2, 3, 4], &[4, 5]], |x| x[0].matmul(&x[1]));
    check("matmul transposes", &[&[2, 4, 3], &[2, 5, 4]], |x| x[0].matmul_t(&x[1], true, true));
    check("linear", &[&[3, 4], &[5, 4], &[5]], |x| x[0].linear(&x[1], Some(&x[2])));
    check("attention causal", &[&[1, 2, 4, 3], &[1, 2, 4, 3], &[1, 2, 4, 3]], |x| {
        Tensor::attention(&x[0], &x[1], &x[2], true, None)
    });
    check("conv1d dilated causal", &[&[2, 3, 7], &[4, 3, 3], &[4]], |x| x[0].conv1d(&x[1], Some(&x[2]), 2, 4));
    check("layer norm", &[&[3, 5], &[5], &[5]], |x| x[0].layer_norm(&x[1], &x[2], 1e-5));
    check("softmax chain", &[&[3, 4]], |x| x[0].softmax()?.log()?.add(&x[0].log_softmax()?));
    check("gelu/tanh/sigmoid", &[&[3, 4]], |x| x[0].gelu()?.add(&x[0].tanh()?)?.add(&x[0].sigmoid()?));
}

#[test]
fn no_grad_records_nothing_and_errors_are_values() {
    let x = rand(&[2, 2], 1).requires_grad();
    let y = {
        let _g = no_grad();
        x.relu().unwrap()
    };
    assert!(!y.tracks_grad());
    assert!(y.backward().is_err());
    let a = rand(&[2, 3], 2);
    let b = rand(&[4, 5], 3);
    let e = a.matmul(&b).unwrap_err().to_string();
    assert!(e.contains("[4, 5]"), "{e}");
    assert!(a.add(&rand(&[3, 2], 4)).is_err());
    assert!(a.narrow(1, 2, 2).is_err());
    assert!(a.reshape(&[7]).is_err());
}
