//! The ClickHouse store's rows in their RowBinary form, and the split of a batch by table.
//!
//! Everything a row ships with comes from the row and its write stamp (epoch ms when the store
//! accepted it, kept with it in the outbox): shipping the same outbox row twice — after a kill
//! mid-shipment — sends the same bytes, so ReplacingMergeTree collapses it and no second
//! version of a row with other contents can appear.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use messages::{
    Action, Mode, OptionType, Outcome, PositionRecord, PositionStatus, Row, Signal, SignalMetadata,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChSignal {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) timestamp: DateTime<Utc>,
    #[serde(with = "::clickhouse::serde::uuid")]
    pub(super) signal_id: Uuid,
    pub(super) symbol: String,
    pub(super) asset_type: String,
    pub(super) strategy: String,
    pub(super) action: i8,
    pub(super) price: f64,
    pub(super) quantity: u32,
    pub(super) confidence: f64,
    pub(super) target: f64,
    pub(super) stop_loss: f64,
    pub(super) expected_move_pct: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) candle_time: DateTime<Utc>,
    pub(super) ema_fast: f64,
    pub(super) ema_slow: f64,
    pub(super) metadata: String,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChCandle {
    pub(super) symbol: String,
    pub(super) timeframe: String,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) timestamp: DateTime<Utc>,
    pub(super) open: f64,
    pub(super) high: f64,
    pub(super) low: f64,
    pub(super) close: f64,
    pub(super) volume: u64,
    pub(super) vwap: f64,
    pub(super) trades: u32,
    pub(super) version: u64,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChDecision {
    #[serde(with = "::clickhouse::serde::uuid")]
    pub(super) signal_id: Uuid,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) decided_at: DateTime<Utc>,
    pub(super) symbol: String,
    pub(super) mode: i8,
    pub(super) outcome: String,
    pub(super) reason: String,
    pub(super) underlying_price: f64,
    pub(super) detail: String,
    pub(super) strategy: String,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChPosition {
    #[serde(with = "::clickhouse::serde::uuid")]
    pub(super) position_id: Uuid,
    pub(super) version: u64,
    #[serde(with = "::clickhouse::serde::uuid")]
    pub(super) signal_id: Uuid,
    pub(super) symbol: String,
    pub(super) option_symbol: String,
    pub(super) strike: f64,
    pub(super) option_type: i8,
    #[serde(with = "::clickhouse::serde::chrono::date")]
    pub(super) expiry: NaiveDate,
    pub(super) mode: i8,
    pub(super) status: i8,
    pub(super) lots: u32,
    pub(super) lot_size: u32,
    pub(super) quantity: u32,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) entry_time: DateTime<Utc>,
    pub(super) entry_premium: f64,
    pub(super) stop_loss_premium: f64,
    pub(super) target_premium: f64,
    pub(super) current_premium: f64,
    pub(super) unrealized_pnl: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) exit_time: DateTime<Utc>,
    pub(super) exit_premium: f64,
    pub(super) exit_reason: String,
    pub(super) realized_pnl: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) updated_at: DateTime<Utc>,
    pub(super) remaining_quantity: u32,
    pub(super) strategy: String,
    // Charges in paise, itemised, and the net P&L (migration 014).
    pub(super) charges_brokerage: i64,
    pub(super) charges_stt: i64,
    pub(super) charges_exchange_txn: i64,
    pub(super) charges_sebi: i64,
    pub(super) charges_stamp_duty: i64,
    pub(super) charges_gst: i64,
    pub(super) charges_total: i64,
    pub(super) net_pnl: f64,
}

pub(super) fn mode_i8(m: Mode) -> i8 {
    match m {
        Mode::Logging => 1,
        Mode::Paper => 2,
        Mode::Live => 3,
    }
}

pub(super) fn mode_of(v: i8) -> Mode {
    match v {
        2 => Mode::Paper,
        3 => Mode::Live,
        _ => Mode::Logging,
    }
}

pub(super) fn epoch(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap_or_default()
}

impl ChSignal {
    /// The row for `s`, accepted by the store at `stamp` (epoch ms).
    pub(super) fn from(s: &Signal, stamp: u64) -> Self {
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
            created_at: epoch(stamp as i64 / 1000),
        }
    }

    pub(super) fn into_signal(self) -> Signal {
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
    pub(super) fn from(p: &PositionRecord) -> Self {
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
            strategy: p.strategy.clone(),
            charges_brokerage: p.charges.brokerage,
            charges_stt: p.charges.stt,
            charges_exchange_txn: p.charges.exchange_txn,
            charges_sebi: p.charges.sebi,
            charges_stamp_duty: p.charges.stamp_duty,
            charges_gst: p.charges.gst,
            charges_total: p.charges.total,
            net_pnl: p.net_pnl,
        }
    }

    pub(super) fn into_record(self) -> PositionRecord {
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
            strategy: self.strategy,
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
            charges: messages::Charges {
                brokerage: self.charges_brokerage,
                stt: self.charges_stt,
                exchange_txn: self.charges_exchange_txn,
                sebi: self.charges_sebi,
                stamp_duty: self.charges_stamp_duty,
                gst: self.charges_gst,
                total: self.charges_total,
            },
            net_pnl: self.net_pnl,
        }
    }
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChAudit {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) timestamp: DateTime<Utc>,
    pub(super) action: String,
    pub(super) detail: String,
    pub(super) ok: u8,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChMetric {
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) timestamp: DateTime<Utc>,
    pub(super) component: String,
    pub(super) metric: String,
    pub(super) value: f64,
    pub(super) labels: String,
}

#[derive(Debug, Clone, ::clickhouse::Row, Serialize, Deserialize)]
pub(super) struct ChPerformance {
    pub(super) strategy: String,
    pub(super) symbol: String,
    pub(super) mode: i8,
    #[serde(with = "::clickhouse::serde::chrono::date")]
    pub(super) period_start: chrono::NaiveDate,
    #[serde(with = "::clickhouse::serde::chrono::date")]
    pub(super) period_end: chrono::NaiveDate,
    pub(super) total_trades: u64,
    pub(super) winning_trades: u64,
    pub(super) losing_trades: u64,
    pub(super) total_pnl: f64,
    pub(super) max_drawdown: f64,
    pub(super) sharpe_ratio: Option<f64>,
    pub(super) win_rate: f64,
    pub(super) avg_win: f64,
    pub(super) avg_loss: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub(super) computed_at: DateTime<Utc>,
}

impl ChPerformance {
    fn from(p: &messages::StrategyPerformance) -> Self {
        ChPerformance {
            strategy: p.strategy.clone(),
            symbol: p.symbol.clone(),
            mode: mode_i8(p.mode),
            period_start: p.period_start,
            period_end: p.period_end,
            total_trades: p.total_trades,
            winning_trades: p.winning_trades,
            losing_trades: p.losing_trades,
            total_pnl: p.total_pnl,
            max_drawdown: p.max_drawdown,
            sharpe_ratio: p.sharpe_ratio,
            win_rate: p.win_rate,
            avg_win: p.avg_win,
            avg_loss: p.avg_loss,
            computed_at: p.computed_at,
        }
    }
}

/// Rows of one batch split by table, in their ClickHouse form.
#[derive(Default)]
pub(super) struct Split {
    pub(super) audits: Vec<ChAudit>,
    pub(super) metrics: Vec<ChMetric>,
    pub(super) signals: Vec<ChSignal>,
    pub(super) candles: Vec<ChCandle>,
    pub(super) decisions: Vec<ChDecision>,
    pub(super) positions: Vec<ChPosition>,
    pub(super) performance: Vec<ChPerformance>,
}

/// The tables a batch goes to, in the order they are inserted (and shipped).
pub(super) const TABLE_ORDER: [&str; 7] = [
    "trading_signals",
    // A position before the decision that opened it: a kill between the two inserts leaves
    // a position whose signal is decided again (to the same position), never a decision
    // whose position is lost.
    "positions",
    "executor_decisions",
    "audit_events",
    "performance_metrics",
    "historical_data",
    "strategy_performance",
];

impl Split {
    /// Rows held for `table`.
    pub(super) fn len_of(&self, table: &str) -> usize {
        match table {
            "trading_signals" => self.signals.len(),
            "executor_decisions" => self.decisions.len(),
            "positions" => self.positions.len(),
            "audit_events" => self.audits.len(),
            "performance_metrics" => self.metrics.len(),
            "historical_data" => self.candles.len(),
            "strategy_performance" => self.performance.len(),
            _ => 0,
        }
    }

    /// Moves the rows of `table` into a split of their own.
    pub(super) fn take(&mut self, table: &str) -> Split {
        let mut out = Split::default();
        match table {
            "trading_signals" => out.signals = std::mem::take(&mut self.signals),
            "executor_decisions" => out.decisions = std::mem::take(&mut self.decisions),
            "positions" => out.positions = std::mem::take(&mut self.positions),
            "audit_events" => out.audits = std::mem::take(&mut self.audits),
            "performance_metrics" => out.metrics = std::mem::take(&mut self.metrics),
            "historical_data" => out.candles = std::mem::take(&mut self.candles),
            "strategy_performance" => out.performance = std::mem::take(&mut self.performance),
            _ => {}
        }
        out
    }
}

/// Splits rows by table, each with its write stamp (epoch ms when the store accepted it): a
/// candle's ReplacingMergeTree `version` and a signal's `created_at` come from it, never from
/// the time of shipping, so a re-shipped row is the same row.
pub(super) fn split<'a>(rows: impl IntoIterator<Item = (u64, &'a Row)>) -> Split {
    let mut s = Split::default();
    for (version, r) in rows {
        match r {
            Row::Signal(x) => s.signals.push(ChSignal::from(x, version)),
            Row::Candle(c) => s.candles.push(ChCandle {
                symbol: c.symbol.to_string(),
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
                    strategy: d.strategy.clone(),
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
            Row::Performance(p) => s.performance.push(ChPerformance::from(p)),
        }
    }
    s
}
