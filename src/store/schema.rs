//! The one schema both backends create (docs/DATA.md describes it for people who query it by hand). The type
//! names are PostgreSQL's; SQLite reads `BIGINT` as INTEGER and `DOUBLE PRECISION` as REAL affinity, so the same
//! text makes the same tables on both. Column names avoid SQL keywords (`interval`, `limit`, `position`).

/// Schema version in `tickgrad_meta`: a later change of layout bumps it, and an older binary refuses a newer store.
/// Version 2 added the decisions' `model`, `top_class` and `top_prob` (what `tickgrad monitor` scores); a version-1
/// store is migrated when it is opened ([`MIGRATE_FROM_1`]).
pub const VERSION: i64 = 2;

/// Statements run in order when a store is opened; every one is idempotent.
pub const CREATE: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS tickgrad_meta (
        key TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )",
    // Bars of one series; `ts` is the bar's open time in Unix milliseconds UTC (docs/DATA.md).
    "CREATE TABLE IF NOT EXISTS bars (
        symbol TEXT NOT NULL,
        bar_interval TEXT NOT NULL,
        ts BIGINT NOT NULL,
        open DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL,
        low DOUBLE PRECISION NOT NULL,
        close DOUBLE PRECISION NOT NULL,
        volume DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (symbol, bar_interval, ts)
    )",
    // Columns after the six required ones (Binance's quote_volume, trades, taker volumes, ...), one row per bar
    // and column, so any file's extras fit without a schema change.
    "CREATE TABLE IF NOT EXISTS bar_extras (
        symbol TEXT NOT NULL,
        bar_interval TEXT NOT NULL,
        ts BIGINT NOT NULL,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (symbol, bar_interval, ts, name)
    )",
    "CREATE TABLE IF NOT EXISTS trades (
        symbol TEXT NOT NULL,
        trade_id BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        price DOUBLE PRECISION NOT NULL,
        qty DOUBLE PRECISION NOT NULL,
        buyer_maker BOOLEAN NOT NULL,
        PRIMARY KEY (symbol, trade_id)
    )",
    // The trader's decision after bar `ts` closed (trade::journal::Record::Decision). `model` names the served
    // checkpoints; `top_class`/`top_prob` are the ensemble's top class before the gate's hold and its combined
    // probability, which the monitor scores. The three are NULL in rows written before schema version 2.
    "CREATE TABLE IF NOT EXISTS decisions (
        symbol TEXT NOT NULL,
        bar_interval TEXT NOT NULL,
        ts BIGINT NOT NULL,
        direction BIGINT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        signal DOUBLE PRECISION NOT NULL,
        target DOUBLE PRECISION NOT NULL,
        limit_reason TEXT,
        model TEXT,
        top_class BIGINT,
        top_prob DOUBLE PRECISION,
        PRIMARY KEY (symbol, bar_interval, ts)
    )",
    // The order filled at the open of bar `ts` (Record::Fill), with the position and cash after it.
    "CREATE TABLE IF NOT EXISTS fills (
        symbol TEXT NOT NULL,
        bar_interval TEXT NOT NULL,
        ts BIGINT NOT NULL,
        price DOUBLE PRECISION NOT NULL,
        qty DOUBLE PRECISION NOT NULL,
        fee DOUBLE PRECISION NOT NULL,
        position_after DOUBLE PRECISION NOT NULL,
        cash_after DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (symbol, bar_interval, ts)
    )",
    // Trading stopped for good at bar `ts` (Record::Halt).
    "CREATE TABLE IF NOT EXISTS halts (
        symbol TEXT NOT NULL,
        bar_interval TEXT NOT NULL,
        ts BIGINT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (symbol, bar_interval, ts)
    )",
];

/// Writes the version on a new store; the caller then reads it back and compares with [`VERSION`].
pub const INIT_VERSION: &str =
    "INSERT INTO tickgrad_meta (key, value) VALUES ('schema_version', 2) ON CONFLICT (key) DO NOTHING";
pub const READ_VERSION: &str = "SELECT value FROM tickgrad_meta WHERE key = 'schema_version'";

/// A version-1 store to version 2, in one transaction: the decisions' new columns (NULL in the old rows) and the
/// version. Run only when [`READ_VERSION`] says 1, so the ALTERs (which have no IF NOT EXISTS on SQLite) run once.
pub const MIGRATE_FROM_1: [&str; 4] = [
    "ALTER TABLE decisions ADD COLUMN model TEXT",
    "ALTER TABLE decisions ADD COLUMN top_class BIGINT",
    "ALTER TABLE decisions ADD COLUMN top_prob DOUBLE PRECISION",
    "UPDATE tickgrad_meta SET value = 2 WHERE key = 'schema_version'",
];

/// Queries shared verbatim by both backends (`$n` parameters: SQLite numbers them the same way).
pub const SELECT_BARS: &str = "SELECT ts, open, high, low, close, volume FROM bars
    WHERE symbol = $1 AND bar_interval = $2 AND ts >= $3 AND ts < $4 ORDER BY ts";
pub const SELECT_EXTRAS: &str = "SELECT ts, name, value FROM bar_extras
    WHERE symbol = $1 AND bar_interval = $2 AND ts >= $3 AND ts < $4 ORDER BY name, ts";
/// The first timestamp of the most recent `$3` bars.
pub const LAST_START: &str = "SELECT MIN(ts) FROM (SELECT ts FROM bars WHERE symbol = $1 AND bar_interval = $2
    ORDER BY ts DESC LIMIT $3) AS recent";
pub const SELECT_SERIES: &str = "SELECT symbol, bar_interval, COUNT(*), MIN(ts), MAX(ts) FROM bars
    GROUP BY symbol, bar_interval ORDER BY symbol, bar_interval";
pub const INSERT_BAR: &str = "INSERT INTO bars (symbol, bar_interval, ts, open, high, low, close, volume)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const INSERT_EXTRA: &str =
    "INSERT INTO bar_extras (symbol, bar_interval, ts, name, value) VALUES ($1, $2, $3, $4, $5)";
pub const INSERT_TRADE: &str = "INSERT INTO trades (symbol, trade_id, ts, price, qty, buyer_maker)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (symbol, trade_id) DO NOTHING";
pub const SELECT_TRADE: &str = "SELECT ts, price, qty, buyer_maker FROM trades WHERE symbol = $1 AND trade_id = $2";
pub const SELECT_TRADES: &str = "SELECT trade_id, ts, price, qty, buyer_maker FROM trades
    WHERE symbol = $1 AND ts >= $2 AND ts < $3 ORDER BY ts, trade_id";
pub const INSERT_DECISION: &str = "INSERT INTO decisions
    (symbol, bar_interval, ts, direction, confidence, signal, target, limit_reason, model, top_class, top_prob)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub const INSERT_FILL: &str = "INSERT INTO fills
    (symbol, bar_interval, ts, price, qty, fee, position_after, cash_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const INSERT_HALT: &str = "INSERT INTO halts (symbol, bar_interval, ts, reason) VALUES ($1, $2, $3, $4)";
/// The columns every decision query reads, in [`Record::Decision`](crate::trade::journal::Record) order.
macro_rules! decision_columns {
    () => {
        "ts, direction, confidence, signal, target, limit_reason, model, top_class, top_prob"
    };
}
pub const SELECT_DECISIONS: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE symbol = $1 AND bar_interval = $2 AND ts >= $3 AND ts < $4 ORDER BY ts"
);
/// The newest `$3` decisions of a series (newest first; the caller reverses them).
pub const LAST_DECISIONS: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE symbol = $1 AND bar_interval = $2 ORDER BY ts DESC LIMIT $3"
);
/// The newest `$4` decisions of model `$3`.
pub const LAST_DECISIONS_OF: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE symbol = $1 AND bar_interval = $2 AND model = $3 ORDER BY ts DESC LIMIT $4"
);
pub const SELECT_FILLS: &str = "SELECT ts, price, qty, fee, position_after, cash_after FROM fills
    WHERE symbol = $1 AND bar_interval = $2 AND ts >= $3 AND ts < $4 ORDER BY ts";
pub const SELECT_HALTS: &str = "SELECT ts, reason FROM halts
    WHERE symbol = $1 AND bar_interval = $2 AND ts >= $3 AND ts < $4 ORDER BY ts";
