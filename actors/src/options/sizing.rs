//! Position sizing and exit levels, in whole lots and on the tick.
//!
//! - Stop premium = entry × (1 − stop_loss_pct/100); target = entry + multiplier × (entry − stop);
//!   both rounded to the tick.
//! - Lots by risk = ⌊capital × risk_per_trade_pct/100 ÷ (rupees lost per lot at the stop)⌋.
//! - Lots by size = ⌊capital × max_position_size_pct/100 ÷ (premium × lot)⌋.
//! - Lots = the smaller, capped by `max_lots_per_trade` when set. Zero lots is a rejection that
//!   says which limit one lot exceeds, by how much.
//!
//! Money is counted in paise (i64) so that P&L reconciles exactly with the fills.

use crate::logic::price::round_to_tick;

/// Rupees → paise (premiums are on the ₹0.05 tick, so this is exact for them).
pub fn paise(rupees: f64) -> i64 {
    (rupees * 100.0).round() as i64
}

/// Paise → rupees.
pub fn rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
}

/// Paise written as rupees with two decimals (`-1852.50`), from the integer: exact, and
/// without the float formatter's slow exact mode (`{:.2}` of an `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rupees(pub i64);

impl std::fmt::Display for Rupees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// Inputs of a sizing decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizingInput {
    /// Fill premium (on the tick).
    pub entry: f64,
    pub lot_size: u32,
    pub tick: f64,
    pub capital: f64,
    pub risk_per_trade_pct: f64,
    pub max_position_size_pct: f64,
    pub stop_loss_pct: f64,
    pub target_multiplier: f64,
    pub max_lots_per_trade: Option<u32>,
}

/// A sized trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    pub lots: u32,
    pub quantity: u32,
    pub entry: f64,
    pub stop: f64,
    pub target: f64,
    /// Rupees lost per lot if the stop is hit.
    pub risk_per_lot: f64,
    /// Rupees one lot costs.
    pub cost_per_lot: f64,
}

/// Stop and target premiums for an entry.
pub fn exit_levels(
    entry: f64,
    tick: f64,
    stop_loss_pct: f64,
    target_multiplier: f64,
) -> (f64, f64) {
    let stop = round_to_tick(entry * (1.0 - stop_loss_pct / 100.0), tick).max(tick);
    let target = round_to_tick(entry + target_multiplier * (entry - stop), tick);
    (stop, target)
}

/// The most units one position holds, whatever the capital: keeps every quantity, and every
/// quantity × premium in paise, far inside `u32` and `i64`.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Sizes a trade or explains why not even one lot fits. Inputs outside what the config
/// allows (non-finite, non-positive, a premium past [`crate::config::MAX_PRICE`]) are refused
/// with the value; lots are capped so the quantity stays within [`MAX_QUANTITY`].
pub fn size(i: &SizingInput) -> Result<Sizing, String> {
    let finite_pos = |v: f64| v.is_finite() && v > 0.0;
    if !(finite_pos(i.entry) && i.entry <= crate::config::MAX_PRICE) {
        return Err(format!(
            "premium {} is not a price to size against",
            i.entry
        ));
    }
    if !(finite_pos(i.capital) && i.capital <= crate::config::MAX_CAPITAL) {
        return Err(format!("capital {} is not sizable", i.capital));
    }
    if !(finite_pos(i.tick) && i.tick >= 1e-4 && i.lot_size > 0) {
        return Err(format!(
            "contract with tick {} and lot {} cannot be sized",
            i.tick, i.lot_size
        ));
    }
    let (stop, target) = exit_levels(i.entry, i.tick, i.stop_loss_pct, i.target_multiplier);
    if !(stop.is_finite() && target.is_finite()) {
        return Err(format!(
            "premium {} gives no finite stop/target ({stop} / {target})",
            i.entry
        ));
    }
    let lot = i64::from(i.lot_size);
    let overflow = || format!("premium {} × lot {} overflows", i.entry, i.lot_size);
    let risk_per_lot_p = (paise(i.entry) - paise(stop))
        .checked_mul(lot)
        .ok_or_else(overflow)?;
    let cost_per_lot_p = paise(i.entry).checked_mul(lot).ok_or_else(overflow)?;
    let risk_budget_p = paise(i.capital * i.risk_per_trade_pct / 100.0);
    let size_budget_p = paise(i.capital * i.max_position_size_pct / 100.0);
    if risk_per_lot_p <= 0 || cost_per_lot_p <= 0 {
        return Err(format!(
            "premium {} leaves no risk to size against",
            i.entry
        ));
    }
    let by_risk = risk_budget_p / risk_per_lot_p;
    let by_size = size_budget_p / cost_per_lot_p;
    let mut lots = by_risk
        .min(by_size)
        .min(i64::from(MAX_QUANTITY / i.lot_size));
    if let Some(cap) = i.max_lots_per_trade {
        lots = lots.min(i64::from(cap));
    }
    if lots <= 0 {
        return Err(if by_risk == 0 {
            format!(
                "one lot of {} risks ₹{} down to the stop ({} → {}), more than {}% of capital (₹{})",
                i.lot_size,
                Rupees(risk_per_lot_p),
                i.entry,
                stop,
                i.risk_per_trade_pct,
                Rupees(risk_budget_p)
            )
        } else {
            format!(
                "one lot of {} costs ₹{}, more than max_position_size_pct {}% of capital (₹{})",
                i.lot_size,
                Rupees(cost_per_lot_p),
                i.max_position_size_pct,
                Rupees(size_budget_p)
            )
        });
    }
    // 1 ≤ lots ≤ MAX_QUANTITY / lot_size: both conversions are exact.
    let lots = u32::try_from(lots).map_err(|_| overflow())?;
    Ok(Sizing {
        lots,
        quantity: lots.checked_mul(i.lot_size).ok_or_else(overflow)?,
        entry: i.entry,
        stop,
        target,
        risk_per_lot: rupees(risk_per_lot_p),
        cost_per_lot: rupees(cost_per_lot_p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_are_written_from_paise_as_the_float_formatter_writes_them() {
        for (p, want) in [
            (0, "0.00"),
            (5, "0.05"),
            (-5, "-0.05"),
            (-50, "-0.50"),
            (185_250, "1852.50"),
            (-123_456_789, "-1234567.89"),
            (i64::MIN, "-92233720368547758.08"),
        ] {
            assert_eq!(Rupees(p).to_string(), want);
        }
        // Below 2^53 paise the same text as `{:.2}` of the rupees' f64 (what it replaced).
        let mut x: i64 = 1;
        for _ in 0..200_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let p = (x >> 20) % 100_000_000_000;
            assert_eq!(
                Rupees(p).to_string(),
                format!("{:.2}", rupees(p)),
                "{p} paise"
            );
        }
    }

    fn input(entry: f64, capital: f64) -> SizingInput {
        SizingInput {
            entry,
            lot_size: 65,
            tick: 0.05,
            capital,
            risk_per_trade_pct: 2.0,
            max_position_size_pct: 10.0,
            stop_loss_pct: 30.0,
            target_multiplier: 2.0,
            max_lots_per_trade: None,
        }
    }

    #[test]
    fn huge_capital_never_wraps_the_quantity() {
        // ₹1,00,000 crore on a ₹0.10 premium: 2 % of capital buys 6 × 10⁹ lots by risk, which
        // wrapped the u32 quantity before. Now capped at MAX_QUANTITY units, in whole lots.
        let s = size(&SizingInput {
            max_position_size_pct: 100.0,
            ..input(0.10, crate::config::MAX_CAPITAL)
        })
        .unwrap();
        assert_eq!(s.lots, MAX_QUANTITY / 65);
        assert_eq!(s.quantity, s.lots * 65);
        assert!(s.quantity <= MAX_QUANTITY);
        // Beyond the config's bounds (it refuses these first), sizing refuses too.
        for (entry, capital) in [
            (1e308, 1e5),
            (f64::NAN, 1e5),
            (-3.0, 1e5),
            (100.0, 1e300),
            (100.0, f64::INFINITY),
        ] {
            let e = size(&input(entry, capital)).unwrap_err();
            assert!(
                e.contains(&entry.to_string()) || e.contains(&capital.to_string()),
                "{e}"
            );
        }
        let e = size(&SizingInput {
            lot_size: 0,
            ..input(100.0, 1e5)
        })
        .unwrap_err();
        assert!(e.contains("lot 0"), "{e}");
    }

    #[test]
    fn levels_on_the_tick() {
        assert_eq!(exit_levels(120.35, 0.05, 30.0, 2.0), (84.25, 192.55));
        assert_eq!(exit_levels(100.0, 0.05, 30.0, 2.0), (70.0, 160.0));
    }

    #[test]
    fn the_seed_capital_cannot_afford_an_atm_nifty_lot() {
        // ATM weekly NIFTY ~₹140: 30 % stop risks 42 × 65 = ₹2,730 > 2 % of ₹1,00,000.
        let e = size(&input(140.0, 100_000.0)).unwrap_err();
        assert!(
            e.contains("one lot of 65 risks ₹2730.00") && e.contains("2% of capital (₹2000.00)"),
            "{e}"
        );
    }

    #[test]
    fn risk_and_size_limits_and_the_lot_cap() {
        // ₹5,00,000: risk budget 10 000 / 2 730 → 3 lots; size budget 50 000 / 9 100 → 5.
        let s = size(&input(140.0, 500_000.0)).unwrap();
        assert_eq!(
            (s.lots, s.quantity, s.stop, s.target),
            (3, 195, 98.0, 224.0)
        );
        assert_eq!((s.risk_per_lot, s.cost_per_lot), (2730.0, 9100.0));
        // A cheap option: the size cap binds (50 000 / (20 × 65) = 38; risk: 10 000 / 390 = 25).
        let s = size(&input(20.0, 500_000.0)).unwrap();
        assert_eq!(s.lots, 25);
        let s = size(&SizingInput {
            stop_loss_pct: 5.0,
            ..input(20.0, 500_000.0)
        })
        .unwrap();
        assert_eq!(s.lots, 38, "size cap binds when the stop is tight");
        let s = size(&SizingInput {
            max_lots_per_trade: Some(5),
            ..input(20.0, 500_000.0)
        })
        .unwrap();
        assert_eq!(s.lots, 5);
        // Exactly at the budget: 2 % of 136 500 = 2730 → one lot.
        assert_eq!(size(&input(140.0, 136_500.0)).unwrap().lots, 1);
        assert!(size(&input(140.0, 136_499.0)).is_err());
        // Size limit alone: a tiny stop but a premium bigger than 10 % of capital per lot.
        let e = size(&SizingInput {
            stop_loss_pct: 1.0,
            ..input(200.0, 100_000.0)
        })
        .unwrap_err();
        assert!(
            e.contains("costs ₹13000.00") && e.contains("10% of capital (₹10000.00)"),
            "{e}"
        );
    }
}
