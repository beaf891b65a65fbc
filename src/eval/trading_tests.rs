use super::*;

fn cfg(bps_total: f64) -> TradingConfig {
    TradingConfig::hourly_24_7(bps_total / 2.0, bps_total / 2.0)
}

#[test]
fn eval_trading_from_signals_shifts_one_bar() {
    let h = HeldPositions::from_signals(&[1.0, -1.0, 0.0]).unwrap();
    assert_eq!(h.as_slice(), &[0.0, 1.0, -1.0]);
    assert!(HeldPositions::from_signals(&[]).unwrap().is_empty());
    assert!(HeldPositions::held(vec![f64::NAN]).is_err());
    assert_eq!(simple_returns(&[100.0, 110.0, 99.0]).unwrap(), vec![110.0 / 100.0 - 1.0, 99.0 / 110.0 - 1.0]);
    assert!(simple_returns(&[100.0, 0.0]).is_err());
}

#[test]
fn eval_trading_hand_computed_costs_and_trades() {
    let pos = HeldPositions::held(vec![0.0, 1.0, 1.0, 0.0, -1.0, -1.0, 1.0, 1.0]).unwrap();
    let r = [0.01, 0.02, -0.01, 0.03, -0.02, 0.01, 0.05, -0.01];
    let bt = backtest(&pos, &r, &cfg(10.0)).unwrap();
    let c = 0.001;
    let expect_cost = [0.0, c, 0.0, c, c, 0.0, 2.0 * c, 0.0];
    let expect_gross = [0.0, 0.02, -0.01, 0.0, 0.02, -0.01, 0.05, -0.01];
    for i in 0..8 {
        assert!((bt.costs[i] - expect_cost[i]).abs() < 1e-15);
        assert!((bt.gross[i] - expect_gross[i]).abs() < 1e-15);
        assert_eq!(bt.net[i], bt.gross[i] - bt.costs[i]);
    }
    assert_eq!(bt.trades.len(), 3);
    let t0 = &bt.trades[0];
    assert_eq!((t0.start, t0.end, t0.position, t0.closed), (1, 2, 1.0, true));
    assert!((t0.pnl - (1.019 * 0.99 * 0.999 - 1.0)).abs() < 1e-14);
    let t1 = &bt.trades[1];
    assert_eq!((t1.start, t1.end, t1.position, t1.closed), (4, 5, -1.0, true));
    // entry c on bar 4, exit c taken from the flip on bar 6
    assert!((t1.pnl - (1.019 * 0.99 * 0.999 - 1.0)).abs() < 1e-14);
    let t2 = &bt.trades[2];
    assert!(!t2.closed);
    // the flip's other c is the new trade's entry
    assert!((t2.pnl - (1.049 * 0.99 - 1.0)).abs() < 1e-14);
    let m = &bt.metrics;
    assert_eq!(m.n_trades, 2);
    assert_eq!(m.win_rate, Some(1.0));
    assert_eq!(m.profit_factor, None);
    assert!((m.turnover - 5.0 / 8.0).abs() < 1e-15);
    assert!((m.exposure - 6.0 / 8.0).abs() < 1e-15);
    assert!((m.total_costs - 0.005).abs() < 1e-15);
    let json = serde_json::to_string(m).unwrap();
    assert!(json.contains("\"profit_factor\":null"));
}

#[test]
fn eval_trading_profit_factor_and_resize() {
    // long wins 10%, short loses 5% (zero costs), then a resize 1 → 0.5 starts a new trade.
    let pos = HeldPositions::held(vec![1.0, 0.0, -1.0, 0.0, 1.0, 0.5, 0.5]).unwrap();
    let r = [0.1, 0.0, 0.05, 0.0, 0.02, 0.02, 0.02];
    let bt = backtest(&pos, &r, &cfg(0.0)).unwrap();
    let m = &bt.metrics;
    assert_eq!(m.n_trades, 3);
    let pf = m.profit_factor.unwrap();
    assert!((pf - (0.1 + 0.02) / 0.05).abs() < 1e-12, "{pf}");
    assert!((m.win_rate.unwrap() - 2.0 / 3.0).abs() < 1e-15);
    assert_eq!(bt.trades[3].position, 0.5);
    assert!(!bt.trades[3].closed);
}

#[test]
fn eval_trading_sharpe_sortino_drawdown_formulas() {
    let net = [0.1, -0.2, 0.05, -0.1, 0.3];
    let pos = HeldPositions::held(vec![1.0; 5]).unwrap();
    let c = TradingConfig { periods_per_year: 252.0, ..cfg(0.0) };
    let m = backtest(&pos, &net, &c).unwrap().metrics;
    let mu = 0.03;
    let sd = ((0.07f64.powi(2) + 0.23f64.powi(2) + 0.02f64.powi(2) + 0.13f64.powi(2) + 0.27f64.powi(2)) / 4.0).sqrt();
    assert!((m.sharpe - mu / sd * 252f64.sqrt()).abs() < 1e-12);
    assert!((m.volatility - sd * 252f64.sqrt()).abs() < 1e-12);
    let dd = ((0.04 + 0.01) / 5.0f64).sqrt();
    assert!((m.sortino - mu / dd * 252f64.sqrt()).abs() < 1e-12);
    assert!((m.max_drawdown - (0.8316 / 1.1 - 1.0)).abs() < 1e-12);
    assert!((m.total_return - (1.1 * 0.8 * 1.05 * 0.9 * 1.3 - 1.0)).abs() < 1e-12);
    assert!((m.cagr - ((1.0 + m.total_return).powf(252.0 / 5.0) - 1.0)).abs() < 1e-9);
    assert!((max_drawdown(&[-0.1]) + 0.1).abs() < 1e-15);
    assert_eq!(max_drawdown(&[0.1, 0.2]), 0.0);
}

#[test]
fn eval_trading_deflated_sharpe_matches_independent_python() {
    let r = [0.01, -0.005, 0.007, 0.002, -0.003, 0.012, -0.008, 0.004, 0.006, -0.001];
    // Python: statistics.NormalDist, population moments, V = 1/(T-1).
    assert!((deflated_sharpe(&r, 10, None) - 0.3205298514360152).abs() < 1e-12);
    assert!((deflated_sharpe(&r, 1, None) - 0.8551364205424632).abs() < 1e-12);
    assert!(deflated_sharpe(&r, 100, None) < deflated_sharpe(&r, 10, None));
    assert!(deflated_sharpe(&[0.0; 4], 1, None).is_nan());
}

#[test]
fn eval_trading_deflated_sharpe_at_the_commands_trial_counts() {
    // scripts/deflated_sharpe_reference.py (Python standard library, written apart from this crate): SR₀ and DSR
    // for N = 6 (run's ensemble: 5 members + 1 threshold) and 8 (with --trials 2), and a given trial variance.
    let r = [0.01, -0.005, 0.007, 0.002, -0.003, 0.012, -0.008, 0.004, 0.006, -0.001];
    assert!((expected_max_sharpe(6, 1.0 / 9.0) - 0.4333802626151946).abs() < 1e-12);
    assert!((expected_max_sharpe(8, 1.0 / 9.0) - 0.4863380258139365).abs() < 1e-12);
    assert!((expected_max_sharpe(6, 0.02) - 0.18386767351656655).abs() < 1e-12);
    assert_eq!(expected_max_sharpe(1, 0.5), 0.0);
    assert!((deflated_sharpe(&r, 6, None) - 0.42057758349795316).abs() < 1e-12);
    assert!((deflated_sharpe(&r, 8, None) - 0.3615649824671685).abs() < 1e-12);
    assert!((deflated_sharpe(&r, 6, Some(0.02)) - 0.7000394552409872).abs() < 1e-12);
    let pos = HeldPositions::held(vec![1.0; 10]).unwrap();
    let m = backtest(&pos, &r, &TradingConfig { n_trials: 6, ..cfg(0.0) }).unwrap().metrics;
    assert_eq!(m.n_trials, 6);
    assert!((m.deflated_sharpe - 0.42057758349795316).abs() < 1e-12);
}

#[test]
fn eval_trading_funding_hand_computed() {
    // Long, long, short, flat over four bars; funding events on bars 1 and 2 at +0.01% and −0.03%.
    let pos = HeldPositions::held(vec![1.0, 1.0, -1.0, 0.0]).unwrap();
    let r = [0.01, -0.02, 0.03, 0.01];
    let funding = [0.0, 1e-4, -3e-4, 5e-4];
    let bt = backtest_funded(&pos, &r, Some(&funding), &cfg(0.0)).unwrap();
    // A long pays +0.01% on bar 1; a short pays −(−0.03%) = −0.03%, i.e. receives 0.03%, on bar 2; flat pays none.
    assert_eq!(bt.funding, vec![0.0, 1e-4, 3e-4, 0.0]);
    let want_net = [0.01, -0.02 - 1e-4, -0.03 - 3e-4, 0.0];
    for (i, (got, want)) in bt.net.iter().zip(want_net).enumerate() {
        assert!((got - want).abs() < 1e-15, "bar {i}: {got} vs {want}");
    }
    assert!((bt.metrics.total_funding.unwrap() - 4e-4).abs() < 1e-18);
    // The long trade (bars 0–1) carries its funding: 1.01 · (1 − 0.02 − 0.0001) − 1.
    assert!((bt.trades[0].pnl - (1.01 * (1.0 - 0.0201) - 1.0)).abs() < 1e-15);
    let plain = backtest(&pos, &r, &cfg(0.0)).unwrap();
    assert_eq!(plain.metrics.total_funding, None);
    assert_eq!(plain.funding, vec![0.0; 4]);
    assert!(backtest_funded(&pos, &r, Some(&funding[..3]), &cfg(0.0)).is_err());
    assert!(backtest_funded(&pos, &r, Some(&[0.0, f64::NAN, 0.0, 0.0]), &cfg(0.0)).is_err());
}

#[test]
fn eval_trading_flat_is_null_not_nan() {
    let pos = HeldPositions::held(vec![0.0; 4]).unwrap();
    let bt = backtest(&pos, &[0.01, -0.02, 0.0, 0.03], &cfg(10.0)).unwrap();
    let m = &bt.metrics;
    assert!(m.sharpe.is_nan());
    assert_eq!(m.total_return, 0.0);
    assert_eq!(m.n_trades, 0);
    assert_eq!(m.win_rate, None);
    let json = serde_json::to_string(m).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"));
    assert!(json.contains("\"sharpe\":null"));
    let back: TradingMetrics = serde_json::from_str(&json).unwrap();
    assert!(back.sharpe.is_nan());
    assert_eq!(back.total_return, 0.0);
}

#[test]
fn eval_trading_rejects_bad_input() {
    let pos = HeldPositions::held(vec![1.0, 1.0]).unwrap();
    assert!(backtest(&pos, &[0.01], &cfg(1.0)).is_err());
    assert!(backtest(&HeldPositions::held(vec![]).unwrap(), &[], &cfg(1.0)).is_err());
    assert!(backtest(&pos, &[0.01, f64::NAN], &cfg(1.0)).is_err());
    assert!(backtest(&pos, &[0.01, -1.5], &cfg(1.0)).is_err());
    assert!(backtest(&pos, &[0.01, 0.0], &cfg(-1.0)).is_err());
    let zero_trials = TradingConfig { n_trials: 0, ..cfg(1.0) };
    assert!(backtest(&pos, &[0.01, 0.0], &zero_trials).is_err());
}
