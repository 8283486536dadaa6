//! What a strategy kind detects on a candle, before the signal gets its id and time: the
//! common output of every detector ([`crossover`](super::crossover) and the kinds under
//! `strategies`).

use messages::Action;

/// What a strategy detected on a candle: a signal before it gets its id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub action: Action,
    /// Open time of the candle it was detected on.
    pub candle_time: i64,
    /// Entry price on the underlying.
    pub price: f64,
    pub stop_loss: f64,
    pub target: f64,
    /// Strength in [0, 1] (each kind documents its formula).
    pub strength: f64,
    /// |target − price| / price × 100.
    pub expected_move_pct: f64,
    /// The two indicator values stored with the signal (`ema_fast`, `ema_slow`; each kind says
    /// what they are).
    pub ema_fast: f64,
    pub ema_slow: f64,
}
