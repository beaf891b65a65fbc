//! Where a command's bars come from, shared by every command that reads them: a CSV (`--data FILE.csv`) or a
//! series in the store (`--db URL --symbol S --interval I [--from T] [--to T]`).

use crate::data::{load_csv, Bars, GapReport};
use crate::io::hash::Fnv1a;
use crate::store::{self, SeriesKey, TimeRange};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BarArgs {
    /// OHLCV CSV (docs/DATA.md).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Read the bars from the store instead: sqlite:PATH or postgres://USER@HOST:PORT/DATABASE (docs/DATA.md),
    /// with --symbol and --interval.
    #[arg(long)]
    pub db: Option<String>,
    /// With --db: the series' symbol (as imported by `tickgrad db import`).
    #[arg(long)]
    pub symbol: Option<String>,
    /// With --db: the series' bar interval (as imported, e.g. 1h).
    #[arg(long)]
    pub interval: Option<String>,
    /// With --db: the first bar's open time, inclusive: Unix milliseconds, or YYYY-MM-DD[THH:MM] UTC.
    #[arg(long)]
    pub from: Option<String>,
    /// With --db: bars opening strictly before this time (same forms as --from).
    #[arg(long)]
    pub to: Option<String>,
}

/// Bars as a command reads them, with what to call them in messages and the resume fingerprint of their source.
#[derive(Debug)]
pub struct LoadedBars {
    pub bars: Bars,
    pub gaps: GapReport,
    pub name: String,
    pub identity: BTreeMap<String, String>,
}

impl BarArgs {
    /// The store and series named by --db/--symbol/--interval, if --db is given (checked).
    pub fn store_series(&self) -> Result<Option<(String, SeriesKey)>> {
        let Some(db) = &self.db else {
            let stray =
                [("symbol", &self.symbol), ("interval", &self.interval), ("from", &self.from), ("to", &self.to)];
            if let Some((name, _)) = stray.iter().find(|(_, v)| v.is_some()) {
                return Err(Error::config(*name, "selects bars in a store: give --db URL too"));
            }
            return Ok(None);
        };
        let (Some(symbol), Some(interval)) = (&self.symbol, &self.interval) else {
            return Err(Error::config("db", "a store holds many series: give --symbol and --interval too"));
        };
        Ok(Some((db.clone(), SeriesKey::new(symbol, interval)?)))
    }

    /// The --from/--to range (checked: from before to).
    pub fn range(&self) -> Result<TimeRange> {
        let from = self.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
        let to = self.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(Error::config("to", format!("must be after --from ({f} ms), found {t} ms")));
            }
        }
        Ok(TimeRange { from, to })
    }

    /// Load the bars: from --data, else the store, else `default_csv` when the command has one.
    pub fn load(&self, default_csv: Option<&Path>) -> Result<LoadedBars> {
        self.load_last(default_csv, None)
    }

    /// [`BarArgs::load`], keeping only the most recent `last` bars of the store (`finetune --last N`).
    pub fn load_last(&self, default_csv: Option<&Path>, last: Option<usize>) -> Result<LoadedBars> {
        let series = self.store_series()?;
        match (&self.data, series) {
            (Some(_), Some(_)) => Err(Error::config("db", "give --data FILE.csv or --db URL, not both")),
            (Some(path), None) => {
                if last.is_some() {
                    return Err(Error::config("last", "reads the most recent bars of a store: give --db"));
                }
                load_file(path)
            }
            (None, Some((url, key))) => load_store(&url, &key, self.range()?, last),
            (None, None) => match default_csv {
                Some(path) if last.is_none() => load_file(path),
                _ => Err(Error::config("data", "give --data FILE.csv, or --db URL with --symbol and --interval")),
            },
        }
    }
}

fn load_file(path: &Path) -> Result<LoadedBars> {
    let (bars, gaps) = load_csv(path)?;
    let identity = super::train::data_identity(path)?;
    Ok(LoadedBars { bars, gaps, name: path.display().to_string(), identity })
}

fn load_store(url: &str, key: &SeriesKey, range: TimeRange, last: Option<usize>) -> Result<LoadedBars> {
    let mut s = store::open(url, false)?;
    let bars = match last {
        Some(0) => return Err(Error::config("last", "must be at least 1 bar")),
        Some(n) if range == TimeRange::ALL => s.last_bars(key, n)?,
        Some(_) => return Err(Error::config("last", "takes the most recent bars; give it or --from/--to, not both")),
        None => s.bars(key, range)?,
    };
    let name = format!("{} {key}", s.describe());
    if bars.is_empty() {
        let series = s.series()?;
        return Err(match series.iter().find(|i| &i.key == key) {
            Some(info) => Error::Invalid(format!("{name}: no bars in {range}; the store holds {info}")),
            None => {
                let held: Vec<String> = series.iter().map(|i| i.to_string()).collect();
                let held = if held.is_empty() { "nothing yet".to_string() } else { held.join("; ") };
                Error::Invalid(format!("{name}: no such series; the store holds {held}"))
            }
        });
    }
    let gaps = GapReport::from_timestamps(&bars.timestamp);
    let identity = BTreeMap::from([("data".to_string(), fingerprint(&bars))]);
    Ok(LoadedBars { bars, gaps, name, identity })
}

/// A resume fingerprint of bars read from a store: a resumed run must see the same bars, bit for bit.
fn fingerprint(b: &Bars) -> String {
    let mut h = Fnv1a::default();
    for t in &b.timestamp {
        h.u64(*t as u64);
    }
    let named = [("open", &b.open), ("high", &b.high), ("low", &b.low), ("close", &b.close), ("volume", &b.volume)];
    for (name, col) in named.into_iter().chain(b.extra.iter().map(|(k, v)| (k.as_str(), v))) {
        h.bytes(name.as_bytes());
        for v in col {
            h.u64(v.to_bits());
        }
    }
    format!("{} bars fnv1a64 {:016x}", b.len(), h.finish())
}

/// Unix milliseconds, or a UTC date `YYYY-MM-DD` with an optional `THH:MM` (or ` HH:MM`).
pub fn parse_time(field: &str, text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad =
        || Error::config(field, format!("expected Unix milliseconds or YYYY-MM-DD[THH:MM] (UTC), found `{text}`"));
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let num = |s: &str, lo: i64, hi: i64| -> Result<i64> {
        let v: i64 = s.parse().map_err(|_| bad())?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || v < lo || v > hi {
            return Err(bad());
        }
        Ok(v)
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts[..] else { return Err(bad()) };
    let (y, m, d) = (num(y, 1970, 9999)?, num(m, 1, 12)?, num(d, 1, 31)?);
    let (hh, mm) = match time {
        None => (0, 0),
        Some(t) => {
            let (h, mi) = t.split_once(':').ok_or_else(bad)?;
            (num(h, 0, 23)?, num(mi, 0, 59)?)
        }
    };
    let days = crate::eval::days_from_civil(y, m, d);
    // A day past the month's end (2021-02-30) would roll over silently; refuse it instead.
    if crate::eval::fmt_utc(days * 86_400_000)[..10] != format!("{y:04}-{m:02}-{d:02}") {
        return Err(bad());
    }
    Ok(((days * 24 + hh) * 60 + mm) * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_and_round_trip_through_the_formatter() {
        assert_eq!(parse_time("from", "1577836800000").unwrap(), 1_577_836_800_000);
        assert_eq!(parse_time("from", "2020-01-01").unwrap(), 1_577_836_800_000);
        assert_eq!(parse_time("from", "2020-03-01T13:01").unwrap(), 1_583_020_800_000 + 13 * 3_600_000 + 60_000);
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..500 {
            // Any minute from 1970 to about 2160.
            let ms = (rng.next_u64() % 100_000_000) as i64 * 60_000;
            let text = crate::eval::fmt_utc(ms).replace(' ', "T");
            assert_eq!(parse_time("from", &text).unwrap(), ms, "{text}");
        }
        for bad in ["2021-02-30", "2020-13-01", "2020-01-01T24:00", "yesterday", "2020-1", "2020-01-01T1"] {
            let e = parse_time("from", bad).unwrap_err().to_string();
            assert!(e.contains("`from`") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn store_flags_need_each_other() {
        let a = BarArgs { symbol: Some("BTCUSDT".into()), ..Default::default() };
        assert!(a.load(None).unwrap_err().to_string().contains("give --db"));
        let a = BarArgs { db: Some("sqlite:x.db".into()), symbol: Some("BTCUSDT".into()), ..Default::default() };
        assert!(a.load(None).unwrap_err().to_string().contains("--symbol and --interval"));
        let a = BarArgs {
            db: Some("sqlite:x.db".into()),
            data: Some("x.csv".into()),
            symbol: Some("S".into()),
            interval: Some("1h".into()),
            ..Default::default()
        };
        assert!(a.load(None).unwrap_err().to_string().contains("not both"));
        assert!(BarArgs::default().load(None).unwrap_err().to_string().contains("give --data"));
        let a = BarArgs { from: Some("2020-02-01".into()), to: Some("2020-01-01".into()), ..Default::default() };
        assert!(a.range().unwrap_err().to_string().contains("must be after --from"));
    }
}
