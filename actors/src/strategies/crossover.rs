//! `ma_crossover`: the EMA fast/slow crossover (the rules and levels are in
//! [`crate::logic::crossover`]). Signals when the fast EMA crosses the slow one, on the closed
//! candle or, with `include_incomplete`, while the candle forms. `ema_fast` and `ema_slow` of
//! its signals are the two EMAs.
//!
//! Parameters: `fast_period` (9), `slow_period` (21), `stop_loss_pct` (1.0, % of the price on
//! the underlying), `target_multiplier` (× the risk; default
//! `options_trading.risk_management.target_multiplier`).

use messages::Candle;
use serde::{Deserialize, Serialize};

use super::{check_count, check_range, parse_params, Context, Detection, ParamError, StrategyKind};
use crate::logic::crossover::{Crossover, CrossoverParams};

/// The crossover's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub fast_period: usize,
    pub slow_period: usize,
    /// Stop on the underlying, % away from the signal price.
    pub stop_loss_pct: f64,
    /// Target = price ± multiplier × risk (default: the risk management's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_multiplier: Option<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fast_period: 9,
            slow_period: 21,
            stop_loss_pct: 1.0,
            target_multiplier: None,
        }
    }
}

impl Params {
    /// Checks every value.
    pub fn validate(&self, ctx: &Context) -> Result<CrossoverParams, ParamError> {
        check_count("fast_period", self.fast_period, 1, 1000)?;
        check_count("slow_period", self.slow_period, 2, 1000)?;
        if self.fast_period >= self.slow_period {
            return Err(ParamError::new(
                "fast_period",
                self.fast_period,
                format!("must be below slow_period ({})", self.slow_period),
            ));
        }
        if ctx.min_periods < self.slow_period {
            return Err(ParamError::new(
                "slow_period",
                self.slow_period,
                format!(
                    "must be at most historical_lookback.min_periods ({}): the slow EMA needs that many candles",
                    ctx.min_periods
                ),
            ));
        }
        check_range("stop_loss_pct", self.stop_loss_pct, 0.01, 50.0)?;
        let target_multiplier = self.target_multiplier.unwrap_or(ctx.target_multiplier);
        check_range("target_multiplier", target_multiplier, 0.1, 100.0)?;
        Ok(CrossoverParams {
            fast: self.fast_period,
            slow: self.slow_period,
            min_periods: ctx.min_periods,
            stop_loss_pct: self.stop_loss_pct,
            target_multiplier,
        })
    }
}

/// Builds the crossover from its `parameters` block.
pub fn build(v: &serde_json::Value, ctx: &Context) -> Result<Box<dyn StrategyKind>, ParamError> {
    let p: Params = parse_params(v)?;
    Ok(Box::new(Crossover::new(p.validate(ctx)?)))
}

impl StrategyKind for Crossover {
    fn warm(&mut self, c: &Candle) {
        Crossover::warm(self, c)
    }

    fn on_closed(&mut self, c: &Candle) -> Option<Detection> {
        Crossover::on_closed(self, c)
    }

    fn on_forming(&mut self, c: &Candle) -> Option<Detection> {
        Crossover::on_forming(self, c)
    }

    fn fresh(&self) -> Box<dyn StrategyKind> {
        Box::new(Crossover::new(self.params()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_validated_with_their_field() {
        let ctx = Context::default();
        let e = build(&serde_json::json!({"fast_period": 30}), &ctx).unwrap_err();
        assert_eq!(e.field, "fast_period");
        assert!(e.reason.contains("below slow_period (21)"), "{e:?}");
        let e = build(&serde_json::json!({"stop_loss_pct": -1.0}), &ctx).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.value.as_str()),
            ("stop_loss_pct", "-1")
        );
        let e = build(&serde_json::json!({"slow_period": 0}), &ctx).unwrap_err();
        assert_eq!(e.field, "slow_period");
    }

    #[test]
    fn the_kind_signals_like_the_detector() {
        let ctx = Context {
            min_periods: 21,
            target_multiplier: 2.0,
        };
        let p = Params::default().validate(&ctx).unwrap();
        let mut k = build(&serde_json::Value::Null, &ctx).unwrap();
        let mut d = Crossover::new(p);
        let mut px = 100.0;
        for i in 0..200 {
            px += if (i / 15) % 2 == 0 { 1.0 } else { -1.3 };
            let c = Candle {
                symbol: messages::SymbolId(0),
                ts: 1_700_000_000 + i * 900,
                open: px,
                high: px + 0.5,
                low: px - 0.5,
                close: px,
                volume: 1.0,
            };
            assert_eq!(k.on_closed(&c), d.on_closed(&c));
        }
    }
}
