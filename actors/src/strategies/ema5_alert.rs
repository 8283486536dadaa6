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
//!    price = the alert candle's low (SELL) / high (BUY), as the rule is specified. (The original
//!    enters at the *trigger* candle's low/high instead; the specification wins.) Stop = the highest
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
//! The state is carried from candle to candle, so each trigger is reported once, on its own
//! candle. (The original rescans its last 50 candles on every run and returns the first trigger
//! in them, so one trigger comes back run after run until it leaves that window.)
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
//! 1–20), `min_candle_gap_pct` (0.05, 0–10, % of the EMA). `min_risk_reward` defaults to the
//! setup's own 3, not to `options_trading.risk_management.target_multiplier`.

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

#[cfg(test)]
mod tests {
    use super::*;
    use messages::SymbolId;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    fn ctx(min_periods: usize) -> Context {
        Context {
            min_periods,
            ..Context::default()
        }
    }

    /// The state for `parameters` = `v`, with `min_periods`.
    fn state(v: serde_json::Value, min_periods: usize) -> Ema5Alert {
        let p: Params = parse_params(&v).unwrap();
        Ema5Alert::new(p.validate(&ctx(min_periods)).unwrap())
    }

    /// EMA 3 (α = 0.5, seeded with the mean of 3 closes), the other parameters at their
    /// defaults (swing_lookback 2, min_risk_reward 3, min_candle_gap_pct 0.05).
    fn ema3() -> Ema5Alert {
        state(json!({"ema_period": 3}), 3)
    }

    fn candle(i: i64, high: f64, low: f64, close: f64) -> Candle {
        Candle {
            symbol: SymbolId(0),
            ts: 1_700_000_000 + i * 900,
            open: close,
            high,
            low,
            close,
            volume: 1.0,
        }
    }

    /// Feeds (high, low, close) rows as closed candles 0, 1, …; returns (index, detection).
    fn run(k: &mut dyn StrategyKind, rows: &[(f64, f64, f64)]) -> Vec<(usize, Detection)> {
        rows.iter()
            .enumerate()
            .filter_map(|(i, &(h, l, c))| k.on_closed(&candle(i as i64, h, l, c)).map(|d| (i, d)))
            .collect()
    }

    /// Three flat candles seed the EMA at 1000; none is an alert (low 999 < 1000 < high 1001).
    const FLAT: [(f64, f64, f64); 3] = [(1001.0, 999.0, 1000.0); 3];

    /// The SELL sequence (EMA 3 after [`FLAT`]):
    /// - 3: H 1006 L 1004 C 1005 → EMA 1000 + 0.5·5 = 1002.5; L − EMA = 1.5 = 0.1496 % ≥ 0.05
    ///   → SELL alert (H 1006, L 1004).
    /// - 4: H 1005.5 L 1004.5 C 1005 → EMA 1002.5 + 0.5·2.5 = 1003.75; no trigger (1004.5 ≥
    ///   1004); L − EMA = 0.75 = 0.0747 % → alert again, H 1005.5 ≤ 1006 → replaces it
    ///   (alert now H 1005.5, L 1004.5, C 1005, EMA 1003.75).
    /// - 5: H 1005 L 1003 C 1003.5 → EMA 1003.75 − 0.5·0.25 = 1003.625; L 1003 < 1004.5 → SELL
    ///   at 1004.5.
    fn sell_rows() -> Vec<(f64, f64, f64)> {
        let mut r = FLAT.to_vec();
        r.extend([
            (1006.0, 1004.0, 1005.0),
            (1005.5, 1004.5, 1005.0),
            (1005.0, 1003.0, 1003.5),
        ]);
        r
    }

    #[test]
    fn sell_alert_replaced_then_broken_below_its_low() {
        let mut k = ema3();
        let rows = sell_rows();
        assert!(run(&mut k, &rows[..4]).is_empty());
        assert_eq!(k.setup(), Some((Action::Sell, 1006.0, 1004.0)));
        let (h, l, c) = rows[4];
        assert!(k.on_closed(&candle(4, h, l, c)).is_none());
        assert_eq!(k.setup(), Some((Action::Sell, 1005.5, 1004.5)), "replaced");
        let (h, l, c) = rows[5];
        let d = k
            .on_closed(&candle(5, h, l, c))
            .expect("the break of 1004.5");
        // Stop: highest high of candles 3, 4, 5 (the trigger and the 2 before) = 1006 — the
        // first alert's high. Risk 1.5; target 1004.5 − 3·1.5 = 1000. Move 4.5 / 1004.5 =
        // 0.4480 %. Strength: gap |1005 − 1003.625| / 1003.625 = 0.1370 %; 0.60 + 0.05·3 +
        // 0.20·0.1370 = 0.7774.
        assert_eq!(
            d,
            Detection {
                action: Action::Sell,
                candle_time: candle(5, h, l, c).ts,
                price: 1004.5,
                stop_loss: 1006.0,
                target: 1000.0,
                strength: 0.7774,
                expected_move_pct: 0.448,
                ema_fast: 1003.625,
                ema_slow: 1003.75,
            }
        );
        assert_eq!(k.setup(), None, "an entry uses the setup up");
        // 6: a lower low again, but nothing is set up any more; H 1004 L 1002 C 1003 →
        // EMA 1003.3125 lies inside the candle, so it is no alert either.
        assert!(k.on_closed(&candle(6, 1004.0, 1002.0, 1003.0)).is_none());
        assert_eq!(k.setup(), None);
    }

    #[test]
    fn buy_alert_replaced_then_broken_above_its_high() {
        // - 3: H 996 L 994 C 995 → EMA 997.5; EMA − H = 1.5 = 0.1504 % → BUY alert (H 996, L 994).
        // - 4: H 995.5 L 994.5 C 995 → EMA 996.25; no trigger (995.5 ≤ 996); EMA − H = 0.75 =
        //   0.0753 % → alert again, L 994.5 ≥ 994 → replaces it (H 995.5, L 994.5).
        // - 5: H 997 L 995 C 996.5 → EMA 996.375; H 997 > 995.5 → BUY at 995.5. Stop: lowest
        //   low of 3, 4, 5 = 994; risk 1.5; target 995.5 + 4.5 = 1000; move 4.5 / 995.5 =
        //   0.4520 %; gap |995 − 996.375| / 996.375 = 0.1380 % → strength 0.7776.
        let mut rows = FLAT.to_vec();
        rows.extend([
            (996.0, 994.0, 995.0),
            (995.5, 994.5, 995.0),
            (997.0, 995.0, 996.5),
        ]);
        let mut k = ema3();
        let hits = run(&mut k, &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let (i, d) = hits[0];
        assert_eq!(i, 5);
        assert_eq!(d.action, Action::Buy);
        assert_eq!((d.price, d.stop_loss, d.target), (995.5, 994.0, 1000.0));
        assert_eq!((d.strength, d.expected_move_pct), (0.7776, 0.452));
        assert_eq!((d.ema_fast, d.ema_slow), (996.375, 996.25));
    }

    #[test]
    fn an_alert_breaking_the_far_extreme_does_not_replace() {
        // As the SELL sequence, but candle 4 has H 1006.5 > 1006: still entirely above the EMA
        // (L 1004.5, EMA 1003.75), yet it breaks the alert's high, so the alert stays
        // (H 1006, L 1004). Candle 5 (L 1003 < 1004) enters at 1004; stop = highest high of
        // 3, 4, 5 = 1006.5; risk 2.5; target 1004 − 7.5 = 996.5; the alert's EMA is 1002.5.
        let mut rows = sell_rows();
        rows[4] = (1006.5, 1004.5, 1005.0);
        let mut k = ema3();
        let hits = run(&mut k, &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let d = hits[0].1;
        assert_eq!((d.price, d.stop_loss, d.target), (1004.0, 1006.5, 996.5));
        assert_eq!((d.ema_fast, d.ema_slow), (1003.625, 1002.5));
        assert_eq!(d.expected_move_pct, 0.747, "7.5 / 1004 = 0.7470 %");
    }

    #[test]
    fn the_swing_window_is_the_trigger_and_the_lookback_before_it() {
        // SELL sequence to candle 4 (alert H 1005.5, L 1004.5; EMA 1003.75), then:
        // - 5: H 1005 L 1004.5 C 1004.5 → EMA 1004.125; L − EMA = 0.375 = 0.0373 % < 0.05: no
        //   alert, no trigger (1004.5 is not below 1004.5) → the setup stays.
        // - 6: H 1005 L 1003 C 1003.5 → EMA 1003.8125; SELL at 1004.5. The window is 4, 5, 6
        //   (highs 1005.5, 1005, 1005): stop 1005.5 — candle 3's 1006 is out. Target 1004.5 − 3.
        let mut rows = sell_rows();
        rows[5] = (1005.0, 1004.5, 1004.5);
        rows.push((1005.0, 1003.0, 1003.5));
        let mut k = ema3();
        let hits = run(&mut k, &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let (i, d) = hits[0];
        assert_eq!(i, 6);
        assert_eq!((d.price, d.stop_loss, d.target), (1004.5, 1005.5, 1001.5));
        assert_eq!(d.ema_fast, 1003.8125);

        // The trigger candle's own high counts: an outside candle 5 (H 1007 L 1003 C 1003.5,
        // same EMA 1003.625) gives stop 1007, risk 2.5, target 1004.5 − 7.5 = 997.
        let mut rows = sell_rows();
        rows[5] = (1007.0, 1003.0, 1003.5);
        let hits = run(&mut ema3(), &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let d = hits[0].1;
        assert_eq!((d.price, d.stop_loss, d.target), (1004.5, 1007.0, 997.0));
    }

    #[test]
    fn the_gap_threshold() {
        // 3: H 1001.5 L 1000.9 C 1001 → EMA 1000.5; L − EMA = 0.4 = 0.0400 % of the EMA.
        // 4: H 1001 L 1000 C 1000.5 → EMA 1000.5, inside the candle; L 1000 < 1000.9.
        let mut rows = FLAT.to_vec();
        rows.extend([(1001.5, 1000.9, 1001.0), (1001.0, 1000.0, 1000.5)]);
        // At 0.05 % candle 3 is too close to the EMA: nothing is set up, nothing fires.
        let mut k = ema3();
        assert!(run(&mut k, &rows).is_empty());
        // At 0.03 % it is an alert; 4 enters at 1000.9, stop = max(1001, 1001.5, 1001) =
        // 1001.5, risk 0.6, target 1000.9 − 1.8 = 999.1.
        let mut k = state(json!({"ema_period": 3, "min_candle_gap_pct": 0.03}), 3);
        let hits = run(&mut k, &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let d = hits[0].1;
        assert_eq!(
            (d.action, d.price, d.stop_loss, d.target),
            (Action::Sell, 1000.9, 1001.5, 999.1)
        );
    }

    #[test]
    fn the_ema_compared_includes_the_candle_itself() {
        // 3: H 1002 L 1000.8 C 1002. The EMA before it is 1000 (L above it by 0.08 %), but the
        // EMA with it is 1000 + 0.5·2 = 1001 > L: not an alert. So 4 (L 1000) does not enter.
        let mut rows = FLAT.to_vec();
        rows.extend([(1002.0, 1000.8, 1002.0), (1001.0, 1000.0, 1000.5)]);
        let mut k = ema3();
        assert!(run(&mut k, &rows).is_empty());
        assert_eq!(k.setup(), None);
    }

    #[test]
    fn a_stop_on_the_wrong_side_gives_nothing_and_uses_the_setup_up() {
        // SELL alert at 3 (H 1006, L 1004; EMA 1002.5), then a gap down:
        // - 4: H 1003 L 1001 C 1002 → EMA 1002.25 (inside the candle: no alert); L < 1004.
        // - 5: H 1001 L 999 C 1000 → a lower low still.
        let mut rows = FLAT.to_vec();
        rows.extend([
            (1006.0, 1004.0, 1005.0),
            (1003.0, 1001.0, 1002.0),
            (1001.0, 999.0, 1000.0),
        ]);
        // swing_lookback 0: the window is candle 4 alone, stop 1003 ≤ entry 1004 → nothing, and
        // the setup is gone, so 5 gives nothing either.
        let mut k = state(json!({"ema_period": 3, "swing_lookback": 0}), 3);
        assert!(run(&mut k, &rows).is_empty());
        assert_eq!(k.setup(), None);
        // swing_lookback 1: candles 3 and 4, stop 1006, risk 2, target 1004 − 6 = 998, at 4.
        let mut k = state(json!({"ema_period": 3, "swing_lookback": 1}), 3);
        let hits = run(&mut k, &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let (i, d) = hits[0];
        assert_eq!(i, 4);
        assert_eq!((d.price, d.stop_loss, d.target), (1004.0, 1006.0, 998.0));
    }

    #[test]
    fn a_sell_target_at_or_below_zero_gives_nothing() {
        // Prices near ₹2 (EMA 3): 0-2 at H 2.1 L 1.9 C 2 → EMA 2. 3: H 3 L 2.6 C 2.8 → EMA 2.4,
        // L − EMA = 0.2 → SELL alert (L 2.6). 4: H 2.7 L 2.5 C 2.5 → entry 2.6, stop 3, risk 0.4,
        // target 2.6 − 1.2 = 1.4 > 0: a signal. With min_risk_reward 10 the target would be
        // 2.6 − 4 < 0: none.
        let rows = [
            (2.1, 1.9, 2.0),
            (2.1, 1.9, 2.0),
            (2.1, 1.9, 2.0),
            (3.0, 2.6, 2.8),
            (2.7, 2.5, 2.5),
        ];
        let hits = run(&mut ema3(), &rows);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].1.stop_loss, hits[0].1.target), (3.0, 1.4));
        let mut k = state(json!({"ema_period": 3, "min_risk_reward": 10.0}), 3);
        assert!(run(&mut k, &rows).is_empty());
    }

    #[test]
    fn an_opposite_alert_candle_keeps_the_setup() {
        // SELL alert A at 3 (H 1006, L 1004, C 1005, EMA 1002.5), then:
        // - 4: H 1012 L 1008 C 1010 → EMA 1006.25; above it by 0.17 %, but H > 1006: A stays.
        // - 5: H 1034 L 1028 C 1032 → EMA 1019.125; the same: A stays.
        // - 6: H 1012 L 1005 C 1006 → EMA 1012.5625; EMA − H = 0.5625 = 0.0556 % → a BUY alert
        //   candle, and L 1005 ≥ 1004: no trigger. A stays (no new setup while one is set up).
        // - 7: H 1006 L 1003 C 1004 → EMA 1008.28125; L < 1004 → SELL at 1004, stop = max(1034,
        //   1012, 1006) = 1034, risk 30, target 1004 − 90 = 914. (Had the BUY alert replaced A,
        //   7 would not enter: H 1006 is not above 1012.)
        let mut rows = FLAT.to_vec();
        rows.extend([
            (1006.0, 1004.0, 1005.0),
            (1012.0, 1008.0, 1010.0),
            (1034.0, 1028.0, 1032.0),
            (1012.0, 1005.0, 1006.0),
            (1006.0, 1003.0, 1004.0),
        ]);
        let mut k = ema3();
        assert!(run(&mut k, &rows[..7]).is_empty());
        assert_eq!(k.setup(), Some((Action::Sell, 1006.0, 1004.0)));
        let (h, l, c) = rows[7];
        let d = k.on_closed(&candle(7, h, l, c)).expect("the break of 1004");
        assert_eq!(
            (d.action, d.price, d.stop_loss, d.target),
            (Action::Sell, 1004.0, 1034.0, 914.0)
        );
        assert_eq!((d.ema_fast, d.ema_slow), (1008.28125, 1002.5));
        // Gap |1005 − 1008.28125| / 1008.28125 = 0.3254 %: 0.75 + 0.0651 = 0.8151.
        assert_eq!(d.strength, 0.8151);
    }

    #[test]
    fn no_signal_before_min_periods() {
        // The SELL sequence enters on its 6th candle.
        let mut k = state(json!({"ema_period": 3}), 6);
        assert_eq!(run(&mut k, &sell_rows()).len(), 1);
        let mut k = state(json!({"ema_period": 3}), 7);
        assert!(run(&mut k, &sell_rows()).is_empty());
        assert_eq!(k.setup(), None, "the early trigger still used the setup up");
        assert_eq!(k.closed_count(), 6);
    }

    #[test]
    fn warm_never_signals_and_builds_the_same_state() {
        let rows = sell_rows();
        // Warming on all six candles, the trigger included: no signal can come out, and the
        // setup is used up as on_closed would have.
        let mut k = ema3();
        for (i, &(h, l, c)) in rows.iter().enumerate() {
            k.warm(&candle(i as i64, h, l, c));
        }
        assert_eq!(k.setup(), None);
        assert!(k.on_closed(&candle(6, 1004.0, 1002.0, 1003.0)).is_none());
        // Warming on the first five, then the trigger live: the same detection as all live.
        let mut w = ema3();
        for (i, &(h, l, c)) in rows[..5].iter().enumerate() {
            w.warm(&candle(i as i64, h, l, c));
        }
        let (h, l, c) = rows[5];
        let live = run(&mut ema3(), &rows)[0].1;
        assert_eq!(w.on_closed(&candle(5, h, l, c)), Some(live));
    }

    #[test]
    fn fresh_resets_and_old_or_broken_candles_are_ignored() {
        let rows = sell_rows();
        let mut k = build(&json!({"ema_period": 3}), &ctx(3)).unwrap();
        let first = run(k.as_mut(), &rows);
        assert_eq!(first.len(), 1);
        // The same candles again are not newer: ignored.
        assert!(run(k.as_mut(), &rows).is_empty());
        // A fresh state takes them from scratch and finds the same entry.
        let mut f = k.fresh();
        assert_eq!(run(f.as_mut(), &rows), first);
        // Not prices: NaN, a close outside the range, a zero low. None of them moves the state.
        let mut s = ema3();
        assert!(run(&mut s, &rows[..5]).is_empty());
        let before = s;
        for bad in [
            candle(5, f64::NAN, 1003.0, 1003.5),
            candle(5, 1005.0, 1003.0, 1010.0),
            candle(5, 1005.0, 0.0, 1.0),
            candle(5, 1005.0, 1006.0, 1005.5),
        ] {
            assert!(s.on_closed(&bad).is_none());
        }
        assert_eq!(s, before);
        assert!(s.on_forming(&candle(5, 1005.0, 1003.0, 1003.5)).is_none());
    }

    #[test]
    fn parameters_are_validated_with_their_field() {
        let ctx = Context::default();
        for (field, x, value) in [
            ("ema_period", json!(1), "1"),
            ("ema_period", json!(201), "201"),
            ("swing_lookback", json!(21), "21"),
            ("min_risk_reward", json!(0.5), "0.5"),
            ("min_risk_reward", json!(21), "21"),
            ("min_candle_gap_pct", json!(-0.01), "-0.01"),
            ("min_candle_gap_pct", json!(10.5), "10.5"),
        ] {
            let v = json!({ field: x });
            let e = build(&v, &ctx).unwrap_err();
            assert_eq!((e.field.as_str(), e.value.as_str()), (field, value), "{v}");
            assert!(e.reason.starts_with("must be"), "{e:?}");
        }
        let e = build(&json!({"ema_perod": 5}), &ctx).unwrap_err();
        assert!(e.reason.contains("ema_perod"), "{e:?}");
        let e = build(&json!({"swing_lookback": -1}), &ctx).unwrap_err();
        assert!(e.reason.contains("-1"), "{e:?}");
        // The defaults, and the edges of every range, are accepted.
        assert_eq!(
            Params::default().validate(&ctx).unwrap(),
            AlertParams {
                ema_period: 5,
                swing_lookback: 2,
                min_risk_reward: 3.0,
                min_candle_gap_pct: 0.05,
                min_periods: 50,
            }
        );
        let edges = json!({"ema_period": 200, "swing_lookback": 0, "min_risk_reward": 1.0,
            "min_candle_gap_pct": 0.0});
        assert!(build(&edges, &ctx).is_ok());
        assert!(super::super::kind("ema_5_alert_candle").is_some());
    }

    /// A seeded random walk with gaps, flat candles and broken rows: no panic, and every
    /// signal has its levels on the tick, on the right sides, with the stop on the swing
    /// extreme recomputed here from the kept candles.
    #[test]
    fn random_series_signal_only_sane_levels() {
        let sets = [
            json!(null),
            json!({"swing_lookback": 0}),
            json!({"ema_period": 3, "min_candle_gap_pct": 0.0, "min_risk_reward": 1.0}),
            json!({"ema_period": 9, "swing_lookback": 20, "min_risk_reward": 20.0}),
        ];
        for (n, v) in sets.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(11 + n as u64);
            let mut k = state(v.clone(), 50);
            let p = k.params();
            let mut kept: Vec<Candle> = Vec::new();
            let (mut buys, mut sells) = (0, 0);
            let mut px: f64 = 1000.0;
            for i in 0..20_000i64 {
                let step = if rng.gen_bool(0.02) { 0.03 } else { 0.004 };
                let open = px;
                px = (px * (1.0 + rng.gen_range(-step..step))).max(1.0);
                let (h, l) = if rng.gen_bool(0.03) {
                    (px, px)
                } else {
                    (
                        open.max(px) * (1.0 + rng.gen_range(0.0..0.003)),
                        open.min(px) * (1.0 - rng.gen_range(0.0..0.003)),
                    )
                };
                let mut c = candle(i, h, l, px);
                c.open = open;
                if rng.gen_bool(0.005) {
                    c.high = f64::NAN;
                }
                if rng.gen_bool(0.005) {
                    c.ts -= 900; // a repeat of the last candle's time
                }
                let taken = c.high.is_finite() && kept.last().is_none_or(|x| c.ts > x.ts);
                let d = k.on_closed(&c);
                if taken {
                    kept.push(c);
                }
                let Some(d) = d else { continue };
                assert!(taken, "{d:?}");
                assert_eq!(d.candle_time, c.ts);
                assert!(kept.len() >= 50);
                let window = &kept[kept.len().saturating_sub(p.swing_lookback + 1)..];
                let on_tick = |x: f64| ((x / TICK).round() * TICK - x).abs() < 1e-6;
                assert!(
                    on_tick(d.price) && on_tick(d.stop_loss) && on_tick(d.target),
                    "{d:?}"
                );
                match d.action {
                    Action::Sell => {
                        sells += 1;
                        assert!(d.target > 0.0 && d.target < d.price && d.price < d.stop_loss);
                        let hi = window.iter().map(|x| x.high).fold(f64::MIN, f64::max);
                        assert_eq!(d.stop_loss, round_to_tick(hi, TICK), "{d:?}");
                        assert!(c.low < d.price + TICK / 2.0, "{d:?} {c:?}");
                    }
                    Action::Buy => {
                        buys += 1;
                        assert!(d.stop_loss < d.price && d.price < d.target);
                        let lo = window.iter().map(|x| x.low).fold(f64::MAX, f64::min);
                        assert_eq!(d.stop_loss, round_to_tick(lo, TICK), "{d:?}");
                        assert!(c.high > d.price - TICK / 2.0, "{d:?} {c:?}");
                    }
                }
                // The target is min_risk_reward × risk away, give or take half a tick.
                let (risk, reward) = ((d.stop_loss - d.price).abs(), (d.target - d.price).abs());
                assert!(
                    (reward - p.min_risk_reward * risk).abs() <= TICK / 2.0 + 1e-6,
                    "{d:?}"
                );
                assert!((0.6..=0.95).contains(&d.strength), "{d:?}");
                assert!(d.expected_move_pct.is_finite() && d.expected_move_pct > 0.0);
            }
            assert!(
                buys > 10 && sells > 10,
                "set {n}: {buys} buys, {sells} sells"
            );
        }
    }
}
