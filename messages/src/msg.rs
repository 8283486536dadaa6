//! Every actix message of the engine, each beside its reply type, grouped by the actor that
//! handles it.

use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Bar, Candle, CandleEvent, CandleRow, ExecutorStats, Mode, Row, Signal, SignalQuery, SymbolId,
    Symbols, Tick, Timeframe,
};

// ---------------------------------------------------------------- DataManager

/// Live ticks from a feed (a batch: one poll, or one simulated step).
#[derive(Message, Debug, Clone)]
#[rtype(result = "IngestReport")]
pub struct TicksReceived(pub Vec<Tick>);

/// Replay bars of one symbol, `bar_secs` long each, in time order.
#[derive(Message, Debug, Clone)]
#[rtype(result = "IngestReport")]
pub struct BarsReceived {
    pub symbol: SymbolId,
    pub bar_secs: i64,
    pub bars: Vec<Bar>,
}

/// Replay bars of several symbols merged in time order (ties by symbol), each symbol's bars
/// `bar_secs[symbol id]` long: one batch, so the instances' detections of all symbols are
/// merged in time order too.
#[derive(Message, Debug, Clone)]
#[rtype(result = "IngestReport")]
pub struct MixedBarsReceived {
    pub bar_secs: Vec<i64>,
    pub bars: Vec<(SymbolId, Bar)>,
}

/// Reply to [`TicksReceived`] / [`BarsReceived`]: how many were taken and dropped.
#[derive(MessageResponse, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    pub accepted: u64,
    pub dropped: u64,
    /// Signals the batch raised (so a feed can wait for them to be decided).
    pub signals: u64,
}

/// The broker's history ended, for these symbols, in a candle whose interval was still running
/// at `at` (epoch seconds, the engine's time): DataManager resumes each as the symbol's forming
/// candle, so live ticks complete it and the strategy sees it as forming until it closes.
#[derive(Message, Debug, Clone)]
#[rtype(result = "IngestReport")]
pub struct RunningCandlesLoaded {
    pub timeframe: Timeframe,
    pub candles: Vec<Candle>,
    pub at: i64,
}

/// The engine clock moved to `now` (epoch seconds): close every candle that ended by then.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct AdvanceClock {
    pub now: i64,
}

/// The strategy data of a symbol at one timeframe: history merged with realtime candles (at
/// most `periods`), and the forming candle when `include_incomplete` is on.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "StrategyData")]
pub struct GetCandles {
    pub symbol: SymbolId,
    pub timeframe: Timeframe,
}

/// Reply to [`GetCandles`].
#[derive(MessageResponse, Debug, Clone, Default, PartialEq)]
pub struct StrategyData {
    /// Closed candles, oldest first.
    pub closed: Vec<Candle>,
    /// The forming candle, when `include_incomplete` is on and one is open.
    pub forming: Option<Candle>,
}

impl StrategyData {
    /// Closed candles followed by the forming one: the seed's merged strategy frame.
    pub fn merged(&self) -> Vec<Candle> {
        let mut v = self.closed.clone();
        v.extend(self.forming);
        v
    }
}

/// Ask DataManager for its counters.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "DataStats")]
pub struct GetDataStats;

/// DataManager's counters since start.
#[derive(MessageResponse, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataStats {
    pub ticks: u64,
    pub bars: u64,
    pub candles_closed: u64,
    pub dropped_not_finite: u64,
    pub dropped_non_positive: u64,
    pub dropped_negative_volume: u64,
    pub dropped_out_of_order: u64,
    pub dropped_outside_session: u64,
    pub dropped_unknown_symbol: u64,
    pub dropped_inconsistent: u64,
}

impl DataStats {
    /// All dropped ticks and bars.
    pub fn dropped(&self) -> u64 {
        self.dropped_not_finite
            + self.dropped_non_positive
            + self.dropped_negative_volume
            + self.dropped_out_of_order
            + self.dropped_outside_session
            + self.dropped_unknown_symbol
            + self.dropped_inconsistent
    }
}

/// Ask DataManager for the market as it last saw it (`ctl status`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "MarketStatus")]
pub struct GetMarketStatus;

/// The data time and each symbol's last price.
#[derive(MessageResponse, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarketStatus {
    /// Time of the newest tick or bar taken, of any symbol (Unix seconds); none before the
    /// first.
    pub data_time: Option<i64>,
    /// Per symbol, in symbol-table order.
    pub symbols: Vec<SymbolMarket>,
}

/// One symbol's last price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolMarket {
    pub symbol: String,
    /// Close of the newest candle (forming or closed) of the finest timeframe, rupees.
    pub last_price: Option<f64>,
    /// Time of the newest tick or bar of the symbol (Unix seconds).
    pub last_at: Option<i64>,
}

// ---------------------------------------------------------------- Strategy

/// Ask a Strategy instance how far each of its symbols is (`ctl status`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<SymbolProgress>")]
pub struct GetStrategyProgress;

/// One symbol of one strategy instance: candles taken, the warm-up it needs, signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolProgress {
    pub symbol: String,
    /// Closed candles of the instance's timeframe taken (history from the store included).
    pub candles: u64,
    /// Closed candles needed before a signal (`historical_lookback.min_periods`).
    pub warmup: u64,
    /// Signals detected on live candles since the engine started.
    pub signals: u64,
    /// Start time of the newest closed candle taken (Unix seconds).
    pub last_candle: Option<i64>,
}

/// Candle updates of one ingest batch, in data order (to PositionManager, for its prices;
/// it replies 0).
#[derive(Message, Debug, Clone)]
#[rtype(result = "u32")]
pub struct CandlesUpdated(pub Vec<CandleEvent>);

/// Candle updates of one ingest batch for one strategy instance (its timeframe, its symbols),
/// in data order. The instance replies with what it detected, in detection order; DataManager
/// merges the replies of every instance in time order before SignalManager sees them, so
/// signals of several instances reach the executor as they happened.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Vec<SignalDetected>")]
pub struct JudgeCandles(pub Vec<CandleEvent>);

/// Where a restarted Strategy asks for candles to rebuild its indicators.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseDataSource(pub Recipient<GetCandles>);

/// Closed candles loaded from the store at start (warm-up only: they never raise signals).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct HistoryLoaded {
    pub symbol: SymbolId,
    pub candles: Vec<Candle>,
}

// ---------------------------------------------------------------- SignalManager

/// What a strategy found, before it becomes a [`Signal`] with an id.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct SignalDetected {
    pub symbol: String,
    pub strategy: String,
    pub timeframe: Timeframe,
    pub action: crate::Action,
    /// Data time of detection, epoch seconds.
    pub at: i64,
    /// Open time of the crossing candle, epoch seconds.
    pub candle_time: i64,
    pub price: f64,
    pub stop_loss: f64,
    pub target: f64,
    pub confidence: f64,
    pub expected_move_pct: f64,
    pub ema_fast: f64,
    pub ema_slow: f64,
}

/// One ingest batch's detections, every instance's merged in time order (DataManager sends
/// them in one message: one hand-off for a burst of signals on a candle boundary, and each
/// arrives when the first does).
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct SignalsDetected(pub Vec<SignalDetected>);

/// A new signal, persisted by the DbWriter before it is published. Carries the whole signal.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SignalGenerated {
    pub signal: Arc<Signal>,
    /// Whether the executor had already decided this signal when it was committed (the
    /// DbWriter's answer to [`PersistSignals`]); `None` when not known: ask the store.
    pub processed: Option<bool>,
}

/// Subscribe to [`SignalGenerated`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeSignals(pub Recipient<SignalGenerated>);

/// The signals one commit made public, in the order they were detected: what
/// [`SignalGenerated`] tells one signal at a time, in one message per commit for a subscriber
/// that takes them in bulk (a replay's `signals.jsonl`), so a burst of signals is one hand-off
/// to its thread instead of one per signal.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SignalsPublished(pub Vec<Arc<Signal>>);

/// Subscribe to [`SignalsPublished`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeSignalBatches(pub Recipient<SignalsPublished>);

/// Where a [`SignalProbe`] was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStage {
    /// SignalManager began handling the detection ([`SignalsDetected`], the batch holding it,
    /// or a rebuilding strategy's [`SignalDetected`]).
    Detected,
    /// The DbWriter's commit of the signal came back to SignalManager (it publishes now).
    Committed,
    /// The executor decided the signal (logged, opened or rejected), after its commit.
    Decided,
}

/// A signal passing a stage, timed inside the actor's handler: latency measurement
/// (`benches/latency.rs`). Sent only to subscribers ([`SubscribeProbes`]); without one, the
/// actors neither take the time nor send anything.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SignalProbe {
    pub stage: ProbeStage,
    pub symbol: String,
    /// Open time of the crossing candle, epoch seconds.
    pub candle_time: i64,
    pub at: std::time::Instant,
}

/// Subscribe to [`SignalProbe`]s (handled by SignalManager and OptionsExecutor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeProbes(pub Recipient<SignalProbe>);

/// Query signals (the store's answer; the in-memory cache when the store fails).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<Signal>, StoreFailure>")]
pub struct GetSignals(pub SignalQuery);

/// The signals generated since start and still cached as active.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<Signal>")]
pub struct GetActiveSignals;

// ---------------------------------------------------------------- OptionsExecutor

/// A signal the executor accepted and acted on in `mode`. Carries the whole signal.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SignalActivated {
    pub signal: Arc<Signal>,
    pub mode: Mode,
    pub underlying_price: f64,
}

/// Subscribe to [`SignalActivated`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeActivations(pub Recipient<SignalActivated>);

/// A decision the executor recorded (logged, opened or rejected, with its reason in words),
/// sent to decision subscribers (the dashboard) as it is persisted. Carries the decision.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct DecisionMade(pub Arc<crate::ExecutorDecision>);

/// Subscribe to [`DecisionMade`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeDecisions(pub Recipient<DecisionMade>);

/// Ask the executor for its counters.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "ExecutorStats")]
pub struct GetExecutorStats;

/// Operator control of the executor: pause/resume taking signals, the kill switch, the mode.
#[derive(Message, Debug, Clone, Copy, Default)]
#[rtype(result = "()")]
pub struct SetTrading {
    pub paused: Option<bool>,
    pub halted: Option<bool>,
    pub mode: Option<Mode>,
}

/// Operator control of one strategy instance: a paused instance's new signals are still
/// stored, and rejected as `strategy_paused`; its open positions are managed as before.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SetStrategyPaused {
    pub strategy: String,
    pub paused: bool,
}

// ---------------------------------------------------------------- PositionManager

/// Close every open position now (operator `flatten`); replies with how many closed.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "u32")]
pub struct FlattenAll;

/// Open this paper position (version 1 of its record: entry fill, stop, target, quantity).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct OpenPosition(pub Box<crate::PositionRecord>);

/// A position was opened. Carries the whole record.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PositionOpened(pub Arc<crate::PositionRecord>);

/// A position was closed (fully). Carries the final record.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PositionClosed(pub Arc<crate::PositionRecord>);

/// Subscribe to position events.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribePositions {
    pub opened: Option<Recipient<PositionOpened>>,
    pub closed: Option<Recipient<PositionClosed>>,
}

/// The book's risk figures as of data time `at` (epoch seconds), for the executor's limits.
#[derive(Message, Debug, Clone)]
#[rtype(result = "RiskSnapshot")]
pub struct GetRiskSnapshot {
    pub at: i64,
    /// Start of `at`'s trading day (epoch seconds): the daily-loss window.
    pub day_start: i64,
    /// Also count this strategy instance's own open positions (when it has a limit of its
    /// own).
    pub strategy: Option<String>,
}

/// Reply to [`GetRiskSnapshot`].
#[derive(MessageResponse, Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskSnapshot {
    /// Positions open at `at`.
    pub open_positions: u32,
    /// Net realized P&L (after charges) of positions closed in `[day_start, at]`, rupees.
    pub day_realized_pnl: f64,
    /// Net-losing trades in a row, the latest closed by `at` last (reset by a win or a new day).
    pub consecutive_losses_today: u32,
    /// Positions of the asked strategy instance open at `at` (0 when none was asked).
    #[serde(default)]
    pub strategy_open_positions: u32,
    /// Positions entered in `[day_start, at]`: the day's trades so far.
    #[serde(default)]
    pub trades_today: u32,
}

/// Ask PositionManager for its summary.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "PositionSummary")]
pub struct GetPositionSummary;

/// PositionManager's view.
#[derive(MessageResponse, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PositionSummary {
    pub open_positions: u32,
    pub activations_seen: u64,
    pub monitor_runs: u64,
    pub opened: u64,
    pub closed: u64,
    /// Net realized P&L (gross less charges) of all closed positions, rupees.
    pub realized_pnl: f64,
    /// Gross realized P&L (before charges) of all closed positions, rupees.
    #[serde(default)]
    pub realized_pnl_gross: f64,
    /// Charges of all closed positions' fills, rupees.
    #[serde(default)]
    pub charges: f64,
    /// Net realized P&L of the positions closed in the current trading day (by the engine
    /// clock), rupees.
    pub day_realized_pnl: f64,
    /// The same before charges, rupees.
    #[serde(default)]
    pub day_realized_pnl_gross: f64,
    /// The charges of the positions closed in the current trading day, rupees.
    #[serde(default)]
    pub day_charges: f64,
    /// Unrealized P&L of open positions at their last mark, rupees.
    pub unrealized_pnl: f64,
}

/// Real option prices from the broker's quotes (`NFO:` LTPs) at `at`: live marks.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct OptionMarks {
    pub at: i64,
    /// (tradingsymbol, last price).
    pub ltps: Vec<(String, f64)>,
}

/// The tradingsymbols of the open positions (what the feed must quote for live marks).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<String>")]
pub struct GetOpenOptions;

/// The open positions, latest version of each (operator `ctl positions`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<crate::PositionRecord>")]
pub struct GetOpenPositions;

/// Operator `ctl close`: record an open position as closed at `price` without an order (it
/// was closed at the broker by hand, or must be written off); a live exit being worked for it
/// is abandoned. `position` is its id or a unique prefix of at least 8 characters.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<crate::PositionRecord, String>")]
pub struct ClosePosition {
    pub position: String,
    pub price: f64,
}

/// Stop working the exit of this position (it was closed by the operator).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct AbandonExit(pub Uuid);

/// Route exits of live positions through this broker.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseBroker(pub Recipient<PlaceExit>, pub Recipient<AbandonExit>);

/// The broker filled (part of) a live position's exit order.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ExitFilled {
    pub position_id: Uuid,
    pub order_id: String,
    pub quantity: u32,
    pub average_price: f64,
    /// Σ price × quantity over the order's trades, in paise (exact where the average is not).
    pub value_paise: i64,
    pub at: i64,
}

// ---------------------------------------------------------------- Broker

/// The options of `underlying` of type `kind` around `spot` for the expiry the rules pick at
/// time `at`, quoted now.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<OptionChain, (crate::RejectReason, String)>")]
pub struct GetOptionChain {
    pub underlying: String,
    pub kind: crate::OptionType,
    pub spot: f64,
    pub at: i64,
}

/// Reply to [`GetOptionChain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionChain {
    pub expiry: chrono::NaiveDate,
    pub options: Vec<crate::MarketOption>,
}

/// Buy `quantity` of `option` for signal `signal_id` (limit `price`); replies once the orders
/// are terminal (or cancelled after the fill timeout). Above `freeze_qty` the entry is several
/// orders (slices in whole lots, each within it), placed and followed together. Margin is
/// checked first; each order's tag is derived from the signal id and its slice, so a retry or
/// a re-run never doubles it.
#[derive(Message, Debug, Clone)]
#[rtype(result = "crate::EntryResult")]
pub struct PlaceEntry {
    pub signal_id: Uuid,
    pub option: crate::MarketOption,
    pub quantity: u32,
    pub price: f64,
    /// The underlying's freeze quantity (`None`: one order).
    pub freeze_qty: Option<u32>,
}

/// Sell `quantity` of a live position's option for `reason`. The broker retries a rejected
/// exit (raising an alarm each time) until it fills, then sends [`ExitFilled`] to `reply_to`.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct PlaceExit {
    pub position_id: Uuid,
    pub tradingsymbol: String,
    pub quantity: u32,
    /// The contract's lot and the underlying's freeze quantity: above it the exit is sent as
    /// several orders (slices in whole lots), each filled and reported on its own.
    pub lot_size: u32,
    pub freeze_qty: Option<u32>,
    /// The last price seen (the limit when exits are LIMIT orders).
    pub mark: f64,
    pub reason: String,
    pub reply_to: Recipient<ExitFilled>,
}

/// One order's state as KiteTicker pushed it (a text frame `{"type":"order","data":{…}}`),
/// checked: a non-empty id and status, a finite non-negative average price, no more filled
/// than ordered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderUpdate {
    pub order_id: String,
    /// Kite's status (`OPEN`, `COMPLETE`, `CANCELLED`, `REJECTED`, `UPDATE`, ...).
    pub status: String,
    /// The exchange's or the broker's reason (a rejection's).
    pub status_message: Option<String>,
    pub tradingsymbol: String,
    pub exchange: String,
    pub transaction_type: String,
    pub product: String,
    pub quantity: u64,
    pub filled_quantity: u64,
    pub pending_quantity: u64,
    pub average_price: f64,
    pub tag: Option<String>,
}

impl OrderUpdate {
    /// COMPLETE, CANCELLED or REJECTED.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETE" | "CANCELLED" | "REJECTED")
    }
}

/// What KiteTicker pushed about orders (its text frames), routed to the Broker the moment it
/// arrives. The Broker follows its orders with it; its REST follow-up stays the authority.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub enum OrderPushed {
    /// An order's new state.
    Update(OrderUpdate),
    /// A text frame that could not be read (logged where it arrived): why. Counted.
    Unreadable(String),
    /// The ticker's own `{"type":"error"}` message. Logged and counted.
    TickerError(String),
}

/// Ask the broker for its counters.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "BrokerStats")]
pub struct GetBrokerStats;

/// The broker's counters.
#[derive(MessageResponse, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerStats {
    pub entries_placed: u64,
    pub entries_filled: u64,
    pub entries_refused: u64,
    pub exits_placed: u64,
    pub exits_filled: u64,
    /// Rejected or failed exit attempts (each one an alarm).
    pub exit_alarms: u64,
    /// Exits still being worked.
    pub exits_pending: u64,
    /// Order updates KiteTicker pushed (readable ones).
    #[serde(default)]
    pub order_updates: u64,
    /// Text frames that could not be read as an order update.
    #[serde(default)]
    pub order_updates_unreadable: u64,
    /// The ticker's own error messages.
    #[serde(default)]
    pub ticker_errors: u64,
    /// Rejections learnt from a push (each one an alarm).
    #[serde(default)]
    pub rejections_pushed: u64,
    /// A pushed final state the REST follow-up did not confirm (REST wins).
    #[serde(default)]
    pub push_disagreements: u64,
    /// Orders a push finished before their next REST poll was due.
    #[serde(default)]
    pub finished_by_push: u64,
    /// Periodic reconciliations done, failed (the broker unreadable), and the differences
    /// raised as alarms.
    #[serde(default)]
    pub reconciliations: u64,
    #[serde(default)]
    pub reconcile_failures: u64,
    #[serde(default)]
    pub divergences: u64,
}

// ---------------------------------------------------------------- DbWriter

/// Rows to persist. The reply comes once they are committed (or the commit failed). Awaited
/// (`send`), they are committed as soon as the DbWriter's mailbox is empty; sent without
/// awaiting (`do_send`), they ride along with the next commit.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreFailure>")]
pub struct Persist(pub Vec<Row>);

/// Closed candles to persist, as DataManager recorded them (timeframe, candle): the DbWriter
/// makes their rows on its own thread, with the symbols' names from `symbols`, so a candle
/// close costs the market-data path a copy of the candle and no more. Rides along with the
/// next commit, like a [`Persist`] sent without awaiting.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PersistCandles {
    pub symbols: Symbols,
    pub candles: Vec<(Timeframe, Candle)>,
}

/// New signals to persist, awaited like a [`Persist`]. The reply, once they are committed,
/// also says per signal, in order, whether the executor already decided it (a decision stored
/// or pending, as [`AreSignalsProcessed`] answers), or `None` when that could not be read: the
/// executor need not ask the store again.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<Vec<bool>>, StoreFailure>")]
pub struct PersistSignals(pub Vec<Signal>);

/// Commit everything pending now; the reply tells how many rows were committed.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<u64, StoreFailure>")]
pub struct Flush;

/// Has the executor already decided on these signals (committed or pending)? One answer per
/// id, in order. (One question for a batch: an actor keeps one request in flight, not one per
/// signal — actix polls every spawned future of an actor on each wake.)
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<bool>, StoreFailure>")]
pub struct AreSignalsProcessed(pub Vec<crate::SignalKey>);

/// Read signals from the store.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<Signal>, StoreFailure>")]
pub struct QuerySignals(pub SignalQuery);

/// How many stored signals match (without reading them).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<u64, StoreFailure>")]
pub struct CountSignals(pub SignalQuery);

/// Read the latest `limit` candles of a symbol and interval, oldest first.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<CandleRow>, StoreFailure>")]
pub struct LoadHistory {
    pub symbol: String,
    pub interval: Timeframe,
    pub limit: usize,
}

/// Load what the engine needs after a restart: signals, decisions and positions since `since`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<crate::Recovery, StoreFailure>")]
pub struct LoadRecovery {
    /// Epoch seconds.
    pub since: i64,
}

/// PositionManager's recovery: the open positions, and the positions closed since
/// `closed_since` (epoch seconds: the start of today's session, for the day's risk limits and
/// results; `None` on data time).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<BookRecovery, StoreFailure>")]
pub struct LoadBook {
    pub closed_since: Option<i64>,
}

/// Reply to [`LoadBook`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookRecovery {
    pub open: Vec<crate::PositionRecord>,
    pub closed: Vec<crate::PositionRecord>,
}

/// Ask the DbWriter for its counters.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "WriterStats")]
pub struct GetWriterStats;

/// DbWriter counters since start.
#[derive(MessageResponse, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterStats {
    pub backend: String,
    pub rows_committed: u64,
    pub commits: u64,
    pub pending: u64,
    pub failed_commits: u64,
    /// Wall time spent inside store writes, microseconds.
    pub commit_micros: u64,
    pub health: crate::StoreHealth,
}

/// A store operation failed; the text names the operation and the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreFailure(pub String);

/// A live feed stops handing ticks on (`run` is shutting down); the reply comes once it has
/// stopped, so nothing it sends can arrive after a drain that follows.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopFeed;

// ---------------------------------------------------------------- every actor

/// Fault injection: the receiving actor panics inside its handler (tests and `ctl crash`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// A barrier: the reply comes once everything the actor received before it has been fully
/// handled (including work it started asynchronously).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Drain;

/// How many times has this actor been restarted by its supervisor?
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "u64")]
pub struct GetRestarts;
