//! Splits, labels, scaling and windows together: no training row's label window `[i, i + h]` reaches a
//! validation or test row, folds cover exactly what they claim, and the end-to-end path from CSV to a batch of
//! scaled windows uses training rows only for anything fitted.

use std::ops::Range;
use std::path::PathBuf;
use tickgrad::data::{
    chronological_split, compute_features, load_csv, make_labels, model_feature_names, out_of_sample_range,
    purged_kfold, valid_ends, walk_forward, Embargo, FeatureConfig, Scaler, ScalerKind, SplitFractions, TrainWindow,
    WalkForward, WindowSampler,
};

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(file)
}

/// No training row's label window `[i, i + h]` contains an evaluation row.
#[track_caller]
fn assert_no_label_overlap(train: &Range<usize>, eval: &Range<usize>, h: usize) {
    for i in train.clone() {
        assert!(i + h < eval.start || i >= eval.end, "train row {i} (label to {}) overlaps {eval:?}", i + h);
    }
}

#[test]
fn chronological_split_purges_and_covers() {
    for (n, h) in [(8784, 1), (8784, 24), (3335, 5), (100, 0)] {
        let s = chronological_split(n, SplitFractions::default(), h).unwrap();
        assert_eq!(s.train.start, 0);
        assert_eq!(s.test.end, n);
        assert_eq!(s.val.start, s.train.end + h);
        assert_eq!(s.test.start, s.val.end + h);
        assert_no_label_overlap(&s.train, &s.val, h);
        assert_no_label_overlap(&s.train, &s.test, h);
        assert_no_label_overlap(&s.val, &s.test, h);
        let usable = (n - 2 * h) as f64;
        assert!((s.train.len() as f64 / usable - 0.70).abs() < 0.01);
        assert!((s.val.len() as f64 / usable - 0.15).abs() < 0.01);
        assert_eq!(s.train.len() + s.val.len() + s.test.len() + 2 * h, n);
    }
    let custom = SplitFractions { train: 0.6, val: 0.2, test: 0.2 };
    assert_eq!(chronological_split(1000, custom, 0).unwrap().val, 600..800);
    assert!(chronological_split(5, SplitFractions::default(), 2).is_err());
    let bad = SplitFractions { train: 0.0, val: 0.5, test: 0.5 };
    assert!(chronological_split(1000, bad, 0).is_err());
}

#[test]
fn walk_forward_folds_stitch_into_one_out_of_sample_series() {
    let n = 1000;
    for train in [TrainWindow::Expanding { min: 300 }, TrainWindow::Rolling { size: 200 }] {
        let cfg = WalkForward { train, test_size: 64, purge: 12 };
        let folds = walk_forward(n, &cfg).unwrap();
        let oos = out_of_sample_range(&folds).unwrap();
        let first_train = match train {
            TrainWindow::Expanding { min } => min,
            TrainWindow::Rolling { size } => size,
        };
        assert_eq!(oos, first_train + 12..n);
        let mut next = oos.start;
        for (k, f) in folds.iter().enumerate() {
            assert_eq!(f.test.start, next, "test blocks are consecutive");
            assert!(f.test.len() == 64 || k == folds.len() - 1);
            next = f.test.end;
            assert_no_label_overlap(&f.train, &f.test, 12);
            assert_eq!(f.train.end + 12, f.test.start, "retrained right before each block");
            match train {
                TrainWindow::Expanding { .. } => assert_eq!(f.train.start, 0),
                TrainWindow::Rolling { size } => assert_eq!(f.train.len(), size),
            }
        }
        assert_eq!(next, n);
    }
    let cfg = WalkForward { train: TrainWindow::Expanding { min: 990 }, test_size: 10, purge: 10 };
    assert!(walk_forward(n, &cfg).is_err());
    let cfg = WalkForward { train: TrainWindow::Rolling { size: 10 }, test_size: 0, purge: 0 };
    assert!(walk_forward(n, &cfg).is_err());
}

#[test]
fn purged_kfold_purges_both_sides_and_embargoes() {
    let (n, h) = (1003, 7);
    for (embargo, extra) in [(Embargo::Bars(0), 0), (Embargo::Bars(15), 15), (Embargo::Fraction(0.01), 11)] {
        let folds = purged_kfold(n, 5, h, embargo).unwrap();
        let mut covered = 0;
        for f in &folds {
            assert_eq!(f.test.start, covered, "test blocks partition the rows");
            covered = f.test.end;
            for r in &f.train {
                assert_no_label_overlap(r, &f.test, h);
            }
            for r in &f.train {
                for i in r.clone() {
                    // No train row inside any test label's span [s, e − 1 + h], nor in the embargo after it.
                    assert!(i < f.test.start || i >= f.test.end + h + extra, "row {i} in fold {:?}", f.test);
                }
            }
            let kept: usize = f.train.iter().map(|r| r.len()).sum();
            let left = f.test.start.saturating_sub(h);
            let right = n.saturating_sub(f.test.end + h + extra);
            assert_eq!(kept, left + right);
        }
        assert_eq!(covered, n);
    }
    assert!(purged_kfold(10, 1, 0, Embargo::Bars(0)).is_err());
    assert!(purged_kfold(10, 2, 0, Embargo::Fraction(1.5)).is_err());
    assert!(purged_kfold(10, 2, 10, Embargo::Bars(0)).is_err(), "nothing left to train on");
}

#[test]
fn csv_to_scaled_window_batches() {
    let (bars, _) = load_csv(data_path("btcusdt_perp_1h_2020.csv")).unwrap();
    let (h, window) = (4, 48);
    let frame = compute_features(&bars, &FeatureConfig::default()).unwrap();
    let labels = make_labels(&bars, h, 0.002).unwrap();
    let names = model_feature_names(&frame);
    let first = frame.first_valid_row(&names).unwrap().unwrap();
    let ends = valid_ends(bars.len(), window, first, h);
    assert_eq!(ends, first + window - 1..bars.len() - h);
    assert!(ends.clone().all(|t| labels.direction[t].is_some()));

    let split = chronological_split(bars.len(), SplitFractions::default(), h).unwrap();
    let scaler = Scaler::fit(&frame, &names, split.train.clone(), ScalerKind::Robust).unwrap();
    let x = scaler.transform_fill0(&frame).unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
    let f = names.len();

    let sampler = WindowSampler::new(&x, f, window).unwrap();
    let train_ends: Vec<usize> = ends.clone().filter(|t| split.train.contains(t)).collect();
    assert_no_label_overlap(&(train_ends[0]..train_ends.last().unwrap() + 1), &split.val, h);
    let mut batches = 0;
    sampler
        .for_each_batch(&train_ends, 256, |batch_ends, buf| {
            for (b, &t) in batch_ends.iter().enumerate() {
                let win = &buf[b * window * f..(b + 1) * window * f];
                assert_eq!(&win[(window - 1) * f..], &x[t * f..(t + 1) * f], "last row of the window is bar t");
                assert_eq!(&win[..f], &x[(t + 1 - window) * f..(t + 2 - window) * f]);
            }
            batches += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(batches, train_ends.len().div_ceil(256));

    let back = Scaler::from_json(&scaler.to_json().unwrap()).unwrap();
    assert_eq!(back.transform_fill0(&frame).unwrap(), x, "a stored scaler scales identically");
}
