//! Rows handed to the DbWriter, one variant per table it writes.

use serde::{Deserialize, Serialize};

use crate::{Candle, ExecutorDecision, Mode, PositionRecord, Signal, SymbolId, Timeframe};

/// A closed candle as stored in `historical_data` (symbol by name: the store outlives symbol ids).
/// The name is shared: the rows of one symbol clone one `Arc` (the DbWriter takes it from the
/// symbol table for a batch's candle rows; an import makes one per name), not a copy per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleRow {
    pub symbol: std::sync::Arc<str>,
    pub interval: Timeframe,
    /// Open time, epoch seconds UTC.
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl CandleRow {
    /// The stored form of `c`, a candle of `symbol` at `interval`.
    pub fn of(symbol: &std::sync::Arc<str>, interval: Timeframe, c: &Candle) -> Self {
        CandleRow {
            symbol: symbol.clone(),
            interval,
            ts: c.ts,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
        }
    }

    /// The candle, as symbol `id` of this run.
    pub fn candle(&self, id: SymbolId) -> Candle {
        Candle {
            symbol: id,
            ts: self.ts,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }
}

/// One row for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Row {
    Signal(Box<Signal>),
    Candle(CandleRow),
    Decision(Box<ExecutorDecision>),
    Position(Box<PositionRecord>),
    Audit(Box<AuditEvent>),
    Metric(Box<MetricSample>),
    Performance(Box<StrategyPerformance>),
}

/// A signal as the store keys it: its id and its candle time (epoch seconds). The id alone
/// identifies it (the candle time is part of what the id is derived from); the time puts the
/// keys of a run in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignalKey {
    pub id: uuid::Uuid,
    pub candle_time: i64,
}

impl SignalKey {
    /// The key of `s`.
    pub fn of(s: &Signal) -> Self {
        SignalKey {
            id: s.signal_id,
            candle_time: s.metadata.candle_time.timestamp(),
        }
    }
}

/// One strategy instance's results on one underlying over a period, as stored in
/// `strategy_performance`: written at the end of a paper replay (the whole replay) and at the
/// end of each trading day in `run` (that day). Rewriting a period replaces its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyPerformance {
    pub strategy: String,
    pub symbol: String,
    pub mode: Mode,
    /// First and last trading day of the period (IST dates).
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub total_trades: u64,
    /// Trades with a positive P&L.
    pub winning_trades: u64,
    /// Trades with a negative P&L (a trade at exactly zero is neither).
    pub losing_trades: u64,
    /// Realized P&L, rupees (summed in paise).
    pub total_pnl: f64,
    /// Largest fall of the cumulative P&L from its running peak (which starts at 0), rupees.
    pub max_drawdown: f64,
    /// Annualized Sharpe ratio of the daily P&L as a return on capital (weekdays of the
    /// period, days without a trade at 0): mean / sample standard deviation × √252. `None`
    /// with fewer than two days or no variation.
    pub sharpe_ratio: Option<f64>,
    /// Winning trades / trades, percent.
    pub win_rate: f64,
    /// Mean P&L of the winning trades, rupees (0 without one).
    pub avg_win: f64,
    /// Mean P&L of the losing trades, rupees, negative (0 without one).
    pub avg_loss: f64,
    /// When the row was computed (the engine clock).
    pub computed_at: chrono::DateTime<chrono::Utc>,
}

/// One sample of an operational metric, as stored in `performance_metrics`: a mailbox's depth,
/// throughput or latency, the book's P&L, ….
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// The actor or part of the engine (`data_manager`, `book`, …).
    pub component: String,
    /// `depth`, `handled_total`, `latency_p99_us`, `realized_pnl`, ….
    pub metric: String,
    pub value: f64,
    /// Extra dimensions as JSON text, `""` when none.
    pub labels: String,
}

/// One operator action (a control command), as stored in `audit_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// The command (`pause`, `mode`, `crash`, …).
    pub action: String,
    /// Its arguments and result in words.
    pub detail: String,
    pub ok: bool,
}

impl Row {
    /// The table this row goes to.
    pub fn table(&self) -> &'static str {
        match self {
            Row::Signal(_) => "trading_signals",
            Row::Candle(_) => "historical_data",
            Row::Decision(_) => "executor_decisions",
            Row::Position(_) => "positions",
            Row::Audit(_) => "audit_events",
            Row::Metric(_) => "performance_metrics",
            Row::Performance(_) => "strategy_performance",
        }
    }
}

/// What the engine reloads from the store at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Signals of the recovery window, newest first.
    pub active_signals: Vec<Signal>,
    /// Ids of the signals the executor decided on in the recovery window.
    pub processed: Vec<uuid::Uuid>,
    /// The latest version of every open position.
    pub open_positions: Vec<PositionRecord>,
}

/// The store's health, for logs and status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHealth {
    pub backend: String,
    /// The database of truth answered its last request.
    pub connected: bool,
    /// Rows accepted but waiting in the local outbox for the database of truth.
    pub outbox_pending: u64,
    pub server_version: Option<String>,
}
