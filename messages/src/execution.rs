//! Execution: modes, the executor's decision on each signal, and its statistics.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How far the engine goes with a valid signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Do everything up to the order, log it, place nothing (the default).
    Logging,
    /// Simulated fills, monitored positions.
    Paper,
    /// Real orders at the broker.
    Live,
}

impl Mode {
    /// `"logging"`, `"paper"` or `"live"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Logging => "logging",
            Mode::Paper => "paper",
            Mode::Live => "live",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logging" => Ok(Mode::Logging),
            "paper" => Ok(Mode::Paper),
            "live" => Ok(Mode::Live),
            other => Err(format!(
                "unknown mode {other:?}: expected logging, paper or live"
            )),
        }
    }
}

/// Why the executor turned a signal down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    AlreadyProcessed,
    InvalidUnderlying,
    TooOld,
    TradingDisabled,
    WeakSignal,
    SmallExpectedMove,
    MaxPositions,
    StoreUnavailable,
    NoEligibleStrike,
    ZeroLots,
    DailyLossHalt,
    ConsecutiveLosses,
    NoInstrument,
    Paused,
    Halted,
    /// Live: the broker's margin calculation exceeds the available margin.
    InsufficientMargin,
    /// Live: the broker rejected or cancelled the entry order.
    OrderRejected,
    /// Live: the entry order did not fill in time and was cancelled.
    OrderNotFilled,
    /// Live: the broker could not be asked (network, token, an order of unknown outcome).
    BrokerError,
    /// Stored before the engine stopped but not decided then (a kill between the signal's
    /// commit and its decision's): decided at the next start, never traded late.
    Interrupted,
    /// The signal's strategy instance is paused (`ctl strategy pause NAME`).
    StrategyPaused,
    /// The signal's strategy instance has its own `risk.max_concurrent_positions` open.
    StrategyMaxPositions,
    /// `rules.max_trades_per_day` entries were made today.
    MaxTradesPerDay,
    /// Today's net realized P&L reached `rules.daily_profit_lock_pct` of capital.
    DailyProfitLock,
}

impl RejectReason {
    /// Every reason, in declaration order: `ALL[r as usize] == r` (counters indexed by reason).
    pub const ALL: [RejectReason; 24] = [
        RejectReason::AlreadyProcessed,
        RejectReason::InvalidUnderlying,
        RejectReason::TooOld,
        RejectReason::TradingDisabled,
        RejectReason::WeakSignal,
        RejectReason::SmallExpectedMove,
        RejectReason::MaxPositions,
        RejectReason::StoreUnavailable,
        RejectReason::NoEligibleStrike,
        RejectReason::ZeroLots,
        RejectReason::DailyLossHalt,
        RejectReason::ConsecutiveLosses,
        RejectReason::NoInstrument,
        RejectReason::Paused,
        RejectReason::Halted,
        RejectReason::InsufficientMargin,
        RejectReason::OrderRejected,
        RejectReason::OrderNotFilled,
        RejectReason::BrokerError,
        RejectReason::Interrupted,
        RejectReason::StrategyPaused,
        RejectReason::StrategyMaxPositions,
        RejectReason::MaxTradesPerDay,
        RejectReason::DailyProfitLock,
    ];

    /// Stable snake_case name (as stored and logged).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::AlreadyProcessed => "already_processed",
            RejectReason::InvalidUnderlying => "invalid_underlying",
            RejectReason::TooOld => "too_old",
            RejectReason::TradingDisabled => "trading_disabled",
            RejectReason::WeakSignal => "weak_signal",
            RejectReason::SmallExpectedMove => "small_expected_move",
            RejectReason::MaxPositions => "max_positions",
            RejectReason::StoreUnavailable => "store_unavailable",
            RejectReason::NoEligibleStrike => "no_eligible_strike",
            RejectReason::ZeroLots => "zero_lots",
            RejectReason::DailyLossHalt => "daily_loss_halt",
            RejectReason::ConsecutiveLosses => "consecutive_losses",
            RejectReason::NoInstrument => "no_instrument",
            RejectReason::Paused => "paused",
            RejectReason::Halted => "halted",
            RejectReason::InsufficientMargin => "insufficient_margin",
            RejectReason::OrderRejected => "order_rejected",
            RejectReason::OrderNotFilled => "order_not_filled",
            RejectReason::BrokerError => "broker_error",
            RejectReason::Interrupted => "interrupted",
            RejectReason::StrategyPaused => "strategy_paused",
            RejectReason::StrategyMaxPositions => "strategy_max_positions",
            RejectReason::MaxTradesPerDay => "max_trades_per_day",
            RejectReason::DailyProfitLock => "daily_profit_lock",
        }
    }
}

/// What the executor did with one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// Valid; logged as the would-be trade (logging-only mode).
    Logged,
    /// Valid; a paper position was opened.
    Opened,
    /// Rejected for the given reason.
    Rejected(RejectReason),
}

/// The executor's record of a decision: the idempotency key of execution (one per signal id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorDecision {
    pub signal_id: Uuid,
    pub decided_at: DateTime<Utc>,
    pub symbol: String,
    pub mode: Mode,
    pub outcome: Outcome,
    pub underlying_price: f64,
    /// The trade or the reason in words (strike, lots, or which limit one lot exceeds).
    #[serde(default)]
    pub detail: String,
    /// The strategy instance whose signal it is ('' in rows written before instances).
    #[serde(default)]
    pub strategy: String,
    /// The decided signal's candle time (epoch seconds): with the id, the decision's key in
    /// the SQLite store, so keys arrive in time order (0 in rows written before it).
    #[serde(default)]
    pub signal_time: i64,
}

/// The executor's counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutorStats {
    pub received: u64,
    pub logged: u64,
    pub opened: u64,
    pub rejected: u64,
    /// Rejections by reason (`RejectReason::as_str`).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The same counts per strategy instance.
    #[serde(default)]
    pub by_strategy: BTreeMap<String, StrategyCounts>,
    /// The strategy instances taking no new signals (`ctl strategy pause`).
    #[serde(default)]
    pub paused_strategies: Vec<String>,
    /// The daily caps and the day as the latest decision saw it.
    #[serde(default)]
    pub daily_caps: DailyCaps,
}

/// `rules.max_trades_per_day` and `rules.daily_profit_lock_pct` (both off when absent), with
/// the book's day as of the latest decision that asked for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyCaps {
    pub max_trades_per_day: Option<u32>,
    pub daily_profit_lock_pct: Option<f64>,
    /// The net realized P&L (rupees) at which the profit lock closes the day.
    pub profit_lock_at: Option<f64>,
    /// Entries made that day, and its net realized P&L (rupees).
    pub trades_today: u32,
    pub day_realized_pnl: f64,
    /// No new entries for the rest of that day because of a cap.
    pub locked: bool,
}

/// One strategy instance's signals as the executor decided them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyCounts {
    pub received: u64,
    pub logged: u64,
    pub opened: u64,
    pub rejected: u64,
    /// Rejections by reason (`RejectReason::as_str`).
    #[serde(default)]
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// Adds one to `key`'s count (its name copied only the first time).
pub fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OptionType {
    CE,
    PE,
}

/// Whether a position is still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionStatus {
    Open,
    Closed,
}

/// One version of an option position, as stored (`positions` table). A change is a new row with
/// a higher `version`; the latest version is the position's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionRecord {
    pub position_id: Uuid,
    pub version: u64,
    pub signal_id: Uuid,
    pub symbol: String,
    pub option_symbol: String,
    pub strike: f64,
    pub option_type: OptionType,
    pub expiry: NaiveDate,
    pub mode: Mode,
    pub status: PositionStatus,
    pub lots: u32,
    pub lot_size: u32,
    pub quantity: u32,
    /// Still held (quantity less what partial exits sold); 0 in rows written before this field
    /// existed, read as `quantity` for an open position.
    #[serde(default)]
    pub remaining_quantity: u32,
    pub entry_time: DateTime<Utc>,
    pub entry_premium: f64,
    pub stop_loss_premium: f64,
    pub target_premium: f64,
    pub current_premium: f64,
    pub unrealized_pnl: f64,
    pub exit_time: Option<DateTime<Utc>>,
    pub exit_premium: f64,
    pub exit_reason: String,
    /// Gross realized P&L, rupees: Σ (sell − buy) × quantity over the fills sold so far,
    /// before charges.
    pub realized_pnl: f64,
    pub updated_at: DateTime<Utc>,
    /// The strategy instance whose signal opened it (`strategies.NAME`); empty in rows written
    /// before instances existed.
    #[serde(default)]
    pub strategy: String,
    /// The charges of its fills so far (the entry's from the moment it is bought, each exit's
    /// as it fills), each at the rates of its own trade date; zero in rows written before
    /// charges were applied.
    #[serde(default)]
    pub charges: Charges,
    /// Net realized P&L, rupees: `realized_pnl − charges.total` exactly (in paise). While the
    /// position is open it already carries the entry's charges.
    #[serde(default)]
    pub net_pnl: f64,
}

impl PositionRecord {
    /// Net realized P&L in paise: gross realized less the charges so far (rows written before
    /// charges: the gross).
    pub fn net_paise(&self) -> i64 {
        (self.realized_pnl * 100.0).round() as i64 - self.charges.total
    }
}

/// The charges of one or more executed orders in paise, as a contract note itemises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Charges {
    pub brokerage: i64,
    pub stt: i64,
    pub exchange_txn: i64,
    pub sebi: i64,
    pub stamp_duty: i64,
    pub gst: i64,
    /// The sum of the items.
    pub total: i64,
}

impl std::ops::Add for Charges {
    type Output = Charges;
    fn add(self, o: Charges) -> Charges {
        Charges {
            brokerage: self.brokerage + o.brokerage,
            stt: self.stt + o.stt,
            exchange_txn: self.exchange_txn + o.exchange_txn,
            sebi: self.sebi + o.sebi,
            stamp_duty: self.stamp_duty + o.stamp_duty,
            gst: self.gst + o.gst,
            total: self.total + o.total,
        }
    }
}

impl std::ops::AddAssign for Charges {
    fn add_assign(&mut self, o: Charges) {
        *self = *self + o;
    }
}

impl std::iter::Sum for Charges {
    fn sum<I: Iterator<Item = Charges>>(it: I) -> Charges {
        it.fold(Charges::default(), |a, b| a + b)
    }
}

/// One listed option as the broker quotes it (instrument dump + `/quote`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketOption {
    pub tradingsymbol: String,
    pub exchange: String,
    pub underlying: String,
    pub expiry: NaiveDate,
    pub strike: f64,
    pub kind: OptionType,
    pub lot_size: u32,
    pub tick_size: f64,
    pub ltp: f64,
    /// Best bid and ask (0 when the book side is empty).
    pub bid: f64,
    pub ask: f64,
    pub volume: u64,
    pub oi: u64,
}

/// What became of a live entry order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EntryResult {
    /// Filled (wholly, or partly before a cancel): `quantity` at `average_price`.
    Filled {
        /// The executed order (several, comma-separated, when the entry was sliced).
        order_id: String,
        quantity: u32,
        average_price: f64,
        at: DateTime<Utc>,
        /// What each executed order bought, paise (its trades summed): each is charged as one
        /// order.
        orders: Vec<i64>,
        /// The slices that executed nothing, in words (`None`: every slice filled something).
        shortfall: Option<String>,
    },
    /// Not traded, and why in words.
    Refused {
        reason: RejectReason,
        detail: String,
    },
}
