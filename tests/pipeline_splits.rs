//! Leakage checks on the dataset and the walk-forward backtest: purge gaps between sets, preprocessing fitted on
//! training rows only, and walk-forward predictions that come only from models fitted strictly before them.

mod pipeline_support;

use pipeline_support::{bars, dataset, tiny, train_config, SLICE_ROWS};
use tickgrad::data::SplitFractions;
use tickgrad::device::Device;
use tickgrad::pipeline::{
    test_calls, train_model, walk_forward_folds, BacktestPredictor, Dataset, DatasetSpec, NetMember, TargetScale,
    WalkForwardRecipe,
};

#[test]
fn no_label_crosses_into_a_later_set() {
    for h in [1, 3, 8] {
        let ds = dataset(16, h);
        let s = &ds.split;
        assert!(s.train.end <= s.val.start && s.val.end <= s.test.start && s.test.end == ds.n_samples);
        // A label at row r reads closes r+1 ..= r+h; it must end before the next set's first decision bar.
        let last_train_label_end = ds.row(s.train.end - 1) + h;
        let last_val_label_end = ds.row(s.val.end - 1) + h;
        assert!(last_train_label_end < ds.row(s.val.start), "h={h}: train label reaches validation");
        assert!(last_train_label_end < ds.row(s.test.start), "h={h}: train label reaches test");
        assert!(last_val_label_end < ds.row(s.test.start), "h={h}: validation label reaches test");
        assert_eq!(s.val.start - s.train.end, h, "purge of exactly h samples");
        assert_eq!(s.test.start - s.val.end, h);
        // Every sample has a label and the last one's label stays inside the file.
        assert!(ds.row(ds.n_samples - 1) + h < ds.bars.len());
        assert!(ds.directions(0..ds.n_samples).is_ok());
        // Windows start on warmed-up rows: the first window's first row has every model feature finite.
        let first_row = ds.row(0) + 1 - 16;
        assert_eq!(ds.frame.first_valid_row(&ds.prep.features).unwrap(), Some(first_row));
    }
}

#[test]
fn preprocessing_ignores_everything_after_the_training_rows() {
    let spec = DatasetSpec { window: 16, horizon: 4, theta: 0.0008, fractions: SplitFractions::default() };
    let a = Dataset::fit(bars(SLICE_ROWS), &spec).unwrap();
    // Scramble every bar after the last training label (prices and volumes), keeping OHLC consistent.
    let cut = a.fit_rows.end + spec.horizon;
    let mut b = bars(SLICE_ROWS);
    for i in cut..b.len() {
        let f = 1.0 + 0.3 * ((i as f64) * 0.7).sin();
        for col in [&mut b.open, &mut b.high, &mut b.low, &mut b.close] {
            col[i] *= f;
        }
        b.volume[i] *= 3.0 - f;
    }
    let changed = Dataset::fit(b, &spec).unwrap();
    assert_ne!(changed.bars.close, a.bars.close);
    assert_eq!(changed.prep, a.prep, "scaler and regime thresholds depend on training rows only");
    assert_eq!(TargetScale::fit(&changed).unwrap(), TargetScale::fit(&a).unwrap());
    let f = a.n_features();
    assert_eq!(changed.matrix[..cut * f], a.matrix[..cut * f], "scaled rows before the change are untouched");
}

#[test]
fn walk_forward_blocks_tile_the_test_samples_and_train_strictly_before() {
    let ds = dataset(16, 2);
    let folds = walk_forward_folds(&ds, 40).unwrap();
    assert!(folds.len() > 2);
    assert_eq!(folds[0].test.start, ds.split.test.start);
    assert_eq!(folds.last().unwrap().test.end, ds.split.test.end);
    for w in folds.windows(2) {
        assert_eq!(w[0].test.end, w[1].test.start, "blocks are consecutive and disjoint");
    }
    for f in &folds {
        assert_eq!(f.train.start, 0, "expanding window");
        assert_eq!(f.train.end + 2, f.test.start, "purge of h samples before each block");
        assert!(f.test.len() <= 40);
    }
}

/// Walk-forward with every model refitted per block (the boosted trees from scratch, the network warm-started):
/// changing the bars of the last two blocks must leave every earlier call of both unchanged, and the refits must
/// change the network's calls (they do something).
#[test]
fn walk_forward_calls_do_not_see_later_bars() {
    let ds = dataset(16, 1);
    let cfg = tiny("tcn", ds.n_features());
    let t = train_model(&ds, &cfg, 16, &train_config(1, 2), None, &mut |_| {}).unwrap();
    let model_bytes = tickgrad::models::checkpoint::to_bytes(&mut { t.model }, &t.meta.to_map().unwrap()).unwrap();
    let load = || {
        let ck = tickgrad::models::checkpoint::load_bytes(&model_bytes, "mem", Device::Cpu).unwrap();
        BacktestPredictor::Single(NetMember { name: "tcn".into(), model: ck.model, meta: t.meta.clone() })
    };
    let every = 50;
    let refit = train_config(1, 1);
    let walk = WalkForwardRecipe { every, refit: Some(refit.clone()) };
    let calls = test_calls(&mut load(), &ds, Some(&walk), Device::Cpu).unwrap();
    assert_eq!(calls.samples, ds.split.test);
    assert_eq!(calls.classes.len(), ds.split.test.len());
    assert_eq!(calls.gbdt_classes.len(), ds.split.test.len());
    assert_eq!(calls.folds, walk_forward_folds(&ds, every).unwrap());

    // the same walk is reproducible, and differs from one that keeps the network's trained weights
    let again = test_calls(&mut load(), &ds, Some(&walk), Device::Cpu).unwrap();
    assert_eq!(again.probs, calls.probs, "seeded refits are reproducible");
    let frozen = WalkForwardRecipe { every, refit: None };
    let kept = test_calls(&mut load(), &ds, Some(&frozen), Device::Cpu).unwrap();
    assert_eq!(kept.probs.len(), calls.probs.len());
    assert_ne!(kept.probs, calls.probs, "the refits move the network's calls");

    // Change every bar from the second-to-last block on: the calls of all earlier blocks must not move.
    let last = &calls.folds[calls.folds.len() - 2].test;
    let from_row = ds.row(last.start);
    let mut b = ds.bars.clone();
    for i in from_row..b.len() {
        for col in [&mut b.open, &mut b.high, &mut b.low, &mut b.close] {
            col[i] *= 0.8;
        }
    }
    let ds2 = Dataset::with_preprocessing(b, ds.prep.clone(), SplitFractions::default()).unwrap();
    assert_eq!(ds2.split, ds.split);
    let calls2 = test_calls(&mut load(), &ds2, Some(&walk), Device::Cpu).unwrap();
    let keep = last.start - ds.split.test.start;
    assert_eq!(calls2.gbdt_classes[..keep], calls.gbdt_classes[..keep], "refits before the change are unchanged");
    assert_eq!(calls2.probs[..keep], calls.probs[..keep], "network refits before the change are unchanged");
    assert_ne!(calls2.gbdt_classes[keep..], calls.gbdt_classes[keep..], "the changed bars do reach later calls");
}
