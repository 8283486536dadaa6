//! `ema_5_alert_candle`: the 5-EMA alert-candle setup, judged per symbol on closed candles.
//!
//! **EMA.** `ema_period` (5) over closes, [`Ema`] seeded TA-Lib style (the mean of the first
//! `ema_period` closes). Every rule compares a candle with the EMA **including that candle's
//! close**, as the original does (it computes the EMA column over the whole frame, this row
//! included, and compares each row with its own value). The original seeds with the first
//! close instead (pandas `ewm(adjust=False)`), so its first few EMA values differ from ours.
//!
//! **Alert candle.** A candle with `low > EMA` and `(low − EMA) / EMA × 100 ≥
//! min_candle_gap_pct` sets up a **SELL**; one with `high < EMA` and `(EMA − high) / EMA × 100 ≥
//! min_candle_gap_pct` sets up a **BUY**. The setup remembers that candle (its high, low, close
//! and the EMA it was judged against).
//!
//! **Each later closed candle, while set up**, in this order (the original's order):
//! 1. **Entry** — SELL when `low < alert.low`, BUY when `high > alert.high` (strictly). Entry
//!    price = the alert candle's low (SELL) / high (BUY), as the issue words it. (The original
//!    enters at the *trigger* candle's low/high instead; the issue wins.) Stop = the highest
//!    high (SELL) / lowest low (BUY) of the last `swing_lookback + 1` candles **including the
//!    trigger candle** (the trigger and the `swing_lookback` candles before it, or fewer if
//!    fewer were seen), as the original's window `[i − swing_lookback, i]`. Target = entry ∓
//!    `min_risk_reward` × (risk = |stop − entry|). Entry, stop and target are rounded to the
//!    0.05 tick (entry and stop first, the target from the rounded ones). If the stop is not
//!    strictly beyond the entry (SELL: stop ≤ entry; BUY: stop ≥ entry), or a SELL target is
//!    not above zero, there is no signal. Either way **the setup is used up** and the trigger
//!    candle does not start a new one: the original stops scanning at the first trigger,
//!    signal or not.
//! 2. Otherwise, **replacement** — a candle that is again an alert candle of the same side and
//!    does not break the alert's far extreme (SELL: `high ≤ alert.high`; BUY: `low ≥
//!    alert.low`) becomes the alert candle.
//! 3. Otherwise the setup stays as it is: a same-side alert candle breaking the far extreme,
//!    an **opposite alert candle**, and a candle that is **neither** all leave it unchanged (the
//!    original only looks for a new alert candle when none is set up). A setup lasts until it
//!    triggers; the original, rescanning only its last 50 candles, forgets older ones.
//!
//! **Without a setup**, a candle that is an alert candle starts one (SELL checked first; the
//! two cannot both hold).
//!
//! **When.** No signal before the EMA is seeded nor before `min_periods` closed candles
//! (`historical_lookback.min_periods` of the instance), counting the trigger. The state still
//! moves on those candles — a trigger before `min_periods` uses up its setup silently — so
//! [`StrategyKind::warm`] runs exactly the same rules as [`StrategyKind::on_closed`] and only
//! drops the result. Candles not newer than the last one taken, and candles that are not
//! prices (a non-finite high/low/close, `low ≤ 0`, or a close outside `[low, high]`), are
//! ignored. Forming candles are not judged (`on_forming` says `None`): the rules are on closed
//! candles. (The original's input ends with the candle that has just opened, one tick old; we
//! do not copy that.)
//!
//! **Strength** in [0, 1], the original's confidence on a 0–1 scale: `min(0.95, 0.60 + 0.05 ×
//! rr + 0.20 × gap)`, with `rr = |target − entry| / risk` (from the rounded levels, so about
//! `min_risk_reward`) and `gap = |alert.close − EMA| / EMA × 100` (EMA at the trigger), rounded
//! to 4 decimals. **Expected move** = `|target − entry| / entry × 100`, 4 decimals.
//! **`ema_fast`** = the EMA at the trigger candle; **`ema_slow`** = the EMA the alert candle was
//! judged against.
//!
//! **Cost.** O(1) per candle with no allocation: one [`Ema`] update, a fixed ring of the last
//! `MAX_SWING_LOOKBACK + 1` highs and lows (read back only on a trigger, at most
//! `swing_lookback + 1` entries), and a copy of the alert candle.
//!
//! Parameters: `ema_period` (5, 2–200), `swing_lookback` (2, 0–20), `min_risk_reward` (3.0,
//! 1–20), `min_candle_gap_pct` (0.05, 0–10, % of the EMA).

use messages::{Action, Candle};
use serde::{Deserialize, Serialize};

use super::{check_count, check_range, parse_params, Context, Detection, ParamError, StrategyKind};
use crate::logic::ema::Ema;
use crate::logic::price::{round_dp, round_to_tick, TICK};

/// The largest `swing_lookback` accepted (the ring holds one more candle than this).
pub const MAX_SWING_LOOKBACK: usize = 20;
const RING: usize = MAX_SWING_LOOKBACK + 1;

/// The alert-candle setup's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub ema_period: usize,
    /// Candles before the trigger whose extremes the stop may sit on.
    pub swing_lookback: usize,
    /// Target = entry ∓ this × risk.
    pub min_risk_reward: f64,
    /// How far (in % of the EMA) an alert candle must stay from the EMA.
    pub min_candle_gap_pct: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            ema_period: 5,
            swing_lookback: 2,
            min_risk_reward: 3.0,
            min_candle_gap_pct: 0.05,
        }
    }
}

/// Validated parameters, with the instance's `min_periods`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertParams {
    pub ema_period: usize,
    pub swing_lookback: usize,
    pub min_risk_reward: f64,
    pub min_candle_gap_pct: f64,
    pub min_periods: usize,
}

impl Params {
    /// Checks every value.
    pub fn validate(&self, ctx: &Context) -> Result<AlertParams, ParamError> {
        check_count("ema_period", self.ema_period, 2, 200)?;
        check_count("swing_lookback", self.swing_lookback, 0, MAX_SWING_LOOKBACK)?;
        check_range("min_risk_reward", self.min_risk_reward, 1.0, 20.0)?;
        check_range("min_candle_gap_pct", self.min_candle_gap_pct, 0.0, 10.0)?;
        Ok(AlertParams {
            ema_period: self.ema_period,
            swing_lookback: self.swing_lookback,
            min_risk_reward: self.min_risk_reward,
            min_candle_gap_pct: self.min_candle_gap_pct,
            min_periods: ctx.min_periods,
        })
    }
}

/// Builds the alert-candle setup from its `parameters` block.
pub fn build(v: &serde_json::Value, ctx: &Context) -> Result<Box<dyn StrategyKind>, ParamError> {
    let p: Params = parse_params(v)?;
    Ok(Box::new(Ema5Alert::new(p.validate(ctx)?)))
}

/// The current alert candle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Alert {
    /// SELL: set up by a candle above the EMA; BUY: below.
    action: Action,
    high: f64,
    low: f64,
    close: f64,
    /// The EMA (including the alert candle) it was judged against.
    ema: f64,
}

/// The alert-candle state of one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ema5Alert {
    p: AlertParams,
    ema: Ema,
    /// The last highs and lows, `next` is where the next candle goes.
    highs: [f64; RING],
    lows: [f64; RING],
    next: usize,
    /// Candles in the ring (up to `RING`).
    filled: usize,
    /// Closed candles taken.
    closed: usize,
    last_ts: i64,
    setup: Option<Alert>,
}

impl Ema5Alert {
    /// A fresh state.
    pub fn new(p: AlertParams) -> Self {
        Ema5Alert {
            p,
            ema: Ema::new(p.ema_period),
            highs: [0.0; RING],
            lows: [0.0; RING],
            next: 0,
            filled: 0,
            closed: 0,
            last_ts: i64::MIN,
            setup: None,
        }
    }

    /// The parameters.
    pub fn params(&self) -> AlertParams {
        self.p
    }

    /// Closed candles taken so far.
    pub fn closed_count(&self) -> usize {
        self.closed
    }

    /// The current setup: its side and the alert candle's (high, low).
    pub fn setup(&self) -> Option<(Action, f64, f64)> {
        self.setup.map(|a| (a.action, a.high, a.low))
    }

    /// Takes a closed candle; returns the entry it triggers, if any, whatever `min_periods`.
    fn step(&mut self, c: &Candle) -> Option<Detection> {
        let sane = c.high.is_finite()
            && c.low.is_finite()
            && c.close.is_finite()
            && c.low > 0.0
            && c.low <= c.close
            && c.close <= c.high;
        if c.ts <= self.last_ts || !sane {
            return None;
        }
        self.last_ts = c.ts;
        self.closed += 1;
        self.highs[self.next] = c.high;
        self.lows[self.next] = c.low;
        self.next = (self.next + 1) % RING;
        self.filled = (self.filled + 1).min(RING);
        let ema = self.ema.update(c.close)?;
        match self.setup {
            None => {
                self.setup = self.alert_side(c, ema).map(|action| Alert {
                    action,
                    high: c.high,
                    low: c.low,
                    close: c.close,
                    ema,
                });
                None
            }
            Some(a) => {
                let triggered = match a.action {
                    Action::Sell => c.low < a.low,
                    Action::Buy => c.high > a.high,
                };
                if triggered {
                    self.setup = None;
                    return self.entry(&a, c, ema);
                }
                let keeps_far_side = match a.action {
                    Action::Sell => c.high <= a.high,
                    Action::Buy => c.low >= a.low,
                };
                if keeps_far_side && self.alert_side(c, ema) == Some(a.action) {
                    self.setup = Some(Alert {
                        action: a.action,
                        high: c.high,
                        low: c.low,
                        close: c.close,
                        ema,
                    });
                }
                None
            }
        }
    }

    /// The side a candle sets up against `ema` (its own EMA), if it is an alert candle.
    fn alert_side(&self, c: &Candle, ema: f64) -> Option<Action> {
        let gap = self.p.min_candle_gap_pct;
        if c.low > ema && (c.low - ema) / ema * 100.0 >= gap {
            Some(Action::Sell)
        } else if c.high < ema && (ema - c.high) / ema * 100.0 >= gap {
            Some(Action::Buy)
        } else {
            None
        }
    }

    /// The highest high (SELL) or lowest low (BUY) of the trigger candle and the
    /// `swing_lookback` before it.
    fn swing(&self, action: Action) -> f64 {
        let n = (self.p.swing_lookback + 1).min(self.filled);
        let mut x = match action {
            Action::Sell => f64::NEG_INFINITY,
            Action::Buy => f64::INFINITY,
        };
        for k in 1..=n {
            let i = (self.next + RING - k) % RING;
            x = match action {
                Action::Sell => x.max(self.highs[i]),
                Action::Buy => x.min(self.lows[i]),
            };
        }
        x
    }

    /// The signal of an entry on `c` from alert `a`, if its levels are on the right sides.
    fn entry(&self, a: &Alert, c: &Candle, ema: f64) -> Option<Detection> {
        let rr = self.p.min_risk_reward;
        let stop = round_to_tick(self.swing(a.action), TICK);
        let (price, target) = match a.action {
            Action::Sell => {
                let price = round_to_tick(a.low, TICK);
                let target = round_to_tick(price - rr * (stop - price), TICK);
                if stop <= price || target >= price || target <= 0.0 {
                    return None;
                }
                (price, target)
            }
            Action::Buy => {
                let price = round_to_tick(a.high, TICK);
                let target = round_to_tick(price + rr * (price - stop), TICK);
                if stop >= price || target <= price {
                    return None;
                }
                (price, target)
            }
        };
        let risk = (stop - price).abs();
        let reward = (target - price).abs();
        let gap = (a.close - ema).abs() / ema * 100.0;
        let strength = (0.60 + 0.05 * (reward / risk) + 0.20 * gap).clamp(0.0, 0.95);
        Some(Detection {
            action: a.action,
            candle_time: c.ts,
            price,
            stop_loss: stop,
            target,
            strength: round_dp(strength, 4),
            expected_move_pct: round_dp(reward / price * 100.0, 4),
            ema_fast: ema,
            ema_slow: a.ema,
        })
    }
}

impl StrategyKind for Ema5Alert {
    fn warm(&mut self, c: &Candle) {
        // Same rules as a live candle; history never signals.
        let _ = self.step(c);
    }

    fn on_closed(&mut self, c: &Candle) -> Option<Detection> {
        let d = self.step(c)?;
        (self.closed >= self.p.min_periods).then_some(d)
    }

    fn fresh(&self) -> Box<dyn StrategyKind> {
        Box::new(Ema5Alert::new(self.p))
    }
}
