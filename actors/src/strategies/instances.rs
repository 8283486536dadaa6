//! `strategies` in the config: a map of **instances**, name → a kind with its timeframe,
//! lookback, aggregation, parameters and symbols. The seed's block stays valid as written: an
//! entry named after a known kind needs no `kind`.
//!
//! ```json
//! "strategies": {
//!   "ma_crossover":  { "timeframe": "15minute", ... },
//!   "ema_5_13_5m":   { "kind": "ma_crossover", "timeframe": "5minute",
//!                      "parameters": { "fast_period": 5, "slow_period": 13 }, ... },
//!   "alert_nifty":   { "kind": "ema_5_alert_candle", "symbols": ["NIFTY"],
//!                      "risk": { "max_concurrent_positions": 1, "risk_per_trade_pct": 1.0 }, ... }
//! }
//! ```
//!
//! An instance's `risk` limits apply inside the global ones (`options_trading`): at most
//! `max_concurrent_positions` of its own positions open at once, and `risk_per_trade_pct` of
//! capital risked per trade instead of the global percentage (never more).

use std::collections::BTreeMap;

use messages::Timeframe;
use serde::{Deserialize, Serialize};

use super::{kind, kind_names, Context, ParamError, StrategyKind};

/// How many closed candles an instance keeps and needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoricalLookback {
    /// Closed candles kept per symbol (history plus live).
    pub periods: usize,
    /// Closed candles before any signal.
    pub min_periods: usize,
}

/// Live aggregation of the instance's candles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeAggregation {
    pub enabled: bool,
    /// Judge the forming candle too (kinds that can).
    pub include_incomplete: bool,
}

fn yes() -> bool {
    true
}

/// An instance's own risk limits, inside the global ones (each absent = the global one).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRisk {
    /// Its own positions open at once (≤ the global `max_concurrent_positions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_positions: Option<u32>,
    /// Capital risked per trade, percent (> 0, ≤ the global `risk_per_trade_pct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_per_trade_pct: Option<f64>,
}

/// The global settings an instance is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Globals<'a> {
    pub valid_underlyings: &'a [String],
    /// The risk management's target multiplier (the crossover's default).
    pub target_multiplier: f64,
    pub max_concurrent_positions: u32,
    pub risk_per_trade_pct: f64,
}

/// One configured strategy instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// The kind (see [`super::KINDS`]); the instance's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub timeframe: Timeframe,
    pub historical_lookback: HistoricalLookback,
    pub realtime_aggregation: RealtimeAggregation,
    /// The kind's parameters (each kind documents its own; absent = its defaults).
    #[serde(default)]
    pub parameters: serde_json::Value,
    /// The underlyings it trades (a subset of `valid_underlyings`); all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its own risk limits (inside the global ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<InstanceRisk>,
}

impl Instance {
    /// The kind's name: `kind`, or the instance's own name.
    pub fn kind_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.kind.as_deref().unwrap_or(name)
    }

    /// Whether the forming candle is judged too.
    pub fn include_incomplete(&self) -> bool {
        self.realtime_aggregation.enabled && self.realtime_aggregation.include_incomplete
    }

    /// Whether the instance trades `symbol`.
    pub fn trades(&self, symbol: &str) -> bool {
        self.symbols
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == symbol))
    }

    /// Builds the kind's initial state (`target_multiplier`: the risk management's).
    pub fn build(
        &self,
        name: &str,
        target_multiplier: f64,
    ) -> Result<Box<dyn StrategyKind>, ParamError> {
        let k = kind(self.kind_name(name)).ok_or_else(|| {
            ParamError::new(
                "kind",
                self.kind_name(name),
                format!("is not a known strategy kind ({})", kind_names().join(", ")),
            )
        })?;
        (k.build)(
            &self.parameters,
            &Context {
                min_periods: self.historical_lookback.min_periods,
                target_multiplier,
            },
        )
    }
}

/// The instances by name (sorted: the order every list and report uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Strategies(pub BTreeMap<String, Instance>);

impl Strategies {
    /// The enabled instances, by name.
    pub fn enabled(&self) -> impl Iterator<Item = (&String, &Instance)> {
        self.0.iter().filter(|(_, i)| i.enabled)
    }

    /// The enabled instances' timeframes, distinct, finest first.
    pub fn timeframes(&self) -> Vec<Timeframe> {
        let mut v: Vec<Timeframe> = self.enabled().map(|(_, i)| i.timeframe).collect();
        v.sort_by_key(|t| t.seconds());
        v.dedup();
        v
    }

    /// The finest timeframe in use (the default's when nothing is enabled, which validation
    /// refuses).
    pub fn finest(&self) -> Timeframe {
        self.timeframes()
            .first()
            .copied()
            .unwrap_or(Timeframe::Minute15)
    }

    /// Every enabled instance's timeframe set to `tf` (`replay --timeframe`).
    pub fn set_timeframe(&mut self, tf: Timeframe) {
        for i in self.0.values_mut().filter(|i| i.enabled) {
            i.timeframe = tf;
        }
    }

    /// Checks every instance; the first failure as (JSON path, value, reason).
    pub fn validate(&self, g: &Globals<'_>) -> Result<(), (String, String, String)> {
        let (valid_underlyings, target_multiplier) = (g.valid_underlyings, g.target_multiplier);
        let err = |p: String, v: String, r: String| Err((p, v, r));
        if self.enabled().next().is_none() {
            return err(
                "strategies".into(),
                format!("{} instances", self.0.len()),
                "must have at least one enabled strategy instance".into(),
            );
        }
        for (name, i) in &self.0 {
            let at = |f: &str| format!("strategies.{name}.{f}");
            if name.is_empty()
                || name.len() > 40
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return err(
                    "strategies".into(),
                    format!("{name:?}"),
                    "an instance name is 1 to 40 of a-z, 0-9 and _".into(),
                );
            }
            let hl = &i.historical_lookback;
            if !(1..=10_000).contains(&hl.min_periods) {
                return err(
                    at("historical_lookback.min_periods"),
                    hl.min_periods.to_string(),
                    "must be from 1 to 10000".into(),
                );
            }
            if hl.periods < hl.min_periods || hl.periods > 100_000 {
                return err(
                    at("historical_lookback.periods"),
                    hl.periods.to_string(),
                    format!("must be from min_periods ({}) to 100000", hl.min_periods),
                );
            }
            if let Some(syms) = &i.symbols {
                if syms.is_empty() {
                    return err(
                        at("symbols"),
                        "[]".into(),
                        "must name at least one underlying (or be left out for all)".into(),
                    );
                }
                for (k, s) in syms.iter().enumerate() {
                    if !valid_underlyings.contains(s) {
                        return err(
                            format!("{}[{k}]", at("symbols")),
                            format!("{s:?}"),
                            "is not in options_trading.entry_filters.valid_underlyings".into(),
                        );
                    }
                    if syms[..k].contains(s) {
                        return err(
                            format!("{}[{k}]", at("symbols")),
                            format!("{s:?}"),
                            "is listed twice".into(),
                        );
                    }
                }
            }
            if let Some(r) = &i.risk {
                if let Some(n) = r.max_concurrent_positions {
                    if n == 0 || n > g.max_concurrent_positions {
                        return err(
                            at("risk.max_concurrent_positions"),
                            n.to_string(),
                            format!(
                                "must be from 1 to options_trading.risk_management.max_concurrent_positions ({})",
                                g.max_concurrent_positions
                            ),
                        );
                    }
                }
                if let Some(p) = r.risk_per_trade_pct {
                    if !(p.is_finite() && p > 0.0 && p <= g.risk_per_trade_pct) {
                        return err(
                            at("risk.risk_per_trade_pct"),
                            p.to_string(),
                            format!(
                                "must be > 0 and at most options_trading.position_sizing.risk_per_trade_pct ({})",
                                g.risk_per_trade_pct
                            ),
                        );
                    }
                }
            }
            if let Err(e) = i.build(name, target_multiplier) {
                let path = match e.field.as_str() {
                    "kind" if i.kind.is_none() => format!("strategies.{name}"),
                    "kind" => at("kind"),
                    "" => at("parameters"),
                    f => at(&format!("parameters.{f}")),
                };
                return err(path, e.value, e.reason);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> serde_json::Value {
        serde_json::json!({
            "ma_crossover": {
                "timeframe": "15minute",
                "historical_lookback": {"periods": 1000, "min_periods": 50},
                "realtime_aggregation": {"enabled": true, "include_incomplete": true},
                "parameters": {"fast_period": 9, "slow_period": 21, "stop_loss_pct": 1.0}
            }
        })
    }

    fn underlyings() -> Vec<String> {
        vec!["NIFTY".into(), "BANKNIFTY".into()]
    }

    fn check(v: serde_json::Value) -> Result<Strategies, (String, String, String)> {
        let s: Strategies = serde_json::from_value(v).unwrap();
        s.validate(&Globals {
            valid_underlyings: &underlyings(),
            target_multiplier: 2.0,
            max_concurrent_positions: 3,
            risk_per_trade_pct: 2.0,
        })
        .map(|_| s)
    }

    #[test]
    fn the_seed_block_is_one_instance_of_its_own_kind() {
        let s = check(seed()).unwrap();
        let (name, i) = s.enabled().next().unwrap();
        assert_eq!(
            (name.as_str(), i.kind_name(name)),
            ("ma_crossover", "ma_crossover")
        );
        assert!(i.include_incomplete() && i.trades("NIFTY"));
        assert_eq!(s.timeframes(), vec![Timeframe::Minute15]);
    }

    #[test]
    fn two_instances_of_one_kind_run_side_by_side() {
        let mut v = seed();
        v["ema_5_13_5m"] = v["ma_crossover"].clone();
        v["ema_5_13_5m"]["kind"] = "ma_crossover".into();
        v["ema_5_13_5m"]["timeframe"] = "5minute".into();
        v["ema_5_13_5m"]["historical_lookback"]["min_periods"] = 20.into();
        v["ema_5_13_5m"]["parameters"] = serde_json::json!({"fast_period": 5, "slow_period": 13});
        v["ema_5_13_5m"]["symbols"] = serde_json::json!(["NIFTY"]);
        let s = check(v).unwrap();
        assert_eq!(
            s.timeframes(),
            vec![Timeframe::Minute5, Timeframe::Minute15]
        );
        assert_eq!(s.finest(), Timeframe::Minute5);
        let i = &s.0["ema_5_13_5m"];
        assert!(i.trades("NIFTY") && !i.trades("BANKNIFTY"));
    }

    #[test]
    fn every_field_is_checked_with_its_path() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|v| v["mystery"] = v["ma_crossover"].clone()),
                "strategies.mystery",
                "is not a known strategy kind",
            ),
            (
                Box::new(|v| v["ma_crossover"]["kind"] = "nope".into()),
                "strategies.ma_crossover.kind",
                "is not a known strategy kind (ma_crossover",
            ),
            (
                Box::new(|v| v["ma_crossover"]["parameters"]["fast_period"] = 40.into()),
                "strategies.ma_crossover.parameters.fast_period",
                "below slow_period",
            ),
            (
                Box::new(|v| v["ma_crossover"]["parameters"]["nonsense"] = 1.into()),
                "strategies.ma_crossover.parameters",
                "nonsense",
            ),
            (
                Box::new(|v| v["ma_crossover"]["historical_lookback"]["min_periods"] = 0.into()),
                "strategies.ma_crossover.historical_lookback.min_periods",
                "from 1",
            ),
            (
                Box::new(|v| v["ma_crossover"]["historical_lookback"]["periods"] = 10.into()),
                "strategies.ma_crossover.historical_lookback.periods",
                "from min_periods (50)",
            ),
            (
                Box::new(|v| v["ma_crossover"]["symbols"] = serde_json::json!(["TCS"])),
                "strategies.ma_crossover.symbols[0]",
                "valid_underlyings",
            ),
            (
                Box::new(|v| v["ma_crossover"]["symbols"] = serde_json::json!(["NIFTY", "NIFTY"])),
                "strategies.ma_crossover.symbols[1]",
                "twice",
            ),
            (
                Box::new(|v| v["ma_crossover"]["symbols"] = serde_json::json!([])),
                "strategies.ma_crossover.symbols",
                "at least one",
            ),
            (
                Box::new(|v| {
                    v["ma_crossover"]["risk"] = serde_json::json!({"max_concurrent_positions": 4})
                }),
                "strategies.ma_crossover.risk.max_concurrent_positions",
                "from 1 to options_trading.risk_management.max_concurrent_positions (3)",
            ),
            (
                Box::new(|v| {
                    v["ma_crossover"]["risk"] = serde_json::json!({"max_concurrent_positions": 0})
                }),
                "strategies.ma_crossover.risk.max_concurrent_positions",
                "from 1",
            ),
            (
                Box::new(|v| {
                    v["ma_crossover"]["risk"] = serde_json::json!({"risk_per_trade_pct": 2.5})
                }),
                "strategies.ma_crossover.risk.risk_per_trade_pct",
                "at most options_trading.position_sizing.risk_per_trade_pct (2)",
            ),
            (
                Box::new(|v| {
                    v["ma_crossover"]["risk"] = serde_json::json!({"risk_per_trade_pct": -1.0})
                }),
                "strategies.ma_crossover.risk.risk_per_trade_pct",
                "must be > 0",
            ),
            (
                Box::new(|v| v["ma_crossover"]["enabled"] = false.into()),
                "strategies",
                "at least one enabled",
            ),
            (
                Box::new(|v| v["Bad Name"] = v["ma_crossover"].clone()),
                "strategies",
                "a-z, 0-9 and _",
            ),
        ];
        for (edit, path, says) in cases {
            let mut v = seed();
            edit(&mut v);
            let (p, _, r) = check(v).unwrap_err();
            assert_eq!(p, path, "{r}");
            assert!(r.contains(says), "{path}: {r}");
        }
    }

    #[test]
    fn unknown_instance_fields_are_refused_by_the_parser() {
        let mut v = seed();
        v["ma_crossover"]["timeframes"] = "5minute".into();
        assert!(serde_json::from_value::<Strategies>(v).is_err());
        let mut v = seed();
        v["ma_crossover"]["risk"] = serde_json::json!({"max_positions": 1});
        assert!(serde_json::from_value::<Strategies>(v).is_err());
    }

    #[test]
    fn risk_limits_inside_the_global_ones_are_accepted() {
        let mut v = seed();
        v["ma_crossover"]["risk"] =
            serde_json::json!({"max_concurrent_positions": 3, "risk_per_trade_pct": 0.5});
        let s = check(v).unwrap();
        assert_eq!(
            s.0["ma_crossover"].risk,
            Some(InstanceRisk {
                max_concurrent_positions: Some(3),
                risk_per_trade_pct: Some(0.5)
            })
        );
    }
}
