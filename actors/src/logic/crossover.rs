//! The EMA fast/slow crossover detector of one symbol, and the levels of its signals.
//!
//! - **Update**: O(1) per candle (two [`Ema`] updates); a forming candle is evaluated with
//!   [`Ema::peek`] and changes nothing.
//! - **Rule**: with `d = ema_fast − ema_slow`, BUY when `d` turns from ≤ 0 (last closed candle)
//!   to > 0, SELL when it turns from ≥ 0 to < 0. Nothing before `min_periods` closed candles.
//! - **Once**: at most one signal per candle and direction, whether it fired while the candle
//!   was forming or at its close.
//! - **Levels**: stop = price ∓ `stop_loss_pct` %, target = price ± `target_multiplier` × risk,
//!   both on the exchange tick; expected move = |target − price| / price × 100.
//! - **Strength** in [0, 1]: `0.5 × momentum + 0.5 × extension`, where
//!   `momentum = min(1, |d − d_prev| / (0.05 % of price))` (how hard the spread turned) and
//!   `extension = min(1, |price − ema_slow| / (0.5 % of price))` (how far price already left
//!   the slow average). Rounded to 4 decimals.

use messages::{Action, Candle};

use super::ema::Ema;
use super::price::{round_dp, round_to_tick, TICK};

/// Parameters of the detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossoverParams {
    pub fast: usize,
    pub slow: usize,
    pub min_periods: usize,
    pub stop_loss_pct: f64,
    pub target_multiplier: f64,
}

/// A detected crossover with its levels: a strategy [`Detection`](super::detection::Detection)
/// (`ema_fast` and `ema_slow` are the two EMAs).
pub type Cross = super::detection::Detection;

/// Crossover state of one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossover {
    p: CrossoverParams,
    fast: Ema,
    slow: Ema,
    closed: usize,
    /// `d` at the last closed candle, once both EMAs are seeded.
    prev_diff: Option<f64>,
    /// Open time of the last closed candle taken.
    last_closed_ts: i64,
    fired_buy: i64,
    fired_sell: i64,
}

impl Crossover {
    /// A fresh detector.
    pub fn new(p: CrossoverParams) -> Self {
        Crossover {
            p,
            fast: Ema::new(p.fast),
            slow: Ema::new(p.slow),
            closed: 0,
            prev_diff: None,
            last_closed_ts: i64::MIN,
            fired_buy: i64::MIN,
            fired_sell: i64::MIN,
        }
    }

    /// The detector's parameters.
    pub fn params(&self) -> CrossoverParams {
        self.p
    }

    /// Closed candles taken so far.
    pub fn closed_count(&self) -> usize {
        self.closed
    }

    /// Open time of the last closed candle taken.
    pub fn last_closed_ts(&self) -> i64 {
        self.last_closed_ts
    }

    /// Current (fast, slow) EMAs, once seeded.
    pub fn emas(&self) -> Option<(f64, f64)> {
        Some((self.fast.value()?, self.slow.value()?))
    }

    /// Warms up on a closed candle without signalling (history).
    pub fn warm(&mut self, c: &Candle) {
        if c.ts > self.last_closed_ts {
            self.take_closed(c);
        }
    }

    /// A candle closed; returns the crossover it completes, if any. Candles not newer than the
    /// last one taken are ignored (so history and live data may overlap).
    #[inline]
    pub fn on_closed(&mut self, c: &Candle) -> Option<Cross> {
        if c.ts <= self.last_closed_ts {
            return None;
        }
        let prev = self.prev_diff;
        let (f, s) = self.take_closed(c)?;
        self.judge(prev?, f, s, c)
    }

    /// A candle is forming: would its current close cross? Changes nothing but the
    /// once-per-candle record.
    #[inline]
    pub fn on_forming(&mut self, c: &Candle) -> Option<Cross> {
        if c.ts <= self.last_closed_ts {
            return None;
        }
        let prev = self.prev_diff?;
        let f = self.fast.peek(c.close)?;
        let s = self.slow.peek(c.close)?;
        if self.closed + 1 < self.p.min_periods {
            return None;
        }
        self.decide(prev, f, s, c)
    }

    fn take_closed(&mut self, c: &Candle) -> Option<(f64, f64)> {
        self.last_closed_ts = c.ts;
        self.closed += 1;
        let f = self.fast.update(c.close);
        let s = self.slow.update(c.close);
        let (f, s) = (f?, s?);
        self.prev_diff = Some(f - s);
        Some((f, s))
    }

    fn judge(&mut self, prev: f64, f: f64, s: f64, c: &Candle) -> Option<Cross> {
        if self.closed < self.p.min_periods {
            return None;
        }
        self.decide(prev, f, s, c)
    }

    fn decide(&mut self, prev: f64, f: f64, s: f64, c: &Candle) -> Option<Cross> {
        let d = f - s;
        let action = if prev <= 0.0 && d > 0.0 {
            Action::Buy
        } else if prev >= 0.0 && d < 0.0 {
            Action::Sell
        } else {
            return None;
        };
        let fired = match action {
            Action::Buy => &mut self.fired_buy,
            Action::Sell => &mut self.fired_sell,
        };
        if *fired == c.ts {
            return None;
        }
        *fired = c.ts;
        Some(levels(action, c, f, s, prev, &self.p))
    }
}

/// Builds a [`Cross`] with stop, target, strength and expected move.
pub fn levels(action: Action, c: &Candle, f: f64, s: f64, prev: f64, p: &CrossoverParams) -> Cross {
    let price = c.close;
    let dist = price * p.stop_loss_pct / 100.0;
    let (stop, target) = match action {
        Action::Buy => {
            let stop = round_to_tick(price - dist, TICK);
            (
                stop,
                round_to_tick(price + p.target_multiplier * (price - stop), TICK),
            )
        }
        Action::Sell => {
            let stop = round_to_tick(price + dist, TICK);
            (
                stop,
                round_to_tick(price - p.target_multiplier * (stop - price), TICK),
            )
        }
    };
    let d = f - s;
    let momentum = ((d - prev).abs() / (price * 0.0005)).min(1.0);
    let extension = ((price - s).abs() / (price * 0.005)).min(1.0);
    Cross {
        action,
        candle_time: c.ts,
        price,
        stop_loss: stop,
        target,
        strength: round_dp(0.5 * momentum + 0.5 * extension, 4),
        expected_move_pct: round_dp((target - price).abs() / price * 100.0, 4),
        ema_fast: f,
        ema_slow: s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messages::SymbolId;

    fn params(min_periods: usize) -> CrossoverParams {
        CrossoverParams {
            fast: 2,
            slow: 4,
            min_periods,
            stop_loss_pct: 1.0,
            target_multiplier: 2.0,
        }
    }

    fn candle(i: i64, close: f64) -> Candle {
        Candle {
            symbol: SymbolId(0),
            ts: i * 900,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    /// Falling then rising closes: the fast EMA crosses above the slow one.
    const CLOSES: [f64; 9] = [
        110.0, 108.0, 106.0, 104.0, 102.0, 100.0, 104.0, 110.0, 115.0,
    ];

    #[test]
    fn buy_at_the_first_candle_where_fast_goes_above_slow() {
        let mut x = Crossover::new(params(4));
        let mut hits = Vec::new();
        for (i, c) in CLOSES.iter().enumerate() {
            if let Some(h) = x.on_closed(&candle(i as i64, *c)) {
                hits.push((i, h));
            }
        }
        // Hand check (EMA2 α=2/3 seeded at i=1 with 109; EMA4 α=0.4 seeded at i=3 with 107):
        // i: fast, slow, d → 3: 105, 107, −2 · 4: 103, 105, −2 · 5: 101, 103, −2 ·
        // 6: 103, 103.4, −0.4 · 7: 107.667, 106.04, +1.627 → BUY at i=7 · 8: still above.
        assert_eq!(hits.len(), 1, "{hits:?}");
        let (i, h) = hits[0];
        assert_eq!(i, 7);
        assert_eq!(h.action, Action::Buy);
        assert!(
            (h.ema_fast - 107.666_666_666_666_67).abs() < 1e-9,
            "{}",
            h.ema_fast
        );
        assert!((h.ema_slow - 106.04).abs() < 1e-9, "{}", h.ema_slow);
        assert_eq!(h.price, 110.0);
        assert_eq!(h.stop_loss, 108.9);
        assert_eq!(h.target, 112.2);
        assert_eq!(h.expected_move_pct, 2.0);
        assert!((0.0..=1.0).contains(&h.strength));
    }

    #[test]
    fn no_signal_before_min_periods() {
        let mut x = Crossover::new(params(9));
        let hits: Vec<_> = CLOSES
            .iter()
            .enumerate()
            .filter_map(|(i, c)| x.on_closed(&candle(i as i64, *c)))
            .collect();
        assert!(
            hits.is_empty(),
            "the crossover at candle 8 (7 closed before) is too early"
        );
    }

    #[test]
    fn forming_crossover_fires_once_per_candle_and_direction() {
        let mut x = Crossover::new(params(4));
        for (i, c) in CLOSES[..7].iter().enumerate() {
            assert!(x.on_closed(&candle(i as i64, *c)).is_none());
        }
        // Candle 7 forming at 110 crosses; again at 111 it must not fire twice; nor at close.
        let first = x
            .on_forming(&candle(7, 110.0))
            .expect("crosses while forming");
        assert_eq!(first.action, Action::Buy);
        assert!(x.on_forming(&candle(7, 111.0)).is_none());
        assert!(x.on_closed(&candle(7, 110.0)).is_none());
        assert_eq!(x.closed_count(), 8);
    }

    #[test]
    fn sell_levels_mirror() {
        let c = candle(0, 200.0);
        let h = levels(Action::Sell, &c, 199.0, 199.5, 0.1, &params(1));
        assert_eq!(h.stop_loss, 202.0);
        assert_eq!(h.target, 196.0);
        assert_eq!(h.expected_move_pct, 2.0);
    }

    #[test]
    fn old_candles_are_ignored() {
        let mut x = Crossover::new(params(4));
        x.warm(&candle(5, 100.0));
        assert!(x.on_closed(&candle(5, 100.0)).is_none());
        x.warm(&candle(3, 100.0));
        assert_eq!(x.closed_count(), 1);
    }
}
