//! The PostgreSQL store: the same schema and queries as SQLite's, over the synchronous `postgres` client. Bars go
//! in as multi-row INSERTs (one round trip per few hundred bars, not one per bar); a commit returns once the server
//! has made it durable (its default `synchronous_commit=on`).

use super::schema;
use super::{AppendReport, BarRow, MarketStore, Record, Rows, SeriesInfo, SeriesKey, TimeRange, Trade};
use crate::data::Bars;
use crate::{Error, Result};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls};
use std::time::Duration;

/// Rows per multi-row INSERT: 8 parameters a bar stays far below the protocol's 65 535.
const CHUNK: usize = 500;

/// Any constant: the lock that keeps two clients from creating the tables at once (a race CREATE TABLE IF NOT
/// EXISTS loses on PostgreSQL).
const SCHEMA_LOCK: i64 = 0x7469_636b_6772_6164;

pub struct PostgresStore {
    client: Client,
    url: String,
}

/// The server's own message (`db error` alone says nothing), or the client's with its cause.
fn message(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        return m;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl PostgresStore {
    /// Connect to `url` (libpq URL form) and create the tables if missing.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        let shown = super::url::redact(url);
        let mut cfg: postgres::Config =
            url.parse().map_err(|e: postgres::Error| Error::config("db", format!("{shown}: {}", message(&e))))?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        let client = cfg.connect(NoTls).map_err(|e| Error::io(&shown, format!("connecting: {}", message(&e))))?;
        let mut s = PostgresStore { client, url: shown };
        s.create_schema()?;
        Ok(s)
    }

    fn create_schema(&mut self) -> Result<()> {
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("creating the tables: {}", message(&e)));
        let mut tx = self.client.transaction().map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(e)?;
        for stmt in schema::CREATE {
            tx.execute(stmt, &[]).map_err(e)?;
        }
        tx.execute(schema::INIT_VERSION, &[]).map_err(e)?;
        let mut v: i64 = tx.query_one(schema::READ_VERSION, &[]).map_err(e)?.get(0);
        if v == 1 {
            // Under the same lock, so two clients opening a version-1 store migrate it once.
            for stmt in schema::MIGRATE_FROM_1 {
                tx.execute(stmt, &[]).map_err(e)?;
            }
            v = tx.query_one(schema::READ_VERSION, &[]).map_err(e)?.get(0);
        }
        tx.commit().map_err(e)?;
        if v != schema::VERSION {
            return Err(Error::io(&url, format!("schema version {v}; this build reads version {}", schema::VERSION)));
        }
        Ok(())
    }

    fn fail(&self, during: &str) -> impl Fn(postgres::Error) -> Error + '_ {
        let during = during.to_string();
        move |e| Error::io(&self.url, format!("{during}: {}", message(&e)))
    }
}

fn select_bars(
    c: &mut impl GenericClient,
    key: &SeriesKey,
    lo: i64,
    hi: i64,
) -> std::result::Result<Rows, postgres::Error> {
    let p: [&(dyn ToSql + Sync); 4] = [&key.symbol, &key.interval, &lo, &hi];
    let rows = c
        .query(schema::SELECT_BARS, &p)?
        .iter()
        .map(|r| BarRow {
            ts: r.get(0),
            open: r.get(1),
            high: r.get(2),
            low: r.get(3),
            close: r.get(4),
            volume: r.get(5),
        })
        .collect();
    let extras = c.query(schema::SELECT_EXTRAS, &p)?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    Ok((rows, extras))
}

/// `INSERT INTO table (cols) VALUES ($1..$k), ($k+1..), …` for `rows` rows of `cols.len()` parameters.
fn multi_insert(table: &str, cols: &[&str], rows: usize) -> String {
    let k = cols.len();
    let values: Vec<String> = (0..rows)
        .map(|r| format!("({})", (1..=k).map(|c| format!("${}", r * k + c)).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("INSERT INTO {table} ({}) VALUES {}", cols.join(", "), values.join(", "))
}

impl MarketStore for PostgresStore {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn append_bars(&mut self, key: &SeriesKey, bars: &Bars) -> Result<AppendReport> {
        let (rows, extras) = super::rows_for_append(key, bars)?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(AppendReport::default()) };
        let (lo, hi) = (first.ts, last.ts.saturating_add(1));
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("appending bars of {key}: {}", message(&e)));
        let mut tx = self.client.transaction().map_err(e)?;
        let (stored_rows, stored_extras) = select_bars(&mut tx, key, lo, hi).map_err(e)?;
        let stored = super::assemble(key, stored_rows, stored_extras)?;
        let ((fresh, fresh_extras), unchanged) = super::new_rows(key, &rows, &extras, &stored)?;
        let cols = ["symbol", "bar_interval", "ts", "open", "high", "low", "close", "volume"];
        for chunk in fresh.chunks(CHUNK) {
            let mut p: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * cols.len());
            for r in chunk {
                p.extend_from_slice(&[
                    &key.symbol,
                    &key.interval,
                    &r.ts,
                    &r.open,
                    &r.high,
                    &r.low,
                    &r.close,
                    &r.volume,
                ]);
            }
            tx.execute(multi_insert("bars", &cols, chunk.len()).as_str(), &p).map_err(e)?;
        }
        let cols = ["symbol", "bar_interval", "ts", "name", "value"];
        for chunk in fresh_extras.chunks(CHUNK) {
            let mut p: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * cols.len());
            for (ts, name, v) in chunk {
                p.extend_from_slice(&[&key.symbol, &key.interval, ts, name, v]);
            }
            tx.execute(multi_insert("bar_extras", &cols, chunk.len()).as_str(), &p).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(AppendReport { added: fresh.len(), unchanged })
    }

    fn bars(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Bars> {
        let (lo, hi) = range.bounds();
        let url = self.url.clone();
        let (rows, extras) = select_bars(&mut self.client, key, lo, hi)
            .map_err(|e| Error::io(&url, format!("reading bars of {key}: {}", message(&e))))?;
        super::assemble(key, rows, extras)
    }

    fn last_bars(&mut self, key: &SeriesKey, n: usize) -> Result<Bars> {
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let start: Option<i64> = self
            .client
            .query_one(schema::LAST_START, &[&key.symbol, &key.interval, &limit])
            .map_err(self.fail(&format!("reading the last bars of {key}")))?
            .get(0);
        match start {
            Some(from) if n > 0 => self.bars(key, TimeRange { from: Some(from), to: None }),
            _ => Ok(Bars::default()),
        }
    }

    fn series(&mut self) -> Result<Vec<SeriesInfo>> {
        let rows = self.client.query(schema::SELECT_SERIES, &[]).map_err(self.fail("listing series"))?;
        Ok(rows
            .iter()
            .map(|r| SeriesInfo {
                key: SeriesKey { symbol: r.get(0), interval: r.get(1) },
                bars: r.get::<_, i64>(2) as u64,
                first: r.get(3),
                last: r.get(4),
            })
            .collect())
    }

    fn append_trades(&mut self, symbol: &str, trades: &[Trade]) -> Result<AppendReport> {
        super::check_trades(symbol, trades)?;
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("appending trades of {symbol}: {}", message(&e)));
        let mut tx = self.client.transaction().map_err(e)?;
        let ins = tx.prepare(schema::INSERT_TRADE).map_err(e)?;
        let get = tx.prepare(schema::SELECT_TRADE).map_err(e)?;
        let mut report = AppendReport::default();
        for t in trades {
            let sym = symbol.to_string();
            if tx.execute(&ins, &[&sym, &t.id, &t.timestamp, &t.price, &t.qty, &t.buyer_maker]).map_err(e)? == 1 {
                report.added += 1;
                continue;
            }
            let r = tx.query_one(&get, &[&sym, &t.id]).map_err(e)?;
            let old = Trade { id: t.id, timestamp: r.get(0), price: r.get(1), qty: r.get(2), buyer_maker: r.get(3) };
            super::same_trade(symbol, &old, t)?;
            report.unchanged += 1;
        }
        tx.commit().map_err(e)?;
        Ok(report)
    }

    fn trades(&mut self, symbol: &str, range: TimeRange) -> Result<Vec<Trade>> {
        let (lo, hi) = range.bounds();
        let sym = symbol.to_string();
        let rows = self
            .client
            .query(schema::SELECT_TRADES, &[&sym, &lo, &hi])
            .map_err(self.fail(&format!("reading trades of {symbol}")))?;
        Ok(rows
            .iter()
            .map(|r| Trade { id: r.get(0), timestamp: r.get(1), price: r.get(2), qty: r.get(3), buyer_maker: r.get(4) })
            .collect())
    }

    fn append_records(&mut self, key: &SeriesKey, records: &[Record]) -> Result<()> {
        super::check_records(key, records)?;
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("appending trading records of {key}: {}", message(&e)));
        let mut tx = self.client.transaction().map_err(e)?;
        let (s, i) = (&key.symbol, &key.interval);
        for r in records {
            match r {
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
                } => {
                    let (class, top) = (i64::from(*class), top_class.map(i64::from));
                    let p: [&(dyn ToSql + Sync); 11] =
                        [s, i, timestamp, &class, confidence, signal, target, limit, model, &top, top_prob];
                    tx.execute(schema::INSERT_DECISION, &p)
                }
                Record::Fill { timestamp, price, qty, fee, position, cash } => {
                    tx.execute(schema::INSERT_FILL, &[s, i, timestamp, price, qty, fee, position, cash])
                }
                Record::Halt { timestamp, reason } => tx.execute(schema::INSERT_HALT, &[s, i, timestamp, reason]),
            }
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    fn records(&mut self, key: &SeriesKey, range: TimeRange) -> Result<Vec<Record>> {
        let (lo, hi) = range.bounds();
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("reading trading records of {key}: {}", message(&e)));
        let p: [&(dyn ToSql + Sync); 4] = [&key.symbol, &key.interval, &lo, &hi];
        let mut out = Vec::new();
        for r in self.client.query(schema::SELECT_DECISIONS, &p).map_err(e)? {
            out.push(decision_row(&r, &url, key)?);
        }
        for r in self.client.query(schema::SELECT_FILLS, &p).map_err(e)? {
            out.push(Record::Fill {
                timestamp: r.get(0),
                price: r.get(1),
                qty: r.get(2),
                fee: r.get(3),
                position: r.get(4),
                cash: r.get(5),
            });
        }
        for r in self.client.query(schema::SELECT_HALTS, &p).map_err(e)? {
            out.push(Record::Halt { timestamp: r.get(0), reason: r.get(1) });
        }
        super::sort_records(&mut out);
        Ok(out)
    }

    fn decisions(&mut self, key: &SeriesKey, model: Option<&str>, limit: Option<usize>) -> Result<Vec<Record>> {
        let url = self.url.clone();
        let e = |e: postgres::Error| Error::io(&url, format!("reading the decisions of {key}: {}", message(&e)));
        let limit = super::sql_limit(limit);
        let rows = match model {
            None => self.client.query(schema::LAST_DECISIONS, &[&key.symbol, &key.interval, &limit]),
            Some(m) => self.client.query(schema::LAST_DECISIONS_OF, &[&key.symbol, &key.interval, &m, &limit]),
        }
        .map_err(e)?;
        let mut out = rows.iter().map(|r| decision_row(r, &url, key)).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A decision from the columns of `schema::SELECT_DECISIONS` (classes are BIGINT on the server).
fn decision_row(r: &postgres::Row, url: &str, key: &SeriesKey) -> Result<Record> {
    let class = |i: usize| -> Result<Option<u32>> {
        let v: Option<i64> = r.get(i);
        v.map(|c| u32::try_from(c).map_err(|_| Error::Invalid(format!("{url}: decision of {key} with class {c}"))))
            .transpose()
    };
    Ok(Record::Decision {
        timestamp: r.get(0),
        class: class(1)?.unwrap_or_default(),
        confidence: r.get(2),
        signal: r.get(3),
        target: r.get(4),
        limit: r.get(5),
        model: r.get(6),
        top_class: class(7)?,
        top_prob: r.get(8),
    })
}
