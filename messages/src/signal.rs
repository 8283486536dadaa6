//! Trading signals: what a strategy found, with its complete context.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Direction of a signal on the underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Buy,
    Sell,
}

impl Action {
    /// `"BUY"` or `"SELL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "BUY" => Ok(Action::Buy),
            "SELL" => Ok(Action::Sell),
            other => Err(format!("unknown action {other:?}: expected BUY or SELL")),
        }
    }
}

/// Indicator values at the crossing candle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalMetadata {
    /// Open time of the candle whose close (or forming price) crossed.
    pub candle_time: DateTime<Utc>,
    pub ema_fast: f64,
    pub ema_slow: f64,
}

/// A trading signal. Field names and meaning are the `signals.jsonl` contract: later work may
/// add fields, never rename these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// UUID v5 over (symbol, strategy, candle time, action): the same crossover always has the same id.
    pub signal_id: Uuid,
    /// Data time at which the crossover was seen (a closed candle's end, or the forming tick's time).
    pub timestamp: DateTime<Utc>,
    pub symbol: String,
    pub strategy: String,
    pub action: Action,
    /// Underlying price at the signal (rupees).
    pub price: f64,
    pub stop_loss: f64,
    pub target: f64,
    /// Signal strength in [0, 1] (see the strategy's documentation of its formula).
    pub confidence: f64,
    /// |target − price| / price × 100.
    pub expected_move_pct: f64,
    pub metadata: SignalMetadata,
}

/// The namespace of signal ids (UUID v5). Fixed forever: changing it changes every id.
pub const SIGNAL_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_4e8c_2b3d_5f70_9c11_a5e4_0d3b_7c21);

/// The deterministic id of a signal: UUID v5 over (symbol, strategy instance, timeframe,
/// candle time, action), so two instances never share an id. (Stores made before instances
/// existed hold ids over (symbol, strategy, candle time, action); they keep them.)
pub fn signal_id(
    symbol: &str,
    strategy: &str,
    timeframe: crate::Timeframe,
    candle_time: i64,
    action: Action,
) -> Uuid {
    let name = format!(
        "{symbol}|{strategy}|{}|{candle_time}|{}",
        timeframe.as_str(),
        action.as_str()
    );
    Uuid::new_v5(&SIGNAL_NAMESPACE, name.as_bytes())
}

/// Filters of a signal query; `None` means any. Times are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalQuery {
    pub symbol: Option<String>,
    pub strategy: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl SignalQuery {
    /// True when `s` passes every filter.
    pub fn matches(&self, s: &Signal) -> bool {
        self.symbol.as_deref().is_none_or(|x| x == s.symbol)
            && self.strategy.as_deref().is_none_or(|x| x == s.strategy)
            && self.start.is_none_or(|t| s.timestamp >= t)
            && self.end.is_none_or(|t| s.timestamp <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_ids_are_deterministic_and_distinct() {
        use crate::Timeframe::{Minute15, Minute5};
        let id = |sym, strat, tf, t, a| signal_id(sym, strat, tf, t, a);
        let a = id(
            "NIFTY",
            "ma_crossover",
            Minute15,
            1_700_000_000,
            Action::Buy,
        );
        assert_eq!(
            a,
            id(
                "NIFTY",
                "ma_crossover",
                Minute15,
                1_700_000_000,
                Action::Buy
            )
        );
        for other in [
            id(
                "NIFTY",
                "ma_crossover",
                Minute15,
                1_700_000_000,
                Action::Sell,
            ),
            id(
                "NIFTY",
                "ma_crossover",
                Minute15,
                1_700_000_900,
                Action::Buy,
            ),
            id(
                "BANKNIFTY",
                "ma_crossover",
                Minute15,
                1_700_000_000,
                Action::Buy,
            ),
            // Two instances, or one instance at two timeframes, never share an id.
            id("NIFTY", "ema_5_13_5m", Minute15, 1_700_000_000, Action::Buy),
            id("NIFTY", "ma_crossover", Minute5, 1_700_000_000, Action::Buy),
        ] {
            assert_ne!(a, other);
        }
        assert_eq!(a.get_version_num(), 5);
        // The inputs' text is part of the contract: this id is fixed forever.
        assert_eq!(
            a.to_string(),
            Uuid::new_v5(
                &SIGNAL_NAMESPACE,
                b"NIFTY|ma_crossover|15minute|1700000000|BUY"
            )
            .to_string()
        );
    }
}
