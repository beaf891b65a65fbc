use super::*;
use crate::eval::trading::backtest;
use crate::rng::Rng;

fn cfg() -> TradingConfig {
    TradingConfig::hourly_24_7(2.0, 1.0)
}

fn row<'a>(t: &'a HorizonTable, h: usize, name: &str) -> &'a HorizonRow {
    t.table.iter().find(|r| r.horizon == h && r.strategy == name).unwrap()
}

#[test]
fn eval_horizons_hand_computed_case() {
    // 8 bars; decisions at rows 1..5; the largest horizon 2 keeps rows 1..=5 (row 5 + 2 = 7 is the last bar).
    let c = [100.0, 101.0, 100.0, 102.0, 103.0, 101.0, 104.0, 104.0];
    let model = [0usize, 1, 0, 2, 1];
    let inputs = HorizonInputs {
        closes: &c,
        rows: 1..6,
        calls: vec![("model".into(), &model[..])],
        forecast: Some(&[0.01, -0.01, 0.0, 0.0, 0.02]),
        train_rows: 0..0,
        theta: 0.0,
        trading: cfg(),
        funding: None,
    };
    let t = horizon_table(&inputs, &[1, 2]).unwrap();
    assert_eq!(t.rows, 1..6);
    // H = 2 labels at rows 1..=5: 100→102 up, 101... row 2: 100→103 up, row 3: 102→101 down, row 4: 103→104 up,
    // row 5: 101→104 up; row 1: 101→102 up.
    let m2 = row(&t, 2, "model");
    // calls up, down, up, hold, down vs labels up, up, down, up, up: one hit.
    assert!((m2.accuracy - 1.0 / 5.0).abs() < 1e-15);
    let realised2: Vec<f64> = [(101.0, 102.0), (100.0, 103.0), (102.0, 101.0), (103.0, 104.0), (101.0, 104.0)]
        .iter()
        .map(|(a, b): &(f64, f64)| (b / a).ln())
        .collect();
    let flat_rmse = (realised2.iter().map(|x| x * x).sum::<f64>() / 5.0).sqrt();
    assert!((row(&t, 2, "always_flat").rmse.unwrap() - flat_rmse).abs() < 1e-15);
    let fc = [0.01, -0.01, 0.0, 0.0, 0.02];
    let model_rmse = (fc.iter().zip(&realised2).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / 5.0).sqrt();
    assert!((m2.rmse.unwrap() - model_rmse).abs() < 1e-15);
    assert_eq!(row(&t, 2, "buy_and_hold").rmse, None);
    assert!((row(&t, 2, "buy_and_hold").accuracy - 4.0 / 5.0).abs() < 1e-15);
    // Persistence at H = 2 calls the sign of close[r] / close[r − 2]: row 1 has no such past (hold).
    // Rows 2..=5: 100/100 → hold, 102/101 up, 103/100 up, 101/102 down vs labels up, down, up, up.
    assert!((row(&t, 2, "persistence").accuracy - 1.0 / 5.0).abs() < 1e-15);
    // Sharpe at H = 2: calls at rows 1, 3, 5 (indices 0, 2, 4) each held two bars: up, up, up, up, down.
    let asset: Vec<f64> = (1..6).map(|r| c[r] / c[r - 1] - 1.0).collect();
    let held = HeldPositions::from_signals(&[1.0, 1.0, 1.0, 1.0, -1.0]).unwrap();
    let want = backtest(&held, &asset, &cfg()).unwrap().metrics.sharpe;
    assert!((m2.sharpe - want).abs() < 1e-12, "{} vs {want}", m2.sharpe);
    // No training rows: no majority-class row.
    assert!(t.table.iter().all(|r| r.strategy != "majority_class"));
}

#[test]
fn eval_horizons_h1_sharpe_is_the_main_backtest_and_rows_purge_by_the_largest_horizon() {
    let mut rng = Rng::new(7);
    let mut c = vec![100.0f64];
    for _ in 0..300 {
        let last = *c.last().unwrap();
        c.push(last * (1.0 + 0.01 * (rng.f64() - 0.5)));
    }
    let calls: Vec<usize> = (0..200).map(|_| rng.below(3)).collect();
    let inputs = HorizonInputs {
        closes: &c,
        rows: 100..300,
        calls: vec![("model".into(), &calls[..])],
        forecast: None,
        train_rows: 1..90,
        theta: 1e-3,
        trading: cfg(),
        funding: None,
    };
    let t = horizon_table(&inputs, &[1, 24]).unwrap();
    // 301 closes: rows whose 24-bar label exists end at 301 − 24 = 277.
    assert_eq!(t.rows, 100..277);
    let n = t.rows.len();
    let signals: Vec<f64> = calls[..n].iter().map(|&k| class_to_position(k).unwrap()).collect();
    let asset: Vec<f64> = t.rows.clone().map(|r| c[r] / c[r - 1] - 1.0).collect();
    let main = backtest(&HeldPositions::from_signals(&signals).unwrap(), &asset, &cfg()).unwrap();
    assert!((row(&t, 1, "model").sharpe - main.metrics.sharpe).abs() < 1e-12);
    // The majority class learns each horizon's labels only from rows 1..77 (r + 24 <= 100).
    for h in [1usize, 24] {
        let labels: Vec<usize> =
            (1..77).filter_map(|r| direction_of((c[r + h] / c[r]).ln(), 1e-3).map(usize::from)).collect();
        let want = crate::eval::baselines::majority_class(&labels, 1).unwrap().predictions[0];
        let got = row(&t, h, "majority_class");
        let hits = t.rows.clone().filter(|&r| direction_of((c[r + h] / c[r]).ln(), 1e-3) == Some(want as u8)).count();
        assert!((got.accuracy - hits as f64 / n as f64).abs() < 1e-15, "h {h}");
    }
    // Funding paid on every bar by a long lowers buy-and-hold's Sharpe.
    let funding = vec![1e-4; c.len()];
    let funded = horizon_table(&HorizonInputs { funding: Some(&funding), ..inputs.clone() }, &[1]).unwrap();
    assert!(row(&funded, 1, "buy_and_hold").sharpe < row(&t, 1, "buy_and_hold").sharpe);
}

#[test]
fn eval_horizons_bad_input_is_an_error() {
    assert_eq!(parse_horizons("1, 4,24,168").unwrap(), vec![1, 4, 24, 168]);
    for bad in ["", "0", "1,x", "4,4", "-1"] {
        let e = parse_horizons(bad).unwrap_err().to_string();
        assert!(e.contains("horizons"), "{bad}: {e}");
    }
    let c = [100.0, 101.0, 102.0, 103.0];
    let calls = [0usize, 0];
    let inputs = HorizonInputs {
        closes: &c,
        rows: 1..3,
        calls: vec![("model".into(), &calls[..])],
        forecast: None,
        train_rows: 0..0,
        theta: 0.0,
        trading: cfg(),
        funding: None,
    };
    let e = horizon_table(&inputs, &[5]).unwrap_err().to_string();
    assert!(e.contains("5-bar future"), "{e}");
    let short = [0usize];
    let e = horizon_table(&HorizonInputs { calls: vec![("model".into(), &short[..])], ..inputs }, &[1]).unwrap_err();
    assert!(e.to_string().contains("model calls"), "{e}");
}
