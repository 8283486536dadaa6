//! ClickHouse as the database of truth, with a durable local outbox.
//!
//! - **Writes**: one `INSERT` per table per batch (RowBinary over HTTP). When the server is
//!   down (or an insert fails), the batch goes into the SQLite outbox instead — committed
//!   locally, so it is accepted and never lost — and the store reports itself disconnected.
//!   Every later write first ships the outbox, oldest first; new rows go straight to the server
//!   only once the outbox is empty, so order is kept. Shipping is idempotent under a kill at
//!   any point: each table of a batch leaves the outbox once the server has it, and every
//!   row ships with what it was written with (its write stamp is kept in the outbox; see
//!   [`super::ch_rows`]), so a re-shipped row is the same row and ReplacingMergeTree collapses
//!   it.
//! - **Reads** go to the server (with `FINAL`) and are merged with the rows still in the
//!   outbox, newest version winning ([`super::outbox_merge`]): a restarted engine recovers
//!   what it wrote during an outage even before the outbox has shipped.
//!   `is_signal_processed` is answered from a set of every decided signal id (server and
//!   outbox), loaded at open and kept current by this store's own writes and shipments
//!   (DbWriter is the only writer), so the executor's per-signal idempotency check costs no
//!   round trip; the outbox counts too. Stored signal ids (server and outbox) are likewise
//!   loaded at open: a signal id already stored is never stored again with other contents.
//! - **Threads**: the official `clickhouse` crate is async; the store runs it on a worker
//!   thread with its own Tokio runtime and waits for each answer, so DbWriter (on its own
//!   arbiter) sees a plain blocking store. Every request has a timeout.
//!
//! 18.16 compatibility (the server CI runs): validation off (RowBinary, no schema probe), no
//! server-side parameters (values are bound client-side), no unknown settings.

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ::clickhouse::Client;
use chrono::Utc;
use messages::{
    CandleRow, PositionRecord, Row, Signal, SignalKey, SignalQuery, StoreHealth, Timeframe,
};
use serde::Deserialize;
use uuid::Uuid;

use super::ch_rows::{split, ChCandle, ChPosition, ChSignal, Split, TABLE_ORDER};
use super::outbox_merge;
use super::schema::{statement, LATER_TABLES, MIGRATIONS, TABLES};
use super::sqlite::SqliteStore;
use super::Store;
use crate::config::ClickHouse as ChConfig;
use crate::error::{Error, Result};

const B: &str = "clickhouse";
/// Outbox rows shipped per INSERT round.
const SHIP_BATCH: usize = 10_000;

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime, &Client) + Send>;

/// The thread that owns the async client.
pub(super) struct Worker {
    tx: mpsc::Sender<Job>,
    timeout: Duration,
}

impl Worker {
    pub(super) fn spawn(client: Client, timeout: Duration) -> Result<Worker> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::store(B, "start the client runtime", e))?;
        std::thread::Builder::new()
            .name("clickhouse-client".into())
            .spawn(move || {
                for job in rx {
                    job(&rt, &client);
                }
            })
            .map_err(|e| Error::store(B, "start the client thread", e))?;
        Ok(Worker { tx, timeout })
    }

    /// Runs `f` on the worker and waits for its answer (or the timeout).
    pub(super) fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, ::clickhouse::error::Error>>,
    {
        let (rtx, rrx) = mpsc::sync_channel(1);
        let timeout = self.timeout;
        let job: Job = Box::new(move |rt, client| {
            let client = client.clone();
            let r = rt.block_on(async move { tokio::time::timeout(timeout, f(client)).await });
            let r = match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
            };
            let _ = rtx.send(r);
        });
        self.tx
            .send(job)
            .map_err(|_| Error::store(B, what, "client thread is gone"))?;
        rrx.recv()
            .map_err(|_| Error::store(B, what, "client thread is gone"))?
            .map_err(|e| Error::store(B, what, e))
    }
}

pub(super) async fn insert_all<T>(
    client: &Client,
    table: &str,
    rows: Vec<T>,
) -> std::result::Result<(), ::clickhouse::error::Error>
where
    T: ::clickhouse::RowOwned + ::clickhouse::RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut ins = client.insert::<T>(table).await?;
    for r in &rows {
        ins.write(r).await?;
    }
    ins.end().await
}

/// Fault injection for the recovery tests, in debug builds only:
/// `ALPHASTOCKS_CRASH_AT=ship:TABLE:inserted` (or `:removed`) aborts the process right after
/// that table's rows of a shipment reached the server (or left the outbox) — a kill at exactly
/// that step.
#[cfg(debug_assertions)]
fn crash_point(table: &str, step: &str) {
    if let Ok(at) = std::env::var("ALPHASTOCKS_CRASH_AT") {
        if at.strip_prefix("ship:") == Some(&format!("{table}:{step}")) {
            log::error!("clickhouse: crash injected at {at}");
            std::process::abort();
        }
    }
}

#[cfg(not(debug_assertions))]
fn crash_point(_table: &str, _step: &str) {}

/// A client for `cfg` (TCP_NODELAY: small inserts otherwise stall on delayed ACKs).
pub fn client(cfg: &ChConfig) -> Client {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(2))
        .build(connector);
    let mut c = Client::with_http_client(http)
        .with_url(&cfg.url)
        .with_user(&cfg.user)
        .with_validation(false);
    if !cfg.password.is_empty() {
        c = c.with_password(&cfg.password);
    }
    c
}

/// Creates database `db` and applies every migration not yet recorded there (idempotent);
/// returns the server's version and the versions applied now.
pub(super) fn apply_migrations(worker: &Worker, db: &str) -> Result<(String, Vec<u32>)> {
    let db = db.to_string();
    let version = worker.call("SELECT version()", |c| async move {
        c.query("SELECT version()").fetch_one::<String>().await
    })?;
    let create_db = format!("CREATE DATABASE IF NOT EXISTS {db}");
    worker.call("create database", move |c| async move {
        c.query(&create_db).execute().await
    })?;
    let mig = format!(
        "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version"
    );
    worker.call("create schema_migrations", move |c| async move {
        c.query(&mig).execute().await
    })?;
    let q = format!("SELECT version FROM {db}.schema_migrations");
    let done: Vec<u32> = worker.call("read schema_migrations", move |c| async move {
        c.query(&q).fetch_all::<u32>().await
    })?;
    let mut applied = Vec::new();
    for (v, name, sql) in MIGRATIONS {
        if done.contains(&v) {
            continue;
        }
        let st = statement(sql, &db);
        worker.call(&format!("apply migration {name}"), move |c| async move {
            c.query(&st).execute().await
        })?;
        let rec = format!(
            "INSERT INTO {db}.schema_migrations (version, name, applied_at) VALUES ({v}, '{name}', now())"
        );
        worker.call("record migration", move |c| async move {
            c.query(&rec).execute().await
        })?;
        applied.push(v);
    }
    Ok((version, applied))
}

/// ClickHouse behind the [`Store`] trait.
pub struct ClickHouseStore {
    worker: Worker,
    db: String,
    outbox: SqliteStore,
    connected: bool,
    version: Option<String>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Every signal id with a decision or position, once loaded.
    processed: Option<std::collections::HashSet<Uuid>>,
    /// Every stored signal id, once loaded: a signal already stored is not inserted again, so
    /// a re-run leaves no physical duplicate even before ClickHouse merges parts.
    known_signals: Option<std::collections::HashSet<Uuid>>,
}

impl ClickHouseStore {
    /// Connects, applies the schema migrations, and opens the outbox in `outbox`. A server that
    /// is down at start is not an error: the store starts disconnected and writes go to the
    /// outbox until it answers.
    pub fn open(cfg: &ChConfig, outbox: SqliteStore) -> Result<Self> {
        let worker = Worker::spawn(client(cfg), Duration::from_secs(cfg.timeout_seconds))?;
        let mut s = ClickHouseStore {
            worker,
            db: cfg.database.clone(),
            outbox,
            connected: false,
            version: None,
            retry_at: None,
            backoff: Duration::from_millis(500),
            processed: None,
            known_signals: None,
        };
        match s
            .init_schema()
            .and_then(|applied| s.load_sets().map(|()| applied))
        {
            Ok(applied) => {
                s.connected = true;
                log::info!(
                    "clickhouse: connected to {} (server {}), database {}{}",
                    cfg.url,
                    s.version.as_deref().unwrap_or("?"),
                    s.db,
                    if applied.is_empty() {
                        String::new()
                    } else {
                        format!(", applied migrations {applied:?}")
                    }
                );
            }
            Err(e) => {
                log::warn!("clickhouse: {} is not answering ({e}); writes go to the local outbox until it is back", cfg.url);
                s.mark_down();
            }
        }
        Ok(s)
    }

    /// Did the server answer the last request?
    pub fn health_now(&self) -> bool {
        self.connected
    }

    /// Is the server answering? (`SELECT version()`.)
    pub fn ping(cfg: &ChConfig) -> Result<String> {
        let w = Worker::spawn(client(cfg), Duration::from_secs(cfg.timeout_seconds))?;
        w.call("ping", |c| async move {
            c.query("SELECT version()").fetch_one::<String>().await
        })
    }

    /// Creates the database and applies every migration not yet recorded. Idempotent.
    /// Returns the versions applied now.
    pub fn init_schema(&mut self) -> Result<Vec<u32>> {
        let (version, applied) = apply_migrations(&self.worker, &self.db)?;
        self.version = Some(version);
        Ok(applied)
    }

    fn mark_down(&mut self) {
        self.connected = false;
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
    }

    fn mark_up(&mut self) {
        if !self.connected {
            log::info!("clickhouse: server is answering again");
        }
        self.connected = true;
        self.retry_at = None;
        self.backoff = Duration::from_millis(500);
    }

    /// Sends rows to the server: one INSERT per table.
    fn insert(&self, s: Split) -> Result<()> {
        let db = self.db.clone();
        self.worker.call("insert", move |c| async move {
            let c = c.with_database(db);
            // Shipping calls this one table at a time, in TABLE_ORDER.
            insert_all(&c, "trading_signals", s.signals).await?;
            insert_all(&c, "positions", s.positions).await?;
            insert_all(&c, "executor_decisions", s.decisions).await?;
            insert_all(&c, "audit_events", s.audits).await?;
            insert_all(&c, "performance_metrics", s.metrics).await?;
            insert_all(&c, "historical_data", s.candles).await?;
            insert_all(&c, "strategy_performance", s.performance).await
        })
    }

    /// Ships the outbox in order; returns the rows shipped. Stops at the first failure.
    /// Each table of a batch leaves the outbox as soon as the server has it, so a kill
    /// re-ships at most that one table's rows — the same rows, with their stamps.
    pub fn ship_outbox(&mut self) -> Result<u64> {
        let mut shipped = 0;
        loop {
            let batch = self.outbox.outbox_peek(SHIP_BATCH)?;
            let Some(&(last, _, _)) = batch.last() else {
                break;
            };
            // Rows of files made before stamps were kept ship with the time of shipping.
            let now = Utc::now().timestamp_millis() as u64;
            let mut all = split(
                batch
                    .iter()
                    .map(|(_, stamp, r)| (if *stamp == 0 { now } else { *stamp }, r)),
            );
            for table in TABLE_ORDER {
                if all.len_of(table) == 0 {
                    continue;
                }
                self.insert(all.take(table))?;
                crash_point(table, "inserted");
                self.outbox.outbox_delete_table_upto(table, last)?;
                crash_point(table, "removed");
                // The server has them now: the sets must not forget them with the outbox.
                for (_, _, r) in batch.iter().filter(|(_, _, r)| r.table() == table) {
                    self.remember(r);
                }
            }
            shipped += batch.len() as u64;
        }
        if shipped > 0 {
            // Every write passes through the outbox: only a backlog is worth an INFO line.
            if shipped > SHIP_BATCH as u64 || !self.connected {
                log::info!("clickhouse: shipped {shipped} rows from the outbox");
            } else {
                log::debug!("clickhouse: shipped {shipped} rows from the outbox");
            }
        }
        Ok(shipped)
    }

    /// Notes a durable row in the sets of decided and stored signal ids (when loaded).
    fn remember(&mut self, r: &Row) {
        match r {
            Row::Decision(d) => {
                if let Some(p) = self.processed.as_mut() {
                    p.insert(d.signal_id);
                }
            }
            Row::Position(x) => {
                if let Some(p) = self.processed.as_mut() {
                    p.insert(x.signal_id);
                }
            }
            Row::Signal(x) => {
                if let Some(k) = self.known_signals.as_mut() {
                    k.insert(x.signal_id);
                }
            }
            _ => {}
        }
    }

    /// Loads the sets of decided and of stored signal ids (server and outbox). Fails when the
    /// server cannot answer.
    fn load_sets(&mut self) -> Result<()> {
        self.load_processed()?;
        if !self.load_known_signals() {
            return Err(Error::store(B, "load stored signal ids", "no answer"));
        }
        Ok(())
    }

    /// Loads every decided signal id: the server's decisions and positions, and the outbox's.
    fn load_processed(&mut self) -> Result<()> {
        #[derive(::clickhouse::Row, Deserialize)]
        struct Id {
            #[serde(with = "::clickhouse::serde::uuid")]
            signal_id: Uuid,
        }
        let ids = self.query("load decided signal ids", |c| async move {
            c.query("SELECT signal_id FROM executor_decisions UNION ALL SELECT signal_id FROM positions")
                .fetch_all::<Id>()
                .await
        })?;
        let mut set: std::collections::HashSet<Uuid> =
            ids.into_iter().map(|i| i.signal_id).collect();
        set.extend(self.outbox_ids(&["executor_decisions", "positions"])?);
        log::info!(
            "clickhouse: {} decided signal ids loaded for idempotency checks",
            set.len()
        );
        self.processed = Some(set);
        Ok(())
    }

    /// Signal ids of the outbox rows of `tables`.
    fn outbox_ids(&mut self, tables: &[&str]) -> Result<Vec<Uuid>> {
        Ok(self
            .outbox
            .outbox_keys(tables)?
            .iter()
            .filter_map(|k| Uuid::parse_str(k).ok())
            .collect())
    }

    /// The outbox's positions (all, or those of one signal), in order.
    fn outbox_positions(&mut self, signal: Option<Uuid>) -> Result<Vec<PositionRecord>> {
        let key = signal.map(|s| s.to_string());
        Ok(self
            .outbox
            .outbox_rows("positions", key.as_deref())?
            .into_iter()
            .filter_map(|(_, _, r)| match r {
                Row::Position(p) => Some(*p),
                _ => None,
            })
            .collect())
    }

    /// Writes to the server, or to the outbox when it cannot take them.
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        if let Some(p) = self.processed.as_mut() {
            for r in rows {
                match r {
                    Row::Decision(d) => {
                        p.insert(d.signal_id);
                    }
                    Row::Position(x) => {
                        p.insert(x.signal_id);
                    }
                    _ => {}
                }
            }
        }
        // The write stamp: these rows ship with it, now or from the outbox later.
        let stamp = Utc::now().timestamp_millis() as u64;
        // Write-ahead: the batch is durable in the outbox (one SQLite transaction) before any
        // of it reaches the server. ClickHouse has no transaction across tables, so a kill
        // between two tables' inserts would otherwise leave, say, a decision stored without
        // the position it opened; from the outbox, recovery reads the whole batch (server
        // plus outbox) and shipping finishes it, idempotently.
        self.outbox.outbox_push(rows, stamp)?;
        if self.may_try() {
            let t0 = Instant::now();
            match self.ship_outbox() {
                Ok(_) => {
                    log::debug!(
                        "clickhouse: {} rows through the outbox in {:?}",
                        rows.len(),
                        t0.elapsed()
                    );
                    self.mark_up();
                }
                Err(e) => {
                    if self.connected {
                        log::error!("clickhouse: insert failed ({e}); {} rows kept in the local outbox, shipped when the server is back", self.outbox.outbox_len().unwrap_or(0));
                    }
                    self.mark_down();
                }
            }
        }
        Ok(())
    }

    /// Loads the stored signal ids once; false when the server cannot say (then nothing is
    /// filtered: ReplacingMergeTree still collapses a repeat).
    fn load_known_signals(&mut self) -> bool {
        if self.known_signals.is_some() {
            return true;
        }
        if !self.may_try() {
            return false;
        }
        #[derive(::clickhouse::Row, Deserialize)]
        struct Id {
            #[serde(with = "::clickhouse::serde::uuid")]
            signal_id: Uuid,
        }
        let ids = self.query("load stored signal ids", |c| async move {
            c.query("SELECT signal_id FROM trading_signals")
                .fetch_all::<Id>()
                .await
        });
        match ids.and_then(|ids| Ok((ids, self.outbox_ids(&["trading_signals"])?))) {
            Ok((ids, waiting)) => {
                let mut set: std::collections::HashSet<Uuid> =
                    ids.into_iter().map(|i| i.signal_id).collect();
                set.extend(waiting);
                self.known_signals = Some(set);
                true
            }
            Err(_) => false,
        }
    }

    fn may_try(&self) -> bool {
        self.connected || self.retry_at.is_none_or(|t| Instant::now() >= t)
    }

    fn query<T, F, Fut>(&mut self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, ::clickhouse::error::Error>>,
    {
        let db = self.db.clone();
        let r = self.worker.call(what, move |c| f(c.with_database(db)));
        match &r {
            Ok(_) => self.mark_up(),
            Err(_) => self.mark_down(),
        }
        r
    }
}

impl Store for ClickHouseStore {
    fn backend(&self) -> &'static str {
        B
    }

    fn write(&mut self, rows: &[Row]) -> Result<()> {
        if rows.iter().any(|r| matches!(r, Row::Signal(_))) {
            self.load_known_signals();
        }
        let filtered;
        let rows = match &self.known_signals {
            Some(known)
                if rows
                    .iter()
                    .any(|r| matches!(r, Row::Signal(s) if known.contains(&s.signal_id))) =>
            {
                filtered = rows
                    .iter()
                    .filter(|r| !matches!(r, Row::Signal(s) if known.contains(&s.signal_id)))
                    .cloned()
                    .collect::<Vec<_>>();
                &filtered[..]
            }
            _ => rows,
        };
        if rows.is_empty() {
            return Ok(());
        }
        self.write_rows(rows)?;
        // Durable now (on the server or in the outbox): remember what is stored.
        if let Some(known) = self.known_signals.as_mut() {
            for r in rows {
                if let Row::Signal(s) = r {
                    known.insert(s.signal_id);
                }
            }
        }
        Ok(())
    }
    fn signals(&mut self, q: &SignalQuery) -> Result<Vec<Signal>> {
        let mut sql = String::from("SELECT ?fields FROM trading_signals FINAL WHERE 1 = 1");
        if q.symbol.is_some() {
            sql.push_str(" AND symbol = ?");
        }
        if q.strategy.is_some() {
            sql.push_str(" AND strategy = ?");
        }
        if q.start.is_some() {
            sql.push_str(" AND timestamp >= toDateTime(?)");
        }
        if q.end.is_some() {
            sql.push_str(" AND timestamp <= toDateTime(?)");
        }
        sql.push_str(" ORDER BY timestamp DESC, signal_id");
        let qc = q.clone();
        let rows: Vec<ChSignal> = self.query("query signals", move |c| async move {
            let q = qc;
            let mut query = c.query(&sql);
            if let Some(s) = &q.symbol {
                query = query.bind(s.as_str());
            }
            if let Some(s) = &q.strategy {
                query = query.bind(s.as_str());
            }
            if let Some(t) = q.start {
                query = query.bind(t.timestamp());
            }
            if let Some(t) = q.end {
                query = query.bind(t.timestamp());
            }
            query.fetch_all::<ChSignal>().await
        })?;
        let waiting: Vec<Signal> = self
            .outbox
            .outbox_rows("trading_signals", None)?
            .into_iter()
            .filter_map(|(_, _, r)| match r {
                Row::Signal(s) => Some(*s),
                _ => None,
            })
            .collect();
        Ok(outbox_merge::signals(
            rows.into_iter().map(ChSignal::into_signal).collect(),
            waiting,
            q,
        ))
    }

    fn is_signal_processed(&mut self, key: SignalKey) -> Result<bool> {
        let id = key.id;
        if self.outbox.outbox_has_processed(id)? {
            return Ok(true);
        }
        if self.processed.is_none() && self.may_try() {
            if let Err(e) = self.load_processed() {
                log::warn!("clickhouse: {e}; idempotency answered from the outbox and this run's decisions");
            }
        }
        // While the server has never answered, only the outbox (and the executor's own record
        // of this run and its recovery) can say. (The engine does not start trading then.)
        Ok(self.processed.as_ref().is_some_and(|p| p.contains(&id)))
    }

    fn processed_since(&mut self, since: i64) -> Result<Vec<Uuid>> {
        #[derive(::clickhouse::Row, Deserialize)]
        struct Id {
            #[serde(with = "::clickhouse::serde::uuid")]
            signal_id: Uuid,
        }
        let ids: Vec<Id> = self.query("query processed", move |c| async move {
            c.query("SELECT ?fields FROM executor_decisions WHERE decided_at >= toDateTime(?)")
                .bind(since)
                .fetch_all::<Id>()
                .await
        })?;
        let waiting = self
            .outbox
            .outbox_rows("executor_decisions", None)?
            .into_iter()
            .filter_map(|(_, _, r)| match r {
                Row::Decision(d) if d.decided_at.timestamp() >= since => Some(d.signal_id),
                _ => None,
            });
        Ok(outbox_merge::ids(
            ids.into_iter().map(|i| i.signal_id).collect(),
            waiting,
        ))
    }

    fn history(
        &mut self,
        symbol: &str,
        interval: Timeframe,
        limit: usize,
    ) -> Result<Vec<CandleRow>> {
        let (sym, iv) = (symbol.to_string(), interval.as_str().to_string());
        let rows: Vec<ChCandle> = self.query("query historical_data", move |c| async move {
            c.query("SELECT ?fields FROM historical_data FINAL WHERE symbol = ? AND timeframe = ? ORDER BY timestamp DESC LIMIT ?")
                .bind(sym.as_str())
                .bind(iv.as_str())
                .bind(limit as u64)
                .fetch_all::<ChCandle>()
                .await
        })?;
        let server = rows
            .into_iter()
            .map(|r| {
                (
                    r.version,
                    CandleRow {
                        symbol: r.symbol.into(),
                        interval,
                        ts: r.timestamp.timestamp(),
                        open: r.open,
                        high: r.high,
                        low: r.low,
                        close: r.close,
                        volume: r.volume as f64,
                    },
                )
            })
            .collect();
        let waiting = self.outbox.outbox_candles(symbol, interval)?;
        Ok(outbox_merge::candles(server, waiting, limit))
    }

    fn positions_by_signal(&mut self, signal_id: Uuid) -> Result<Vec<PositionRecord>> {
        let sid = signal_id.to_string();
        let rows: Vec<ChPosition> = self.query("query positions", move |c| async move {
            c.query("SELECT ?fields FROM positions FINAL WHERE signal_id = toUUID(?) ORDER BY position_id")
                .bind(sid.as_str())
                .fetch_all::<ChPosition>()
                .await
        })?;
        let waiting = self.outbox_positions(Some(signal_id))?;
        Ok(outbox_merge::latest_positions(
            rows.into_iter().map(ChPosition::into_record).collect(),
            waiting,
        ))
    }

    fn open_positions(&mut self) -> Result<Vec<PositionRecord>> {
        // The server's open positions and its latest version of every position the outbox
        // mentions (one the outbox holds as open may be closed on the server, and the other
        // way round): then the newest version wins.
        let waiting = self.outbox_positions(None)?;
        let mut sql = String::from("SELECT ?fields FROM positions FINAL WHERE status = 'OPEN'");
        let mut ids: Vec<String> = waiting.iter().map(|p| p.position_id.to_string()).collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            // Uuid's Display is hex and dashes only: safe to inline.
            sql.push_str(" OR position_id IN (");
            sql.push_str(
                &ids.iter()
                    .map(|i| format!("toUUID('{i}')"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            sql.push(')');
        }
        sql.push_str(" ORDER BY position_id");
        let rows: Vec<ChPosition> = self.query("query open positions", move |c| async move {
            c.query(&sql).fetch_all::<ChPosition>().await
        })?;
        Ok(outbox_merge::open_positions(
            rows.into_iter().map(ChPosition::into_record).collect(),
            waiting,
        ))
    }

    fn closed_positions_since(&mut self, since: i64) -> Result<Vec<PositionRecord>> {
        let waiting = self.outbox_positions(None)?;
        let rows: Vec<ChPosition> = self.query("query closed positions", move |c| async move {
            c.query("SELECT ?fields FROM positions FINAL WHERE status = 'CLOSED' AND updated_at >= toDateTime(?) ORDER BY position_id")
                .bind(since)
                .fetch_all::<ChPosition>()
                .await
        })?;
        Ok(outbox_merge::latest_positions(
            rows.into_iter().map(ChPosition::into_record).collect(),
            waiting,
        )
        .into_iter()
        .filter(|p| {
            p.status == messages::PositionStatus::Closed && p.updated_at.timestamp() >= since
        })
        .collect())
    }

    fn row_counts(&mut self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for t in TABLES.iter().chain(&LATER_TABLES) {
            let sql = format!("SELECT count() FROM {t}");
            let n: u64 = self.query("count rows", move |c| async move {
                c.query(&sql).fetch_one::<u64>().await
            })?;
            out.push((t.to_string(), n));
        }
        out.push(("outbox (local)".to_string(), self.outbox.outbox_len()?));
        Ok(out)
    }

    fn release_memory(&mut self) {
        self.outbox.release_memory();
    }

    fn bulk_writes(&mut self) {
        self.outbox.bulk_writes();
    }

    fn health(&mut self) -> StoreHealth {
        StoreHealth {
            backend: B.to_string(),
            connected: self.connected,
            outbox_pending: self.outbox.outbox_len().unwrap_or(0),
            server_version: self.version.clone(),
        }
    }
}
