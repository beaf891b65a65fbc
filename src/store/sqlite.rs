//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed transaction (a bar's
//! records in the stream engine, an import) is on disk before the commit returns and a crash loses none of it.

use super::schema;
use super::{AppendReport, BarRow, MarketStore, Record, Rows, SeriesInfo, SeriesKey, TimeRange, Trade};
use crate::data::Bars;
use crate::{Error, Result};
use rusqlite::{params, Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (with `create`, create) the database at `path` and its tables.
    pub fn open(path: &Path, create: bool) -> Result<SqliteStore> {
        if !create && !path.exists() {
            return Err(Error::io(path, "no such SQLite database (`tickgrad db import` creates one)"));
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::io(path, e))?;
        let s = SqliteStore { conn, path: path.to_path_buf() };
        let mode: String = s
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| s.err("setting journal_mode=WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(Error::io(path, format!("journal_mode=WAL was refused (the file is in `{mode}` mode)")));
        }
        s.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| s.err("setting synchronous=FULL", e))?;
        // A second process (a monitor reading while the stream writes) waits for a lock instead of failing.
        s.conn.busy_timeout(Duration::from_secs(10)).map_err(|e| s.err("setting busy_timeout", e))?;
        for stmt in schema::CREATE {
            s.conn.execute(stmt, []).map_err(|e| s.err("creating the tables", e))?;
        }
        s.conn.execute(schema::INIT_VERSION, []).map_err(|e| s.err("writing the schema version", e))?;
        let read = |s: &SqliteStore| {
            s.conn
                .query_row(schema::READ_VERSION, [], |r| r.get::<_, i64>(0))
                .map_err(|e| s.err("reading the version", e))
        };
        let mut v = read(&s)?;
        if v == 1 {
            let e = |e| s.err("migrating the schema from version 1 to 2", e);
            let tx = s.conn.unchecked_transaction().map_err(e)?;
            for stmt in schema::MIGRATE_FROM_1 {
                tx.execute(stmt, []).map_err(e)?;
            }
            tx.commit().map_err(e)?;
            v = read(&s)?;
        }
        if v != schema::VERSION {
            return Err(Error::io(path, format!("schema version {v}; this build reads version {}", schema::VERSION)));
        }
        Ok(s)
    }

    fn err(&self, during: &str, e: rusqlite::Error) -> Error {
        Error::io(&self.path, format!("{during}: {e}"))
    }
}

fn select_bars(c: &Connection, key: &SeriesKey, lo: i64, hi: i64) -> rusqlite::Result<Rows> {
    let mut st = c.prepare_cached(schema::SELECT_BARS)?;
    let rows = st
        .query_map(params![key.symbol, key.interval, lo, hi], |r| {
            Ok(BarRow {
                ts: r.get(0)?,
                open: r.get(1)?,
                high: r.get(2)?,
                low: r.get(3)?,
                close: r.get(4)?,
                volume: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = c.prepare_cached(schema::SELECT_EXTRAS)?;
    let extras = st
        .query_map(params![key.symbol, key.interval, lo, hi], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, extras))
}

impl MarketStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn append_bars(&mut self, key: &SeriesKey, bars: &Bars) -> Result<AppendReport> {
        let (rows, extras) = super::rows_for_append(key, bars)?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(AppendReport::default()) };
        let (lo, hi) = (first.ts, last.ts.saturating_add(1));
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("appending bars of {key}: {e}"));
        let tx = self.conn.transaction().map_err(&e)?;
        let (stored_rows, stored_extras) = select_bars(&tx, key, lo, hi).map_err(&e)?;
        let stored = super::assemble(key, stored_rows, stored_extras)?;
        let ((fresh, fresh_extras), unchanged) = super::new_rows(key, &rows, &extras, &stored)?;
        {
            let mut ins = tx.prepare_cached(schema::INSERT_BAR).map_err(&e)?;
            for r in &fresh {
                ins.execute(params![key.symbol, key.interval, r.ts, r.open, r.high, r.low, r.close, r.volume])
                    .map_err(&e)?;
            }
            let mut ins = tx.prepare_cached(schema::INSERT_EXTRA).map_err(&e)?;
            for (ts, name, v) in &fresh_extras {
                ins.execute(params![key.symbol, key.interval, ts, name, v]).map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)?;
        Ok(AppendReport { added: fresh.len(), unchanged })
    }

    fn bars(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Bars> {
        let (lo, hi) = range.bounds();
        let (rows, extras) =
            select_bars(&self.conn, key, lo, hi).map_err(|e| self.err(&format!("reading bars of {key}"), e))?;
        super::assemble(key, rows, extras)
    }

    fn last_bars(&mut self, key: &SeriesKey, n: usize) -> Result<Bars> {
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let start: Option<i64> = self
            .conn
            .query_row(schema::LAST_START, params![key.symbol, key.interval, limit], |r| r.get(0))
            .map_err(|e| self.err(&format!("reading the last bars of {key}"), e))?;
        match start {
            Some(from) if n > 0 => self.bars(key, TimeRange { from: Some(from), to: None }),
            _ => Ok(Bars::default()),
        }
    }

    fn series(&mut self) -> Result<Vec<SeriesInfo>> {
        let mut st = self.conn.prepare_cached(schema::SELECT_SERIES).map_err(|e| self.err("listing series", e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| Error::io(&self.path, format!("listing series: {e}")))?;
        Ok(rows
            .into_iter()
            .map(|(symbol, interval, n, first, last)| SeriesInfo {
                key: SeriesKey { symbol, interval },
                bars: n as u64,
                first,
                last,
            })
            .collect())
    }

    fn append_trades(&mut self, symbol: &str, trades: &[Trade]) -> Result<AppendReport> {
        super::check_trades(symbol, trades)?;
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("appending trades of {symbol}: {e}"));
        let tx = self.conn.transaction().map_err(&e)?;
        let mut report = AppendReport::default();
        {
            let mut ins = tx.prepare_cached(schema::INSERT_TRADE).map_err(&e)?;
            let mut get = tx.prepare_cached(schema::SELECT_TRADE).map_err(&e)?;
            for t in trades {
                if ins.execute(params![symbol, t.id, t.timestamp, t.price, t.qty, t.buyer_maker]).map_err(&e)? == 1 {
                    report.added += 1;
                    continue;
                }
                let old = get
                    .query_row(params![symbol, t.id], |r| {
                        Ok(Trade {
                            id: t.id,
                            timestamp: r.get(0)?,
                            price: r.get(1)?,
                            qty: r.get(2)?,
                            buyer_maker: r.get(3)?,
                        })
                    })
                    .map_err(&e)?;
                super::same_trade(symbol, &old, t)?;
                report.unchanged += 1;
            }
        }
        tx.commit().map_err(&e)?;
        Ok(report)
    }

    fn trades(&mut self, symbol: &str, range: TimeRange) -> Result<Vec<Trade>> {
        let (lo, hi) = range.bounds();
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("reading trades of {symbol}: {e}"));
        let mut st = self.conn.prepare_cached(schema::SELECT_TRADES).map_err(&e)?;
        let trades = st
            .query_map(params![symbol, lo, hi], |r| {
                Ok(Trade {
                    id: r.get(0)?,
                    timestamp: r.get(1)?,
                    price: r.get(2)?,
                    qty: r.get(3)?,
                    buyer_maker: r.get(4)?,
                })
            })
            .and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(&e)?;
        Ok(trades)
    }

    fn append_records(&mut self, key: &SeriesKey, records: &[Record]) -> Result<()> {
        super::check_records(key, records)?;
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("appending trading records of {key}: {e}"));
        let tx = self.conn.transaction().map_err(&e)?;
        for r in records {
            let (s, i) = (&key.symbol, &key.interval);
            let n = match r {
                Record::Decision {
                    timestamp,
                    class,
                    confidence,
                    signal,
                    target,
                    limit,
                    model,
                    top_class,
                    top_prob,
                } => tx.prepare_cached(schema::INSERT_DECISION).and_then(|mut st| {
                    st.execute(params![
                        s, i, timestamp, class, confidence, signal, target, limit, model, top_class, top_prob
                    ])
                }),
                Record::Fill { timestamp, price, qty, fee, position, cash } => tx
                    .prepare_cached(schema::INSERT_FILL)
                    .and_then(|mut st| st.execute(params![s, i, timestamp, price, qty, fee, position, cash])),
                Record::Halt { timestamp, reason } => tx
                    .prepare_cached(schema::INSERT_HALT)
                    .and_then(|mut st| st.execute(params![s, i, timestamp, reason])),
            };
            n.map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }

    fn records(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Vec<Record>> {
        let (lo, hi) = range.bounds();
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("reading trading records of {key}: {e}"));
        let p = params![key.symbol, key.interval, lo, hi];
        let mut out = Vec::new();
        let mut st = self.conn.prepare_cached(schema::SELECT_DECISIONS).map_err(&e)?;
        let decisions = st.query_map(p, decision_row);
        out.extend(decisions.and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>()).map_err(&e)?);
        let mut st = self.conn.prepare_cached(schema::SELECT_FILLS).map_err(&e)?;
        let fills = st.query_map(p, |r| {
            Ok(Record::Fill {
                timestamp: r.get(0)?,
                price: r.get(1)?,
                qty: r.get(2)?,
                fee: r.get(3)?,
                position: r.get(4)?,
                cash: r.get(5)?,
            })
        });
        out.extend(fills.and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>()).map_err(&e)?);
        let mut st = self.conn.prepare_cached(schema::SELECT_HALTS).map_err(&e)?;
        let halts = st.query_map(p, |r| Ok(Record::Halt { timestamp: r.get(0)?, reason: r.get(1)? }));
        out.extend(halts.and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>()).map_err(&e)?);
        super::sort_records(&mut out);
        Ok(out)
    }

    fn decisions(&mut self, key: &SeriesKey, model: Option<&str>, limit: Option<usize>) -> Result<Vec<Record>> {
        let path = self.path.clone();
        let e = move |e: rusqlite::Error| Error::io(&path, format!("reading the decisions of {key}: {e}"));
        let limit = super::sql_limit(limit);
        let read = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Vec<Record>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map(p, decision_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        };
        let mut out = match model {
            None => read(schema::LAST_DECISIONS, params![key.symbol, key.interval, limit]),
            Some(m) => read(schema::LAST_DECISIONS_OF, params![key.symbol, key.interval, m, limit]),
        }
        .map_err(e)?;
        out.reverse();
        Ok(out)
    }
}

/// A decision from the columns of `schema::SELECT_DECISIONS`.
fn decision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record::Decision {
        timestamp: r.get(0)?,
        class: r.get(1)?,
        confidence: r.get(2)?,
        signal: r.get(3)?,
        target: r.get(4)?,
        limit: r.get(5)?,
        model: r.get(6)?,
        top_class: r.get(7)?,
        top_prob: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store written by a version-1 build (decisions without model and top class) is migrated when opened: its
    /// decisions read back with those absent, new ones keep them, and the version says 2.
    #[test]
    fn a_version_1_store_is_migrated_on_open() {
        let dir = std::env::temp_dir().join(format!("tickgrad-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1.db");
        let _ = std::fs::remove_file(&path);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE tickgrad_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
             INSERT INTO tickgrad_meta VALUES ('schema_version', 1);
             CREATE TABLE decisions (symbol TEXT NOT NULL, bar_interval TEXT NOT NULL, ts BIGINT NOT NULL,
                 direction BIGINT NOT NULL, confidence DOUBLE PRECISION NOT NULL, signal DOUBLE PRECISION NOT NULL,
                 target DOUBLE PRECISION NOT NULL, limit_reason TEXT, PRIMARY KEY (symbol, bar_interval, ts));
             INSERT INTO decisions VALUES ('SPY', '1d', 10, 2, 0.4, 0.0, 0.0, NULL);",
        )
        .unwrap();
        drop(old);
        let key = SeriesKey::new("SPY", "1d").unwrap();
        let mut s = SqliteStore::open(&path, false).unwrap();
        let new = Record::Decision {
            timestamp: 20,
            class: 0,
            confidence: 0.7,
            signal: 1.0,
            target: 1.0,
            limit: None,
            model: Some("tcn".into()),
            top_class: Some(0),
            top_prob: Some(0.75),
        };
        s.append_records(&key, std::slice::from_ref(&new)).unwrap();
        let old = Record::Decision {
            timestamp: 10,
            class: 2,
            confidence: 0.4,
            signal: 0.0,
            target: 0.0,
            limit: None,
            model: None,
            top_class: None,
            top_prob: None,
        };
        assert_eq!(s.records(&key, TimeRange::ALL).unwrap(), vec![old, new.clone()]);
        drop(s);
        // Opened again: no second migration (the ALTERs would fail), the same rows.
        let mut s = SqliteStore::open(&path, false).unwrap();
        assert_eq!(s.decisions(&key, Some("tcn"), None).unwrap(), vec![new]);
        let v: i64 = s.conn.query_row(schema::READ_VERSION, [], |r| r.get(0)).unwrap();
        assert_eq!(v, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
