//! The market-data and decision store: bars, trades, and the trader's decisions and fills, behind one trait
//! ([`MarketStore`]) with two implementations of one schema ([`schema`]): SQLite embedded in the process (the
//! default, feature `sqlite`) and PostgreSQL for a desk whose data outgrows one machine (feature `postgres`).
//!
//! Bars round-trip bit-exactly: prices and volumes are stored as IEEE doubles and timestamps as 64-bit integers,
//! never as text, so `run --db` scores exactly the bars `run --data` read. Values that a double column cannot
//! hold faithfully on both servers (NaN, ±inf, -0.0) are refused on append with the bar and column named; the CSV
//! loader refuses the first three already.
//!
//! Appends are transactions: a batch of bars, or one bar's trading records ([`ledger::StoreLedger`]), is stored
//! whole or not at all, and with SQLite's `synchronous=FULL` a committed transaction survives a crash.

// Built with neither backend, the shared row helpers have no caller; `open` then says which feature is missing.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

pub mod ledger;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod url;

use crate::data::Bars;
use crate::trade::journal::Record;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;

pub use url::StoreUrl;

/// One series of bars: a symbol at one bar interval (`BTCUSDT`, `1h`). Both are free-form names, checked to be
/// short and plain so they read well in errors and in SQL consoles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub symbol: String,
    pub interval: String,
}

impl SeriesKey {
    pub fn new(symbol: &str, interval: &str) -> Result<SeriesKey> {
        check_name("symbol", symbol)?;
        check_name("interval", interval)?;
        Ok(SeriesKey { symbol: symbol.to_string(), interval: interval.to_string() })
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.symbol, self.interval)
    }
}

/// A symbol or interval name as the store keeps it (also what `stream --symbols` accepts, so a symbol is safe in
/// a Prometheus label and a file name).
pub fn check_name(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::config(field, format!("expected 1 to 64 letters, digits or `_-./:`, found `{v}`")))
    }
}

/// Times `from <= ts < to` in Unix milliseconds; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange { from: None, to: None };

    /// The bounds as SQL parameters (`ts >= lo AND ts < hi`).
    pub fn bounds(&self) -> (i64, i64) {
        (self.from.unwrap_or(i64::MIN), self.to.unwrap_or(i64::MAX))
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |v: Option<i64>| v.map_or("open".to_string(), |ms| format!("{} UTC", crate::eval::fmt_utc(ms)));
        write!(f, "[{}, {})", end(self.from), end(self.to))
    }
}

/// One exchange trade (Binance's aggregated trade: id, price, quantity, time, whether the buyer was the maker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub id: i64,
    pub timestamp: i64,
    pub price: f64,
    pub qty: f64,
    pub buyer_maker: bool,
}

/// What a store holds for one series, for listings and for errors that say what is there instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    pub key: SeriesKey,
    pub bars: u64,
    pub first: i64,
    pub last: i64,
}

impl fmt::Display for SeriesInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bars, {} .. {} UTC",
            self.key,
            self.bars,
            crate::eval::fmt_utc(self.first),
            crate::eval::fmt_utc(self.last)
        )
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Rows that were new.
    pub added: usize,
    /// Rows already stored with exactly the same values (a re-import), skipped.
    pub unchanged: usize,
}

/// Bars, trades and trading records, appended and read back by series and time. Every method is one transaction;
/// reads come back in timestamp order.
pub trait MarketStore: Send {
    /// The URL it was opened with, without a password (for messages).
    fn describe(&self) -> String;

    /// Append bars to a series. Bars already stored with bit-identical values are skipped (a re-import is
    /// harmless); a stored bar whose values differ is an error naming it, and nothing of the batch is stored.
    fn append_bars(&mut self, key: &SeriesKey, bars: &Bars) -> Result<AppendReport>;

    /// The bars of a series in `range` (possibly none), every extra column included.
    fn bars(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Bars>;

    /// The most recent `n` bars of a series (fewer when it holds fewer).
    fn last_bars(&mut self, key: &SeriesKey, n: usize) -> Result<Bars>;

    /// Every series with its bar count and time span.
    fn series(&mut self) -> Result<Vec<SeriesInfo>>;

    /// Append trades of `symbol`; a trade id already stored with the same values is skipped, with other values an
    /// error.
    fn append_trades(&mut self, symbol: &str, trades: &[Trade]) -> Result<AppendReport>;

    /// The trades of `symbol` in `range`, by time then id.
    fn trades(&mut self, symbol: &str, range: TimeRange) -> Result<Vec<Trade>>;

    /// Append a trader's decisions, fills and halts for a series in one transaction (one bar's records in the
    /// stream engine). A record at a timestamp that already has one of its kind is an error, and nothing is stored.
    fn append_records(&mut self, key: &SeriesKey, records: &[Record]) -> Result<()>;

    /// The trader's records of a series in `range`, in the order they were made: by timestamp, and within one
    /// bar the fill (at its open), then a halt, then the decision (at its close).
    fn records(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Vec<Record>>;

    /// The newest `limit` decisions of a series (every one with `None`), only those of `model` when it is given,
    /// oldest first: what `tickgrad monitor` reads (the original design's `get_agent_decisions(model, limit)`).
    fn decisions(&mut self, key: &SeriesKey, model: Option<&str>, limit: Option<usize>) -> Result<Vec<Record>>;
}

/// Open the store at `url` (`sqlite:PATH` or `postgres://…`), creating its tables if missing. With `create`
/// false a SQLite file that does not exist is an error (a reader should not make an empty database by a typo).
pub fn open(url: &str, create: bool) -> Result<Box<dyn MarketStore>> {
    match StoreUrl::parse(url)? {
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::open(&path, create)?)),
        #[cfg(not(feature = "sqlite"))]
        StoreUrl::Sqlite(_) => {
            let _ = create;
            Err(Error::config("db", "this build has no SQLite store (build with `--features sqlite`)"))
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(conn) => Ok(Box::new(postgres::PostgresStore::connect(&conn)?)),
        #[cfg(not(feature = "postgres"))]
        StoreUrl::Postgres(_) => {
            Err(Error::config("db", "this build has no PostgreSQL store (build with `--features postgres`)"))
        }
    }
}

/// One extra-column value as stored: (ts, column name, value).
pub(crate) type ExtraRow = (i64, String, f64);

/// A series' rows: the bars and their extra-column values.
pub(crate) type Rows = (Vec<BarRow>, Vec<ExtraRow>);

/// One bar as stored: the six required columns; extras travel as (name, value) rows beside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarRow {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl BarRow {
    fn values(&self) -> [(&'static str, f64); 5] {
        [("open", self.open), ("high", self.high), ("low", self.low), ("close", self.close), ("volume", self.volume)]
    }

    /// Bitwise equality, so a re-import that changed a price in its last digit is not taken as the same bar.
    fn same_bits(&self, other: &BarRow) -> bool {
        self.ts == other.ts && self.values().iter().zip(other.values()).all(|(a, b)| a.1.to_bits() == b.1.to_bits())
    }
}

/// A value a double column holds faithfully on both backends: finite and not negative zero (SQLite stores a
/// whole REAL as an integer, which has no sign of zero).
fn check_value(key: &SeriesKey, what: &str, ts: i64, column: &str, v: f64) -> Result<()> {
    if v.is_finite() && !(v == 0.0 && v.is_sign_negative()) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{what} of {key} at {ts} ({} UTC), column `{column}`: expected a finite number (and not -0.0), found {v:?}",
        crate::eval::fmt_utc(ts)
    )))
}

/// The rows of `bars` for an append, checked: aligned columns, strictly increasing timestamps, storable values.
pub(crate) fn rows_for_append(key: &SeriesKey, bars: &Bars) -> Result<Rows> {
    bars.check_aligned()?;
    let mut rows = Vec::with_capacity(bars.len());
    let mut extras = Vec::with_capacity(bars.len() * bars.extra.len());
    for i in 0..bars.len() {
        let ts = bars.timestamp[i];
        if i > 0 && ts <= bars.timestamp[i - 1] {
            return Err(Error::Invalid(format!(
                "bars of {key}: timestamps must increase, found {ts} after {}",
                bars.timestamp[i - 1]
            )));
        }
        let row = BarRow {
            ts,
            open: bars.open[i],
            high: bars.high[i],
            low: bars.low[i],
            close: bars.close[i],
            volume: bars.volume[i],
        };
        for (c, v) in row.values() {
            check_value(key, "bar", ts, c, v)?;
        }
        rows.push(row);
        for (name, col) in &bars.extra {
            check_name("extra column", name)?;
            check_value(key, "bar", ts, name, col[i])?;
            extras.push((ts, name.clone(), col[i]));
        }
    }
    Ok((rows, extras))
}

/// Split an append into the rows that are new and a count of those already stored bit-identically; a stored row
/// that differs is an error. `stored` holds what the store has at the batch's timestamps.
pub(crate) fn new_rows(key: &SeriesKey, rows: &[BarRow], extras: &[ExtraRow], stored: &Bars) -> Result<(Rows, usize)> {
    let have: BTreeMap<i64, usize> = stored.timestamp.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut fresh = Vec::with_capacity(rows.len());
    for r in rows {
        match have.get(&r.ts) {
            None => fresh.push(*r),
            Some(&i) => {
                let old = BarRow {
                    ts: r.ts,
                    open: stored.open[i],
                    high: stored.high[i],
                    low: stored.low[i],
                    close: stored.close[i],
                    volume: stored.volume[i],
                };
                if !old.same_bits(r) {
                    return Err(conflict(key, r.ts, &format!("stored {old:?}, appending {r:?}")));
                }
            }
        }
    }
    let mut fresh_extras = Vec::new();
    for (ts, name, v) in extras {
        match have.get(ts) {
            None => fresh_extras.push((*ts, name.clone(), *v)),
            Some(&i) => {
                let old = stored.extra.get(name).map(|c| c[i]);
                if old.map(f64::to_bits) != Some(v.to_bits()) {
                    return Err(conflict(key, *ts, &format!("column `{name}` stored {old:?}, appending {v:?}")));
                }
            }
        }
    }
    let unchanged = rows.len() - fresh.len();
    Ok(((fresh, fresh_extras), unchanged))
}

fn conflict(key: &SeriesKey, ts: i64, detail: &str) -> Error {
    Error::Invalid(format!(
        "bar of {key} at {ts} ({} UTC) is already stored with other values ({detail}); nothing was appended",
        crate::eval::fmt_utc(ts)
    ))
}

/// Column-major bars from stored rows. Every bar must carry the same extra columns (a series imported from one
/// kind of file does); a bar missing one is an error naming it rather than a ragged `Bars`.
pub(crate) fn assemble(key: &SeriesKey, rows: Vec<BarRow>, extras: Vec<ExtraRow>) -> Result<Bars> {
    let mut b = Bars::default();
    let index: BTreeMap<i64, usize> = rows.iter().enumerate().map(|(i, r)| (r.ts, i)).collect();
    for r in &rows {
        b.timestamp.push(r.ts);
        b.open.push(r.open);
        b.high.push(r.high);
        b.low.push(r.low);
        b.close.push(r.close);
        b.volume.push(r.volume);
    }
    let mut seen: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (ts, name, v) in extras {
        let Some(&i) = index.get(&ts) else { continue };
        seen.entry(name).or_insert_with(|| vec![None; rows.len()])[i] = Some(v);
    }
    for (name, col) in seen {
        let mut out = Vec::with_capacity(col.len());
        for (i, v) in col.into_iter().enumerate() {
            out.push(v.ok_or_else(|| {
                Error::Invalid(format!(
                    "bars of {key}: the bar at {} has no `{name}` while others in the range do; import the series \
                     from one kind of file",
                    rows[i].ts
                ))
            })?);
        }
        b.extra.insert(name, out);
    }
    Ok(b)
}

/// The trader's record kinds in the order they happen within one bar.
pub(crate) fn record_rank(r: &Record) -> u8 {
    match r {
        Record::Fill { .. } => 0,
        Record::Halt { .. } => 1,
        Record::Decision { .. } => 2,
    }
}

/// Records of a bar must be storable before any is written.
pub(crate) fn check_records(key: &SeriesKey, records: &[Record]) -> Result<()> {
    for r in records {
        let ts = r.timestamp();
        match r {
            Record::Decision { confidence, signal, target, top_prob, .. } => {
                for (c, v) in [("confidence", *confidence), ("signal", *signal), ("target", *target)] {
                    check_value(key, "decision", ts, c, v)?;
                }
                if let Some(p) = top_prob {
                    check_value(key, "decision", ts, "top_prob", *p)?;
                }
            }
            Record::Fill { price, qty, fee, position, cash, .. } => {
                for (c, v) in
                    [("price", *price), ("qty", *qty), ("fee", *fee), ("position", *position), ("cash", *cash)]
                {
                    check_value(key, "fill", ts, c, v)?;
                }
            }
            Record::Halt { .. } => {}
        }
    }
    Ok(())
}

/// A trade's values must be storable.
pub(crate) fn check_trades(symbol: &str, trades: &[Trade]) -> Result<()> {
    check_name("symbol", symbol)?;
    let key = SeriesKey { symbol: symbol.to_string(), interval: "trades".into() };
    for t in trades {
        check_value(&key, "trade", t.timestamp, "price", t.price)?;
        check_value(&key, "trade", t.timestamp, "qty", t.qty)?;
    }
    Ok(())
}

/// A trade id appended again must carry the same values (bit for bit) as the stored one.
pub(crate) fn same_trade(symbol: &str, old: &Trade, new: &Trade) -> Result<()> {
    let same = old.timestamp == new.timestamp
        && old.price.to_bits() == new.price.to_bits()
        && old.qty.to_bits() == new.qty.to_bits()
        && old.buyer_maker == new.buyer_maker;
    if same {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "trade {} of {symbol} is already stored with other values (stored {old:?}, appending {new:?}); nothing was \
         appended",
        new.id
    )))
}

/// A `LIMIT` parameter: no limit is the largest one.
pub(crate) fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Sort trading records into the order they were made ([`MarketStore::records`]).
pub(crate) fn sort_records(records: &mut [Record]) {
    records.sort_by_key(|r| (r.timestamp(), record_rank(r)));
}
