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

/// Sizes a trade or explains why not even one lot fits.
pub fn size(i: &SizingInput) -> Result<Sizing, String> {
    let (stop, target) = exit_levels(i.entry, i.tick, i.stop_loss_pct, i.target_multiplier);
    let lot = i.lot_size as i64;
    let risk_per_lot_p = (paise(i.entry) - paise(stop)) * lot;
    let cost_per_lot_p = paise(i.entry) * lot;
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
    let mut lots = by_risk.min(by_size);
    if let Some(cap) = i.max_lots_per_trade {
        lots = lots.min(cap as i64);
    }
    if lots <= 0 {
        return Err(if by_risk == 0 {
            format!(
                "one lot of {} risks ₹{:.2} down to the stop ({} → {}), more than {}% of capital (₹{:.2})",
                i.lot_size,
                rupees(risk_per_lot_p),
                i.entry,
                stop,
                i.risk_per_trade_pct,
                rupees(risk_budget_p)
            )
        } else {
            format!(
                "one lot of {} costs ₹{:.2}, more than max_position_size_pct {}% of capital (₹{:.2})",
                i.lot_size,
                rupees(cost_per_lot_p),
                i.max_position_size_pct,
                rupees(size_budget_p)
            )
        });
    }
    let lots = lots as u32;
    Ok(Sizing {
        lots,
        quantity: lots * i.lot_size,
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
