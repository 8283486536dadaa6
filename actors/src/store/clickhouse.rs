//! ClickHouse as the database of truth, with a durable local outbox.
//!
//! - **Writes**: one `INSERT` per table per batch (RowBinary over HTTP). When the server is
//!   down (or an insert fails), the batch goes into the SQLite outbox instead — committed
//!   locally, so it is accepted and never lost — and the store reports itself disconnected.
//!   Every later write first ships the outbox, oldest first; new rows go straight to the server
//!   only once the outbox is empty, so order is kept. Re-shipping after a crash cannot
//!   duplicate anything visible: every table is a ReplacingMergeTree on the row's key and
//!   reads use `FINAL`.
//! - **Reads** go to the server (with `FINAL`). `is_signal_processed` is answered from a set
//!   of every decided signal id, loaded from the server once and kept current by this store's
//!   own writes (DbWriter is the only writer), so the executor's per-signal idempotency check
//!   costs no round trip; the outbox counts too.
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
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use messages::{
    Action, CandleRow, Mode, OptionType, Outcome, PositionRecord, PositionStatus, Row, Signal,
    SignalMetadata, SignalQuery, StoreHealth, Timeframe,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::schema::{statement, MIGRATIONS, TABLES};
use super::sqlite::SqliteStore;
use super::Store;
use crate::config::ClickHouse as ChConfig;
use crate::error::{Error, Result};

const B: &str = "clickhouse";
/// Outbox rows shipped per INSERT round.
const SHIP_BATCH: usize = 10_000;

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime, &Client) + Send>;

/// The thread that owns the async client.
struct Worker {
    tx: mpsc::Sender<Job>,
    timeout: Duration,
}

impl Worker {
    fn spawn(client: Client, timeout: Duration) -> Result<Worker> {
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
    fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
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

// ---------------------------------------------------------------- row types (RowBinary)

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChSignal {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    timestamp: DateTime<Utc>,
    #[serde(with = "::clickhouse::serde::uuid")]
    signal_id: Uuid,
    symbol: String,
    asset_type: String,
    strategy: String,
    action: i8,
    price: f64,
    quantity: u32,
    confidence: f64,
    target: f64,
    stop_loss: f64,
    expected_move_pct: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    candle_time: DateTime<Utc>,
    ema_fast: f64,
    ema_slow: f64,
    metadata: String,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChCandle {
    symbol: String,
    timeframe: String,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    timestamp: DateTime<Utc>,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: u64,
    vwap: f64,
    trades: u32,
    version: u64,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChDecision {
    #[serde(with = "::clickhouse::serde::uuid")]
    signal_id: Uuid,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    decided_at: DateTime<Utc>,
    symbol: String,
    mode: i8,
    outcome: String,
    reason: String,
    underlying_price: f64,
    detail: String,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChPosition {
    #[serde(with = "::clickhouse::serde::uuid")]
    position_id: Uuid,
    version: u64,
    #[serde(with = "::clickhouse::serde::uuid")]
    signal_id: Uuid,
    symbol: String,
    option_symbol: String,
    strike: f64,
    option_type: i8,
    #[serde(with = "::clickhouse::serde::chrono::date")]
    expiry: NaiveDate,
    mode: i8,
    status: i8,
    lots: u32,
    lot_size: u32,
    quantity: u32,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    entry_time: DateTime<Utc>,
    entry_premium: f64,
    stop_loss_premium: f64,
    target_premium: f64,
    current_premium: f64,
    unrealized_pnl: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    exit_time: DateTime<Utc>,
    exit_premium: f64,
    exit_reason: String,
    realized_pnl: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    updated_at: DateTime<Utc>,
    remaining_quantity: u32,
}

fn mode_i8(m: Mode) -> i8 {
    match m {
        Mode::Logging => 1,
        Mode::Paper => 2,
        Mode::Live => 3,
    }
}

fn mode_of(v: i8) -> Mode {
    match v {
        2 => Mode::Paper,
        3 => Mode::Live,
        _ => Mode::Logging,
    }
}

fn epoch(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap_or_default()
}

impl ChSignal {
    fn from(s: &Signal) -> Self {
        ChSignal {
            timestamp: s.timestamp,
            signal_id: s.signal_id,
            symbol: s.symbol.clone(),
            asset_type: "INDEX_OR_EQUITY".into(),
            strategy: s.strategy.clone(),
            action: match s.action {
                Action::Buy => 1,
                Action::Sell => 2,
            },
            price: s.price,
            quantity: 0,
            confidence: s.confidence,
            target: s.target,
            stop_loss: s.stop_loss,
            expected_move_pct: s.expected_move_pct,
            candle_time: s.metadata.candle_time,
            ema_fast: s.metadata.ema_fast,
            ema_slow: s.metadata.ema_slow,
            metadata: serde_json::to_string(&s.metadata).unwrap_or_default(),
            created_at: Utc::now(),
        }
    }

    fn into_signal(self) -> Signal {
        Signal {
            signal_id: self.signal_id,
            timestamp: self.timestamp,
            symbol: self.symbol,
            strategy: self.strategy,
            action: if self.action == 2 {
                Action::Sell
            } else {
                Action::Buy
            },
            price: self.price,
            stop_loss: self.stop_loss,
            target: self.target,
            confidence: self.confidence,
            expected_move_pct: self.expected_move_pct,
            metadata: SignalMetadata {
                candle_time: self.candle_time,
                ema_fast: self.ema_fast,
                ema_slow: self.ema_slow,
            },
        }
    }
}

impl ChPosition {
    fn from(p: &PositionRecord) -> Self {
        ChPosition {
            position_id: p.position_id,
            version: p.version,
            signal_id: p.signal_id,
            symbol: p.symbol.clone(),
            option_symbol: p.option_symbol.clone(),
            strike: p.strike,
            option_type: match p.option_type {
                OptionType::CE => 1,
                OptionType::PE => 2,
            },
            expiry: p.expiry,
            mode: mode_i8(p.mode),
            status: match p.status {
                PositionStatus::Open => 1,
                PositionStatus::Closed => 2,
            },
            lots: p.lots,
            lot_size: p.lot_size,
            quantity: p.quantity,
            entry_time: p.entry_time,
            entry_premium: p.entry_premium,
            stop_loss_premium: p.stop_loss_premium,
            target_premium: p.target_premium,
            current_premium: p.current_premium,
            unrealized_pnl: p.unrealized_pnl,
            exit_time: p.exit_time.unwrap_or_else(|| epoch(0)),
            exit_premium: p.exit_premium,
            exit_reason: p.exit_reason.clone(),
            realized_pnl: p.realized_pnl,
            updated_at: p.updated_at,
            remaining_quantity: p.remaining_quantity,
        }
    }

    fn into_record(self) -> PositionRecord {
        PositionRecord {
            position_id: self.position_id,
            version: self.version,
            signal_id: self.signal_id,
            symbol: self.symbol,
            option_symbol: self.option_symbol,
            strike: self.strike,
            option_type: if self.option_type == 2 {
                OptionType::PE
            } else {
                OptionType::CE
            },
            expiry: self.expiry,
            mode: mode_of(self.mode),
            status: if self.status == 2 {
                PositionStatus::Closed
            } else {
                PositionStatus::Open
            },
            lots: self.lots,
            lot_size: self.lot_size,
            quantity: self.quantity,
            remaining_quantity: self.remaining_quantity,
            entry_time: self.entry_time,
            entry_premium: self.entry_premium,
            stop_loss_premium: self.stop_loss_premium,
            target_premium: self.target_premium,
            current_premium: self.current_premium,
            unrealized_pnl: self.unrealized_pnl,
            exit_time: (self.exit_time.timestamp() != 0).then_some(self.exit_time),
            exit_premium: self.exit_premium,
            exit_reason: self.exit_reason,
            realized_pnl: self.realized_pnl,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChAudit {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    timestamp: DateTime<Utc>,
    action: String,
    detail: String,
    ok: u8,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
struct ChMetric {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    timestamp: DateTime<Utc>,
    component: String,
    metric: String,
    value: f64,
    labels: String,
}

/// Rows of one batch split by table, in their ClickHouse form.
#[derive(Default)]
struct Split {
    audits: Vec<ChAudit>,
    metrics: Vec<ChMetric>,
    signals: Vec<ChSignal>,
    candles: Vec<ChCandle>,
    decisions: Vec<ChDecision>,
    positions: Vec<ChPosition>,
}

fn split(rows: &[Row]) -> Split {
    let mut s = Split::default();
    let version = Utc::now().timestamp_millis() as u64;
    for r in rows {
        match r {
            Row::Signal(x) => s.signals.push(ChSignal::from(x)),
            Row::Candle(c) => s.candles.push(ChCandle {
                symbol: c.symbol.clone(),
                timeframe: c.interval.as_str().to_string(),
                timestamp: epoch(c.ts),
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume.max(0.0).round() as u64,
                vwap: 0.0,
                trades: 0,
                version,
            }),
            Row::Decision(d) => {
                let (outcome, reason) = match d.outcome {
                    Outcome::Logged => ("logged", ""),
                    Outcome::Opened => ("opened", ""),
                    Outcome::Rejected(r) => ("rejected", r.as_str()),
                };
                s.decisions.push(ChDecision {
                    signal_id: d.signal_id,
                    decided_at: d.decided_at,
                    symbol: d.symbol.clone(),
                    mode: mode_i8(d.mode),
                    outcome: outcome.into(),
                    reason: reason.into(),
                    underlying_price: d.underlying_price,
                    detail: d.detail.clone(),
                })
            }
            Row::Position(p) => s.positions.push(ChPosition::from(p)),
            Row::Audit(a) => s.audits.push(ChAudit {
                timestamp: a.timestamp,
                action: a.action.clone(),
                detail: a.detail.clone(),
                ok: a.ok as u8,
            }),
            Row::Metric(m) => s.metrics.push(ChMetric {
                timestamp: m.timestamp,
                component: m.component.clone(),
                metric: m.metric.clone(),
                value: m.value,
                labels: m.labels.clone(),
            }),
        }
    }
    s
}

async fn insert_all<T>(
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
        match s.init_schema() {
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
        let db = self.db.clone();
        let version = self.worker.call("SELECT version()", |c| async move {
            c.query("SELECT version()").fetch_one::<String>().await
        })?;
        self.version = Some(version);
        let create_db = format!("CREATE DATABASE IF NOT EXISTS {db}");
        self.worker.call("create database", move |c| async move {
            c.query(&create_db).execute().await
        })?;
        let mig = format!(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version"
        );
        self.worker
            .call("create schema_migrations", move |c| async move {
                c.query(&mig).execute().await
            })?;
        let q = format!("SELECT version FROM {db}.schema_migrations");
        let done: Vec<u32> = self
            .worker
            .call("read schema_migrations", move |c| async move {
                c.query(&q).fetch_all::<u32>().await
            })?;
        let mut applied = Vec::new();
        for (v, name, sql) in MIGRATIONS {
            if done.contains(&v) {
                continue;
            }
            let st = statement(sql, &db);
            self.worker
                .call(&format!("apply migration {name}"), move |c| async move {
                    c.query(&st).execute().await
                })?;
            let rec = format!(
                "INSERT INTO {db}.schema_migrations (version, name, applied_at) VALUES ({v}, '{name}', now())"
            );
            self.worker.call("record migration", move |c| async move {
                c.query(&rec).execute().await
            })?;
            applied.push(v);
        }
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
    fn insert(&self, rows: &[Row]) -> Result<()> {
        let s = split(rows);
        let db = self.db.clone();
        self.worker.call("insert", move |c| async move {
            let c = c.with_database(db);
            insert_all(&c, "trading_signals", s.signals).await?;
            insert_all(&c, "executor_decisions", s.decisions).await?;
            insert_all(&c, "positions", s.positions).await?;
            insert_all(&c, "audit_events", s.audits).await?;
            insert_all(&c, "performance_metrics", s.metrics).await?;
            insert_all(&c, "historical_data", s.candles).await
        })
    }

    /// Ships the outbox in order; returns the rows shipped. Stops at the first failure.
    pub fn ship_outbox(&mut self) -> Result<u64> {
        let mut shipped = 0;
        loop {
            let batch = self.outbox.outbox_peek(SHIP_BATCH)?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            let rows: Vec<Row> = batch.into_iter().map(|(_, r)| r).collect();
            self.insert(&rows)?;
            self.outbox.outbox_delete_upto(last)?;
            shipped += rows.len() as u64;
        }
        if shipped > 0 {
            log::info!("clickhouse: shipped {shipped} rows from the outbox");
        }
        Ok(shipped)
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
        if self.may_try() {
            let pending = self.outbox.outbox_len()?;
            let drained =
                pending == 0 || self.ship_outbox().is_ok() && self.outbox.outbox_len()? == 0;
            if drained {
                let t0 = Instant::now();
                let r = self.insert(rows);
                log::debug!(
                    "clickhouse: insert of {} rows took {:?}",
                    rows.len(),
                    t0.elapsed()
                );
                match r {
                    Ok(()) => {
                        self.mark_up();
                        return Ok(());
                    }
                    Err(e) => {
                        if self.connected {
                            log::error!("clickhouse: insert failed ({e}); {} rows kept in the local outbox, shipped when the server is back", rows.len());
                        }
                        self.mark_down();
                    }
                }
            } else {
                self.mark_down();
            }
        }
        self.outbox.outbox_push(rows)
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
        match self.query("load stored signal ids", |c| async move {
            c.query("SELECT signal_id FROM trading_signals")
                .fetch_all::<Id>()
                .await
        }) {
            Ok(ids) => {
                self.known_signals = Some(ids.into_iter().map(|i| i.signal_id).collect());
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
        let q = q.clone();
        let rows: Vec<ChSignal> = self.query("query signals", move |c| async move {
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
        Ok(rows.into_iter().map(ChSignal::into_signal).collect())
    }

    fn is_signal_processed(&mut self, id: Uuid) -> Result<bool> {
        if self.outbox.outbox_has_processed(id)? {
            return Ok(true);
        }
        if self.processed.is_none() && self.may_try() {
            #[derive(::clickhouse::Row, Deserialize)]
            struct Id {
                #[serde(with = "::clickhouse::serde::uuid")]
                signal_id: Uuid,
            }
            match self.query("load decided signal ids", |c| async move {
                c.query("SELECT signal_id FROM executor_decisions UNION ALL SELECT signal_id FROM positions")
                    .fetch_all::<Id>()
                    .await
            }) {
                Ok(ids) => {
                    log::info!("clickhouse: {} decided signal ids loaded for idempotency checks", ids.len());
                    self.processed = Some(ids.into_iter().map(|i| i.signal_id).collect());
                }
                Err(e) => log::warn!("clickhouse: {e}; idempotency answered from the outbox and this run's decisions"),
            }
        }
        // While the server has never answered, only the outbox (and the executor's own record
        // of this run and its recovery) can say: trading goes on.
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
        Ok(ids.into_iter().map(|i| i.signal_id).collect())
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
        let mut out: Vec<CandleRow> = rows
            .into_iter()
            .map(|r| CandleRow {
                symbol: r.symbol,
                interval,
                ts: r.timestamp.timestamp(),
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume as f64,
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    fn positions_by_signal(&mut self, signal_id: Uuid) -> Result<Vec<PositionRecord>> {
        let sid = signal_id.to_string();
        let rows: Vec<ChPosition> = self.query("query positions", move |c| async move {
            c.query("SELECT ?fields FROM positions FINAL WHERE signal_id = toUUID(?) ORDER BY position_id")
                .bind(sid.as_str())
                .fetch_all::<ChPosition>()
                .await
        })?;
        Ok(rows.into_iter().map(ChPosition::into_record).collect())
    }

    fn open_positions(&mut self) -> Result<Vec<PositionRecord>> {
        let rows: Vec<ChPosition> = self.query("query open positions", move |c| async move {
            c.query(
                "SELECT ?fields FROM positions FINAL WHERE status = 'OPEN' ORDER BY position_id",
            )
            .fetch_all::<ChPosition>()
            .await
        })?;
        Ok(rows.into_iter().map(ChPosition::into_record).collect())
    }

    fn row_counts(&mut self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for t in TABLES {
            let sql = format!("SELECT count() FROM {t}");
            let n: u64 = self.query("count rows", move |c| async move {
                c.query(&sql).fetch_one::<u64>().await
            })?;
            out.push((t.to_string(), n));
        }
        out.push(("outbox (local)".to_string(), self.outbox.outbox_len()?));
        Ok(out)
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
