//! The embedded default store: SQLite in WAL mode, the same tables as `schema/`.
//!
//! Durability: WAL with `synchronous=NORMAL` — a committed transaction survives a crash or kill
//! of the engine (it is in the WAL file); only a power loss of the machine can take the last
//! commits. Keys make every write idempotent (`INSERT OR IGNORE`), so replays and restarts
//! never duplicate rows.
//!
//! A file store copies its WAL into the database file from a thread of its own
//! (`checkpointer`), so no commit a signal waits for also pays for a checkpoint's copy and sync.

use std::path::Path;

use chrono::{TimeZone, Utc};
use messages::{
    Action, CandleRow, Outcome, PositionRecord, PositionStatus, Row, Signal, SignalKey,
    SignalMetadata, SignalQuery, StoreHealth, Timeframe,
};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::Store;
use crate::error::{Error, Result};

const B: &str = "sqlite";

/// The DDL, mirroring `schema/*.sql` (SQLite types; epoch seconds for times).
const DDL: &str = "
CREATE TABLE IF NOT EXISTS market_data (
    timestamp INTEGER NOT NULL, symbol TEXT NOT NULL, ltp REAL NOT NULL,
    volume INTEGER NOT NULL, oi INTEGER NOT NULL DEFAULT 0, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS market_data_symbol_ts ON market_data(symbol, timestamp);
CREATE TABLE IF NOT EXISTS historical_data (
    symbol TEXT NOT NULL, timeframe TEXT NOT NULL, timestamp INTEGER NOT NULL,
    open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
    volume REAL NOT NULL, vwap REAL NOT NULL DEFAULT 0, trades INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, timeframe, timestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trading_signals (
    signal_id TEXT NOT NULL, timestamp INTEGER NOT NULL, symbol TEXT NOT NULL,
    asset_type TEXT NOT NULL, strategy TEXT NOT NULL, action TEXT NOT NULL,
    price REAL NOT NULL, quantity INTEGER NOT NULL, confidence REAL NOT NULL,
    target REAL NOT NULL, stop_loss REAL NOT NULL, expected_move_pct REAL NOT NULL,
    candle_time INTEGER NOT NULL, ema_fast REAL NOT NULL, ema_slow REAL NOT NULL,
    metadata TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (candle_time, signal_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trading_signals_query ON trading_signals(symbol, strategy, timestamp);
CREATE TABLE IF NOT EXISTS options_data (
    timestamp INTEGER NOT NULL, underlying TEXT NOT NULL, tradingsymbol TEXT NOT NULL,
    expiry TEXT NOT NULL, strike REAL NOT NULL, option_type TEXT NOT NULL,
    ltp REAL, bid REAL, ask REAL, volume INTEGER, oi INTEGER,
    iv REAL, delta REAL, gamma REAL, theta REAL, vega REAL
);
CREATE TABLE IF NOT EXISTS positions (
    position_id TEXT NOT NULL, version INTEGER NOT NULL, signal_id TEXT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,
    entry_time INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (entry_time, position_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS performance_metrics (
    timestamp INTEGER NOT NULL, component TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, labels TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit_events (
    timestamp INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL, ok INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
    stamp INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_key ON outbox(key);
CREATE TABLE IF NOT EXISTS executor_decisions (
    signal_id TEXT NOT NULL, decided_at INTEGER NOT NULL, symbol TEXT NOT NULL,
    mode TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
    underlying_price REAL NOT NULL, detail TEXT NOT NULL DEFAULT '',
    strategy TEXT NOT NULL DEFAULT '', signal_time INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (signal_time, signal_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS strategy_performance (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, mode TEXT NOT NULL,
    period_start TEXT NOT NULL, period_end TEXT NOT NULL,
    total_trades INTEGER NOT NULL, winning_trades INTEGER NOT NULL, losing_trades INTEGER NOT NULL,
    total_pnl REAL NOT NULL, max_drawdown REAL NOT NULL, sharpe_ratio REAL,
    win_rate REAL NOT NULL, avg_win REAL NOT NULL, avg_loss REAL NOT NULL,
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (strategy, symbol, mode, period_start, period_end)
) WITHOUT ROWID;
";

/// Signals and decisions are keyed by (signal candle time, signal id), positions by (entry
/// time, position id, version), so a run's keys arrive in order and each commit touches the
/// few pages at the end of the tree. (Keyed by the id alone, each row landed on a random page:
/// a commit of a few hundred rows rewrote most of the index, and the signal-heavy replay spent
/// two thirds of its time in those writes.) Files made before this layout are rebuilt into it
/// when opened, in one transaction each.
///
/// Positions have no index by signal: every position row goes in the transaction of its
/// signal's decision, so "was this signal decided?" asks the decisions only (files holding
/// positions without a decision, which this engine never writes, keep the old question; see
/// `SqliteStore::orphans`).
const REKEY: [(&str, &str, &str); 3] = [
    (
        "executor_decisions",
        "signal_id, decided_at, symbol, mode, outcome, reason, underlying_price, detail, strategy, signal_time",
        // The signal's candle time from its stored row (0 when the signal row is missing:
        // the lookup also tries 0).
        "signal_id, decided_at, symbol, mode, outcome, reason, underlying_price, detail, strategy,
         COALESCE((SELECT s.candle_time FROM trading_signals s WHERE s.signal_id = o.signal_id), 0)",
    ),
    (
        "trading_signals",
        "signal_id, timestamp, symbol, asset_type, strategy, action, price, quantity, confidence,
         target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at",
        "signal_id, timestamp, symbol, asset_type, strategy, action, price, quantity, confidence,
         target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at",
    ),
    (
        "positions",
        "position_id, version, signal_id, body, status, updated_at, entry_time",
        // Every version of a position carries its entry time (0 if a body lacks it: the same
        // for all its versions, so they stay together).
        "position_id, version, signal_id, body, status, updated_at,
         COALESCE(CAST(strftime('%s', json_extract(body, '$.entry_time')) AS INTEGER), 0)",
    ),
];

/// The tables, in schema order.
pub const TABLES: [&str; 10] = [
    "market_data",
    "historical_data",
    "trading_signals",
    "options_data",
    "positions",
    "performance_metrics",
    "executor_decisions",
    "audit_events",
    "strategy_performance",
    "outbox",
];

/// SQLite behind the [`Store`] trait.
pub struct SqliteStore {
    conn: Connection,
    /// The file holds positions whose signal has no decision (written by no version of this
    /// engine, checked when opened): "was this signal decided?" also asks the positions.
    orphans: bool,
    /// The file holds decisions rebuilt without their signal's time (0): "was this signal
    /// decided?" also looks there.
    untimed: bool,
    /// Where a row's JSON is written (kept from row to row: a position's body grows to ~700
    /// bytes, a fresh string reallocated its way there for every row).
    json: Vec<u8>,
    /// Checkpoints the WAL on its own thread (a file store; none in memory).
    checkpointer: Option<checkpointer::Checkpointer>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The checkpointer's connection closes first: the writer's, closing last, checkpoints
        // what is left and removes the WAL, as a lone connection did.
        self.checkpointer.take();
    }
}

/// Page size of a new store file. The rows are appended in key order and commits are
/// batches: 16 KiB pages mean fewer pages, splits and WAL frames (each its own write) for the
/// same rows. Measured on the signal-heavy paper replay (1M bars, 115 k rows): 0.92× the wall
/// and CPU of 4 KiB pages; a live commit of one signal writes a few pages more bytes, in µs.
const PAGE_SIZE: i64 = 16_384;

/// WAL bytes between automatic checkpoints (a store without the checkpointer thread).
const WAL_CHECKPOINT_BYTES: i64 = 40 << 20;

/// The page cache, as SQLite's `cache_size` takes it (negative: KiB): 8 MiB.
const CACHE_KIB: i64 = -8_192;

/// The page cache of a bulk load (`bulk_writes`: replays, imports): 64 MiB.
const BULK_CACHE_KIB: i64 = -65_536;

/// WAL bytes after which a commit checkpoints itself although the checkpointer runs.
const BACKSTOP_CHECKPOINT_BYTES: i64 = 4 * WAL_CHECKPOINT_BYTES;

/// `value` as JSON, written into `json` ("" if it cannot be written).
fn json_into<'a, T: serde::Serialize + ?Sized>(json: &'a mut Vec<u8>, value: &T) -> &'a str {
    json.clear();
    if serde_json::to_writer(&mut *json, value).is_err() {
        json.clear();
    }
    std::str::from_utf8(json).unwrap_or_default()
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::store(B, format!("create {}", dir.display()), e))?;
            }
        }
        let conn = Connection::open(path)
            .map_err(|e| Error::store(B, format!("open {}", path.display()), e))?;
        let mut store = Self::init(conn)?;
        store.checkpointer = checkpointer::Checkpointer::start(path);
        if store.checkpointer.is_some() {
            // The writer's own checkpoint only as a backstop, should the thread fall behind.
            store.checkpoint_every(BACKSTOP_CHECKPOINT_BYTES)?;
        }
        Ok(store)
    }

    /// The writer checkpoints itself every `bytes` of WAL (the threshold is in pages).
    fn checkpoint_every(&self, bytes: i64) -> Result<()> {
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| Error::store(B, "page_size", e))?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", bytes / page.max(512))
            .map_err(|e| Error::store(B, "wal_autocheckpoint", e))
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(|e| Error::store(B, "open memory", e))?;
        Self::init(conn)
    }

    fn init(conn: Connection) -> Result<Self> {
        // Asked before anything is written: it sets a new file's page size and leaves an
        // existing file's as it is.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(|e| Error::store(B, "page_size", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| Error::store(B, "journal_mode=WAL", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| Error::store(B, "synchronous=NORMAL", e))?;
        // An 8 MiB page cache (64 MiB for bulk loads, see `bulk_writes`) and checkpoints every
        // ~40 MiB of WAL: the default 2 MiB cache spilled to disk mid-transaction and
        // checkpoints ran every 4 MiB (measured: ~2x slower batched inserts). 8 MiB holds a
        // chunk of unawaited rows' leaves (256 candle rows of 256 symbols: 4 MiB of 16 KiB
        // pages) without spilling; 64 MiB kept ~1,000 symbols' leaves after each candle commit,
        // 16 MB of `run`'s memory at 1,000 underlyings.
        conn.pragma_update(None, "cache_size", CACHE_KIB)
            .map_err(|e| Error::store(B, "cache_size", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| Error::store(B, "busy_timeout", e))?;
        conn.execute_batch(DDL)
            .map_err(|e| Error::store(B, "create tables", e))?;
        // Columns added after the first release (files made before them lack them; their rows
        // read the default):
        // 1. executor_decisions.detail;
        // 2. outbox.stamp, the write time a row ships with (0: it ships with the time of
        //    shipping, as before);
        // 3. executor_decisions.strategy, the strategy instance.
        for (table, column, ddl) in [
            ("executor_decisions", "detail", "TEXT NOT NULL DEFAULT ''"),
            ("outbox", "stamp", "INTEGER NOT NULL DEFAULT 0"),
            ("executor_decisions", "strategy", "TEXT NOT NULL DEFAULT ''"),
        ] {
            add_column(&conn, table, column, ddl)?;
        }
        // Decisions first: their rebuild reads the signals by id, which the old layout indexes.
        for (table, columns, select) in REKEY {
            rekey(&conn, table, columns, select)?;
        }
        let orphans: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM positions
                 WHERE signal_id NOT IN (SELECT signal_id FROM executor_decisions))",
                [],
                |r| r.get(0),
            )
            .map_err(|e| Error::store(B, "check positions against decisions", e))?;
        if orphans {
            log::warn!(
                "sqlite: the store holds positions without their signal's decision (an old file): \
                 signals are also checked against positions (slower)"
            );
        }
        let untimed: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM executor_decisions WHERE signal_time = 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| Error::store(B, "check decisions without a time", e))?;
        let store = SqliteStore {
            conn,
            orphans,
            json: Vec::new(),
            checkpointer: None,
            untimed,
        };
        // ~40 MiB whatever the file's page size.
        store.checkpoint_every(WAL_CHECKPOINT_BYTES)?;
        Ok(store)
    }
}

/// Rebuilds `table` into the layout of [`DDL`] unless it has it already (keyed by time: a
/// `WITHOUT ROWID` table), copying every row (`select` over the old table, aliased `o`).
fn rekey(conn: &Connection, table: &str, columns: &str, select: &str) -> Result<()> {
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![table],
            |r| r.get(0),
        )
        .map_err(|e| Error::store(B, format!("inspect {table}"), e))?;
    if sql.contains("WITHOUT ROWID") {
        return Ok(());
    }
    let create = DDL
        .split_inclusive(';')
        .find(|stmt| stmt.contains(&format!("CREATE TABLE IF NOT EXISTS {table} (")))
        .ok_or_else(|| Error::store(B, format!("rebuild {table}"), "no DDL for it"))?;
    let indexes: String = DDL
        .split_inclusive(';')
        .filter(|stmt| stmt.contains(&format!(" ON {table}(")))
        .collect();
    let old = format!("{table}_before_rekey");
    let n: i64 = conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .map_err(|e| Error::store(B, format!("count {table}"), e))?;
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         ALTER TABLE {table} RENAME TO {old};
         {create}
         INSERT OR IGNORE INTO {table} ({columns}) SELECT {select} FROM {old} o;
         DROP TABLE {old};
         {indexes}
         COMMIT;"
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        Error::store(B, format!("rebuild {table} keyed by time"), e)
    })?;
    log::info!("sqlite: {table} rebuilt keyed by time: {n} rows");
    Ok(())
}

/// Adds `column` to `table` unless it is there already.
fn add_column(conn: &Connection, table: &str, column: &str, ddl: &str) -> Result<()> {
    let has: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
            params![table, column],
            |r| r.get(0),
        )
        .map_err(|e| Error::store(B, format!("inspect {table}"), e))?;
    if has == 0 {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
            .map_err(|e| Error::store(B, format!("migrate {table}.{column}"), e))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Latest version of each position whose latest row matches `filter`.
    fn latest_positions(
        &mut self,
        filter: &str,
        arg: Option<String>,
    ) -> Result<Vec<PositionRecord>> {
        let sql = format!(
            "SELECT p.body FROM positions p
             JOIN (SELECT position_id, MAX(version) AS v FROM positions GROUP BY position_id) m
               ON m.position_id = p.position_id AND m.v = p.version
             WHERE {filter} ORDER BY p.position_id"
        );
        let mut st = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| Error::store(B, "prepare positions query", e))?;
        let get = |r: &rusqlite::Row<'_>| r.get::<_, String>(0);
        let bodies = match arg {
            Some(a) => st
                .query_map(params![a], get)
                .and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>()),
            None => st
                .query_map([], get)
                .and_then(|m| m.collect::<rusqlite::Result<Vec<_>>>()),
        }
        .map_err(|e| Error::store(B, "query positions", e))?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| Error::store(B, "decode position", e)))
            .collect()
    }

    /// Appends rows to the outbox (one transaction), in order, with their write stamp (epoch
    /// ms when the store accepted them: they ship with it, so a re-shipment is the same row).
    pub fn outbox_push(&mut self, rows: &[Row], stamp: u64) -> Result<()> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Error::store(B, "begin outbox", e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO outbox (tbl, key, payload, stamp) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| Error::store(B, "prepare outbox insert", e))?;
            for r in rows {
                let key = match r {
                    Row::Decision(d) => d.signal_id.to_string(),
                    Row::Signal(s) => s.signal_id.to_string(),
                    Row::Position(p) => p.signal_id.to_string(),
                    Row::Candle(c) => format!("{}|{}|{}", c.symbol, c.interval.as_str(), c.ts),
                    Row::Audit(a) => format!("audit|{}", a.timestamp.timestamp()),
                    Row::Metric(m) => format!(
                        "metric|{}|{}|{}",
                        m.component,
                        m.metric,
                        m.timestamp.timestamp()
                    ),
                    Row::Performance(p) => format!(
                        "perf|{}|{}|{}|{}|{}",
                        p.strategy,
                        p.symbol,
                        p.mode.as_str(),
                        p.period_start,
                        p.period_end
                    ),
                };
                let payload = serde_json::to_string(r)
                    .map_err(|e| Error::store(B, "encode outbox row", e))?;
                st.execute(params![r.table(), key, payload, stamp as i64])
                    .map_err(|e| Error::store(B, "insert outbox", e))?;
            }
        }
        tx.commit().map_err(|e| Error::store(B, "commit outbox", e))
    }

    /// The oldest `limit` outbox rows: (sequence number, write stamp, row).
    pub fn outbox_peek(&mut self, limit: usize) -> Result<Vec<(i64, u64, Row)>> {
        self.outbox_select(
            "SELECT seq, stamp, payload FROM outbox ORDER BY seq LIMIT ?1",
            params![limit as i64],
        )
    }

    /// The outbox rows of table `tbl` whose key is `key` (or any key when `None`), in order:
    /// (sequence number, write stamp, row).
    pub fn outbox_rows(&mut self, tbl: &str, key: Option<&str>) -> Result<Vec<(i64, u64, Row)>> {
        self.outbox_select(
            "SELECT seq, stamp, payload FROM outbox WHERE tbl = ?1 AND (?2 IS NULL OR key = ?2) ORDER BY seq",
            params![tbl, key],
        )
    }

    /// The outbox candles of one symbol and interval, in order: (write stamp, candle).
    pub fn outbox_candles(
        &mut self,
        symbol: &str,
        interval: Timeframe,
    ) -> Result<Vec<(u64, CandleRow)>> {
        let prefix = format!("{symbol}|{}|", interval.as_str());
        let rows = self.outbox_select(
            "SELECT seq, stamp, payload FROM outbox WHERE tbl = 'historical_data' AND substr(key, 1, ?2) = ?1 ORDER BY seq",
            params![prefix, prefix.chars().count() as i64],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, stamp, r)| match r {
                Row::Candle(c) if &*c.symbol == symbol && c.interval == interval => {
                    Some((stamp, c))
                }
                _ => None,
            })
            .collect())
    }

    /// The keys (signal ids) of the outbox rows of the tables `tbls`.
    pub fn outbox_keys(&mut self, tbls: &[&str]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for t in tbls {
            let mut st = self
                .conn
                .prepare_cached("SELECT key FROM outbox WHERE tbl = ?1")
                .map_err(|e| Error::store(B, "prepare outbox keys", e))?;
            let keys = st
                .query_map(params![t], |r| r.get::<_, String>(0))
                .map_err(|e| Error::store(B, "read outbox keys", e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| Error::store(B, "read outbox keys", e))?;
            out.extend(keys);
        }
        Ok(out)
    }

    fn outbox_select(
        &mut self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<(i64, u64, Row)>> {
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| Error::store(B, "prepare outbox read", e))?;
        let rows = st
            .query_map(args, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| Error::store(B, "read outbox", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(B, "read outbox", e))?;
        rows.into_iter()
            .map(|(seq, stamp, p)| {
                serde_json::from_str(&p)
                    .map(|r| (seq, stamp.max(0) as u64, r))
                    .map_err(|e| Error::store(B, format!("decode outbox row {seq}"), e))
            })
            .collect()
    }

    /// Removes outbox rows up to and including `seq` (they were shipped).
    pub fn outbox_delete_upto(&mut self, seq: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM outbox WHERE seq <= ?1", params![seq])
            .map(|_| ())
            .map_err(|e| Error::store(B, "delete shipped outbox rows", e))
    }

    /// Removes the rows of table `tbl` up to and including `seq` (that table's part of a
    /// batch was shipped).
    pub fn outbox_delete_table_upto(&mut self, tbl: &str, seq: i64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM outbox WHERE seq <= ?1 AND tbl = ?2",
                params![seq, tbl],
            )
            .map(|_| ())
            .map_err(|e| Error::store(B, format!("delete shipped {tbl} rows"), e))
    }

    /// Rows waiting in the outbox.
    pub fn outbox_len(&mut self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| Error::store(B, "count outbox", e))
    }

    /// True when a decision or position for this signal waits in the outbox.
    pub fn outbox_has_processed(&mut self, id: Uuid) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM outbox WHERE key = ?1 AND tbl IN ('executor_decisions', 'positions') LIMIT 1",
            )
            .and_then(|mut st| st.query_row(params![id.to_string()], |_| Ok(())).optional())
            .map(|o| o.is_some())
            .map_err(|e| Error::store(B, "query outbox", e))
    }
}

fn outcome_parts(o: &Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Logged => ("logged", ""),
        Outcome::Opened => ("opened", ""),
        Outcome::Rejected(r) => ("rejected", r.as_str()),
    }
}

fn signal_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Signal> {
    let id: String = r.get(0)?;
    let ts: i64 = r.get(1)?;
    let action: String = r.get(5)?;
    let candle_time: i64 = r.get(11)?;
    let bad = |i: usize, m: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, m.into())
    };
    Ok(Signal {
        signal_id: Uuid::parse_str(&id).map_err(|e| bad(0, e.to_string()))?,
        timestamp: Utc
            .timestamp_opt(ts, 0)
            .single()
            .ok_or_else(|| bad(1, format!("time {ts}")))?,
        symbol: r.get(2)?,
        strategy: r.get(4)?,
        action: action.parse::<Action>().map_err(|e| bad(5, e))?,
        price: r.get(6)?,
        confidence: r.get(7)?,
        target: r.get(8)?,
        stop_loss: r.get(9)?,
        expected_move_pct: r.get(10)?,
        metadata: SignalMetadata {
            candle_time: Utc
                .timestamp_opt(candle_time, 0)
                .single()
                .ok_or_else(|| bad(11, format!("time {candle_time}")))?,
            ema_fast: r.get(12)?,
            ema_slow: r.get(13)?,
        },
    })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        B
    }

    fn write(&mut self, rows: &[Row]) -> Result<()> {
        let mut untimed = false;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Error::store(B, "begin", e))?;
        {
            let mut sig = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO trading_signals (signal_id, timestamp, symbol, asset_type,
                     strategy, action, price, quantity, confidence, target, stop_loss,
                     expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at)
                     VALUES (?1, ?2, ?3, 'INDEX_OR_EQUITY', ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(|e| Error::store(B, "prepare signal insert", e))?;
            let mut candle = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO historical_data (symbol, timeframe, timestamp, open, high,
                     low, close, volume) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(|e| Error::store(B, "prepare candle insert", e))?;
            let mut dec = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO executor_decisions (signal_id, decided_at, symbol, mode,
                     outcome, reason, underlying_price, detail, strategy, signal_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| Error::store(B, "prepare decision insert", e))?;
            let mut pos = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO positions (position_id, version, signal_id, body, status,
                     updated_at, entry_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| Error::store(B, "prepare position insert", e))?;
            let now = Utc::now().timestamp();
            let json = &mut self.json;
            let (mut id_a, mut id_b) = (Uuid::encode_buffer(), Uuid::encode_buffer());
            for row in rows {
                let r = match row {
                    Row::Signal(s) => {
                        let meta = json_into(json, &s.metadata);
                        sig.execute(params![
                            s.signal_id.hyphenated().encode_lower(&mut id_a) as &str,
                            s.timestamp.timestamp(),
                            s.symbol,
                            s.strategy,
                            s.action.as_str(),
                            s.price,
                            s.confidence,
                            s.target,
                            s.stop_loss,
                            s.expected_move_pct,
                            s.metadata.candle_time.timestamp(),
                            s.metadata.ema_fast,
                            s.metadata.ema_slow,
                            meta,
                            now
                        ])
                    }
                    Row::Candle(c) => candle.execute(params![
                        c.symbol,
                        c.interval.as_str(),
                        c.ts,
                        c.open,
                        c.high,
                        c.low,
                        c.close,
                        c.volume
                    ]),
                    Row::Decision(d) => {
                        let (outcome, reason) = outcome_parts(&d.outcome);
                        untimed |= d.signal_time == 0;
                        dec.execute(params![
                            d.signal_id.hyphenated().encode_lower(&mut id_a) as &str,
                            d.decided_at.timestamp(),
                            d.symbol,
                            d.mode.as_str(),
                            outcome,
                            reason,
                            d.underlying_price,
                            d.detail,
                            d.strategy,
                            d.signal_time
                        ])
                    }
                    Row::Audit(a) => tx
                        .prepare_cached("INSERT INTO audit_events (timestamp, action, detail, ok) VALUES (?1, ?2, ?3, ?4)")
                        .and_then(|mut st| st.execute(params![a.timestamp.timestamp(), a.action, a.detail, a.ok as i64])),
                    Row::Metric(m) => tx
                        .prepare_cached("INSERT INTO performance_metrics (timestamp, component, metric, value, labels) VALUES (?1, ?2, ?3, ?4, ?5)")
                        .and_then(|mut st| st.execute(params![m.timestamp.timestamp(), m.component, m.metric, m.value, m.labels])),
                    Row::Performance(p) => tx
                        .prepare_cached(
                            "INSERT OR REPLACE INTO strategy_performance (strategy, symbol, mode,
                             period_start, period_end, total_trades, winning_trades, losing_trades,
                             total_pnl, max_drawdown, sharpe_ratio, win_rate, avg_win, avg_loss,
                             computed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                        )
                        .and_then(|mut st| {
                            st.execute(params![
                                p.strategy,
                                p.symbol,
                                p.mode.as_str(),
                                p.period_start.to_string(),
                                p.period_end.to_string(),
                                p.total_trades as i64,
                                p.winning_trades as i64,
                                p.losing_trades as i64,
                                p.total_pnl,
                                p.max_drawdown,
                                p.sharpe_ratio,
                                p.win_rate,
                                p.avg_win,
                                p.avg_loss,
                                p.computed_at.timestamp()
                            ])
                        }),
                    Row::Position(p) => {
                        let body = json_into(json, p.as_ref());
                        let status = match p.status {
                            PositionStatus::Open => "OPEN",
                            PositionStatus::Closed => "CLOSED",
                        };
                        pos.execute(params![
                            p.position_id.hyphenated().encode_lower(&mut id_a) as &str,
                            p.version as i64,
                            p.signal_id.hyphenated().encode_lower(&mut id_b) as &str,
                            body,
                            status,
                            p.updated_at.timestamp(),
                            p.entry_time.timestamp()
                        ])
                    }
                };
                r.map_err(|e| Error::store(B, format!("insert into {}", row.table()), e))?;
            }
        }
        tx.commit().map_err(|e| Error::store(B, "commit", e))?;
        if let Some(c) = &self.checkpointer {
            c.committed();
        }
        self.untimed |= untimed;
        Ok(())
    }

    fn signals(&mut self, q: &SignalQuery) -> Result<Vec<Signal>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT signal_id, timestamp, symbol, asset_type, strategy, action, price,
                        confidence, target, stop_loss, expected_move_pct, candle_time,
                        ema_fast, ema_slow
                 FROM trading_signals
                 WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR strategy = ?2)
                   AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR timestamp <= ?4)
                 ORDER BY timestamp DESC, signal_id",
            )
            .map_err(|e| Error::store(B, "prepare signal query", e))?;
        let rows = st
            .query_map(
                params![
                    q.symbol,
                    q.strategy,
                    q.start.map(|t| t.timestamp()),
                    q.end.map(|t| t.timestamp())
                ],
                signal_from_row,
            )
            .map_err(|e| Error::store(B, "query signals", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(B, "read signals", e))
    }

    fn count_signals(&mut self, q: &SignalQuery) -> Result<u64> {
        self.conn
            .prepare_cached(
                "SELECT COUNT(*) FROM trading_signals
                 WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR strategy = ?2)
                   AND (?3 IS NULL OR timestamp >= ?3) AND (?4 IS NULL OR timestamp <= ?4)",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![
                        q.symbol,
                        q.strategy,
                        q.start.map(|t| t.timestamp()),
                        q.end.map(|t| t.timestamp())
                    ],
                    |r| r.get::<_, i64>(0),
                )
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| Error::store(B, "count signals", e))
    }

    fn is_signal_processed(&mut self, key: SignalKey) -> Result<bool> {
        // Rows rebuilt from an older file without their signal carry time 0.
        let sql = if self.orphans {
            "SELECT 1 FROM executor_decisions WHERE signal_time IN (?2, 0) AND signal_id = ?1
             UNION ALL SELECT 1 FROM positions WHERE signal_id = ?1 LIMIT 1"
        } else if self.untimed {
            "SELECT 1 FROM executor_decisions WHERE signal_time IN (?2, 0) AND signal_id = ?1"
        } else {
            "SELECT 1 FROM executor_decisions WHERE signal_time = ?2 AND signal_id = ?1"
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.query_row(params![key.id.to_string(), key.candle_time], |_| Ok(()))
                    .optional()
            })
            .map(|o| o.is_some())
            .map_err(|e| Error::store(B, "query executor_decisions", e))
    }

    fn signals_processed(&mut self, keys: &[SignalKey]) -> Result<Vec<bool>> {
        if keys.len() < 2 {
            return keys.iter().map(|k| self.is_signal_processed(*k)).collect();
        }
        // No decision in the batch's span of signal times (a first run over new data): none
        // of them was decided, and one range count says so instead of a probe per signal.
        if !self.orphans && !self.untimed {
            let lo = keys.iter().map(|k| k.candle_time).min().unwrap_or(0);
            let hi = keys.iter().map(|k| k.candle_time).max().unwrap_or(0);
            let any: bool = self
                .conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM executor_decisions
                     WHERE signal_time BETWEEN ?1 AND ?2)",
                )
                .and_then(|mut st| st.query_row(params![lo, hi], |r| r.get(0)))
                .map_err(|e| Error::store(B, "query executor_decisions", e))?;
            if !any {
                return Ok(vec![false; keys.len()]);
            }
        }
        // One read transaction for the batch (one snapshot, one set of locks).
        self.conn
            .execute_batch("BEGIN")
            .map_err(|e| Error::store(B, "begin read", e))?;
        let answers: Result<Vec<bool>> =
            keys.iter().map(|k| self.is_signal_processed(*k)).collect();
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(Error::store(B, "end read", e));
        }
        answers
    }

    fn history(
        &mut self,
        symbol: &str,
        interval: Timeframe,
        limit: usize,
    ) -> Result<Vec<CandleRow>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT timestamp, open, high, low, close, volume FROM historical_data
                 WHERE symbol = ?1 AND timeframe = ?2 ORDER BY timestamp DESC LIMIT ?3",
            )
            .map_err(|e| Error::store(B, "prepare history query", e))?;
        let mut rows = st
            .query_map(params![symbol, interval.as_str(), limit as i64], |r| {
                Ok(CandleRow {
                    symbol: symbol.into(),
                    interval,
                    ts: r.get(0)?,
                    open: r.get(1)?,
                    high: r.get(2)?,
                    low: r.get(3)?,
                    close: r.get(4)?,
                    volume: r.get(5)?,
                })
            })
            .map_err(|e| Error::store(B, "query history", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(B, "read history", e))?;
        drop(st);
        // History is read once per symbol at start: the pages it read would otherwise stay in
        // the 64 MiB cache (meant for the writes' dirty pages) and fill it at ~1 000 symbols.
        // Dropping the clean pages keeps the start-up's memory at one symbol's pages.
        self.release_memory();
        rows.reverse();
        Ok(rows)
    }

    fn processed_since(&mut self, since: i64) -> Result<Vec<Uuid>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT signal_id FROM executor_decisions WHERE decided_at >= ?1")
            .map_err(|e| Error::store(B, "prepare processed query", e))?;
        let ids = st
            .query_map(params![since], |r| r.get::<_, String>(0))
            .map_err(|e| Error::store(B, "query processed", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(B, "read processed", e))?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }

    fn positions_by_signal(&mut self, signal_id: Uuid) -> Result<Vec<PositionRecord>> {
        self.latest_positions("signal_id = ?1", Some(signal_id.to_string()))
    }

    fn open_positions(&mut self) -> Result<Vec<PositionRecord>> {
        self.latest_positions("status = 'OPEN'", None)
    }

    fn closed_positions_since(&mut self, since: i64) -> Result<Vec<PositionRecord>> {
        // A closed position's last version is written at its exit.
        self.latest_positions(
            &format!("status = 'CLOSED' AND updated_at >= {since}"),
            None,
        )
    }

    fn bulk_writes(&mut self) {
        // No thread: the writer checkpoints itself every ~40 MiB, as a lone connection does.
        if self.checkpointer.take().is_some() {
            if let Err(e) = self.checkpoint_every(WAL_CHECKPOINT_BYTES) {
                log::warn!("sqlite: {e}; the backstop's threshold stays");
            }
        }
        // Whole batches of a replay's rows touch many leaves at once: the larger cache.
        if let Err(e) = self.conn.pragma_update(None, "cache_size", BULK_CACHE_KIB) {
            log::warn!("sqlite: cache_size for a bulk load: {e}; the default stays");
        }
    }

    fn release_memory(&mut self) {
        // Clean pages only: between commits there are no dirty ones.
        if let Err(e) = self.conn.execute_batch("PRAGMA shrink_memory") {
            log::warn!("sqlite: shrink_memory failed: {e}");
        }
    }

    fn health(&mut self) -> StoreHealth {
        StoreHealth {
            backend: B.to_string(),
            connected: true,
            outbox_pending: 0,
            server_version: Some(format!("SQLite {}", rusqlite::version())),
        }
    }

    fn row_counts(&mut self) -> Result<Vec<(String, u64)>> {
        TABLES
            .iter()
            .map(|t| {
                self.conn
                    .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map(|n| (t.to_string(), n as u64))
                    .map_err(|e| Error::store(B, format!("count {t}"), e))
            })
            .collect()
    }
}

mod checkpointer;
#[cfg(test)]
mod tests;
