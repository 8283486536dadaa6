//! Strategy kinds: the part of the engine a trader extends.
//!
//! A **kind** is a plain-Rust type behind [`StrategyKind`]: the state of one symbol, fed closed
//! candles (and, when asked, the forming one) in time order, saying what it detected. It knows
//! nothing of actix; the Strategy actor holds one per symbol of a configured **instance**
//! (`strategies.NAME` in the config: a kind with its parameters and timeframe).
//!
//! Adding a kind: one new file in this folder with the type, its parameters (a serde struct
//! with defaults) and a `build` function, plus one line in [`KINDS`]. Nothing else changes.

use messages::Candle;
use serde::de::DeserializeOwned;

pub mod crossover;
pub mod ema5_alert;
pub mod instances;

pub use crate::logic::detection::Detection;

/// One symbol's state of a strategy kind. Every method is O(1) and allocation-free per candle.
pub trait StrategyKind: Send + std::fmt::Debug {
    /// A closed candle from history: update the state, never signal.
    fn warm(&mut self, c: &Candle);
    /// A candle closed: what it completes, if anything. Candles not newer than the last one
    /// taken are ignored (history and live data may overlap).
    fn on_closed(&mut self, c: &Candle) -> Option<Detection>;
    /// A candle is forming (with `include_incomplete`): would it signal now? Changes nothing
    /// but the kind's once-per-candle record. Kinds that judge closed candles only say `None`.
    fn on_forming(&mut self, _c: &Candle) -> Option<Detection> {
        None
    }
    /// A fresh state with the same parameters (a new symbol, or a restart).
    fn fresh(&self) -> Box<dyn StrategyKind>;
}

/// A parameter that is not acceptable: (field under `parameters`, value, why).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl ParamError {
    /// `field` = `value` is wrong because `reason`.
    pub fn new(field: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        ParamError {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// What a kind's parameters may default to, from the rest of the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// The instance's `historical_lookback.min_periods`: no signal before that many candles.
    pub min_periods: usize,
    /// `options_trading.risk_management.target_multiplier`: target = price ± this × risk.
    pub target_multiplier: f64,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            min_periods: 50,
            target_multiplier: 2.0,
        }
    }
}

/// Builds a kind's initial state from its `parameters` block.
pub type Build = fn(&serde_json::Value, &Context) -> Result<Box<dyn StrategyKind>, ParamError>;

/// A known kind: its name in the config, and how to build it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub build: Build,
}

/// Every kind the engine knows. Adding a kind adds a line here.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "ma_crossover",
        build: crossover::build,
    },
    Kind {
        name: "ema_5_alert_candle",
        build: ema5_alert::build,
    },
];

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The names of the known kinds (for error messages).
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// Reads a kind's parameters (a serde struct with defaults and `deny_unknown_fields`); an
/// absent or `null` block means all defaults.
pub fn parse_params<P: DeserializeOwned + Default>(v: &serde_json::Value) -> Result<P, ParamError> {
    if v.is_null() {
        return Ok(P::default());
    }
    serde_json::from_value(v.clone()).map_err(|e| ParamError::new("", v, e.to_string()))
}

/// Checks that `x` is finite and within `[lo, hi]`.
pub fn check_range(field: &str, x: f64, lo: f64, hi: f64) -> Result<(), ParamError> {
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(())
    } else {
        Err(ParamError::new(
            field,
            x,
            format!("must be a number from {lo} to {hi}"),
        ))
    }
}

/// Checks that the whole number `n` is within `[lo, hi]`.
pub fn check_count(field: &str, n: usize, lo: usize, hi: usize) -> Result<(), ParamError> {
    if (lo..=hi).contains(&n) {
        Ok(())
    } else {
        Err(ParamError::new(
            field,
            n,
            format!("must be a whole number from {lo} to {hi}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds_with_its_defaults_and_names_are_unique() {
        for k in KINDS {
            let s = (k.build)(&serde_json::Value::Null, &Context::default());
            assert!(s.is_ok(), "{}: {:?}", k.name, s.err());
            assert_eq!(KINDS.iter().filter(|o| o.name == k.name).count(), 1);
        }
    }

    #[test]
    fn unknown_parameters_are_refused() {
        for k in KINDS {
            let e = (k.build)(
                &serde_json::json!({"no_such_field": 1}),
                &Context::default(),
            )
            .unwrap_err();
            assert!(e.reason.contains("no_such_field"), "{}: {e:?}", k.name);
        }
    }
}
