//! The `ndarray` feature: tensors from any view (non-contiguous ones copied in logical order) and back,
//! `Model::predict_array` against `Model::predict`, and `StreamPredictor::push_array` against `push`.
#![cfg(feature = "ndarray")]

use ndarray::{s, Array, Array2, Array3, ArrayView1, Axis, IxDyn};
use std::sync::Arc;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::serve::StreamPredictor;
use tickgrad::tensor::Tensor;

const NF: usize = 5;
const TCN: &str = r#"{"kind":"tcn","n_features":5,"channels":[8,6],"kernel_size":3,"n_outputs":2}"#;
const LSTM: &str = r#"{"kind":"lstm_attention","n_features":5,"hidden_size":6,"num_layers":1,"bidirectional":false}"#;

fn model(json: &str) -> Model {
    Model::new(&ModelConfig::from_json(json, "test config").unwrap(), 7, Device::Cpu).unwrap()
}

fn random(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = Rng::new(seed);
    Array3::from_shape_simple_fn(shape, || rng.normal() as f32)
}

#[test]
fn tensors_from_transposed_and_sliced_views_copy_in_logical_order() {
    let a = Array::from_shape_vec((3, 4), (0..12).map(|v| v as f32).collect()).unwrap();

    let t = Tensor::from_ndarray(a.view(), Device::Cpu).unwrap();
    assert_eq!((t.shape(), t.to_vec().unwrap()), (&[3usize, 4][..], a.iter().copied().collect::<Vec<_>>()));

    // Transposed: [4, 3], element (i, j) is a[j, i].
    let t = Tensor::from_ndarray(a.t(), Device::Cpu).unwrap();
    assert_eq!(t.shape(), &[4, 3]);
    assert_eq!(t.to_vec().unwrap(), vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);

    // Every other column of the last two rows, and a reversed column.
    let t = Tensor::from_ndarray(a.slice(s![1.., ..;2]), Device::Cpu).unwrap();
    assert_eq!((t.shape(), t.to_vec().unwrap()), (&[2usize, 2][..], vec![4., 6., 8., 10.]));
    let t = Tensor::from_ndarray(a.slice(s![..;-1, 1]), Device::Cpu).unwrap();
    assert_eq!((t.shape(), t.to_vec().unwrap()), (&[3usize][..], vec![9., 5., 1.]));

    // Dynamic rank and a permuted 3-d view.
    let b = Array::from_shape_vec(IxDyn(&[2, 3, 4]), (0..24).map(|v| v as f32).collect()).unwrap();
    let p = b.view().permuted_axes(IxDyn(&[2, 0, 1]));
    let t = Tensor::from_ndarray(p.view(), Device::Cpu).unwrap();
    assert_eq!(t.shape(), &[4, 2, 3]);
    assert_eq!(t.to_ndarray().unwrap(), p.to_owned());
}

#[test]
fn to_ndarray_round_trips_shape_and_values() {
    let t = Tensor::from_vec((0..24).map(|v| v as f32 * 0.5).collect(), &[2, 3, 4], Device::Cpu).unwrap();
    let a = t.to_ndarray().unwrap();
    assert_eq!(a.shape(), &[2, 3, 4]);
    assert_eq!(a[[1, 2, 3]], 11.5);
    assert_eq!(a[[0, 1, 0]], 2.0);
    let back = Tensor::from_ndarray(a.view(), Device::Cpu).unwrap();
    assert_eq!(back.to_vec().unwrap(), t.to_vec().unwrap());
    let scalar = Tensor::from_vec(vec![3.0], &[], Device::Cpu).unwrap().to_ndarray().unwrap();
    assert_eq!((scalar.ndim(), scalar[IxDyn(&[])]), (0, 3.0));
}

#[test]
fn predict_array_equals_predict_for_any_layout() {
    for json in [TCN, LSTM] {
        let m = model(json);
        let x = random((3, 12, NF), 1);
        let want = m.predict(&Tensor::from_vec(x.iter().copied().collect(), &[3, 12, NF], Device::Cpu).unwrap());
        let want = want.unwrap().to_vec().unwrap();
        let got = m.predict_array(x.view()).unwrap();
        assert_eq!(got.shape(), &[3, m.config().output_width()]);
        assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "{json}");

        // The same windows held feature-major [F, T, B] and viewed as [B, T, F]: a non-contiguous view.
        let fm = x.view().permuted_axes([2, 1, 0]).as_standard_layout().into_owned();
        let view = fm.view().permuted_axes([2, 1, 0]);
        assert!(!view.is_standard_layout());
        assert_eq!(m.predict_array(view).unwrap(), got, "{json}: permuted view");

        let e = m.predict_array(random((2, 12, NF + 1), 2).view()).unwrap_err().to_string();
        assert!(e.contains("model input") && e.contains("[2, 12, 6]"), "{e}");
        let e = m.predict_array(Array3::zeros((0, 12, NF)).view()).unwrap_err().to_string();
        assert!(e.contains("model input"), "{e}");
    }
}

#[test]
fn push_array_answers_as_push_for_dense_and_strided_rows() {
    for (json, window) in [(TCN, 8), (LSTM, 6)] {
        let m = Arc::new(model(json));
        let xs = random((1, 20, NF), 3).index_axis_move(Axis(0), 0); // [T, F]
        let by_time: Array2<f32> = xs.t().as_standard_layout().into_owned(); // [F, T]: a bar is a strided column
        let (mut a, mut b, mut c) = (
            StreamPredictor::new(m.clone(), window).unwrap(),
            StreamPredictor::new(m.clone(), window).unwrap(),
            StreamPredictor::new(m.clone(), window).unwrap(),
        );
        for t in 0..xs.nrows() {
            let row = xs.row(t);
            let want = a.push(row.as_slice().unwrap()).unwrap().map(|p| (p.bar, p.values.to_vec()));
            let dense = b.push_array(row).unwrap().map(|p| (p.bar, p.values.to_vec()));
            let column: ArrayView1<f32> = by_time.column(t);
            assert!(column.as_slice().is_none(), "the column view is strided");
            let strided = c.push_array(column).unwrap().map(|p| (p.bar, p.values.to_vec()));
            assert_eq!(dense, want, "{json} bar {t}: dense row");
            assert_eq!(strided, want, "{json} bar {t}: strided row");
            assert_eq!(want.is_some(), t + 1 >= window);
        }
        // Errors are push's, and leave the state alone: the next good row still answers.
        let wide = Array2::<f32>::zeros((NF + 1, 2));
        let e = c.push_array(wide.column(0)).unwrap_err().to_string();
        assert!(e.contains("feature row of bar 20"), "{e}");
        let mut bad = by_time.column(0).to_owned();
        bad[2] = f32::NAN;
        let e = c.push_array(bad.view()).unwrap_err().to_string();
        assert!(e.contains("column 2 is NaN"), "{e}");
        let want = a.push(xs.row(0).as_slice().unwrap()).unwrap().map(|p| p.values.to_vec());
        assert_eq!(c.push_array(by_time.column(0)).unwrap().map(|p| p.values.to_vec()), want);
        assert_eq!(c.bars(), 21);
    }
}

/// PyTorch's answers on the checked-in fixtures (fixtures/README.md), read through ndarray end to end.
#[test]
fn predict_array_matches_pytorch_on_the_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for name in ["lstm_attention_a", "multitask_a", "tcn_a", "transformer_a"] {
        let ck = tickgrad::models::checkpoint::load(dir.join(format!("{name}.safetensors")), Device::Cpu).unwrap();
        let x = tickgrad::io::npy::read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let want = tickgrad::io::npy::read_npy(dir.join(format!("{name}_expected.npy"))).unwrap();
        let x = Array3::from_shape_vec((x.shape[0], x.shape[1], x.shape[2]), x.data).unwrap();
        let got = ck.model.predict_array(x.view()).unwrap();
        assert_eq!(got.shape(), &want.shape[..], "{name}");
        let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want.data) {
            approx::assert_abs_diff_eq!(*g, *w, epsilon = 1e-4 * scale);
        }
    }
}
