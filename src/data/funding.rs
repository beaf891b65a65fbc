//! Perpetual-futures funding on the bar axis. Binance (and most venues) settle funding every 8 h at 00:00,
//! 08:00 and 16:00 UTC: whoever holds a position at that instant pays `position × rate` (a long pays a positive
//! rate to the shorts). A backtest that ignores it overstates a long-biased strategy in a bull market, when rates
//! run positive for weeks.
//!
//! Alignment (the backtest's, `eval::trading`): bar `i` opens at `timestamp[i]` and the position decided at the
//! previous close is held from that instant to the bar's close. A funding event at time `T` is therefore paid by
//! the position held over the bar with `timestamp[i] <= T < timestamp[i] + interval`, at the `funding_rate` of that
//! bar; the column's values on bars without an event are not used. A bar spanning several events (daily bars) pays
//! the bar's rate once per event.

use super::ohlcv::Bars;
use crate::data::csv::FUNDING_RATE;
use crate::{Error, Result};

/// Milliseconds between funding events.
pub const FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;

/// The funding rate each bar's held position pays (the sum over the funding events inside the bar), or `None`
/// when the bars have no `funding_rate` column. The last bar is taken to last as long as the one before it.
pub fn funding_per_bar(bars: &Bars) -> Result<Option<Vec<f64>>> {
    let Some(rates) = bars.column(FUNDING_RATE) else {
        return Ok(None);
    };
    bars.check_aligned()?;
    let ts = &bars.timestamp;
    let mut out = Vec::with_capacity(ts.len());
    for i in 0..ts.len() {
        let end = match (ts.get(i + 1), i.checked_sub(1).map(|p| ts[p])) {
            (Some(&next), _) => next,
            (None, Some(prev)) => ts[i] + (ts[i] - prev),
            (None, None) => ts[i] + 1,
        };
        if end <= ts[i] {
            return Err(Error::Invalid(format!(
                "funding: bar {i} ends at {end} ms, not after its open {} ms (timestamps must increase)",
                ts[i]
            )));
        }
        out.push(events_in(ts[i], end) as f64 * rates[i]);
    }
    Ok(Some(out))
}

/// Number of funding instants (multiples of 8 h since the epoch, i.e. 00:00/08:00/16:00 UTC) in `[start, end)`.
pub fn events_in(start: i64, end: i64) -> i64 {
    let first = start.div_euclid(FUNDING_INTERVAL_MS) + i64::from(start.rem_euclid(FUNDING_INTERVAL_MS) != 0);
    let past_last = (end - 1).div_euclid(FUNDING_INTERVAL_MS) + 1;
    (past_last - first).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const H: i64 = 3_600_000;

    fn hourly(start: i64, rates: &[f64]) -> Bars {
        let n = rates.len();
        Bars {
            timestamp: (0..n as i64).map(|i| start + i * H).collect(),
            open: vec![1.0; n],
            high: vec![1.0; n],
            low: vec![1.0; n],
            close: vec![1.0; n],
            volume: vec![1.0; n],
            extra: BTreeMap::from([(FUNDING_RATE.to_string(), rates.to_vec())]),
        }
    }

    #[test]
    fn funding_events_fall_on_00_08_16_utc() {
        // 2020-01-01 00:00 UTC is a funding instant; 22:00 the day before is not.
        let midnight = 1_577_836_800_000;
        assert_eq!(events_in(midnight, midnight + H), 1);
        assert_eq!(events_in(midnight + H, midnight + 2 * H), 0);
        assert_eq!(events_in(midnight - 2 * H, midnight), 0);
        assert_eq!(events_in(midnight + 8 * H, midnight + 9 * H), 1);
        assert_eq!(events_in(midnight, midnight + 24 * H), 3);
        assert_eq!(events_in(midnight + 30 * 60_000, midnight + 24 * H), 2);
    }

    #[test]
    fn funding_per_hourly_bar_charges_only_event_bars() {
        // 18 hourly bars from 23:00: events at the bars opening 00:00 (index 1) and 08:00 (index 9) and 16:00 (17).
        let midnight = 1_577_836_800_000;
        let rates: Vec<f64> = (0..18).map(|i| 1e-4 * (i as f64 + 1.0)).collect();
        let f = funding_per_bar(&hourly(midnight - H, &rates)).unwrap().unwrap();
        for (i, v) in f.iter().enumerate() {
            let want = if matches!(i, 1 | 9 | 17) { rates[i] } else { 0.0 };
            assert_eq!(*v, want, "bar {i}");
        }
        let mut no_column = hourly(midnight, &[0.0; 3]);
        no_column.extra.clear();
        assert_eq!(funding_per_bar(&no_column).unwrap(), None);
    }

    #[test]
    fn daily_bars_pay_three_events() {
        let midnight = 1_577_836_800_000;
        let mut b = hourly(midnight, &[1e-4, 2e-4]);
        b.timestamp = vec![midnight, midnight + 24 * H];
        let f = funding_per_bar(&b).unwrap().unwrap();
        assert!((f[0] - 3e-4).abs() < 1e-18 && (f[1] - 6e-4).abs() < 1e-18);
    }
}
