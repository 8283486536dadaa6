//! The upper (and remaining lower) bounds of every number in the config.
//!
//! `validate` checks what a value means (a percentage, a rate, an order between two fields);
//! this checks that no number is large or small enough to hurt what it is later multiplied
//! into, allocated from, or turned into a duration: a count of strikes is allocated per
//! chain, capital is multiplied into paise and quantities, seconds become timers. Each bound
//! is far beyond any real setting and far below where arithmetic overflows.

use std::path::Path;

use super::Config;
use crate::error::{Error, Result};

/// The highest price (₹) anything in the engine accepts: an underlying, a start price, a
/// premium bound. Ten times MRF, the dearest NSE share, is ₹15 lakh; ₹1 crore leaves room.
pub const MAX_PRICE: f64 = 1e7;

/// The lowest price (₹) anything accepts: one paisa. Smaller positive numbers (5e-324) are
/// no price, and divided into (by a tick, by a close) they overflow.
pub const MIN_PRICE: f64 = 0.01;

/// The largest `account_capital` (₹1,00,000 crore). In paise it is 1e14, so capital × any
/// percentage stays exact in `i64` and no lot count built from it overflows a quantity.
pub const MAX_CAPITAL: f64 = 1e12;
/// The largest freeze quantity accepted (units per order): far above any exchange's, small
/// enough that no count of slices or order value built from it overflows.
const MAX_FREEZE_QTY: u32 = 10_000_000;

/// One bound check: the field, its value, and the closed range it must lie in.
struct Check<'a> {
    path: &'a str,
    value: f64,
    lo: f64,
    hi: f64,
}

fn c(path: &str, value: f64, lo: f64, hi: f64) -> Check<'_> {
    Check {
        path,
        value,
        lo,
        hi,
    }
}

/// `u64` → `f64` for a bound check (values past 2^53 are far past every bound anyway).
fn n(v: u64) -> f64 {
    v as f64
}

impl Config {
    /// Every number within its bounds; the first one outside is the error.
    pub(super) fn validate_bounds(&self, path: &Path) -> Result<()> {
        let o = &self.options_trading;
        let dc = &self.data_collection;
        let sim = &self.feed.simulated;
        let st = &self.storage;
        let k = &self.kite;
        let pp = &self.paper;
        let r = &self.rules;
        let day = 86_400.0;
        let mut checks = vec![
            c(
                "options_trading.position_sizing.account_capital",
                o.position_sizing.account_capital,
                1.0,
                MAX_CAPITAL,
            ),
            c(
                "options_trading.risk_management.max_concurrent_positions",
                f64::from(o.risk_management.max_concurrent_positions),
                1.0,
                1000.0,
            ),
            c(
                "options_trading.risk_management.target_multiplier",
                o.risk_management.target_multiplier,
                f64::MIN_POSITIVE,
                100.0,
            ),
            c(
                "options_trading.strike_selection.max_strikes_from_atm",
                f64::from(o.strike_selection.max_strikes_from_atm),
                0.0,
                500.0,
            ),
            c(
                "options_trading.strike_selection.min_volume",
                n(o.strike_selection.min_volume),
                0.0,
                1e12,
            ),
            c(
                "options_trading.strike_selection.min_oi",
                n(o.strike_selection.min_oi),
                0.0,
                1e12,
            ),
            c(
                "data_collection.realtime.interval_seconds",
                n(dc.realtime.interval_seconds),
                1.0,
                3600.0,
            ),
            c(
                "data_collection.realtime.batch_size",
                f64::from(dc.realtime.batch_size),
                0.0,
                1e6,
            ),
            c(
                "data_collection.historical.default_lookback_days",
                f64::from(dc.historical.default_lookback_days),
                0.0,
                36_500.0,
            ),
            c(
                "data_collection.historical.cache_refresh_hours",
                f64::from(dc.historical.cache_refresh_hours),
                0.0,
                8_760.0,
            ),
            // Strategy instances (lookback, parameters) are bounded where they are validated:
            // strategies::instances and each kind's parameters.
            // A tick every tick_seconds / speed wall seconds: both ends must stay a timer.
            c("feed.simulated.speed", sim.speed, 1e-3, 1e6),
            c(
                "feed.simulated.tick_seconds",
                f64::from(sim.tick_seconds),
                1.0,
                3600.0,
            ),
            c("storage.batch_rows", st.batch_rows as f64, 1.0, 1e6),
            c(
                "storage.flush_interval_ms",
                n(st.flush_interval_ms),
                1.0,
                3_600_000.0,
            ),
            c(
                "storage.clickhouse.timeout_seconds",
                n(st.clickhouse.timeout_seconds),
                1.0,
                600.0,
            ),
            c(
                "positions.monitor_interval_seconds",
                n(self.positions.monitor_interval_seconds),
                1.0,
                day,
            ),
            c(
                "positions.persist_marks_every_seconds",
                n(self.positions.persist_marks_every_seconds),
                0.0,
                30.0 * day,
            ),
            c(
                "metrics.persist_every_seconds",
                n(self.metrics.persist_every_seconds),
                0.0,
                day,
            ),
            c("kite.timeout_seconds", n(k.timeout_seconds), 1.0, 600.0),
            // Multiplied by 3600 into a duration.
            c(
                "kite.instruments_max_age_hours",
                n(k.instruments_max_age_hours),
                0.0,
                8_760.0,
            ),
            c(
                "kite.entry_fill_timeout_seconds",
                n(k.entry_fill_timeout_seconds),
                1.0,
                3600.0,
            ),
            c(
                "kite.order_poll_millis",
                n(k.order_poll_millis),
                100.0,
                60_000.0,
            ),
            // 0 is off.
            c(
                "kite.reconcile_seconds",
                n(k.reconcile_seconds),
                0.0,
                86_400.0,
            ),
            c(
                "kite.exit_retry_initial_seconds",
                k.exit_retry_initial_seconds,
                1e-3,
                3600.0,
            ),
            c(
                "kite.exit_retry_max_seconds",
                k.exit_retry_max_seconds,
                1e-3,
                3600.0,
            ),
            // Ticks of slippage are multiplied by the tick into a fill price.
            c(
                "paper.slippage_ticks",
                f64::from(pp.slippage_ticks),
                0.0,
                1000.0,
            ),
            c("paper.div_yield", pp.div_yield, 0.0, 1.0),
            c(
                "paper.expiry_cutoff_hours",
                pp.expiry_cutoff_hours,
                0.0,
                24.0 * 366.0,
            ),
            c(
                "paper.exit_before_expiry_hours",
                pp.exit_before_expiry_hours,
                0.0,
                24.0 * 366.0,
            ),
            // Every chain lists 2 × strikes_each_side + 1 strikes.
            c(
                "paper.chain.strikes_each_side",
                f64::from(pp.chain.strikes_each_side),
                1.0,
                500.0,
            ),
            c("paper.chain.skew", pp.chain.skew, -100.0, 100.0),
            c("paper.chain.smile", pp.chain.smile, -100.0, 100.0),
            c("paper.chain.atm_volume", n(pp.chain.atm_volume), 0.0, 1e12),
            c("paper.chain.atm_oi", n(pp.chain.atm_oi), 0.0, 1e12),
            c("paper.chain.spread_pct", pp.chain.spread_pct, 0.0, 100.0),
            c(
                "rules.trailing.after_pct",
                r.trailing.after_pct,
                f64::MIN_POSITIVE,
                1000.0,
            ),
        ];
        if let Some(d) = sim.start_date {
            use chrono::Datelike;
            if !(2000..=2099).contains(&d.year()) {
                return Err(Error::ConfigInvalid {
                    path: path.to_path_buf(),
                    json_path: "feed.simulated.start_date".into(),
                    value: d.to_string(),
                    reason: "is out of range: must be in the years 2000 to 2099".into(),
                });
            }
        }
        for (name, price) in &sim.start_prices {
            if !(price.is_finite() && (MIN_PRICE..=MAX_PRICE).contains(price)) {
                return Err(out_of(
                    path,
                    &format!("feed.simulated.start_prices.{name}"),
                    *price,
                    MIN_PRICE,
                    MAX_PRICE,
                ));
            }
        }
        for (name, u) in &self.instruments.underlyings {
            for (field, v, lo, hi) in [
                ("lot_size", f64::from(u.lot_size), 1.0, 100_000.0),
                ("strike_step", u.strike_step, MIN_PRICE, 1e6),
                ("tick_size", u.tick_size, 1e-4, 1000.0),
            ] {
                if !(v.is_finite() && v >= lo && v <= hi) {
                    return Err(out_of(
                        path,
                        &format!("instruments.underlyings.{name}.{field}"),
                        v,
                        lo,
                        hi,
                    ));
                }
            }
            // The freeze quantity (units per order): at least one lot, and a count of slices
            // that stays small.
            if let Some(f) = u.freeze_qty {
                let at = format!("instruments.underlyings.{name}.freeze_qty");
                if f < u.lot_size {
                    return Err(Error::ConfigInvalid {
                        path: path.to_path_buf(),
                        json_path: at,
                        value: f.to_string(),
                        reason: format!(
                            "is below one lot ({}): no order could be placed; the exchange's freeze quantity is the most one order may carry, in units",
                            u.lot_size
                        ),
                    });
                }
                if f > MAX_FREEZE_QTY {
                    return Err(out_of(
                        path,
                        &at,
                        f64::from(f),
                        f64::from(u.lot_size),
                        f64::from(MAX_FREEZE_QTY),
                    ));
                }
            }
        }
        let optional = [
            ("rules.max_spread_pct", r.max_spread_pct, 0.0, 100.0),
            ("rules.min_premium", r.min_premium, 0.0, MAX_PRICE),
            ("rules.max_premium", r.max_premium, 0.0, MAX_PRICE),
            (
                "rules.min_days_to_expiry",
                r.min_days_to_expiry,
                0.0,
                3660.0,
            ),
            (
                "rules.max_days_to_expiry",
                r.max_days_to_expiry,
                0.0,
                3660.0,
            ),
            (
                "rules.max_lots_per_trade",
                r.max_lots_per_trade.map(f64::from),
                1.0,
                100_000.0,
            ),
            (
                "rules.halt_after_consecutive_losses",
                r.halt_after_consecutive_losses.map(f64::from),
                1.0,
                10_000.0,
            ),
            (
                "rules.max_trades_per_day",
                r.max_trades_per_day.map(f64::from),
                1.0,
                100_000.0,
            ),
            (
                "rules.daily_profit_lock_pct",
                r.daily_profit_lock_pct,
                f64::MIN_POSITIVE,
                1000.0,
            ),
            (
                "rules.max_hold_hours",
                r.max_hold_hours,
                f64::MIN_POSITIVE,
                24.0 * 3660.0,
            ),
            (
                "rules.partial_booking.at_pct",
                r.partial_booking.map(|b| b.at_pct),
                f64::MIN_POSITIVE,
                1000.0,
            ),
        ];
        for (p, v, lo, hi) in optional {
            if let Some(v) = v {
                checks.push(c(p, v, lo, hi));
            }
        }
        for ch in checks {
            if !(ch.value.is_finite() && ch.value >= ch.lo && ch.value <= ch.hi) {
                return Err(out_of(path, ch.path, ch.value, ch.lo, ch.hi));
            }
        }
        self.validate_paths(path)
    }

    /// The control socket is a file `run` creates and removes: it must never name the
    /// database, the signals export or the data directory.
    fn validate_paths(&self, path: &Path) -> Result<()> {
        let st = &self.storage;
        let socket = st.resolve(&self.control.socket);
        let taken = [
            ("storage.sqlite_file", st.resolve(&st.sqlite_file)),
            ("storage.signals_export", st.resolve(&st.signals_export)),
            ("storage.data_dir", st.data_dir.clone()),
        ];
        if self.control.socket.as_os_str().is_empty() {
            return Err(Error::ConfigInvalid {
                path: path.to_path_buf(),
                json_path: "control.socket".into(),
                value: "\"\"".into(),
                reason: "must name a socket file".into(),
            });
        }
        for (field, p) in taken {
            if same_path(&socket, &p) {
                return Err(Error::ConfigInvalid {
                    path: path.to_path_buf(),
                    json_path: "control.socket".into(),
                    value: format!("{:?}", socket.display().to_string()),
                    reason: format!(
                        "is the same file as {field}: the control socket must be a path of its own"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Two paths name the same file: equal after resolving `.` and `..` lexically, or the same
/// file on disk when both exist.
fn same_path(a: &Path, b: &Path) -> bool {
    fn lexical(p: &Path) -> std::path::PathBuf {
        let mut out = std::path::PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }
    if lexical(a) == lexical(b) {
        return true;
    }
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

fn out_of(path: &Path, json_path: &str, v: f64, lo: f64, hi: f64) -> Error {
    let lo = if lo == f64::MIN_POSITIVE {
        "> 0".to_string()
    } else {
        format!(">= {lo}")
    };
    Error::ConfigInvalid {
        path: path.to_path_buf(),
        json_path: json_path.to_string(),
        value: v.to_string(),
        reason: format!("is out of range: must be {lo} and <= {hi}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_JSON;
    use super::*;
    use serde_json::{json, Value};

    fn with(mutate: impl FnOnce(&mut Value)) -> std::result::Result<Config, String> {
        let mut v: Value = serde_json::from_str(DEFAULT_JSON).unwrap();
        mutate(&mut v);
        Config::parse(&v.to_string(), Path::new("t.json")).map_err(|e| e.to_string())
    }

    /// Sets the value at a dotted path (creating objects on the way).
    fn set(v: &mut Value, dotted: &str, x: Value) {
        let mut cur = v;
        for key in dotted.split('.') {
            if cur.get(key).is_none() {
                cur[key] = json!({});
            }
            cur = &mut cur[key];
        }
        *cur = x;
    }

    #[test]
    fn every_number_out_of_its_bounds_is_named_with_its_value() {
        // (field, a value past the bound) — huge counts, tiny or negative rates and durations,
        // capital that would overflow a quantity.
        let cases: &[(&str, Value)] = &[
            (
                "options_trading.position_sizing.account_capital",
                json!(1e300),
            ),
            (
                "options_trading.position_sizing.account_capital",
                json!(1e13),
            ),
            (
                "options_trading.risk_management.max_concurrent_positions",
                json!(4_000_000_000u32),
            ),
            (
                "options_trading.risk_management.target_multiplier",
                json!(1e200),
            ),
            (
                "options_trading.strike_selection.max_strikes_from_atm",
                json!(4_000_000_000u32),
            ),
            ("data_collection.realtime.interval_seconds", json!(u64::MAX)),
            (
                "strategies.ma_crossover.historical_lookback.periods",
                json!(1_000_000),
            ),
            ("feed.simulated.speed", json!(1e-300)),
            ("feed.simulated.speed", json!(1e300)),
            ("feed.simulated.tick_seconds", json!(4_000_000_000u32)),
            ("feed.simulated.start_prices.NIFTY", json!(1e308)),
            ("feed.simulated.start_date", json!("9999-12-31")),
            ("feed.simulated.start_prices.NIFTY", json!(1e-300)),
            ("instruments.underlyings.NIFTY.tick_size", json!(5e-324)),
            (
                "options_trading.position_sizing.account_capital",
                json!(1e-300),
            ),
            ("storage.batch_rows", json!(u64::MAX)),
            ("storage.flush_interval_ms", json!(u64::MAX)),
            ("storage.clickhouse.timeout_seconds", json!(u64::MAX)),
            ("positions.monitor_interval_seconds", json!(u64::MAX)),
            ("metrics.persist_every_seconds", json!(u64::MAX)),
            ("kite.timeout_seconds", json!(0)),
            ("kite.instruments_max_age_hours", json!(u64::MAX)),
            ("kite.order_poll_millis", json!(u64::MAX)),
            ("kite.reconcile_seconds", json!(86_401)),
            ("kite.instruments_refresh_at", json!("9:99")),
            ("kite.instruments_refresh_at", json!("09:15")),
            ("kite.instruments_refresh_at", json!("23:00")),
            ("kite.exit_retry_max_seconds", json!(1e300)),
            ("paper.slippage_ticks", json!(4_000_000_000u32)),
            ("paper.chain.strikes_each_side", json!(4_000_000_000u32)),
            ("paper.chain.skew", json!(-1e300)),
            ("paper.chain.atm_volume", json!(u64::MAX)),
            ("paper.expiry_cutoff_hours", json!(1e300)),
            (
                "instruments.underlyings.NIFTY.lot_size",
                json!(4_000_000_000u32),
            ),
            ("instruments.underlyings.NIFTY.strike_step", json!(1e300)),
            ("instruments.underlyings.NIFTY.freeze_qty", json!(64)),
            (
                "instruments.underlyings.NIFTY.freeze_qty",
                json!(4_000_000_000u32),
            ),
            ("rules.max_hold_hours", json!(-1.0)),
            ("rules.max_premium", json!(1e300)),
            ("rules.min_days_to_expiry", json!(-3.0)),
            ("rules.halt_after_consecutive_losses", json!(0)),
            ("rules.max_trades_per_day", json!(0)),
            ("report.risk_free_pct", json!(-1.0)),
            ("report.risk_free_pct", json!(1e300)),
            ("rules.daily_profit_lock_pct", json!(-2.0)),
            ("rules.daily_profit_lock_pct", json!(1e300)),
            ("rules.max_spread_pct", json!(-5.0)),
            ("rules.trailing.after_pct", json!(1e300)),
        ];
        for (field, value) in cases {
            let e = with(|v| set(v, field, value.clone())).unwrap_err();
            let shown = match (value.as_f64(), value.as_str()) {
                (Some(x), _) => x.to_string(),
                (None, Some(s)) => s.to_string(),
                _ => value.to_string(),
            };
            assert!(
                e.contains(field) && e.contains(&shown),
                "{field} = {value}: {e}"
            );
        }
    }

    #[test]
    fn the_bounds_leave_real_settings_alone() {
        let c = with(|v| {
            set(
                v,
                "options_trading.position_sizing.account_capital",
                json!(MAX_CAPITAL),
            );
            set(v, "feed.simulated.speed", json!(3600.0));
            set(v, "rules.max_hold_hours", json!(6.0));
            set(v, "paper.chain.strikes_each_side", json!(40));
        })
        .unwrap();
        assert_eq!(c.options_trading.position_sizing.account_capital, 1e12);
    }

    #[test]
    fn a_second_json_value_after_the_config_is_refused() {
        let text = format!("{DEFAULT_JSON}\n{{\"options_trading\": {{}}}}\n");
        let e = Config::parse(&text, Path::new("two.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("two.json") && e.contains("second JSON value"),
            "{e}"
        );
        let e = Config::parse(&format!("{DEFAULT_JSON} 7"), Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("second JSON value"), "{e}");
        // Trailing white space is fine.
        Config::parse(&format!("{DEFAULT_JSON}\n\n  \t\n"), Path::new("t.json")).unwrap();
    }

    #[test]
    fn the_control_socket_cannot_be_the_database_or_the_export() {
        for (socket, other) in [
            ("alphastocks.db", "storage.sqlite_file"),
            ("./alphastocks.db", "storage.sqlite_file"),
            ("x/../alphastocks.db", "storage.sqlite_file"),
            ("signals/signals.json", "storage.signals_export"),
        ] {
            let e = with(|v| v["control"] = json!({ "socket": socket })).unwrap_err();
            assert!(
                e.contains("control.socket") && e.contains(other),
                "{socket}: {e}"
            );
        }
        let e = with(|v| v["control"] = json!({ "socket": "" })).unwrap_err();
        assert!(e.contains("control.socket"), "{e}");
        with(|v| v["control"] = json!({ "socket": "ctl.sock" })).unwrap();
    }
}
